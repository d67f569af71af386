"""The integrator lock (LedgerStore.integrator_lock) and the role built on it (ledger.integrator)."""

from __future__ import annotations

import time

import pytest
from conftest import make_ledger

from regledger.ledger.integrator import IntegratorRole
from regledger.ledger.sqlstore import SQLStore
from regledger.ledger.store import MemoryStore


def test_one_holder_at_a_time_on_each_backend(sql_url):
    a, b = SQLStore(sql_url, create=True), SQLStore(sql_url)
    try:
        la, lb = a.integrator_lock(), b.integrator_lock()
        assert la.try_acquire() and la.held()
        assert la.try_acquire()  # taking it again while holding it is a no-op
        assert not lb.try_acquire() and not lb.held()
        la.release()
        assert not la.held()
        assert lb.try_acquire() and lb.held()
        assert not la.try_acquire()
        lb.release()
    finally:
        a.close()
        b.close()


def test_a_lost_postgresql_session_is_a_lost_lock(pg_url):
    import psycopg

    store = SQLStore(pg_url, create=True)
    try:
        lock = store.integrator_lock()
        assert lock.try_acquire()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            n = admin.execute(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'regledger integrator pid %') t"
            ).fetchone()
        assert n == (1,)
        assert not lock.held()
        other = store.integrator_lock()
        assert other.try_acquire()  # free again once the session is gone
        other.release()
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_roles_take_over_when_the_holder_stops(backend, tmp_path, log_signer, admin):
    store = MemoryStore() if backend == "memory" else SQLStore(f"sqlite:///{tmp_path / 'l.sqlite'}", create=True)
    ledger = make_ledger(store, log_signer, admin)
    first = IntegratorRole(ledger, delay=0.01, retry=0.05).start()
    second = IntegratorRole(ledger, delay=0.01, retry=0.05).start()
    deadline = time.monotonic() + 5
    while not (first.holds or second.holds):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    assert first.holds != second.holds  # exactly one integrates
    holder, other = (first, second) if first.holds else (second, first)
    holder.stop()
    assert not holder.holds
    deadline = time.monotonic() + 5
    while not other.holds:
        assert time.monotonic() < deadline, "the other role did not take the free lock"
        time.sleep(0.01)
    assert other.terms == 1
    other.stop()
    store.close()
