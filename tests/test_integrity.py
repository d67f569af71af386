"""Issue 9, item 1: integration never signs a checkpoint the stored data does not back.

Each test damages one stored row of a ledger of size 353 (the issue's reproduction), appends, and
integrates: the check before signing refuses, names the row and halts the ledger; on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import pytest
from conftest import make_ledger
from sqlalchemy import text
from test_ledger import sample

from regledger.ledger.audit import audit
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import Entry
from regledger.ledger.errors import IntegrityError, LedgerError, SchemaVersionError
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.merkle import CompactRange
from regledger.ledger.sequencer import BatchIntegrator, Ledger
from regledger.ledger.sqlstore import SQLStore

SIZE = 353  # tile 0/1 is partial (97 hashes); the repro flips its last one


@pytest.fixture
def ledger353(sql_url, log_signer, admin):
    store = SQLStore(sql_url, create=True)
    ledger = make_ledger(store, log_signer, admin)
    ledger.append_batch([sample(admin, i) for i in range(SIZE - 1)], receipts=False)
    assert ledger.integrate() == SIZE
    yield ledger
    store.close()


def flip(ledger: Ledger, table: str, column: str, where: str, offset: int) -> None:
    with ledger.store.engine.begin() as conn:
        value = bytearray(conn.execute(text(f"SELECT {column} FROM {table} WHERE {where}")).scalar_one())
        value[offset % len(value)] ^= 0x01
        conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {where}"), {"v": bytes(value)})


def root_of_stored_leaves(ledger: Ledger, size: int) -> bytes:
    """The RFC 9162 root of the first `size` stored leaves, from the leaf bytes alone."""
    compact = CompactRange()
    for leaf, _ in ledger.store.read_entries(0, size):
        compact.push(leaf_hash(leaf))
    return compact.root()


def assert_every_signed_checkpoint_is_backed(ledger: Ledger) -> None:
    """No checkpoint the log signed has a root other than the root of the stored leaves."""
    for size, note in ledger.store.iter_checkpoints():
        try:
            cp, _ = open_checkpoint(note, ledger.origin, ledger.verifier())
        except LedgerError:
            continue  # the damaged row: no longer a checkpoint the log signed
        assert cp.root == root_of_stored_leaves(ledger, size), f"checkpoint {size} is not backed by the leaves"


def integrate_is_refused(ledger: Ledger, admin, match: str) -> IntegrityError:
    ledger.append(sample(admin, 10_000))
    with pytest.raises(IntegrityError, match=match) as err:
        ledger.integrate()
    assert ledger.store.latest_checkpoint()[0] == SIZE  # nothing was signed
    assert ledger.integration_refusals == 1
    assert not ledger.health.ready and ledger.health.errors()[0].component == "integrity"
    return err.value


def test_flipped_edge_tile_hash_is_refused_and_named(ledger353, admin):
    """The issue's reproduction: the last hash of the stored level-0 tile n=1."""
    flip(ledger353, "rl_tiles", "data", "level = 0 AND n = 1", 96 * 32 + 5)
    err = integrate_is_refused(ledger353, admin, "tile/0/001.p/97 hash 96")
    assert (err.level, err.tile, err.index) == (0, 1, 96)
    assert_every_signed_checkpoint_is_backed(ledger353)


def test_flipped_pending_leaf_hash_is_refused_and_named(ledger353, admin):
    ledger353.append(sample(admin, 20_000))
    flip(ledger353, "rl_entries", "leaf_hash", f"idx = {SIZE}", 3)
    with pytest.raises(IntegrityError, match=f"entry {SIZE}: stored leaf hash") as err:
        ledger353.integrate()
    assert err.value.index == SIZE and ledger353.store.latest_checkpoint()[0] == SIZE
    assert_every_signed_checkpoint_is_backed(ledger353)


def test_flipped_latest_checkpoint_row_is_refused(ledger353, admin):
    flip(ledger353, "rl_checkpoints", "note", f"size = {SIZE}", -7)
    integrate_is_refused(ledger353, admin, f"checkpoint {SIZE}: the stored note does not verify")


