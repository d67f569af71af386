"""`audit` finds every edited byte: in an entry, a stored leaf hash, a tile, a checkpoint, a key row."""

from __future__ import annotations

import pytest
from conftest import make_ledger
from sqlalchemy import text
from test_ledger import sample

from regledger.ledger.audit import AuditFailure, audit, repair
from regledger.ledger.entry import Entry
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sqlstore import SQLStore


@pytest.fixture
def filled(tmp_path, log_signer, admin):
    store = SQLStore(f"sqlite:///{tmp_path / 'a.sqlite'}", create=True)
    ledger = make_ledger(store, log_signer, admin)
    from regledger.keys.ed25519 import Ed25519Signer

    clerk = Ed25519Signer.generate("clerk")
    ledger.append(register_key_statement(admin, clerk, "registrant"))
    for n in (100, 300, 7):
        ledger.append_batch([sample(clerk, i) for i in range(n)], receipts=False)
        ledger.integrate()
    yield ledger
    store.close()


def _run(ledger):
    return audit(ledger.store, origin=ledger.origin, verifier=ledger.verifier())


def _flip(ledger, table: str, column: str, where: str, offset: int) -> None:
    with ledger.store.engine.begin() as conn:
        value = bytearray(conn.execute(text(f"SELECT {column} FROM {table} WHERE {where}")).scalar_one())
        value[offset % len(value)] ^= 0x01
        conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {where}"), {"v": bytes(value)})


def test_clean_ledger_passes(filled):
    report = _run(filled)
    assert report.entries == report.published_size == 409
    assert report.checkpoints == 5 and report.keys == 2 and report.tiles == 3


@pytest.mark.parametrize(
    "table, column, row, offset, where",
    [
        *[("rl_entries", "leaf", "idx = 150", offset, "entry 150") for offset in (0, 7, 30, 60, 90, 120, -3, -1)],
        *[("rl_checkpoints", "note", "size = 102", offset, "checkpoint 102") for offset in (0, 25, 40, 70, -5)],
    ],
)
def test_flipped_entry_or_checkpoint_byte_is_found(filled, table, column, row, offset, where):
    _flip(filled, table, column, row, offset)
    with pytest.raises(AuditFailure) as err:
        _run(filled)
    assert err.value.where == where


def test_flipped_stored_leaf_hash_is_found(filled):
    _flip(filled, "rl_entries", "leaf_hash", "idx = 3", 5)
    with pytest.raises(AuditFailure, match="stored leaf hash") as err:
        _run(filled)
    assert err.value.where == "entry 3"


@pytest.mark.parametrize("level, n, offset", [(0, 0, 0), (0, 1, 8191), (0, 1, 4000), (1, 0, 33)])
def test_flipped_tile_byte_is_found(filled, level, n, offset):
    _flip(filled, "rl_tiles", "data", f"level = {level} AND n = {n}", offset)
    with pytest.raises(AuditFailure) as err:
        _run(filled)
    assert err.value.where.startswith(f"tile tile/{level}/")


def test_edited_key_row_is_found(filled):
    with filled.store.engine.begin() as conn:
        conn.execute(text("UPDATE rl_keys SET role = 'admin' WHERE role = 'registrant'"))
    with pytest.raises(AuditFailure, match="key table"):
        _run(filled)


def test_deleted_entry_is_found(filled):
    with filled.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rl_entries WHERE idx = 408"))
    with pytest.raises(AuditFailure, match="not all sequenced"):
        _run(filled)


# -- the checkpoint chain and the latest checkpoint (issue 9, item 2) ---------------------------------


@pytest.mark.parametrize(
    "size, what",
    [
        (102, "missing: checkpoint 402 was published after it"),  # a historical one
        (409, "published as the latest, but not stored"),  # the latest: named, not a NoResultFound traceback
    ],
)
def test_deleted_checkpoint_is_found(filled, size, what):
    with filled.store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM rl_checkpoints WHERE size = {size}"))
    with pytest.raises(AuditFailure, match=what) as err:
        _run(filled)
    assert err.value.where == f"checkpoint {size}"


