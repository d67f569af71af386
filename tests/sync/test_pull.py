"""Pulling a child's log in-process: verified, exactly once, refused when anything is wrong, forks kept."""

from __future__ import annotations

import base64
import os
import zipfile
from pathlib import Path

import pytest

from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.audit import audit
from regledger.ledger.cosignature import Cosigner, cosign, verify_cosigned
from regledger.ledger.entry import Entry, canonical_json, sign_statement
from regledger.ledger.errors import ConflictError, ForkError, LedgerError, VerificationError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore
from regledger.ledger.store import MemoryStore, SequencedBatch
from regledger.ledger.tiles import Tile, decode_entry_bundle, encode_entry_bundle
from regledger.sync.cascade import accept_cosignatures, checkpoint_text
from regledger.sync.fetch import BundleFetcher, LedgerFetcher
from regledger.sync.manage import add_child, set_parent, sync_status
from regledger.sync.pull import pull_child
from regledger.sync_cli import export_bundle

INSTITUTION = "91520000MA6DKQ1U1C"  # a USCC that passes both check characters


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", "test-passphrase-for-sync-tests")


def _sample(clerk: Ed25519Signer, i: int):
    return sign_statement(
        clerk,
        kind="sample.resource",
        subject=f"sample-{i:06d}",
        payload={"name": f"样例 {i}", "region": "520115", "n": i},
    )


class Child:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.ledger = home.open()
        self.clerk = Ed25519Signer.generate(f"clerk@{self.ledger.origin}")
        self.ledger.append(register_key_statement(home.admin(), self.clerk, "registrant", {"institution": INSTITUTION}))
        self.n = 0

    def add(self, count: int) -> None:
        self.ledger.append_batch([_sample(self.clerk, self.n + i) for i in range(count)], receipts=False)
        self.n += count
        self.ledger.integrate()

    @property
    def origin(self) -> str:
        return self.ledger.origin


@pytest.fixture
def child(tmp_path) -> Child:
    home = Home(tmp_path / "child")
    home.init("child.example/520115", say=lambda *a: None)
    c = Child(home)
    c.add(600)
    return c


@pytest.fixture
def parent(tmp_path, child) -> Ledger:
    home = Home(tmp_path / "parent")
    home.init("parent.example/520100", say=lambda *a: None)
    ledger = home.open()
    add_child(ledger, home.admin(), "http://127.0.0.1:9", child.ledger.verifier().vkey())
    ledger.home = home  # type: ignore[attr-defined]
    return ledger


def cascaded(parent: Ledger, origin: str) -> list[tuple[int, bytes, str]]:
    """(child index, child leaf, child checkpoint) for every child entry recorded in the parent, in order."""
    out = []
    for leaf in parent.iter_leaves():
        st = Entry.from_leaf(leaf).statement
        if st.kind == "sync.entries" and st.subject == origin:
            for i, obj in enumerate(st.payload["entries"]):
                out.append((st.payload["start"] + i, canonical_json(obj), st.payload["checkpoint"]))
    return out


def assert_exactly_once(parent: Ledger, child: Child) -> None:
    got = cascaded(parent, child.origin)
    size = child.ledger.checkpoint()[0]
    assert [i for i, _, _ in got] == list(range(size)), "every child entry once, in order"
    assert [leaf for _, leaf, _ in got] == child.ledger.entries(0, size), "byte for byte"


def test_a_pull_verifies_and_records_every_entry_with_its_provenance(parent, child):
    r = pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    size, note = child.ledger.checkpoint()
    assert (r.old_size, r.new_size, r.entries) == (0, size, size)
    assert_exactly_once(parent, child)
    assert {cp for _, _, cp in cascaded(parent, child.origin)} == {note.decode()}
    [row] = sync_status(parent)
    assert (row["origin"], row["verified_size"], row["state"]) == (child.origin, size, "ok")
    # the fold the parent keeps (cursor, mirrored keys) is exactly what a replay of its entries gives
    parent.integrate()
    audit(parent.store, origin=parent.origin, verifier=parent.verifier(), policy=parent.policy)