def test_level_one_edge_tile_is_checked(ledger353, admin):
    flip(ledger353, "rl_tiles", "data", "level = 1 AND n = 0", 0)
    err = integrate_is_refused(ledger353, admin, "tile/1/000.p/1 hash 0")
    assert (err.level, err.tile, err.index) == (1, 0, 0)


def test_missing_latest_checkpoint_is_refused_not_a_traceback(ledger353, admin):
    with ledger353.store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM rl_checkpoints WHERE size = {SIZE}"))
    ledger353.append(sample(admin, 10_000))
    with pytest.raises(IntegrityError, match=f"checkpoint {SIZE}: published as the latest, but not stored"):
        ledger353.integrate()
    assert not ledger353.health.ready


def test_a_halted_ledger_signs_and_appends_nothing_until_restarted(ledger353, admin):
    flip(ledger353, "rl_tiles", "data", "level = 0 AND n = 1", 96 * 32)
    integrate_is_refused(ledger353, admin, "hash 96")
    head = ledger353.store.head().size
    with pytest.raises(IntegrityError, match="stopped signing"):
        ledger353.append(sample(admin, 30_000))
    with pytest.raises(IntegrityError, match="stopped signing"):
        ledger353.integrate()
    assert ledger353.store.head().size == head and ledger353.integration_refusals == 1
    integrator = BatchIntegrator(ledger353, batch_size=1)
    assert integrator.run_once(None) is None and integrator.integrations == 0  # waits for the restart, quietly
    flip(ledger353, "rl_tiles", "data", "level = 0 AND n = 1", 96 * 32)  # repaired by hand
    restarted = Ledger(ledger353.store, origin=ledger353.origin, log_signer=ledger353.log_signer)
    assert restarted.health.ready and restarted.integrate() == head
    assert_every_signed_checkpoint_is_backed(restarted)


def test_a_database_from_before_the_checkpoint_chain_gets_it_by_upgrade(ledger353, admin):
    """Such a database (the baseline revision: prev_size came later) is refused until `regledger db upgrade`."""
    with ledger353.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE rl_checkpoints DROP COLUMN prev_size"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    url = ledger353.store.url
    ledger353.store.close()
    with pytest.raises(SchemaVersionError, match="revision 0001, older than this code's revision 0004"):
        SQLStore(url)
    old = SQLStore(url, check_schema=False)
    assert old.upgrade_schema() == ("0001", "0004")
    old.close()
    store = SQLStore(url)
    try:
        assert store.checkpoint_chain() == [(0, None), (1, 0), (SIZE, 1)]
        ledger = Ledger(store, origin=ledger353.origin, log_signer=ledger353.log_signer)
        ledger.append(sample(admin, 50_000))
        assert ledger.integrate() == SIZE + 1 and store.checkpoint_chain()[-1] == (SIZE + 1, SIZE)
        audit(store, origin=ledger.origin, verifier=ledger.verifier())
    finally:
        store.close()


@pytest.mark.parametrize(
    "damage, refused",
    [
        ("edge tile", True),  # tile 0/1, which the next tree extends
        ("pending leaf hash", True),  # a sequenced, not yet integrated entry's stored leaf hash
        ("latest checkpoint", True),  # the row the next checkpoint builds on
        ("older checkpoint", False),  # not built on: integration goes ahead, with the right root
        ("interior tile", False),  # full tile 0/0: not built on either (audit and self-audit find it)
    ],
)
def test_fault_no_checkpoint_is_signed_that_the_stored_leaves_do_not_back(ledger353, admin, damage, refused):
    """The issue's 'Must show' fault test: corrupt each row in turn, append, integrate."""
    ledger353.append_batch([sample(admin, 40_000 + i) for i in range(300)], receipts=False)
    rows = {
        "edge tile": ("rl_tiles", "data", "level = 0 AND n = 1", 50 * 32 + 1),
        "pending leaf hash": ("rl_entries", "leaf_hash", f"idx = {SIZE + 299}", 0),
        "latest checkpoint": ("rl_checkpoints", "note", f"size = {SIZE}", 30),
        "older checkpoint": ("rl_checkpoints", "note", "size = 1", 30),
        "interior tile": ("rl_tiles", "data", "level = 0 AND n = 0", 4000),
    }
    flip(ledger353, *rows[damage])
    if refused:
        with pytest.raises(IntegrityError):
            ledger353.integrate()
        assert ledger353.store.latest_checkpoint()[0] == SIZE
    else:
        assert ledger353.integrate() == SIZE + 300
    assert_every_signed_checkpoint_is_backed(ledger353)