# -- repair: rebuild derived rows from the leaves, refuse when the leaves are damaged -----------------


def _tiles(ledger):
    return list(ledger.store.iter_tiles())


@pytest.mark.parametrize(
    "damage, rebuilt",
    [
        (("rl_tiles", "data", "level = 0 AND n = 1", 96 * 32 + 5), ["tile 0/1"]),
        (("rl_tiles", "data", "level = 1 AND n = 0", 0), ["tile 1/0"]),
        (("rl_entries", "leaf_hash", "idx = 3", 5), ["entry 3 leaf hash"]),
    ],
)
def test_repair_rebuilds_derived_rows_from_the_leaves(filled, damage, rebuilt):
    _flip(filled, *damage)
    with pytest.raises(AuditFailure):
        _run(filled)
    found, report = repair(filled.store, origin=filled.origin, verifier=filled.verifier())
    assert found.rows() == rebuilt and report.published_size == 409
    _run(filled)
    assert filled.integrate() == 409  # and the integrity check before signing passes again


def test_repair_removes_a_stray_tile_and_restores_a_deleted_one(filled):
    with filled.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rl_tiles WHERE level = 0 AND n = 0"))
        conn.execute(text("INSERT INTO rl_tiles (level, n, data) VALUES (3, 0, :d)"), {"d": b"\x00" * 32})
    found, _ = repair(filled.store, origin=filled.origin, verifier=filled.verifier())
    assert found.rows() == ["tile 0/0", "tile 3/0 (delete)"]
    _run(filled)


@pytest.mark.parametrize(
    "primary, where",
    [
        (("rl_entries", "leaf", "idx = 150", 60), "entry 150"),
        (("rl_checkpoints", "note", "size = 102", 25), "checkpoint 102"),
    ],
)
def test_repair_refuses_when_the_leaves_or_checkpoints_are_damaged(filled, primary, where):
    _flip(filled, "rl_tiles", "data", "level = 0 AND n = 1", 0)  # derived damage as well
    before = _tiles(filled)
    _flip(filled, *primary)
    with pytest.raises(AuditFailure) as err:
        repair(filled.store, origin=filled.origin, verifier=filled.verifier())
    assert err.value.where == where
    assert _tiles(filled) == before  # nothing written


# -- repair rebuilds nothing from a leaf that no signed root or chain pins (review of issue 9) ----------


def _set_entry_time(ledger, index: int, time: str) -> None:
    """Rewrite the server-set `time` of a stored leaf: the submitter's signature does not cover it."""
    e = Entry.from_leaf(ledger.entries(index, index + 1)[0])
    with ledger.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE rl_entries SET leaf = :l WHERE idx = :i"),
            {"l": Entry.build(index, e.prev, time, e.statement).leaf, "i": index},
        )


def _writable_rows(ledger):
    """Every row repair could write: the stored leaf hashes, the sequence head, the tiles."""
    with ledger.store.engine.begin() as conn:
        hashes = [bytes(h) for (h,) in conn.execute(text("SELECT leaf_hash FROM rl_entries ORDER BY idx"))]
        head = [(size, bytes(h)) for size, h in conn.execute(text("SELECT size, last_hash FROM rl_head ORDER BY id"))]
    return hashes, head, _tiles(ledger)


@pytest.mark.parametrize(
    "pending, changed, where",
    [
        (1, 409, "entry 409"),  # the reviewer's t4: the last entry, after the last checkpoint
        (2, 409, "entry 410"),  # one before it: the next entry's prev still names the leaf as sequenced
    ],
)
def test_repair_refuses_a_leaf_changed_after_it_was_sequenced(filled, admin, pending, changed, where):
    receipts = filled.append_batch([sample(admin, 90_000 + i) for i in range(pending)])
    _set_entry_time(filled, changed, "2020-01-01T00:00:00.000Z")
    before = _writable_rows(filled)
    with pytest.raises(AuditFailure) as err:
        repair(filled.store, origin=filled.origin, verifier=filled.verifier())
    assert err.value.where == where
    assert _writable_rows(filled) == before  # nothing written: the receipt's leaf hash is still the stored one
    assert receipts[changed - 409].entry.leaf_hash == before[0][changed]
    with pytest.raises(AuditFailure):
        filled.integrate()  # and nothing is signed over the changed leaf