def test_an_unchanged_child_costs_one_checkpoint_request(parent, child):
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    head = parent.store.head().size
    fetcher = LedgerFetcher(child.ledger)
    r = pull_child(parent, fetcher, child.origin)
    assert (r.entries, fetcher.requests) == (0, 1)
    assert parent.store.head().size == head


@pytest.mark.slow
def test_later_pulls_continue_without_gap_or_duplicate(parent, child):
    for more in (1, 255, 256, 300, 0, 3):
        child.add(more)
        pull_child(parent, LedgerFetcher(child.ledger), child.origin)
        assert_exactly_once(parent, child)


class TamperingFetcher(LedgerFetcher):
    def __init__(self, ledger, change) -> None:
        super().__init__(ledger)
        self.change = change

    def entry_bundle(self, n: int, width: int) -> bytes:
        leaves = decode_entry_bundle(super().entry_bundle(n, width))
        return encode_entry_bundle(self.change(n, leaves))


def _flip(leaf: bytes, old: bytes, new: bytes) -> bytes:
    assert old in leaf
    return leaf.replace(old, new, 1)


@pytest.mark.parametrize(
    "name,change,message",
    [
        ("payload edited", lambda n, ls: ls[:5] + [_flip(ls[5], "样例".encode(), b"sample")] + ls[6:], "entry 5"),
        ("entry dropped", lambda n, ls: ls[:100] + ls[101:] + [ls[100]], "entry 100"),
        ("entries swapped", lambda n, ls: ls[:7] + [ls[8], ls[7]] + ls[9:], "entry 7"),
        ("not canonical JSON", lambda n, ls: ls[:3] + [ls[3].replace(b"{", b"{ ", 1)] + ls[4:], "entry 3"),
    ],
)
def test_a_child_entry_that_does_not_verify_is_refused_and_nothing_is_stored(parent, child, name, change, message):
    head = parent.store.head().size
    with pytest.raises(VerificationError) as err:
        pull_child(parent, TamperingFetcher(child.ledger, change), child.origin)
    assert child.origin in str(err.value) and message in str(err.value), str(err.value)
    assert parent.store.head().size == head
    assert sync_status(parent)[0]["verified_size"] == 0
    # and the honest log still comes in whole afterwards
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert_exactly_once(parent, child)


def test_an_entry_signed_by_a_key_the_child_never_registered_is_refused(parent, child):
    """A dishonest child that signs a checkpoint over a forged entry (its sequencer bypassed)."""
    store = MemoryStore()
    bad = Ledger(store, origin=child.origin, log_signer=child.ledger.log_signer)
    bad.integrate()
    admin = child.home.admin()
    bad.append(register_key_statement(admin, admin, "admin"))
    bad.append(register_key_statement(admin, child.clerk, "registrant", {"institution": INSTITUTION}))
    bad.append_batch([_sample(child.clerk, i) for i in range(10)], receipts=False)
    stranger = Ed25519Signer.generate("stranger")
    store.sequence(
        lambda head, view: SequencedBatch(
            [Entry.build(head.size, head.last_hash, "2026-11-23T00:00:00Z", _sample(stranger, 99))]
        )
    )
    bad.integrate()
    with pytest.raises(VerificationError) as err:
        pull_child(parent, LedgerFetcher(bad), child.origin)
    assert f"{child.origin}: entry 12" in str(err.value) and "stranger" not in sync_status(parent)[0]["url"]
    assert sync_status(parent)[0]["verified_size"] == 0


class FailingLedgerStore:
    """Delegates to a real store, but the k-th `sequence` call fails (a crash mid-pull)."""

    def __init__(self, inner, fail_at: int) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_at = fail_at

    def sequence(self, build):
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("injected: the parent died here")
        return self.inner.sequence(build)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.slow
