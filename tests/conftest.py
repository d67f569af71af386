"""Shared fixtures: signers, in-memory and SQL stores (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore

PG_URL = os.environ.get("REGLEDGER_TEST_PG", "postgresql://127.0.0.1:5432/test")
ORIGIN = "test.regledger.example/1"


def _pg_admin_url() -> str:
    from regledger.ledger.sqlstore import normalise_url

    return normalise_url(PG_URL)


def pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: not reachable here
        return f"{type(exc).__name__}: {exc}".strip()


@pytest.fixture(scope="session")
def pg_server() -> str:
    why = pg_available()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {PG_URL} is not reachable: {why}")
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable ({why}); these tests run under CI=true")
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"rl_test_{uuid.uuid4().hex[:12]}"
    base = pg_server.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQL database URL on each backend: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def log_signer() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


@pytest.fixture
def admin() -> Ed25519Signer:
    return Ed25519Signer.generate("admin@test")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path):
    """Every LedgerStore implementation, so each contract test runs against all of them."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from regledger.ledger.sqlstore import SQLStore

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = SQLStore(url, create=True)
    try:
        yield s
    finally:
        s.close()


def make_ledger(store, log_signer: Ed25519Signer, admin: Ed25519Signer) -> Ledger:
    """A ledger with its size-0 checkpoint and entry 0 (the admin key) integrated."""
    ledger = Ledger(store, origin=log_signer.name, log_signer=log_signer)
    ledger.integrate()
    ledger.append(register_key_statement(admin, admin, "admin"))
    ledger.integrate()
    return ledger


@pytest.fixture
def ledger(store, log_signer, admin) -> Ledger:
    return make_ledger(store, log_signer, admin)


def weekend_only_notices(today: date | None = None) -> list[dict]:
    """TEST DATA, not official notices: a `calendar.year` payload with no holidays and no make-up days
    for each year after the built-in calendar's last up to next year, so that tests run on the real
    clock (API writes must be within minutes of the server's time) keep working after that calendar
    ends, exactly as an operator keeps an instance working: by loading the years it lacks."""
    from regledger.registry.workdays import CALENDAR_LAST_DAY

    today = today or datetime.now(UTC).date()
    return [
        {
            "year": y,
            "holidays": [],
            "workdays": [],
            "source": "TEST DATA: weekends only, for tests that run on the real clock; not a State Council notice",
        }
        for y in range(CALENDAR_LAST_DAY.year + 1, today.year + 2)
    ]


def append_test_calendars(ledger: Ledger, admin: Ed25519Signer) -> None:
    """Append `weekend_only_notices()` to a ledger as `calendar.year` entries signed by its admin."""
    from regledger.ledger.entry import sign_statement

    for notice in weekend_only_notices():
        ledger.append(sign_statement(admin, kind="calendar.year", subject=str(notice["year"]), payload=notice))


def load_test_calendars(home: Path, run: Callable[..., subprocess.CompletedProcess]) -> None:
    """Load `weekend_only_notices()` into a home with `regledger calendar load` (run(*args) runs the CLI)."""
    for notice in weekend_only_notices():
        f = home.parent / f"test-calendar-{notice['year']}.json"
        f.write_text(json.dumps(notice))
        done = run("calendar", "load", str(f), "--home", str(home))
        assert done.returncode == 0, done.stdout + done.stderr


# Fixtures that start a server (a process or a thread), a cascade of them or Chromium, or build the demo.  A test
# that uses one, directly or through another fixture, is marked slow, so `pytest -m "not slow"` (the day-to-day
# subset, under a minute) leaves it out; CI runs everything.  Slow tests without such a fixture say so themselves.
SLOW_FIXTURES = frozenset(
    {
        "server",
        "serve_app",
        "serve_home",
        "demo_home",
        "running",
        "frozen_home",
        "browser",
        "base_url",
        "demo_ledger",
        "cascade",
        "pair",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
