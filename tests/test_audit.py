"""`audit` finds every edited byte: in an entry, a stored leaf hash, a tile, a checkpoint, a key row."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from conftest import make_ledger
from ledger.audit import AuditFailure, audit
from ledger.keyring import register_key_statement
from ledger.sqlstore import SQLStore
from test_ledger import sample


@pytest.fixture
def filled(tmp_path, log_signer, admin):
    store = SQLStore(f"sqlite:///{tmp_path / 'a.sqlite'}", create=True)
    ledger = make_ledger(store, log_signer, admin)
    from keys.ed25519 import Ed25519Signer

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


@pytest.mark.parametrize("offset", [0, 7, 30, 60, 90, 120, -3, -1])
def test_flipped_entry_byte_is_found(filled, offset):
    _flip(filled, "rl_entries", "leaf", "idx = 150", offset)
    with pytest.raises(AuditFailure) as err:
        _run(filled)
    assert err.value.where == "entry 150"


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


@pytest.mark.parametrize("offset", [0, 25, 40, 70, -5])
def test_flipped_checkpoint_byte_is_found(filled, offset):
    _flip(filled, "rl_checkpoints", "note", "size = 102", offset)
    with pytest.raises(AuditFailure) as err:
        _run(filled)
    assert err.value.where == "checkpoint 102"


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