def test_a_sequence_head_behind_the_published_checkpoint_is_refused(ledger353, admin):
    """Review of issue 9: a head row set back below the published size got its checkpoint signed with
    the root of the larger tree; now nothing is signed, the head is named, and the ledger halts."""
    ledger353.append_batch([sample(admin, 60_000 + i) for i in range(5)], receipts=False)
    assert ledger353.integrate() == SIZE + 5
    with ledger353.store.engine.begin() as conn:
        conn.execute(text(f"UPDATE rl_head SET size = {SIZE + 2} WHERE id = 1"))  # id 1: the sequence head
    with pytest.raises(
        IntegrityError, match=f"sequence head: size {SIZE + 2} is behind the published checkpoint of size {SIZE + 5}"
    ):
        ledger353.integrate()
    assert ledger353.store.checkpoint_chain()[-1] == (SIZE + 5, SIZE)  # nothing more was signed
    assert ledger353.integration_refusals == 1 and ledger353.halted.where == "sequence head"
    assert not ledger353.health.ready
    integrator = BatchIntegrator(ledger353, batch_size=1)
    integrator.stop()  # the final integration on stopping signs nothing either
    assert ledger353.store.checkpoint_chain()[-1] == (SIZE + 5, SIZE)
    assert_every_signed_checkpoint_is_backed(ledger353)


# -- the check before signing reads each new leaf's index and prev (review of issue 9, item 3) ---------


def rewrite_leaf(ledger: Ledger, index: int, *, says_index: int | None = None, prev: bytes | None = None) -> None:
    """Rewrite a stored leaf's envelope and its stored leaf hash together, consistently."""
    e = Entry.from_leaf(ledger.entries(index, index + 1)[0])
    leaf = Entry.build(
        e.index if says_index is None else says_index, e.prev if prev is None else prev, e.time, e.statement
    ).leaf
    with ledger.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE rl_entries SET leaf = :l, leaf_hash = :h WHERE idx = :i"),
            {"l": leaf, "h": leaf_hash(leaf), "i": index},
        )


@pytest.mark.parametrize(
    "pending, rewritten, change, what",
    [
        (3, SIZE + 2, {"says_index": SIZE + 7}, f"the leaf says index {SIZE + 7}"),
        (1, SIZE, {"prev": bytes(32)}, "chain broken"),  # the first new leaf: prev is the signed tree's last leaf
        (3, SIZE + 1, {"prev": bytes(32)}, "chain broken"),
    ],
)
def test_a_new_leaf_rewritten_with_its_leaf_hash_is_refused(ledger353, admin, pending, rewritten, change, what):
    ledger353.append_batch([sample(admin, 70_000 + i) for i in range(pending)], receipts=False)
    rewrite_leaf(ledger353, rewritten, **change)
    with pytest.raises(IntegrityError, match=f"entry {rewritten}: {what}") as err:
        ledger353.integrate()
    assert err.value.index == rewritten and ledger353.store.latest_checkpoint()[0] == SIZE
    assert ledger353.integration_refusals == 1 and not ledger353.health.ready


def test_the_first_new_leaf_chains_to_a_signed_tree_that_ends_a_full_tile(ledger353, admin):
    """After 512 and 768 the last signed leaf's hash is in a full level-0 tile, which the root does not read:
    proved by inclusion from the stored tiles, it is where the chain check starts."""
    ledger353.append_batch([sample(admin, 80_000 + i) for i in range(512 - SIZE)], receipts=False)
    assert ledger353.integrate() == 512
    ledger353.append(sample(admin, 81_000))
    assert ledger353.integrate() == 513
    ledger353.append_batch([sample(admin, 81_001 + i) for i in range(255)], receipts=False)
    assert ledger353.integrate() == 768
    ledger353.append(sample(admin, 82_000))
    rewrite_leaf(ledger353, 768, prev=leaf_hash(ledger353.entries(766, 767)[0]))
    with pytest.raises(IntegrityError, match="entry 768: chain broken"):
        ledger353.integrate()
    assert ledger353.store.latest_checkpoint()[0] == 768
