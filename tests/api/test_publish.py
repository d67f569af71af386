"""Issue 14, tiles as static files: `serve --publish DIR` keeps DIR equal to /log/ while the log grows.

DIR is served by Python's plain http.server (no regledger code on that side) and read with the independent
tlog-tiles reader of test_interop.py while appends continue: every checkpoint read from DIR has all its tiles,
its root recomputes from them, and each full tile is the bytes /log/ serves, never rewritten.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import test_interop as tlog
from conftest import make_ledger
from test_ledger import sample

from regledger.api import create_app
from regledger.api.settings import Settings
from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.errors import OperatorError
from regledger.ledger.publish import Publisher, PublishWorker
from regledger.ledger.store import MemoryStore

pytest_plugins = ["apitest_fixtures"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_server() -> Iterator[object]:
    """static_server(DIR) -> an httpx.Client on http.server serving DIR, in a thread, for the rest of the test."""
    running: list[tuple[ThreadingHTTPServer, httpx.Client]] = []

    def start(directory: Path) -> httpx.Client:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        c = httpx.Client(base_url=f"http://127.0.0.1:{srv.server_address[1]}", timeout=30, trust_env=False)
        running.append((srv, c))
        return c

    yield start
    for srv, c in running:
        c.close()
        srv.shutdown()
        srv.server_close()


def read_complete(static: httpx.Client, key: tlog.VerifierKey) -> tuple[tlog.TreeHead, dict[str, bytes]]:
    """Read DIR's checkpoint and every tile and bundle it needs; assert the tree recomputes from them.

    Returns the head and the full tiles and bundles read (path -> bytes)."""
    head = tlog.parse_checkpoint(tlog.open_signed_note(static.get("/checkpoint").content, key))
    reader = tlog.TileReader(static, prefix="/")
    levels = [reader.level_hashes(0, head.size)]
    while head.size >> (tlog.TILE_HEIGHT * len(levels)):
        levels.append(reader.level_hashes(len(levels), head.size))
    for level in range(1, len(levels)):
        for n, h in enumerate(levels[level]):
            assert h == tlog.mth(levels[level - 1][n * tlog.TILE_WIDTH : (n + 1) * tlog.TILE_WIDTH]), (level, n)
    entries = reader.entries(head.size)
    assert [tlog.hash_leaf(e) for e in entries] == levels[0]
    assert tlog.root_from_tiles(head.size, levels) == head.root
    full = {p: static.get("/" + p).content for p in reader.fetched if ".p/" not in p}
    return head, full


def cli(*args: str) -> str:
    from apitest_fixtures import cli

    p = cli(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_serve_publish_keeps_dir_equal_to_log_while_appends_continue(tmp_path, static_server):
    from apitest_fixtures import Api, start_server, stop_server

    home = tmp_path / "home"
    cli("init", "--origin", "publish.example.gov.cn/52", "--home", str(home))
    out = tmp_path / "published"

    srv = start_server(
        home,
        "--publish",
        str(out),
        "--sync-interval",
        "0",
        env={"REGLEDGER_INTEGRATE_DELAY": "0.05", "REGLEDGER_INTEGRATE_BATCH": "40"},
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as log_http:
            api = Api(log_http, log_http.get("/log/key").text.strip())
            static = static_server(out)
            key = tlog.parse_verifier_key(static.get("/key").text)
            assert static.get("/key").text == log_http.get("/log/key").text
            start, _ = api.settle()
            admin = Home(home).admin()
            stop = threading.Event()
            errors: list[BaseException] = []

            def append() -> None:
                try:
                    while not stop.is_set():
                        api.ok(
                            api.register_key(
                                admin,
                                Ed25519Signer.generate(f"c{time.monotonic_ns()}@{api.origin}"),
                                "registrant",
                                {"institution": GZ_HOLDER.uscc},
                            )
                        )
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            writer = threading.Thread(target=append)
            writer.start()
            seen: dict[str, bytes] = {}
            stats: dict[str, tuple[int, int]] = {}
            sizes = []
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline and (len(sizes) < 5 or sizes[-1] < 300):
                    head, full = read_complete(static, key)
                    sizes.append(head.size)
                    for path, data in full.items():
                        assert seen.setdefault(path, data) == data, f"{path} was rewritten"
                        st = (out / path).stat()
                        assert stats.setdefault(path, (st.st_ino, st.st_mtime_ns)) == (st.st_ino, st.st_mtime_ns)
                        if path not in stats or len(seen) % 7 == 0:
                            assert log_http.get("/log/" + path).content == data, path
            finally:
                stop.set()
                writer.join(timeout=60)
            assert not errors, errors
            assert sizes == sorted(sizes) and sizes[-1] >= 300 and len(set(sizes)) >= 3, sizes
            assert start < 256 <= sizes[-1], "a full tile was written while the test read"
            # once the server has caught up, DIR equals /log/: the checkpoint and every full tile
            size, note = api.settle()
            deadline = time.monotonic() + 20
            while static.get("/checkpoint").content != note and time.monotonic() < deadline:
                time.sleep(0.05)
            assert static.get("/checkpoint").content == log_http.get("/log/checkpoint").content == note
            head, full = read_complete(static, key)
            assert head.size == size
            for path, data in full.items():
                assert log_http.get("/log/" + path).content == data, path
            assert "publish" not in log_http.get("/readyz").text
    finally:
        stop_server(srv)
    assert "Traceback" not in srv.log.read_text(errors="replace")


def test_a_failure_to_publish_is_a_warning_retried_and_never_stops_writes(
    tmp_path, serve_app, static_server, log_signer, admin
):
    ledger = make_ledger(MemoryStore(), log_signer, admin)
    out = tmp_path / "published"
    worker = PublishWorker(Publisher(ledger, out), interval=0.05)
    worker.loop.max_backoff = 0.2
    client = serve_app(create_app(ledger, Settings(integrate_delay=0.02, self_audit_interval=0), publisher=worker))
    deadline = time.monotonic() + 20
    while not (out / "checkpoint").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    shutil.rmtree(out)
    out.write_bytes(b"not a directory")  # every write into DIR now fails
    ledger.append_batch([sample(admin, i) for i in range(300)])
    deadline = time.monotonic() + 20
    while (
        "warning: publish" not in client.get("/readyz").text or ledger.checkpoint()[0] < 301
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text  # a warning: the log still takes writes
    assert "warning: publish: " in ready.text
    assert ledger.checkpoint()[0] == 301
    ledger.append(sample(admin, 1000))  # writes go on
    assert 'regledger_background_failures{component="publish"}' in client.get("/metrics").text
    out.unlink()  # the disk is back: the next retry publishes everything
    deadline = time.monotonic() + 20
    while "publish" in client.get("/readyz").text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "publish" not in client.get("/readyz").text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (out / "checkpoint").exists() and (out / "checkpoint").read_bytes() == client.get("/log/checkpoint").content:
            break
        time.sleep(0.05)
    head, _ = read_complete(static_server(out), tlog.parse_verifier_key(ledger.verifier().vkey()))
    assert head.size == ledger.checkpoint()[0] == 302


def test_superseded_partials_are_kept_for_a_grace_then_deleted(tmp_path, log_signer, admin):
    ledger = make_ledger(MemoryStore(), log_signer, admin)
    now = [1000.0]
    out = tmp_path / "d"
    pub = Publisher(ledger, out, grace=10, clock=lambda: now[0])
    pub.publish()
    sizes = []
    for k in range(4):
        ledger.append_batch([sample(admin, 100 * k + i) for i in range(100)])
        ledger.integrate()
        pub.publish()
        sizes.append(pub.size)
        now[0] += 4
    partials = {p.relative_to(out).as_posix() for p in out.rglob("*.p/*")}
    # the partials of 101, 201 and 301 (superseded less than 10 s ago) are kept beside the current ones
    assert {
        "tile/0/000.p/101",
        "tile/0/000.p/201",
        "tile/0/001.p/45",
        "tile/entries/001.p/45",
        "tile/0/001.p/145",
    } <= partials
    assert "tile/0/000.p/1" not in partials and "tile/entries/000.p/1" not in partials  # superseded 12 s ago
    now[0] += 30
    assert pub.publish() == 0  # nothing new to write; only deletions
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.p/*")} == {
        "tile/0/001.p/145",
        "tile/entries/001.p/145",
        "tile/1/000.p/1",
    }
    assert not (out / "tile/0/000.p").exists()
    assert sizes == [101, 201, 301, 401]


def test_log_publish_is_incremental_and_refuses_another_logs_dir(tmp_path, log_signer, admin):
    ledger = make_ledger(MemoryStore(), log_signer, admin)
    ledger.append_batch([sample(admin, i) for i in range(600)])
    ledger.integrate()
    out = tmp_path / "d"
    first = Publisher(ledger, out)
    assert first.publish() == 2 * 3 + 1 + 2  # 2 full + 1 partial level-0 tiles and bundles, 1 level-1, key, checkpoint
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    ledger.append_batch([sample(admin, 1000 + i) for i in range(10)])
    ledger.integrate()
    again = Publisher(ledger, out)  # a new run reads DIR's checkpoint and writes only what changed
    assert again.publish() == 3  # the new level-0 partial and its bundle (level 1 is unchanged), the checkpoint
    for p, mtime in before.items():
        if ".p" not in p.parent.name and p.name != "checkpoint":
            assert p.stat().st_mtime_ns == mtime, p
    other = make_ledger(MemoryStore(), Ed25519Signer.generate(log_signer.name), admin)
    refused = Publisher(other, out)
    theirs = (out / "checkpoint").read_bytes()
    for _ in range(2):  # the background loop retries: every retry is refused, nothing is overwritten
        with pytest.raises(OperatorError, match="not this ledger's"):
            refused.publish()
    assert (out / "checkpoint").read_bytes() == theirs


def test_cli_log_publish(tmp_path, demo_home, static_server):
    out = tmp_path / "d"
    assert "published tree size" in cli("log", "publish", str(out), "--home", str(demo_home))
    assert "(0 files written" in cli("log", "publish", str(out), "--home", str(demo_home))
    head, _ = read_complete(static_server(out), tlog.parse_verifier_key((out / "key").read_text()))
    assert (out / "checkpoint").read_bytes().startswith(head.origin.encode())
    assert os.listdir(out) and not list(out.rglob(".*.tmp"))
