"""Issue 9 over HTTP: a server whose stored data does not back its checkpoints stops signing and says so.

- the issue's reproduction, end to end with the real CLI: a demo home (size 358) with one bit of the
  last hash of level-0 tile 1 flipped; `regledger serve` answers /readyz 503 naming the tile, refuses
  writes with a 503 problem, still serves the signed checkpoint, counts the refusal in /metrics and
  logs the place; `regledger audit` names the row, `regledger repair` rebuilds it, and the next
  server is ready and signs one more, consistent with it;
- the background self-audit of a running server notices a checkpoint whose signature was broken
  and an entry that was edited while it serves (item 2);
- a halted server refuses the retry of a statement it sequenced before (503), instead of answering
  it with a freshly signed receipt (review of issue 9).
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from regledger.api import Settings, create_app
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.proof import verify_consistency

pytest_plugins = ["apitest_fixtures"]


def fixtures():
    """tests/api/apitest_fixtures.py, imported once pytest has loaded it as a plugin (so it is assert-rewritten)."""
    import apitest_fixtures

    return apitest_fixtures


PROBLEM_JSON = "application/problem+json"


def cli(*args: str) -> subprocess.CompletedProcess:
    return fixtures().cli(*args)


def flip_tile_bit(home: Path, level: int, n: int, offset: int) -> None:
    with sqlite3.connect(home / "ledger.sqlite") as db:
        (data,) = db.execute("SELECT data FROM rl_tiles WHERE level = ? AND n = ?", (level, n)).fetchone()
        data = bytearray(data)
        data[offset] ^= 0x01
        db.execute("UPDATE rl_tiles SET data = ? WHERE level = ? AND n = ?", (bytes(data), level, n))


def new_key_statement(home: Home) -> bytes:
    admin = home.admin()
    clerk = Ed25519Signer.generate(f"clerk-{secrets.token_hex(4)}")
    return fixtures().Api.register_key(admin, clerk, "registrant", {"institution": "91520000MA6DKQ1U1C"}).canonical


class Serving:
    """`regledger serve` on the home, without a sync worker, and a client on it."""

    def __init__(self, home: Path) -> None:
        self.server = fixtures().start_server(home, "--sync-interval", "0")
        self.client = httpx.Client(base_url=self.server.url, timeout=30, trust_env=False)

    def stop(self) -> str:
        self.client.close()
        self.server.stop(timeout=30)
        return self.server.log.read_text(errors="replace")


def wait_for(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@pytest.mark.slow
def test_the_issue_reproduction_end_to_end(tmp_path):
    path = tmp_path / "home"
    assert cli("demo", "--home", str(path)).returncode == 0
    home = Home(path)
    vkey = cli("log", "key", "--home", str(path)).stdout.strip().splitlines()[-1]
    size = int(cli("log", "checkpoint", "--home", str(path)).stdout.splitlines()[1])  # 358 today
    assert 256 < size < 512, size  # the demo's right edge is the partial level-0 tile n=1
    width = size - 256
    where = f"tile tile/0/001.p/{width} hash {width - 1}"
    flip_tile_bit(path, 0, 1, (width - 1) * 32 + 7)  # the last hash of the stored level-0 tile n=1

    srv = Serving(path)
    try:
        wait_for(lambda: srv.client.get("/readyz").status_code == 503)
        ready = srv.client.get("/readyz").text
        assert f"error: integrity: {where}" in ready, ready
        r = srv.client.post(
            "/v1/statements", content=new_key_statement(home), headers={"content-type": "application/json"}
        )
        assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM_JSON), r.text
        assert where in r.json()["detail"] and "Retry-After" not in r.headers
        assert srv.client.get("/log/checkpoint").text.splitlines()[1] == str(size)  # reads are still served
        metrics = srv.client.get("/metrics").text
        assert "regledger_audit_failures_total 1.0" in metrics
    finally:
        log = srv.stop()
    assert '"event": "integrity"' in log and f'"path": "{where}"' in log, log[-3000:]
    assert "Traceback" not in log

    audited = cli("audit", "--home", str(path))
    assert audited.returncode == 1 and where in audited.stderr, audited.stderr
    repaired = cli("repair", "--home", str(path))
    assert repaired.returncode == 0 and "rebuilt from the leaves: tile 0/1" in repaired.stdout, repaired.stderr
    assert cli("audit", "--home", str(path)).returncode == 0

    srv = Serving(path)
    try:
        assert srv.client.get("/readyz").status_code == 200
        r = srv.client.post(
            "/v1/statements", content=new_key_statement(home), headers={"content-type": "application/json"}
        )
        assert r.status_code == 201, r.text
        wait_for(lambda: srv.client.get("/log/checkpoint").text.splitlines()[1] == str(size + 1))
        from regledger.keys.vkey import parse_vkey

        verifier = parse_vkey(vkey)
        new, _ = open_checkpoint(srv.client.get("/log/checkpoint").content, verifier.name, verifier)
        old, _ = open_checkpoint(
            srv.client.get("/v1/checkpoint", params={"size": size}).json()["note"].encode(), verifier.name, verifier
        )
        proof = srv.client.get("/v1/proofs/consistency", params={"first": size, "second": size + 1}).json()["hashes"]
        verify_consistency(size, size + 1, old.root, new.root, [base64.b64decode(h) for h in proof])
    finally:
        srv.stop()


@pytest.fixture
def running(tmp_path):
    """A demo home served in-process, the self-audit every 20 ms, and a client that accepts 503s."""
    path = tmp_path / "home"
    assert cli("demo", "--home", str(path)).returncode == 0
    ledger = Home(path).open()
    srv = fixtures().InProcessServer(create_app(ledger, Settings(self_audit_interval=0.02))).start()
    client = httpx.Client(base_url=srv.url, timeout=30, trust_env=False)
    yield path, ledger, client
    client.close()
    srv.stop()
    ledger.store.close()


@pytest.mark.parametrize(
    "table, column, where, offset",
    [
        ("rl_checkpoints", "note", "size = 1", -9),  # a historical checkpoint whose signature is broken
        ("rl_entries", "leaf", "idx = 200", 50),  # an edited entry (what its entry bundle serves)
    ],
)
def test_the_running_server_notices_tampering(running, table, column, where, offset):
    path, ledger, client = running
    assert client.get("/readyz").status_code == 200
    with sqlite3.connect(path / "ledger.sqlite") as db:
        (value,) = db.execute(f"SELECT {column} FROM {table} WHERE {where}").fetchone()
        value = bytearray(value)
        value[offset] ^= 0x01
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (bytes(value),))
    wait_for(lambda: client.get("/readyz").status_code == 503, timeout=60)
    assert "error: integrity:" in client.get("/readyz").text
    assert "regledger_audit_failures_total 1.0" in client.get("/metrics").text
    r = client.post(
        "/v1/statements", content=new_key_statement(Home(path)), headers={"content-type": "application/json"}
    )
    assert r.status_code == 503 and r.json()["title"] == "Stored data failed its integrity check"


@pytest.mark.slow
def test_a_halted_server_signs_no_receipt_for_a_retry(tmp_path):
    """Review of issue 9: the identical statement sent again is answered from the stored entry with a
    freshly signed receipt; once the server has halted, that retry is refused with 503 like any write."""
    home = Home(tmp_path / "home")
    home.init("halted-retry.regledger.example/1", say=lambda _: None).store.close()
    ledger = home.open()
    srv = fixtures().InProcessServer(create_app(ledger, Settings(self_audit_interval=0.02))).start()
    client = httpx.Client(base_url=srv.url, timeout=30, trust_env=False)
    try:
        body = new_key_statement(home)
        first = client.post("/v1/statements", content=body, headers={"content-type": "application/json"})
        assert first.status_code == 201, first.text
        retry = client.post("/v1/statements", content=body, headers={"content-type": "application/json"})
        assert retry.status_code == 200 and retry.json()["receipt"] == first.json()["receipt"]
        size = first.json()["index"] + 1
        wait_for(lambda: client.get("/log/checkpoint").text.splitlines()[1] == str(size))
        with sqlite3.connect(tmp_path / "home" / "ledger.sqlite") as db:  # break the latest checkpoint's signature
            (note,) = db.execute("SELECT note FROM rl_checkpoints WHERE size = ?", (size,)).fetchone()
            note = bytearray(note)
            note[-9] ^= 0x01
            db.execute("UPDATE rl_checkpoints SET note = ? WHERE size = ?", (bytes(note), size))
        wait_for(lambda: client.get("/readyz").status_code == 503)
        r = client.post("/v1/statements", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM_JSON), r.text
        assert r.json()["title"] == "Stored data failed its integrity check" and "receipt" not in r.json()
        assert f"checkpoint {size}" in r.json()["detail"] and "stopped signing" in r.json()["detail"]
    finally:
        client.close()
        srv.stop()
        ledger.store.close()
