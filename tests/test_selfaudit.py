"""Issue 9, item 2: the background self-audit notices tampering and halts the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import random

import pytest
from conftest import make_ledger
from sqlalchemy import text
from test_integrity import flip
from test_ledger import sample

from regledger.ledger.errors import IntegrityError
from regledger.ledger.selfaudit import SelfAudit
from regledger.ledger.sqlstore import SQLStore

# every test builds and integrates a ledger of a few hundred entries, on SQLite and PostgreSQL: seconds each
pytestmark = pytest.mark.slow

SIZE = 601  # level-0 tiles 0/0 and 0/1 full, 0/2 partial; tile 1/0 holds two hashes


class Pick:
    """random.Random's two methods, sampling what the test names: entry `entry`, tile `tile`, checkpoint `size`."""

    def __init__(self, *, entry: int = 0, tile: int = 0, size: int = 0) -> None:
        self.entry, self.tile, self.size = entry, tile, size

    def randrange(self, n: int) -> int:
        return self.entry if n == SIZE else self.tile  # entries are drawn from range(SIZE), tiles from range(3)

    def choice(self, seq: list[int]) -> int:
        return self.size


@pytest.fixture
def ledger(sql_url, log_signer, admin):
    store = SQLStore(sql_url, create=True)
    ledger = make_ledger(store, log_signer, admin)
    for n in (99, 301, 200):
        ledger.append_batch(
            [sample(admin, len(ledger.entries(0, ledger.store.head().size)) + i) for i in range(n)], receipts=False
        )
        ledger.integrate()
    assert ledger.checkpoint()[0] == SIZE
    yield ledger
    store.close()


def audited(ledger, **kw) -> SelfAudit:
    """A self-audit that has run its first round on the clean ledger."""
    sa = SelfAudit(ledger, interval=0, **kw)
    sa.run_once()
    assert ledger.audit_failures == 0 and ledger.health.ready and sa.verified[0] == SIZE
    return sa


def assert_halted(ledger, admin, where: str) -> None:
    assert ledger.audit_failures == 1
    assert ledger.halted is not None and ledger.halted.where == where, ledger.halted
    (cond,) = ledger.health.errors()
    assert cond.component == "integrity" and where in cond.message
    with pytest.raises(IntegrityError, match="stopped signing"):
        ledger.append(sample(admin, 99_999))


def test_clean_rounds_find_nothing_while_the_log_grows(ledger, admin):
    sa = SelfAudit(ledger, interval=0, rng=random.Random(7))
    for i in range(5):
        ledger.append_batch([sample(admin, 10_000 + 100 * i + j) for j in range(100)], receipts=False)
        ledger.integrate(60)
        ledger.integrate()
        sa.run_once()
    assert ledger.audit_failures == 0 and ledger.health.ready
    assert sa.verified[0] == SIZE + 500 and sa.rounds == 5
    assert {SIZE + 60, SIZE + 100, SIZE + 500} <= set(sa.sizes)  # every new checkpoint, checked on the way


def test_tampered_entry_is_found(ledger, admin):
    sa = audited(ledger, rng=Pick(entry=300))
    flip(ledger, "rl_entries", "leaf", "idx = 300", 40)
    sa.run_once()
    assert_halted(ledger, admin, "entry 300")


def test_entry_rewritten_with_its_leaf_hash_is_found_by_the_tile(ledger, admin):
    """What an entry bundle serves: leaf and stored leaf hash changed together."""
    from regledger.ledger.hashes import leaf_hash

    sa = audited(ledger, rng=Pick(entry=300))
    with ledger.store.engine.begin() as conn:
        leaf = bytearray(conn.execute(text("SELECT leaf FROM rl_entries WHERE idx = 300")).scalar_one())
        leaf[40] ^= 1
        conn.execute(
            text("UPDATE rl_entries SET leaf = :l, leaf_hash = :h WHERE idx = 300"),
            {"l": bytes(leaf), "h": leaf_hash(bytes(leaf))},
        )
    sa.run_once()
    assert_halted(ledger, admin, "tile tile/0/001 hash 44")


@pytest.mark.parametrize(
    "level, n, hash_index, where",
    [
        (0, 0, 17, "tile tile/0/000 hash 17"),  # a full level-0 tile, against its leaves
        (1, 0, 0, "tile tile/1/000.p/2 hash 0"),  # the level above: not the root of tile 0/0
    ],
)
def test_tampered_tile_is_found_by_the_tile_walk(ledger, admin, level, n, hash_index, where):
    sa = audited(ledger, entries=0, checkpoints=0, rng=Pick(tile=0))
    flip(ledger, "rl_tiles", "data", f"level = {level} AND n = {n}", hash_index * 32 + 3)
    sa.run_once()
    assert ledger.audit_failures == 1 and ledger.halted.where == where


def test_checkpoint_with_a_broken_signature_is_found(ledger, admin):
    sa = audited(ledger, entries=0, tiles=0, rng=Pick(size=100))
    flip(ledger, "rl_checkpoints", "note", "size = 100", -5)
    sa.run_once()
    assert_halted(ledger, admin, "checkpoint 100")
    assert "does not verify" in ledger.halted.what


def test_deleted_checkpoint_is_found(ledger, admin):
    sa = audited(ledger, entries=0, tiles=0, rng=Pick(size=100))
    with ledger.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rl_checkpoints WHERE size = 100"))
    sa.run_once()
    assert_halted(ledger, admin, "checkpoint 100")


def test_a_newly_integrated_range_is_re_verified(ledger, admin):
    sa = audited(ledger, entries=0, tiles=0, checkpoints=0)
    ledger.append_batch([sample(admin, 50_000 + i) for i in range(200)], receipts=False)
    ledger.integrate()  # 801: writes tile 0/3.p/33 and widens 0/2
    flip(ledger, "rl_tiles", "data", "level = 0 AND n = 2", 200 * 32)  # hash 200 of tile 0/2, new in this range
    sa.run_once()
    assert ledger.audit_failures == 1 and ledger.halted.where == "tile tile/0/002 hash 200"


def test_a_checkpoint_deleted_from_the_new_range_is_found(ledger, admin):
    sa = audited(ledger, entries=0, tiles=0, checkpoints=0)
    ledger.append_batch([sample(admin, 60_000 + i) for i in range(20)], receipts=False)
    ledger.integrate(10)
    ledger.integrate()
    with ledger.store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM rl_checkpoints WHERE size = {SIZE + 10}"))
    sa.run_once()
    assert ledger.audit_failures == 1 and ledger.halted.where == f"checkpoint {SIZE + 10}"


def test_a_halted_ledger_is_not_audited_again(ledger, admin):
    sa = audited(ledger, rng=Pick(entry=5))
    flip(ledger, "rl_entries", "leaf", "idx = 5", 40)
    sa.run_once()
    sa.run_once()
    assert ledger.audit_failures == 1


def test_a_published_size_that_goes_backwards_is_found(ledger, admin):
    """The published-size row set back to an older checkpoint (review of issue 9): not silently followed."""
    sa = audited(ledger, entries=0, tiles=0, checkpoints=0)
    with ledger.store.engine.begin() as conn:
        conn.execute(text("UPDATE rl_head SET size = 100 WHERE id = 2"))  # id 2: the published size
    sa.run_once()
    assert_halted(ledger, admin, "checkpoint 100")
    assert "went backwards" in ledger.halted.what
