"""The database fails under a running server, for real: SQLite runs out of pages (PRAGMA max_page_count,
SQLite's own "database or disk is full"), its file turns read-only (chattr +i: even root cannot write),
PostgreSQL becomes unreachable (its connections go through a TCP forwarder the test cuts) or read-only
(default_transaction_read_only on the test's own database).  Every
request then answers 503 problem+json with Retry-After on a connection that stays open, the logs
name the database's error, and everything works again once the database does."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import event

from regledger.api import Settings, create_app
from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import Statement

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "api-faults.regledger.example/1"


def key_register(home: Home) -> Statement:
    from apitest_fixtures import Api

    clerk = Ed25519Signer.generate(f"clerk-{secrets.token_hex(4)}@{ORIGIN}")
    return Api.register_key(home.admin(), clerk, "registrant", {"institution": GZ_HOLDER.uscc})


def body(st: Statement) -> bytes:
    return st.canonical


def served(home: Home, serve_app) -> tuple[Any, str]:
    ledger = home.open()
    url = str(serve_app(create_app(ledger, Settings(integrate_delay=0.05))).base_url).rstrip("/")
    return ledger, url


def assert_unavailable(status: int, headers: dict, raw: bytes) -> None:
    assert status == 503, raw
    assert headers["content-type"].startswith("application/problem+json")
    assert int(headers["retry-after"]) >= 1
    problem = json.loads(raw)
    assert problem["status"] == 503 and "database" in problem["detail"]


def wait_ok(url: str, st: Statement, timeout: float = 30) -> httpx.Response:
    """Retry as a client would (the same statement) until the server has its database back."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.post(
            f"{url}/v1/statements", content=body(st), headers={"content-type": "application/json"}, trust_env=False
        )
        if r.status_code != 503 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    h = Home(tmp_path / "home")
    h.init(ORIGIN, say=lambda _: None).store.close()
    return h


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("regledger")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_sqlite_full_is_503_and_recovers(home: Home, serve_app, same_connection, captured):
    ledger, url = served(home, serve_app)

    def no_new_pages(dbapi: Any, _record: Any) -> None:
        cur = dbapi.cursor()
        cur.execute("PRAGMA page_count")
        cur.execute(f"PRAGMA max_page_count={cur.fetchone()[0]}")
        cur.close()

    event.listen(ledger.store.engine, "connect", no_new_pages)
    ledger.store.engine.dispose()
    answers = []
    for _ in range(40):  # the free pages fill up first
        (answer,) = same_connection(url, [("POST", "/v1/statements", body(key_register(home)))])
        answers.append(answer)
        if answer[0] != 201:
            break
    assert_unavailable(*answers[-1])
    full = [r for r in captured if getattr(r, "event", None) == "storage"]
    assert full and "database or disk is full" in str(full[-1].exc_info[1].__cause__)
    from regledger.api.logs import JSONFormatter

    logged = json.loads(JSONFormatter().format(full[-1]))
    assert any("sqlite3.OperationalError: database or disk is full" in c for c in logged["causes"]), logged
    event.remove(ledger.store.engine, "connect", no_new_pages)
    ledger.store.engine.dispose()
    assert wait_ok(url, key_register(home)).status_code == 201


def test_sqlite_read_only_is_503_and_recovers(home: Home, serve_app, same_connection):
    ledger, url = served(home, serve_app)
    db = home.path / "ledger.sqlite"
    st = key_register(home)
    subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        # close every pooled connection: SQLite reuses a closed connection's file descriptor (opened
        # writable before chattr) while another connection of this process has the file open
        ledger.store.engine.dispose()
        ledger.store.read_engine.dispose()
        (status, headers, raw), (reads, _, _) = same_connection(
            url, [("POST", "/v1/statements", body(st)), ("GET", "/v1/registrations", None)]
        )
        assert_unavailable(status, headers, raw)
        assert reads == 200  # reading needs no write access
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    ledger.store.engine.dispose()
    assert wait_ok(url, st).status_code == 201


class Forwarder:
    """A TCP forwarder to PostgreSQL that the test can cut (connection refused, open connections reset)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone would not
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def test_postgresql_unreachable_is_503_and_recovers(tmp_path: Path, pg_url: str, serve_app, same_connection, captured):
    real = urlsplit(pg_url)
    forwarder = Forwarder((real.hostname or "127.0.0.1", real.port or 5432))
    user = f"{real.username}@" if real.username else ""
    home = Home(tmp_path / "home", db_url=real._replace(netloc=f"{user}127.0.0.1:{forwarder.port}").geturl())
    home.init(ORIGIN, say=lambda _: None).store.close()
    try:
        ledger, url = served(home, serve_app)
        assert wait_ok(url, key_register(home)).status_code == 201
        forwarder.cut()
        st = key_register(home)
        (write, *_), (read, *_), (ready, *_), (status, headers, raw) = same_connection(
            url,
            [
                ("POST", "/v1/statements", body(st)),
                ("GET", "/v1/registrations", None),
                ("GET", "/readyz", None),
                ("GET", "/v1/checkpoint", None),
            ],
        )
        assert (write, read, ready) == (503, 503, 503)
        assert_unavailable(status, headers, raw)
        logged = [r for r in captured if getattr(r, "event", None) == "storage"]
        assert any(
            "Connection refused" in str(r.exc_info[1].__cause__) or "closed" in str(r.exc_info[1].__cause__)
            for r in logged
        ), [str(r.exc_info[1].__cause__) for r in logged]
        forwarder.restore()
        assert wait_ok(url, st).status_code == 201
    finally:
        forwarder.cut()


def test_postgresql_read_only_is_503_and_recovers(tmp_path: Path, pg_url: str, serve_app, same_connection):
    """The database turned read-only (default_transaction_read_only, as on a hot standby)."""
    import psycopg

    home = Home(tmp_path / "home", db_url=pg_url)
    home.init(ORIGIN, say=lambda _: None).store.close()
    ledger, url = served(home, serve_app)
    name = pg_url.rsplit("/", 1)[1]

    def read_only(on: bool) -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        ledger.store.engine.dispose()  # the setting applies to new sessions

    st = key_register(home)
    read_only(True)
    (status, headers, raw), (reads, _, _) = same_connection(
        url, [("POST", "/v1/statements", body(st)), ("GET", "/v1/registrations", None)]
    )
    assert_unavailable(status, headers, raw)
    assert reads == 200
    read_only(False)
    assert wait_ok(url, st).status_code == 201
