"""The background loop shared by the integrator and the sync worker: failures are logged once per
distinct failure, counted, backed off, and reported to Health until a step succeeds."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from conftest import make_ledger
from test_ledger import sample

from regledger.ledger.background import BackgroundLoop
from regledger.ledger.errors import StorageUnavailableError
from regledger.ledger.health import Health
from regledger.ledger.store import MemoryStore

pytest_plugins = ["apitest_fixtures"]


def test_a_failing_step_is_logged_once_counted_reported_and_cleared(caplog: pytest.LogCaptureFixture):
    health = Health()
    outcomes = [OSError("disk full")] * 5 + [OSError("gone")] * 2 + [None]

    def step() -> None:
        exc = outcomes.pop(0)
        if exc is not None:
            raise exc

    loop = BackgroundLoop(
        "test-loop",
        step,
        interval=0.01,
        health=health,
        component="integrator",
        logger=logging.getLogger("regledger.test"),
    )
    with caplog.at_level(logging.INFO, logger="regledger.test"):
        for _ in range(5):
            assert loop.run_once() is False
        assert loop.failures == 5 and loop.last_error == "OSError: disk full"
        assert [(c.component, c.level, c.message) for c in health.conditions()] == [
            ("integrator", "error", "OSError: disk full")
        ]
        backoffs = []
        for _ in range(2):
            loop.run_once()
            backoffs.append(loop._backoff)
        assert loop.run_once() is True
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "test-loop failed: OSError: disk full",
        "test-loop failed: OSError: gone",
    ]
    assert errors[0].exc_info is not None  # the cause, with its traceback
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert health.ready and loop.last_error is None and loop.failures == 7
    assert backoffs == [16.0, 30.0]  # 0.5 s after the first failure, doubling, at most max_backoff (30 s)
    assert loop._backoff == 0.0


def test_backoff_is_bounded():
    loop = BackgroundLoop(
        "b",
        lambda: 1 / 0,
        interval=0.01,
        health=Health(),
        component="x",
        logger=logging.getLogger("regledger.test"),
        max_backoff=3,
    )
    for _ in range(10):
        loop.run_once()
    assert loop._backoff == 3


class FullDisk(MemoryStore):
    """Reads work, publishing a checkpoint fails as a full disk does, until `full` is cleared."""

    full = False

    def publish(self, *args, **kwargs) -> None:
        if self.full:
            raise StorageUnavailableError("the database cannot be used now")
        super().publish(*args, **kwargs)


def test_integrator_failures_show_in_readyz_and_clear(log_signer, admin, serve_app, caplog):
    from regledger.api import Settings, create_app

    store = FullDisk()
    ledger = make_ledger(store, log_signer, admin)
    client = serve_app(create_app(ledger, Settings(integrate_delay=0.01)))
    store.full = True
    ledger.append(sample(admin, 1))
    with caplog.at_level(logging.ERROR, logger="regledger.integrator"):
        deadline = time.monotonic() + 10
        while ledger.health.ready and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)  # the loop keeps failing, backing off
    raw = httpx.get(str(client.base_url.join("/readyz")), trust_env=False)  # 503 is the expected answer
    assert raw.status_code == 503 and "error: integrator: StorageUnavailableError" in raw.text
    failed = [r for r in caplog.records if r.getMessage().startswith("regledger-integrator failed")]
    assert len(failed) == 1  # logged once, however often it failed
    counted = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith('regledger_background_failures{component="integrator"}')
    ]
    assert counted and float(counted[0].split()[-1]) >= 2, counted
    store.full = False
    deadline = time.monotonic() + 40
    while not ledger.health.ready and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/readyz").status_code == 200
    assert ledger.checkpoint()[0] == 2
