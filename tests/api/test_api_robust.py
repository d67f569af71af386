"""Robustness over real server processes: a client always learns what became of its write, and
failures are 4xx/503 with the keep-alive connection surviving."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import time
from typing import Any

import httpx
import pytest

from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_receipt
from regledger.ledger.entry import Statement, sign_statement
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.keyring import register_key_statement

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "api-robust.regledger.example/1"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("robust") / "home")
    home.init(ORIGIN, say=lambda _: None).store.close()
    return home


def key_register(home: Home, name: str, **extra: Any) -> Statement:
    """An administrator's key.register statement for a new registrant key, with a fresh nonce."""
    admin = home.admin()
    key = Ed25519Signer.generate(f"{name}@{ORIGIN}")
    st = register_key_statement(admin, key, "registrant", {"institution": GZ_HOLDER.uscc})
    return sign_statement(
        admin, kind=st.kind, subject=st.subject, payload=st.payload, extra={"nonce": os.urandom(16).hex(), **extra}
    )


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/statements", content=body, headers=JSON, trust_env=False, timeout=30)


def wait_for_entry(url: str, index: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/v1/entries/{index}", trust_env=False).status_code != 200:
        assert time.monotonic() < deadline, f"entry {index} was never sequenced"
        time.sleep(0.05)


def test_a_write_whose_answer_was_lost_is_answered_on_retry(fresh_home: Home, serve_home):
    """Stored, then the answer is lost (the client hangs up unread): the retry gets the entry's index and a
    receipt the log signed for it, and nothing is stored twice."""
    srv = serve_home(fresh_home.path)
    vkey = parse_vkey(httpx.get(f"{srv.url}/log/key", trust_env=False).text.strip())
    st = key_register(fresh_home, "lost-answer")
    body = st.canonical
    index = httpx.get(f"{srv.url}/v1/checkpoint", trust_env=False).json()["size"]
    port = int(srv.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /v1/statements HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_for_entry(srv.url, index)
    retry = post(srv.url, body)
    assert retry.status_code == 200, retry.text
    assert retry.json()["index"] == index
    receipt = open_receipt(retry.json()["receipt"].encode(), vkey)
    assert (receipt.index, receipt.origin) == (index, ORIGIN)
    stored = base64.b64decode(httpx.get(f"{srv.url}/v1/entries/{index}", trust_env=False).json()["leaf"])
    assert receipt.leaf_hash == leaf_hash(stored) == base64.b64decode(retry.json()["leaf_hash"])
    assert httpx.get(f"{srv.url}/v1/entries/{index + 1}", trust_env=False).status_code == 404


def test_after_kill_9_the_retry_gets_the_first_answer_byte_for_byte(fresh_home: Home, serve_home):
    srv = serve_home(fresh_home.path)
    st = key_register(fresh_home, "killed-server")
    first = post(srv.url, st.canonical)
    assert first.status_code == 201, first.text
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=15)
    srv = serve_home(fresh_home.path)
    again = post(srv.url, st.canonical)
    assert again.status_code == 200, again.text
    for member in ("index", "leaf_hash", "time", "receipt"):
        assert again.json()[member] == first.json()[member], member
    # a different statement reusing that nonce is refused, naming the entry that used it
    other = key_register(fresh_home, "other", nonce=st.extra["nonce"])
    r = post(srv.url, other.canonical)
    assert r.status_code == 409, r.text
    assert r.json()["index"] == first.json()["index"]


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"kind": ' + b"9" * 5000 + b"}", "/kind"),
        (b'{"kind": "registration.apply", "payload": {"n": [1, -' + b"9" * 4400 + b"]}}", "/payload/n/1"),
        (b'{"payload": {"n": 9007199254740992}}', "/payload/n"),
        (b"-" + b"1" * 4301, ""),
    ],
)
def test_integers_beyond_i_json_are_422_with_the_field_and_the_connection_survives(server, same_connection, raw, field):
    (status, headers, body), (after, _, _) = same_connection(
        server.url, [("POST", "/v1/statements", raw), ("GET", "/healthz", None)]
    )
    assert status == 422 and headers["content-type"].startswith("application/problem+json"), body
    assert json.loads(body).get("field", "") == field
    assert after == 200


def test_the_largest_i_json_integer_still_parses():
    from regledger.ledger.entry import parse_json

    assert parse_json(b'{"n": [9007199254740991, -9007199254740991]}') == {"n": [2**53 - 1, -(2**53 - 1)]}


def trickle(port: int, sockets: list[tuple[socket.socket, bytes]], give_up: float) -> list[float | None]:
    """Send each socket's bytes one every 0.1 s; returns, per socket, when the server closed it (None: never)."""
    start = time.monotonic()
    closed: list[float | None] = [None] * len(sockets)
    sent = [0] * len(sockets)
    while time.monotonic() - start < give_up and None in closed:
        for i, (s, data) in enumerate(sockets):
            if closed[i] is not None:
                continue
            try:
                if sent[i] < len(data):
                    s.send(data[sent[i] : sent[i] + 1])
                    sent[i] += 1
                while s.recv(65536):  # a 408 answer, then the end of the stream
                    pass
                closed[i] = time.monotonic() - start  # recv returned b"": the server closed it
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = time.monotonic() - start
        time.sleep(0.1)
    return closed


def test_slow_clients_are_cut_off_within_the_bound(fresh_home: Home, serve_app):
    from regledger.api import Settings, create_app

    ledger = fresh_home.open()
    client = serve_app(create_app(ledger, Settings(header_timeout=1.0, body_timeout=1.0, run_integrator=False)))
    port = client.base_url.port
    heads = b"GET /v1/checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    bodies = b"POST /v1/statements HTTP/1.1\r\nHost: x\r\ncontent-length: 500\r\n\r\n"
    sockets = []
    for i in range(150):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(bodies)  # the head at once, then the body byte by byte
            data = b"{" + b" " * 499
        else:
            data = heads  # the head byte by byte
        s.setblocking(False)
        sockets.append((s, data))
    try:
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200  # others are still served meanwhile
        closed = trickle(port, sockets, give_up=8)
    finally:
        for s, _ in sockets:
            s.close()
        ledger.store.close()
    assert None not in closed, f"{closed.count(None)} slow connections were never closed"
    assert max(closed) < 4, max(closed)  # 1 s bounds, a little slack for 150 sockets on a busy machine
    assert time.monotonic() - started < 10


def test_a_client_leaving_mid_body_is_an_info_event_not_an_error(server):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /v1/statements HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 1000\r\n\r\n{"kind": '
        )
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
        gone = [entry for entry in lines if entry.get("event") == "disconnect"]
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert gone and all(entry["level"] == "info" for entry in gone), gone
    assert not [entry for entry in lines if entry["level"] == "error"]