def test_a_crash_between_transactions_resumes_with_no_duplicate_and_no_gap(parent, child, monkeypatch):
    import regledger.sync.pull as pull_module

    child.add(3000)
    monkeypatch.setattr(pull_module, "STATEMENTS_PER_APPEND", 4)
    real = parent.store
    parent.store = FailingLedgerStore(real, fail_at=3)
    with pytest.raises(OSError):
        pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    parent.store = real
    partial = sync_status(parent)[0]
    assert 0 < partial["ingested_size"] < child.ledger.checkpoint()[0]
    assert partial["verified_size"] == 0  # the checkpoint is accepted only once all it covers is in
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert_exactly_once(parent, child)
    assert sync_status(parent)[0]["verified_size"] == child.ledger.checkpoint()[0]


def rewrite_history(child: Child, tmp_path: Path, entries: int) -> Ledger:
    """The child's operator replaces its database with another history, signed by the same log key."""
    store = SQLStore(f"sqlite:///{tmp_path / 'rewritten.sqlite'}", create=True)
    other = Ledger(store, origin=child.origin, log_signer=child.ledger.log_signer)
    other.integrate()
    admin = child.home.admin()
    other.append(register_key_statement(admin, admin, "admin"))
    other.append(register_key_statement(admin, child.clerk, "registrant", {"institution": INSTITUTION}))
    other.append_batch([_sample(child.clerk, 10_000 + i) for i in range(entries)], receipts=False)
    other.integrate()
    return other


@pytest.mark.parametrize("extra", [2000, 0])
def test_a_rewritten_child_is_detected_as_a_fork_and_refused_from_then_on(parent, child, tmp_path, extra):
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    accepted = child.ledger.checkpoint()[1]
    size = child.ledger.checkpoint()[0]
    other = rewrite_history(child, tmp_path, size - 2 + extra)  # larger, or the same size
    assert other.checkpoint()[0] == size + extra
    head = parent.store.head().size
    with pytest.raises(ForkError) as err:
        pull_child(parent, LedgerFetcher(other), child.origin)
    assert err.value.accepted == accepted and err.value.conflicting == other.checkpoint()[1]
    [row] = sync_status(parent)
    assert row["state"] == "forked" and row["verified_size"] == size
    assert row["fork"]["accepted"] == accepted.decode() and row["fork"]["conflicting"] == other.checkpoint()[1].decode()
    assert parent.store.head().size == head + 1  # only the sync.fork entry: the evidence
    with pytest.raises(ForkError):  # refused from now on, even the honest history
        pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert parent.store.head().size == head + 1
    parent.integrate()
    audit(parent.store, origin=parent.origin, verifier=parent.verifier(), policy=parent.policy)


def test_an_exported_bundle_imports_like_a_pull_and_a_tampered_one_is_refused(parent, child, tmp_path):
    bundle = tmp_path / "child.zip"
    export_bundle(child.ledger, bundle, 0)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tile/entries/001":
                leaves = decode_entry_bundle(data)
                leaves[10] = leaves[10].replace(b"region", b"regiom", 1)
                data = encode_entry_bundle(leaves)
            dst.writestr(item, data)
    with pytest.raises(VerificationError):
        pull_child(parent, BundleFetcher(tampered), child.origin)
    r = pull_child(parent, BundleFetcher(bundle), child.origin)
    assert r.entries == child.ledger.checkpoint()[0]
    assert_exactly_once(parent, child)
    # a later bundle from the parent's verified size carries only the new entries (and all hash tiles)
    child.add(700)
    since = r.new_size
    export_bundle(child.ledger, bundle, since)
    assert not any(n.startswith("tile/entries/000") for n in zipfile.ZipFile(bundle).namelist())
    r2 = pull_child(parent, BundleFetcher(bundle), child.origin)
    assert (r2.old_size, r2.entries) == (since, 700)
    assert_exactly_once(parent, child)


