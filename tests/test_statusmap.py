"""The status map kept by the integrator (ledger.statusmap, registry.statusmap, sync.statusmap): every
checkpoint signs a map root; its values agree with the register's state cache (history indexes, code and
query-code aliases, in this log and in the mirrors); status proofs verify at every size, on MemoryStore and
SQL; a log made before the map gets one over its whole history at the next checkpoint."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from test_workflow import STATES, World, _rid

from regledger.demo_registry import DEMO_START, SimClock, register_demo_set
from regledger.home import Home
from regledger.ledger import vmap
from regledger.ledger.audit import audit
from regledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from regledger.ledger.errors import IntegrityError, NotFoundError
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore
from regledger.registry.policy import RegistryPolicy
from regledger.registry.state import registration_key
from regledger.registry.statusmap import RegistryStatusMap
from regledger.sync.cascade import Cascade
from regledger.sync.fetch import LedgerFetcher
from regledger.sync.manage import add_child
from regledger.sync.pull import pull_child
from regledger.sync.statusmap import CascadeStatusMap


def expected_map_value(subject: str, state: dict[str, Any]) -> dict[str, Any] | None:
    """What the map must hold for a state row: a registration's history indexes, an alias's registration key."""
    ns, inner = ("", subject)
    if subject.startswith("@"):
        origin = subject[1:].split(":", 1)[0]
        ns, inner = origin, subject[len(origin) + 2 :]
    if inner.startswith("reg:"):
        return {"indexes": [h["index"] for h in state["history"]]}
    if inner.startswith(("code:", "query:")):
        return {"registration": registration_key(state["registration"], state.get("origin") or ns or None)}
    return None


def assert_map_matches_states(ledger: Ledger) -> int:
    """Every reg:/code:/query: state row (own and mirrored) has exactly its value in the latest map, proved
    against the signed checkpoint; returns how many rows were checked."""
    ledger.integrate()
    checked = 0
    for st in ledger.store.iter_states():
        want = expected_map_value(st.subject, dict(st.state))
        if want is None:
            continue
        doc = ledger.status_proof(st.subject)
        opened = vmap.open_status_proof(doc, origin=ledger.origin, verifier=ledger.verifier())
        assert opened.value == want, st.subject
        checked += 1
    return checked


def _cascade(tmp_path) -> tuple[Ledger, Ledger, Home]:
    child_home = Home(tmp_path / "child")
    child_home.init("child.example/520115", say=lambda *a: None)
    clock = SimClock(DEMO_START)
    register_demo_set(child_home.open(clock=clock), child_home.admin(), clock, lambda *a: None)
    child = child_home.open()
    child.integrate()
    parent_home = Home(tmp_path / "parent")
    parent_home.init("parent.example/520100", say=lambda *a: None)
    parent = parent_home.open()
    add_child(parent, parent_home.admin(), "http://127.0.0.1:9", child.verifier().vkey())
    pull_child(parent, LedgerFetcher(child), child.origin)
    return parent, child, parent_home


def test_the_map_agrees_with_every_state_row_after_the_workflow_scenarios() -> None:
    w = World()
    for state in STATES:
        w.drive(_rid(state), state)
    w.drive("full-life", "CODED")
    w.step("authority", "registration.revoke", "full-life", {"reason": "数据来源失效"})
    assert assert_map_matches_states(w.ledger) >= len(STATES) + 2
    doc = w.ledger.status_proof("reg:full-life")
    assert doc["value"]["indexes"] == [h["index"] for h in w.state("full-life")["history"]]
    # absent keys: no registration, code or query code of these names
    for key in ("reg:never", "code:PDR-1-520115-2099-000001", "query:NOPE"):
        doc = w.ledger.status_proof(key)
        assert doc["value"] is None
        vmap.open_status_proof(doc, origin=w.ledger.origin, verifier=w.ledger.verifier())
    assert _audit(w).map_rows > 0


def test_the_cascade_map_covers_mirrored_registrations_and_official_codes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", "test-passphrase-for-statusmap")
    parent, child, parent_home = _cascade(tmp_path)
    assert Cascade(parent, parent_home.path, domain=RegistryPolicy()).mint_codes() > 0
    assert_map_matches_states(child)
    checked = assert_map_matches_states(parent)
    mirrored = [st for st in parent.store.iter_states() if st.subject.startswith(f"@{child.origin}:reg:")]
    assert mirrored and checked > len(mirrored)
    officials = [st for st in parent.store.iter_states() if st.subject.startswith("code:")]
    assert officials, "official codes minted at the parent are aliases in its map"
    doc = parent.status_proof(officials[0].subject)
    assert doc["value"]["registration"].startswith(f"@{child.origin}:reg:")
    for ledger in (parent, child):
        report = audit(
            ledger.store,
            origin=ledger.origin,
            verifier=ledger.verifier(),
            policy=ledger.policy,
            status_map=ledger.status_map,
        )
        assert report.map_rows > 0


def _fill(w: World, n: int, prefix: str = "r") -> None:
    for i in range(n):
        w.drive(f"{prefix}{i}", "CODED" if i % 2 else "FORMAL_REVIEW")


def test_status_proofs_at_every_checkpoint_size(store) -> None:
    w = World(store=store)
    sizes = []
    for round_ in range(3):
        _fill(w, 3, prefix=f"b{round_}-")
        w.ledger.integrate()
        sizes.append(w.ledger.checkpoint()[0])
    for size in sizes:
        note = w.ledger.checkpoint_at(size)
        cp = w.ledger.open_checkpoint(note)
        assert vmap.map_root_of(cp) is not None
        for key in ("reg:b0-1", "reg:b2-2", "code:none"):
            doc = w.ledger.status_proof(key, size)
            opened = vmap.open_status_proof(doc, origin=w.ledger.origin, verifier=w.ledger.verifier())
            assert opened.checkpoint.size == size
            if key == "reg:b2-2":
                assert (opened.value is None) == (size < sizes[2])
    # the value at an older size is the history as of then
    old = w.ledger.status_proof("reg:b0-1", sizes[0])["value"]["indexes"]
    assert old == [h["index"] for h in w.state("b0-1")["history"]]
    with pytest.raises(NotFoundError):
        w.ledger.status_proof("reg:b0-1", sizes[0] + 1)


def test_a_ledger_made_before_the_map_gets_one_over_its_whole_log(sql_url) -> None:
    from regledger.ledger.sqlstore import SQLStore

    w = World(store=SQLStore(sql_url, create=True))
    _fill(w, 4)
    w.ledger.integrate()
    before = w.ledger.checkpoint()
    # the World's ledger has the map; take it off for a while, as code before the map would have run
    w.ledger.status_map = None
    _fill(w, 2, prefix="old")
    w.ledger.integrate()
    size, note = w.ledger.checkpoint()
    assert size > before[0] and vmap.map_root_of(w.ledger.open_checkpoint(note)) is None
    with pytest.raises(NotFoundError):
        w.ledger.status_proof("reg:old1")
    w.ledger.status_map = CascadeStatusMap(w.ledger.origin, RegistryStatusMap())
    _fill(w, 1, prefix="new")
    assert assert_map_matches_states(w.ledger) > 0
    assert w.ledger.status_proof("reg:old1")["value"] is not None


def test_a_damaged_map_node_or_value_halts_integration_naming_it() -> None:
    w = World()
    _fill(w, 6)
    w.ledger.integrate()
    store = w.store
    assert isinstance(store, MemoryStore)
    # damage the newest row of the node beside reg:r1's path under the root
    kh = vmap.key_hash("reg:r1")
    pos = (1, bytes([~kh[0] & 0x80]))
    versions, contents = store.map.nodes[pos]
    good = contents[-1]
    contents[-1] = b"\x05" * 32 if len(good) == 32 else good[:32] + b"\x05" * 32
    with pytest.raises(IntegrityError) as e:
        w.ledger.status_proof("reg:r1")
    assert "status map" in e.value.where
    contents[-1] = good
    # a stored value that is not the one the map holds
    vs, vals = store.map.values["reg:r1"]
    vals[-1] = json.dumps({"indexes": [0]}).encode()
    w.drive("r1-later", "FORMAL_REVIEW")
    w.step("authority", "registration.revoke", "r1", {"reason": "数据来源失效"})
    with pytest.raises(IntegrityError) as e:
        w.ledger.integrate()
    assert e.value.where == "map value reg:r1"
    assert w.ledger.halted is not None


def _audit(w: World):
    return audit(
        w.store,
        origin=w.ledger.origin,
        verifier=w.ledger.verifier(),
        policy=w.ledger.policy,
        status_map=w.ledger.status_map,
    )


def test_audit_rebuilds_the_map_from_the_log_and_names_a_damaged_row(tmp_path) -> None:
    from regledger.ledger.sqlstore import SQLStore

    db = tmp_path / "ledger.sqlite"
    w = World(store=SQLStore(f"sqlite:///{db}", create=True))
    _fill(w, 5)
    w.ledger.integrate()
    _fill(w, 3, prefix="more")
    w.ledger.integrate()
    report = _audit(w)
    assert report.map_rows > 20
    conn = sqlite3.connect(db)
    try:
        # the stored root row of the latest checkpoint: the "map root" a reader would be served
        size = w.ledger.checkpoint()[0]
        (root,) = conn.execute("SELECT content FROM rl_map_nodes WHERE depth = 0 AND version = ?", (size,)).fetchone()
        conn.execute("UPDATE rl_map_nodes SET content = ? WHERE depth = 0 AND version = ?", (b"\1" * 32, size))
        conn.commit()
        with pytest.raises(IntegrityError) as e:
            _audit(w)
        assert e.value.where == f"map node 0/- at {size}"
        conn.execute("UPDATE rl_map_nodes SET content = ? WHERE depth = 0 AND version = ?", (root, size))
        # a deeper node of an older version
        depth, prefix, version, content = conn.execute(
            "SELECT depth, prefix, version, content FROM rl_map_nodes WHERE depth = 3 ORDER BY version LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE rl_map_nodes SET content = ? WHERE depth = 3 AND prefix = ? AND version = ?",
            (bytes(len(content)), prefix, version),
        )
        conn.commit()
        with pytest.raises(IntegrityError) as e:
            _audit(w)
        assert e.value.where == f"map node 3/{bytes(prefix).hex()} at {version}"
        conn.execute(
            "UPDATE rl_map_nodes SET content = ? WHERE depth = 3 AND prefix = ? AND version = ?",
            (content, prefix, version),
        )
        # a value row removed
        conn.execute("DELETE FROM rl_map_values WHERE key = 'reg:r1'")
        conn.commit()
        with pytest.raises(IntegrityError) as e:
            _audit(w)
        assert e.value.where.startswith("map value reg:r1 at ")
    finally:
        conn.close()


def test_audit_names_a_checkpoint_whose_signed_map_root_is_not_the_logs() -> None:
    w = World()
    _fill(w, 3)
    w.ledger.integrate()
    size, note = w.ledger.checkpoint()
    cp = w.ledger.open_checkpoint(note)
    forged = Checkpoint(cp.origin, cp.size, cp.root, (vmap.map_line(b"\2" * 32),))
    w.store.checkpoints[size] = sign_checkpoint(forged, w.log_signer)
    with pytest.raises(IntegrityError) as e:
        _audit(w)
    assert e.value.where == f"checkpoint {size}" and "map root" in e.value.what


def test_the_self_audit_samples_the_map_and_finds_a_damaged_row() -> None:
    import random

    from regledger.ledger.selfaudit import SelfAudit

    w = World()
    _fill(w, 4)
    w.ledger.integrate()
    sa = SelfAudit(w.ledger, entries=40, rng=random.Random(3))
    sa.run_once()
    _fill(w, 2, prefix="next")
    w.ledger.integrate()
    sa.run_once()  # the new range's map roots recomputed, entries sampled against the map
    assert w.ledger.halted is None and sa.rounds == 2
    # damage the newest row of every stored value: a sampled registration entry no longer holds
    store = w.store
    assert isinstance(store, MemoryStore)
    for key, (_, vals) in store.map.values.items():
        if key.startswith("reg:"):
            vals[-1] = json.dumps({"indexes": [0]}).encode()
    sa.run_once()
    assert w.ledger.halted is not None and w.ledger.audit_failures == 1
    assert "status map" in w.ledger.halted.where or w.ledger.halted.where.startswith("map value")