@pytest.mark.parametrize(
    "damaged, rebuilt",
    [
        (["leaf hash"], ["entry 409 leaf hash"]),  # the head's last hash still is H(leaf)
        (["head"], ["sequence head"]),  # the stored leaf hash still is H(leaf)
        (["leaf hash", "head"], None),  # neither: no record of the leaf as sequenced agrees with it
    ],
)
def test_repair_rebuilds_the_last_leaf_hash_only_from_a_record_that_agrees(filled, admin, damaged, rebuilt):
    filled.append(sample(admin, 91_000))
    rows = {"leaf hash": ("rl_entries", "leaf_hash", "idx = 409", 3), "head": ("rl_head", "last_hash", "id = 1", 9)}
    for row in damaged:
        _flip(filled, *rows[row])
    if rebuilt is None:
        before = _writable_rows(filled)
        with pytest.raises(AuditFailure, match="changed after it was sequenced") as err:
            repair(filled.store, origin=filled.origin, verifier=filled.verifier())
        assert err.value.where == "entry 409" and _writable_rows(filled) == before
        return
    found, _ = repair(filled.store, origin=filled.origin, verifier=filled.verifier())
    assert found.rows() == rebuilt
    assert filled.integrate() == 410
    _run(filled)


# -- cosignature rows (issue 9, item 2) ----------------------------------------------------------------


@pytest.fixture
def parent_cosigner():
    from regledger.keys.ed25519 import Ed25519Signer
    from regledger.ledger.cosignature import Cosigner

    return Cosigner(Ed25519Signer.generate("parent.regledger.example/1"))


def _cosign(ledger, size: int, cosigner) -> tuple[str, int, str, str]:
    from regledger.ledger.cosignature import cosign

    note = ledger.checkpoint_at(size).decode()
    return ledger.origin, size, cosigner.vkey(), cosign(note[: note.index("\n\n") + 1], cosigner)


def test_cosignatures_verify_under_the_pinned_key(filled, parent_cosigner):
    filled.store.add_cosignatures([_cosign(filled, 102, parent_cosigner), _cosign(filled, 409, parent_cosigner)])
    report = audit(
        filled.store,
        origin=filled.origin,
        verifier=filled.verifier(),
        pinned_cosigners={parent_cosigner.name: parent_cosigner.public},
    )
    assert report.cosignatures == 2


def test_cosignature_row_that_does_not_verify_is_found(filled, parent_cosigner):
    filled.store.add_cosignatures([_cosign(filled, 102, parent_cosigner)])
    with filled.store.engine.begin() as conn:
        conn.execute(text("UPDATE rl_cosignatures SET size = 402"))  # moved onto another checkpoint
    with pytest.raises(AuditFailure, match="does not verify") as err:
        _run(filled)
    assert err.value.where == f"cosignature 402 by {parent_cosigner.name}"


def test_cosignature_by_the_pinned_name_under_another_key_is_found(filled, parent_cosigner):
    from regledger.keys.ed25519 import Ed25519Signer
    from regledger.ledger.cosignature import Cosigner

    impostor = Cosigner(Ed25519Signer.generate(parent_cosigner.name))
    filled.store.add_cosignatures([_cosign(filled, 102, impostor)])
    _run(filled)  # it verifies under the key its row names...
    with pytest.raises(AuditFailure, match="not the pinned one"):  # ...which is not the parent's pinned key
        audit(
            filled.store,
            origin=filled.origin,
            verifier=filled.verifier(),
            pinned_cosigners={parent_cosigner.name: parent_cosigner.public},
        )