def test_cosignatures_are_taken_only_from_the_parent_and_only_on_checkpoints_the_log_signed(parent, child):
    # the child sets the parent; the parent cosigns the child's checkpoint after verifying it
    set_parent(child.ledger, child.home.admin(), "http://127.0.0.1:9", parent.verifier().vkey())
    child.ledger.integrate()
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    size, note = child.ledger.checkpoint()
    cosigner = Cosigner(parent.log_signer)
    text = checkpoint_text(note)
    # the body the cosignature/v1 covers carries the status map's root, as its one extension line
    assert text.split("\n")[3].startswith("regledger-map/v1 ") and text.count("\n") == 4
    item = {"origin": child.origin, "checkpoint": text, "vkey": cosigner.vkey(), "line": cosign(text, cosigner)}
    from_parent = sign_statement(
        parent.log_signer, kind="sync.cosignatures", subject=parent.origin, payload={"cosignatures": [item]}
    )
    assert accept_cosignatures(child.ledger, from_parent) == 1
    assert accept_cosignatures(child.ledger, from_parent) == 0  # stored once
    [(vkey, line)] = child.ledger.store.cosignatures(child.origin, size)
    from regledger.ledger.cosignature import add_cosignatures

    served = add_cosignatures(note, [line])
    assert verify_cosigned(served, child.ledger.verifier(), [cosigner.verifier()])
    # someone else's key, even a valid key of the child's own ledger, is refused
    stranger = sign_statement(
        child.home.admin(), kind="sync.cosignatures", subject="x", payload={"cosignatures": [item]}
    )
    with pytest.raises(ConflictError):
        accept_cosignatures(child.ledger, stranger)
    # a cosignature on a checkpoint the child never signed is refused
    fake = text.replace(f"\n{size}\n", f"\n{size + 1}\n")
    bad = {**item, "checkpoint": fake, "line": cosign(fake, cosigner)}
    with pytest.raises(LedgerError):
        accept_cosignatures(
            child.ledger,
            sign_statement(
                parent.log_signer, kind="sync.cosignatures", subject=parent.origin, payload={"cosignatures": [bad]}
            ),
        )
    # a line that does not verify is refused
    forged = {**item, "line": item["line"][:-10] + base64.b64encode(os.urandom(6)).decode() + "\n"}
    with pytest.raises(LedgerError):
        accept_cosignatures(
            child.ledger,
            sign_statement(
                parent.log_signer, kind="sync.cosignatures", subject=parent.origin, payload={"cosignatures": [forged]}
            ),
        )


@pytest.mark.slow
def test_http_fetcher_retries_caches_full_tiles_and_maps_errors(parent, child, tmp_path):
    """The HTTP path through httpx.MockTransport, serving the child's log as /log/ does (no sockets)."""
    import httpx
    import stamina

    from regledger.ledger.errors import NotFoundError, SyncError
    from regledger.ledger.tiles import parse_tile_path
    from regledger.sync.fetch import HTTPFetcher

    child.add(3000)  # so the tree has full tiles above the entries
    local = LedgerFetcher(child.ledger)
    seen: list[str] = []
    failures = {"n": 2}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append(path)
        if path == "/log/checkpoint":
            if failures["n"]:
                failures["n"] -= 1
                return httpx.Response(503)
            return httpx.Response(200, content=local.checkpoint())
        try:
            tile, is_entries = parse_tile_path(path.removeprefix("/log/"))
            body = local.entry_bundle(tile.n, tile.width) if is_entries else local.read_tiles([tile])[0]
        except LedgerError:
            return httpx.Response(404)
        return httpx.Response(200, content=body)

    stamina.set_testing(True, attempts=4)  # no waiting between tries
    try:
        client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://child.test")
        fetcher = HTTPFetcher("http://child.test", cache_dir=tmp_path / "cache", client=client)
        pull_child(parent, fetcher, child.origin)  # two 503s first: retried
        assert seen.count("/log/checkpoint") == 3
        child.add(300)  # the consistency proof from 3,603 to 3,903 reads tile 0/014, full by now
        pull_child(parent, fetcher, child.origin)
        assert seen.count("/log/tile/0/014") == 1
        again = fetcher.read_tiles([Tile(0, 14, 256)])
        assert seen.count("/log/tile/0/014") == 1, "a full tile is fetched once, then read from the cache"
        assert again[0] == child.ledger.tiles.read_tiles([Tile(0, 14, 256)])[0][: 256 * 32]
        assert_exactly_once(parent, child)
        with pytest.raises(NotFoundError):
            fetcher.get("log/tile/entries/999")
        failures["n"] = 99
        with pytest.raises(SyncError, match="503"):
            fetcher.checkpoint()
    finally:
        stamina.set_testing(False)


