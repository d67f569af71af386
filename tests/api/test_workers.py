"""`regledger serve --workers 2` on SQLite and on PostgreSQL: both workers take writes, one integrates
(the integrator lock), and when that one is killed another takes over within seconds."""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "workers.regledger.example/1"


def fresh() -> httpx.Client:
    """A client that opens a new connection for every request, so the kernel spreads them over the workers."""
    return httpx.Client(timeout=30, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))


def worker_metrics(url: str, want: int = 2, timeout: float = 60) -> dict[int, tuple[bool, float]]:
    """pid -> (holds the integrator lock, statements it sequenced) for `want` workers, scraping /metrics on
    new connections until that many different workers have answered."""
    seen: dict[int, tuple[bool, float]] = {}
    deadline = time.monotonic() + timeout
    with fresh() as c:
        while len(seen) < want:
            assert time.monotonic() < deadline, f"only workers {sorted(seen)} answered /metrics"
            text = c.get(url + "/metrics").text
            m = re.search(r'^regledger_integrator\{pid="(\d+)"\} (\S+)$', text, re.M)
            n = re.search(r"^regledger_appends_total (\S+)$", text, re.M)
            assert m and n, text
            seen[int(m[1])] = (float(m[2]) == 1.0, float(n[1]))
    return seen


def post_keys(url: str, home: Home, n: int) -> list[int]:
    """POST `n` key.register statements, 4 at a time, each on a new connection; their indexes."""
    from apitest_fixtures import Api

    admin = home.admin()

    def one(_: int) -> int:
        key = Ed25519Signer.generate(f"clerk-{secrets.token_hex(4)}@{ORIGIN}")
        st = Api.register_key(admin, key, "registrant", {"institution": GZ_HOLDER.uscc})
        for attempt in range(20):  # a connection the killed worker had accepted fails; send it again
            try:
                with fresh() as c:
                    r = c.post(
                        url + "/v1/statements", content=st.canonical, headers={"content-type": "application/json"}
                    )
                break
            except httpx.TransportError:
                if attempt == 19:
                    raise
                time.sleep(0.1)
        assert r.status_code == 201, r.text
        return int(r.json()["index"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def checkpoint_size(url: str) -> int:
    with fresh() as c:
        return int(c.get(url + "/log/checkpoint").text.splitlines()[1])


def wait_for_size(url: str, size: int, timeout: float) -> float:
    """Seconds until a checkpoint of at least `size` is served."""
    started = time.monotonic()
    while checkpoint_size(url) < size:
        assert time.monotonic() - started < timeout, f"no checkpoint of size {size} within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture(params=["sqlite", "postgres"])
def workers_home(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Home, list[str]]:
    from apitest_fixtures import cli

    db: list[str] = []
    if request.param == "postgres":
        db = ["--db", request.getfixturevalue("pg_url")]
    done = cli("init", "--home", str(tmp_path / "home"), *db, "--origin", ORIGIN)
    assert done.returncode == 0, done.stdout + done.stderr
    return Home(tmp_path / "home", db[1] if db else None), db


def test_two_workers_share_writes_and_the_integrator_fails_over(workers_home, serve_home):
    home, db = workers_home
    srv = serve_home(
        home.path, *db, "--workers", "2", "--sync-interval", "0", env={"REGLEDGER_INTEGRATE_DELAY": "0.05"}
    )
    before = worker_metrics(srv.url)
    assert sorted(h for h, _ in before.values()) == [False, True], before  # exactly one holds the lock

    indexes = post_keys(srv.url, home, 40)
    assert sorted(indexes) == list(range(1, 41))  # entry 0 is the administrator's key
    wait_for_size(srv.url, 41, timeout=20)
    after = worker_metrics(srv.url)
    assert set(after) == set(before)
    sequenced = {pid: n for pid, (_, n) in after.items()}
    assert sum(sequenced.values()) == 40 and min(sequenced.values()) > 0, sequenced  # both workers took writes

    holder = next(pid for pid, (h, _) in after.items() if h)
    if db:  # PostgreSQL names the session holding the advisory lock after the integrator's pid
        import psycopg

        with psycopg.connect(db[1]) as conn:
            names = [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity").fetchall()]
        assert f"regledger integrator pid {holder}" in names, names
    else:
        assert (home.path / "ledger.sqlite.integrator-lock").read_text().strip() == str(holder)
    os.kill(holder, signal.SIGKILL)
    killed = time.monotonic()
    while True:  # the survivor (or the worker the parent starts instead) takes the free lock
        holders = [pid for pid, (h, _) in worker_metrics(srv.url, want=1).items() if h]
        if holders:
            break
        assert time.monotonic() - killed < 30, "no worker took the integrator lock within 30 s"
        time.sleep(0.2)
    took = time.monotonic() - killed
    assert holders[0] != holder

    indexes = post_keys(srv.url, home, 10)
    assert sorted(indexes) == list(range(41, 51))
    wait_for_size(srv.url, 51, timeout=30)  # the new integrator signs them
    print(f"a worker held the integrator lock {took:.1f} s after the holder was killed")
    srv.stop()
    assert srv.proc.returncode == 0, srv.log.read_text()[-3000:]
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-3000:]
