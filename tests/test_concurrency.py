"""Several processes appending to one database: gapless, once each, one chain, one root."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter

import pytest
from conftest import make_ledger
from test_ledger import reference_root

from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.vkey import format_skey, parse_skey
from regledger.ledger.audit import audit
from regledger.ledger.entry import Entry, sign_statement
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore

PROCESSES = 4
APPENDS = 2000


def _worker(url: str, log_skey: str, clerk_skey: str, worker: int, n: int, integrate_every: int) -> None:
    log = parse_skey(log_skey)
    clerk = parse_skey(clerk_skey)
    store = SQLStore(url)
    ledger = Ledger(store, origin=log.name, log_signer=log)
    for i in range(n):
        st = sign_statement(clerk, kind="test.concurrent", subject=f"w{worker}", payload={"w": worker, "i": i})
        ledger.append(st)
        if integrate_every and i % integrate_every == integrate_every - 1:
            ledger.integrate(300)  # integrators race each other too; CAS keeps one history
    store.close()


def _run(url: str) -> None:
    log = Ed25519Signer.generate("concurrency.test/1")
    admin = Ed25519Signer.generate("admin")
    clerk = Ed25519Signer.generate("clerk")
    store = SQLStore(url, create=True)
    ledger = make_ledger(store, log, admin)
    from regledger.ledger.keyring import register_key_statement

    ledger.append(register_key_statement(admin, clerk, "registrant"))
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(url, format_skey(log), format_skey(clerk), w, APPENDS, 250))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0, f"worker exited with {p.exitcode}"
    total = 2 + PROCESSES * APPENDS
    assert store.head().size == total
    leaves = ledger.entries(0, total)
    prev = None
    seen = Counter()
    for i, leaf in enumerate(leaves):
        e = Entry.from_leaf(leaf)
        assert e.index == i
        if prev is not None:
            assert e.prev == prev
        prev = leaf_hash(leaf)
        if e.statement.kind == "test.concurrent":
            seen[(e.statement.payload["w"], e.statement.payload["i"])] += 1
    assert len(seen) == PROCESSES * APPENDS and set(seen.values()) == {1}
    # each worker's own appends stay in its order
    for w in range(PROCESSES):
        order = [
            Entry.from_leaf(lf).statement.payload["i"]
            for lf in leaves
            if b'"kind":"test.concurrent"' in lf and f'"w":{w}'.encode() in lf
        ]
        assert order == list(range(APPENDS))
    assert ledger.integrate() == total
    assert ledger.tree_hash(total) == reference_root(leaves)
    audit(store, origin=log.name, verifier=ledger.verifier())
    store.close()


@pytest.mark.slow
def test_four_processes_sqlite(tmp_path):
    _run(f"sqlite:///{tmp_path / 'c.sqlite'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_four_processes_postgres(pg_url):
    _run(pg_url)


@pytest.mark.slow
def test_threads_share_one_ledger(store, log_signer, admin):
    """Several threads appending and integrating through one Ledger: gapless, each once."""
    import threading

    ledger = make_ledger(store, log_signer, admin)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(150):
                ledger.append(sign_statement(admin, kind="test.thread", subject=f"t{w}", payload={"w": w, "i": i}))
                if i % 50 == 49:
                    ledger.integrate()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = 1 + 4 * 150
    assert ledger.integrate() == total
    leaves = ledger.entries(0, total)
    seen = Counter((e.statement.payload["w"], e.statement.payload["i"]) for e in map(Entry.from_leaf, leaves[1:]))
    assert len(seen) == 600 and set(seen.values()) == {1}
    assert ledger.tree_hash(total) == reference_root(leaves)
    audit(store, origin=log_signer.name, verifier=ledger.verifier())


def test_sqlite_busy_is_told_by_its_error_code_not_its_message(tmp_path):
    """A writer holding the file makes another connection's read fail with SQLITE_BUSY: a PushbackError
    (retry soon).  An error that merely mentions "locked" (a missing table of that name) is not busy."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from regledger.ledger.errors import PushbackError, StorageUnavailableError
    from regledger.ledger.sqlstore import _storage_error

    path = tmp_path / "busy.db"
    holder = create_engine(f"sqlite:///{path}")
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as held:
        held.execute(text("CREATE TABLE t (x INTEGER)"))
        held.commit()
        held.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(OperationalError) as busy, impatient.connect() as conn:
            conn.execute(text("SELECT x FROM t"))
        held.rollback()
    assert busy.value.orig.sqlite_errorcode & 0xFF == 5  # SQLITE_BUSY
    assert type(_storage_error(busy.value)) is PushbackError
    with pytest.raises(OperationalError) as missing, impatient.connect() as conn:
        conn.execute(text("SELECT x FROM locked"))
    assert "locked" in str(missing.value.orig)
    assert type(_storage_error(missing.value)) is StorageUnavailableError
    holder.dispose()
    impatient.dispose()