def test_a_refusal_by_the_peer_is_typed_with_its_status(tmp_path):
    """A 4xx answer (other than 404) is a PeerRefusedError carrying the status, not a message to parse:
    a statement the child holds already (409) counts as there; any other refusal is raised."""
    import httpx

    from regledger.ledger.errors import NotFoundError, PeerRefusedError, SyncError
    from regledger.sync.cascade import _post_statement
    from regledger.sync.fetch import HTTPFetcher

    answers = iter([409, 403, 404])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(
            status,
            json={"title": "Refused", "status": status, "detail": "HTTP 409 in text"},
            headers={"content-type": "application/problem+json"},
        )

    fetcher = HTTPFetcher("http://child.test", client=httpx.Client(transport=httpx.MockTransport(handler)))
    signer = Ed25519Signer.generate("platform@parent.example")
    st = sign_statement(signer, kind="calendar.year", subject="2027", payload={})
    assert _post_statement(fetcher, st) == 0  # 409: there already
    with pytest.raises(PeerRefusedError) as err:
        _post_statement(fetcher, st)  # 403: its detail says "HTTP 409", which must not count
    assert err.value.status == 403 and isinstance(err.value, SyncError)
    with pytest.raises(NotFoundError):
        _post_statement(fetcher, st)


class MissingTileFetcher(LedgerFetcher):
    """Serves no level-0 hash tile; counts how often it was told to drop its cache."""

    forgotten = 0

    def read_tiles(self, tiles):
        if any(t.level == 0 for t in tiles):
            from regledger.ledger.errors import NotFoundError

            raise NotFoundError("no such tile")
        return super().read_tiles(tiles)

    def forget(self):
        self.forgotten += 1


def test_tiles_that_give_no_consistency_proof_are_a_refusal_and_dropped(parent, child):
    """No proof at all (a tile missing) is refused like a proof that fails, and the fetcher forgets its cache."""
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    child.add(300)
    missing = MissingTileFetcher(child.ledger)
    refusal = r"its tiles do not prove its own checkpoint 902 \(no such tile\); refused, not a fork"
    with pytest.raises(VerificationError, match=refusal):
        pull_child(parent, missing, child.origin)
    assert missing.forgotten == 1 and sync_status(parent)[0]["state"] == "ok"
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert_exactly_once(parent, child)


class WrongTileFetcher(LedgerFetcher):
    """Serves one hash tile with a byte flipped."""

    def read_tiles(self, tiles):
        out = super().read_tiles(tiles)
        return [bytes([d[0] ^ 1]) + d[1:] if t.level == 1 else d for t, d in zip(tiles, out, strict=True)]


def test_tiles_that_do_not_rebuild_the_signed_root_are_refused_before_any_entry(parent, child):
    child.add(3000)  # 14 full bundles: the level-1 tile holds their subtree roots
    head = parent.store.head().size
    with pytest.raises(VerificationError, match="tiles do not rebuild the root"):
        pull_child(parent, WrongTileFetcher(child.ledger), child.origin)
    assert parent.store.head().size == head


