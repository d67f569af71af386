"""Limits: the per-key rate limit (on an app built in-process with a tiny rate and served by uvicorn over
TCP), and the body-size limit on a streamed body (on the session's server process)."""

from __future__ import annotations

import json
import secrets
import socket

import pytest
from conftest import append_test_calendars

from regledger.api import Settings, create_app
from regledger.demo_registry import GZ_HOLDER, _resource
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import canonical_json, sign_statement, utc_now
from regledger.ledger.keyring import register_key_statement
from regledger.registry.calendar import stored_calendar
from regledger.registry.client import make_step

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "api-limits.regledger.example/1"


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("limits") / "home")
    ledger = home.init(ORIGIN, say=lambda _: None)
    append_test_calendars(ledger, home.admin())  # applications are dated today, past the built-in calendar
    ledger.store.close()
    return home


@pytest.fixture
def limited(small_home: Home, serve_app):
    """A fresh app (fresh rate limiter) with 3 statements per key per minute, served for real."""
    ledger = small_home.open()
    client = serve_app(create_app(ledger, Settings(rate_per_minute=3, run_integrator=False)))
    yield client, ledger
    ledger.store.close()


def nonce() -> dict[str, str]:
    return {"nonce": secrets.token_hex(16)}


def post(client, st) -> object:
    return client.post("/v1/statements", content=st.canonical, headers={"content-type": "application/json"})


def register(admin, key, role, scope):
    st = register_key_statement(admin, key, role, scope, time=utc_now())
    return sign_statement(admin, kind=st.kind, subject=st.subject, payload=st.payload, time=st.time, extra=nonce())


def apply(key, reg, ledger):
    st = make_step(
        key,
        "registration.apply",
        reg,
        {"subject_kind": "resource", "fields": _resource("限流测试数据", GZ_HOLDER, "520000")},
        time=utc_now(),
        calendar=stored_calendar(ledger.store),
    )
    return sign_statement(key, kind=st.kind, subject=st.subject, payload=st.payload, time=st.time, extra=nonce())


def problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["instance"] == "/v1/statements"
    return body


def test_rate_limit_is_429_with_retry_after(limited, small_home):
    client, ledger = limited
    admin = small_home.admin()
    keys = [Ed25519Signer.generate(f"clerk-{i}@{ORIGIN}") for i in range(4)]
    for k in keys[:3]:
        r = post(client, register(admin, k, "registrant", {"institution": GZ_HOLDER.uscc}))
        assert r.status_code == 201, r.text
    r = post(client, register(admin, keys[3], "registrant", {"institution": GZ_HOLDER.uscc}))
    body = problem(r, 429)
    assert admin.key_id in body["detail"]
    retry = r.headers["retry-after"]
    assert retry.isdigit() and 1 <= int(retry) <= 60
    # nothing was sequenced for the refused request
    assert client.get(f"/v1/entries/{ledger.store.head().size}").status_code == 404
    assert ledger.entry(ledger.store.head().size - 1).statement.subject == keys[2].key_id
    # the limit is per key: another clerk is not affected
    r = post(client, apply(keys[0], "limits-" + secrets.token_hex(4), ledger))
    assert r.status_code == 201, r.text
    assert r.json()["state"]["status"] == "SUBMITTED"
    # and reads are not rate limited
    for _ in range(10):
        assert client.get("/v1/entries/0").status_code == 200


def test_forged_requests_do_not_use_up_a_clerks_rate(limited, small_home):
    client, _ = limited
    admin = small_home.admin()
    victim = admin.key_id
    forger = Ed25519Signer.generate("forger")
    for i in range(3):
        forged = register(forger, Ed25519Signer.generate(f"forged-{i}@{ORIGIN}"), "admin", None).to_json()
        forged["key"] = victim  # claims to be the administrator; the signature is the forger's
        r = client.post("/v1/statements", content=canonical_json(forged))
        assert r.status_code == 401, r.text
    r = post(
        client,
        register(admin, Ed25519Signer.generate(f"genuine@{ORIGIN}"), "registrant", {"institution": GZ_HOLDER.uscc}),
    )
    assert r.status_code == 201, r.text


def test_streamed_body_over_the_limit_is_refused_while_streaming(server):
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        for _ in range(4):  # 256 KiB, twice the limit, and the body has not ended
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.settimeout(3)
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            reply = b""
        # finish the body so the server is left clean
        sock.settimeout(10)
        if not reply:
            sock.sendall(b"0\r\n\r\n")
            late = sock.recv(4096)
            assert late.startswith(b"HTTP/1.1 413"), late[:200]
    assert reply.startswith(b"HTTP/1.1 413"), "no answer while the oversized body was still streaming"


def test_verify_body_size_is_limited(client):
    body = json.dumps({"certificate": {"format": "x"}, "padding": "x" * (32 * 1024 * 1024)}).encode()
    r = client.post("/v1/verify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, (r.status_code, r.text[:300])