@pytest.mark.slow
def test_a_bad_bundle_in_the_middle_keeps_the_verified_ones_before_it_and_resumes_after(parent, child):
    child.add(3000)
    bad = TamperingFetcher(
        child.ledger, lambda n, ls: ls if n != 5 else ls[:9] + [ls[9].replace(b"region", b"regiom", 1)] + ls[10:]
    )
    with pytest.raises(VerificationError, match="entry 1289"):
        pull_child(parent, bad, child.origin)
    row = sync_status(parent)[0]
    assert row["ingested_size"] <= 5 * 256 and row["verified_size"] == 0
    assert [i for i, _, _ in cascaded(parent, child.origin)] == list(range(row["ingested_size"]))
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert_exactly_once(parent, child)


def test_a_child_cannot_claim_a_log_already_in_the_cascade(parent, child, tmp_path):
    """A second child declaring the first as its own child would write into the first's mirror."""
    home = Home(tmp_path / "rogue")
    home.init("rogue.example/520116", say=lambda *a: None)
    rogue = Child(home)
    add_child(parent, parent.home.admin(), "http://127.0.0.1:9", rogue.ledger.verifier().vkey())
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    add_child(rogue.ledger, home.admin(), "http://127.0.0.1:9", child.ledger.verifier().vkey())
    rogue.ledger.integrate()
    with pytest.raises(ConflictError, match="already in the cascade"):
        pull_child(parent, LedgerFetcher(rogue.ledger), rogue.origin)
    route = parent.store.get_states([f"route:{child.origin}"])[f"route:{child.origin}"]
    assert route.state == {"parent": parent.origin}
    child.add(10)
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)  # the real one is unaffected
    assert_exactly_once(parent, child)


class CorruptTileFetcher(LedgerFetcher):
    """Flips a byte in every level-0 hash tile: what a bad link or a bad cache would serve."""

    def read_tiles(self, tiles):
        out = super().read_tiles(tiles)
        return [bytes([d[0] ^ 1]) + d[1:] if t.level == 0 else d for t, d in zip(tiles, out, strict=True)]


def test_tiles_that_prove_nothing_are_a_refusal_not_a_fork(parent, child):
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    child.add(300)
    with pytest.raises(VerificationError, match="not a fork"):
        pull_child(parent, CorruptTileFetcher(child.ledger), child.origin)
    assert sync_status(parent)[0]["state"] == "ok"
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert_exactly_once(parent, child)


def test_an_entry_too_deep_to_wrap_is_refused_with_a_reason(parent, child):
    deep: dict = {"leaf": 1}
    for _ in range(27):
        deep = {"a": deep}
    child.ledger.append(sign_statement(child.clerk, kind="sample.deep", subject="deep", payload=deep))
    child.ledger.integrate()
    with pytest.raises(VerificationError, match="nested deeper than 32 levels") as err:
        pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert f"entry {child.ledger.checkpoint()[0] - 1}" in str(err.value)
    parent.integrate()
    audit(parent.store, origin=parent.origin, verifier=parent.verifier(), policy=parent.policy)


def test_the_pull_folds_the_bytes_it_packed_and_a_replay_of_the_log_agrees(parent, child, monkeypatch):
    import regledger.sync.policy as sync_policy

    calls = []
    real = sync_policy.embedded_leaves

    def counted(leaf, count):
        calls.append(count)
        return real(leaf, count)

    monkeypatch.setattr(sync_policy, "embedded_leaves", counted)
    pull_child(parent, LedgerFetcher(child.ledger), child.origin)
    assert calls == [], "the fold of a statement the pull just packed does not parse the child leaves again"
    assert_exactly_once(parent, child)
    parent.integrate()
    # read back from the log, the entries are plain JSON: the replay slices the leaf and must agree
    audit(parent.store, origin=parent.origin, verifier=parent.verifier(), policy=parent.policy)
    assert sum(calls) == child.ledger.checkpoint()[0]
    with pytest.raises(ValueError):
        sync_policy.PackedLeaves([{}], [b"{}", b"{}"])
