"""Fixtures and helpers for the API tests (tests/api), loaded by each test module as a pytest plugin
(`pytest_plugins = ["apitest_fixtures"]`), so that session fixtures are shared across the modules.

Why not tests/api/conftest.py and tests/api/__init__.py: with pytest's default (prepend) import mode,
- an `__init__.py` here makes this folder importable as the top-level package `api`, shadowing the
  project's own `api` package (`from api import create_app` then fails);
- a second `conftest.py` takes over the module name `conftest`, and tests/test_audit.py,
  test_concurrency.py and test_ledger.py do `from conftest import make_ledger` (they then fail
  to import whenever the whole suite is collected).

The API is exercised through the real HTTP stack:
- `demo_home`: `python -m regledger.cli demo --home DIR`, once per session;
- `server`: `python -m regledger.cli serve --home DIR --port P` in its own process, ready once /healthz is 200
  (`start_server`/`stop_server` start and stop more of them);
- `client`: an httpx.Client on it that fails the test on any 5xx response;
- `api`: the client plus helpers to sign and submit statements (with a fresh nonce by default);
- `clerks`: clerk keys registered by the home's administrator through POST /v1/statements;
- `serve_app`: serve an app built in-process (create_app) with uvicorn over TCP, in a thread.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import load_test_calendars

from regledger.api.settings import Settings, env_name
from regledger.client import RegLedgerClient
from regledger.demo_registry import GZ_HOLDER, ZJ_HOLDER, _resource
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.vkey import parse_vkey
from regledger.ledger.entry import Statement, sign_statement, utc_now
from regledger.ledger.keyring import register_key_statement, revoke_key_statement
from regledger.registry.calendar import parse_notice
from regledger.registry.client import make_step
from regledger.registry.workdays import Calendar, CalendarYear
from regledger.serveproc import ServeProcess, free_port, wait_until_answers

REPO = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"


def child_env() -> dict[str, str]:
    """The environment for the CLI processes: the home's own SQLite, the default Settings (no REGLEDGER_*
    setting of the caller's), this checkout first on the path."""
    settings = {env_name(f.name) for f in fields(Settings)}
    env = {k: v for k, v in os.environ.items() if k not in ("REGLEDGER_DB", "REGLEDGER_HOME", *settings)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def cli(*args: str, timeout: float = 300, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m regledger.cli ARGS...` from this checkout in child_env() (plus `env`), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "regledger.cli", *args],
        cwd=REPO,
        env={**child_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def no_server_errors(response: httpx.Response) -> None:
    """httpx response hook: no endpoint may ever answer 5xx (a 503 pushback would be documented; none is expected)."""
    if response.status_code >= 500:
        response.read()
        raise AssertionError(
            f"{response.request.method} {response.request.url} answered {response.status_code}: {response.text[:500]}"
        )


Server = ServeProcess  # what start_server returns: url, home, log, proc


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("api") / "home"

    done = cli("demo", "--home", str(home))
    assert done.returncode == 0, done.stdout + done.stderr
    load_test_calendars(home, cli)  # the tests write on the real clock, past the built-in calendar's end
    return home


def start_server(home: Path, *args: str, log: Path | None = None, env: Mapping[str, str] | None = None) -> Server:
    """`regledger serve --home HOME ARGS...` in its own process on a free port, once /healthz answers
    (`env`: variables set for it, e.g. REGLEDGER_* settings)."""
    port = free_port()
    log = log or home.parent / f"serve-{port}.log"
    return ServeProcess.start(home, *args, log=log, env={**child_env(), **(env or {})}, port=port, cwd=REPO)


def stop_server(srv: Server) -> None:
    srv.stop(timeout=15)


def send_on_one_connection(url: str, requests: list[tuple[str, str, bytes | None]]) -> list[tuple[int, dict, bytes]]:
    """Send each (method, path, body) in turn on ONE keep-alive connection; fails if the server drops it."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    out = []
    try:
        for method, path, body in requests:
            headers = {"content-type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            out.append((r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()))
            assert not r.will_close, f"{method} {path} closed the connection ({r.status})"
    finally:
        conn.close()
    return out


@pytest.fixture
def same_connection() -> Any:
    """send_on_one_connection(url, [(method, path, body), ...]): asserts the server keeps the connection open."""
    return send_on_one_connection


@pytest.fixture
def serve_home() -> Iterator[Any]:
    """serve_home(home, *args, env=None) -> a `regledger serve` process on that home (start_server), stopped
    after the test."""
    started: list[Server] = []

    def start(home: Path, *args: str, env: Mapping[str, str] | None = None) -> Server:
        started.append(start_server(home, *args, env=env))
        return started[-1]

    yield start
    for srv in started:
        stop_server(srv)


@pytest.fixture(scope="session")
def server(demo_home: Path) -> Iterator[Server]:
    # Every API test shares this server from one address: the per-address objection limit is tested on a
    # home of its own (test_api_objections), so here it must not depend on how fast the tests run.
    srv = start_server(demo_home, log=demo_home.parent / "serve.log", env={"REGLEDGER_OBJECTIONS_PER_MINUTE": "10000"})
    try:
        yield srv
    finally:
        stop_server(srv)
    # the server logged no unexpected error (the 500 handler logs "unexpected error on ...")
    text = srv.log.read_text(errors="replace")
    assert "unexpected error" not in text and "Traceback" not in text, text[-5000:]


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, timeout=30, trust_env=False, event_hooks={"response": [no_server_errors]}
    ) as c:
        yield c


@pytest.fixture(scope="session")
def home(demo_home: Path) -> Home:
    return Home(demo_home)


@pytest.fixture(scope="session")
def home_admin(home: Home) -> Ed25519Signer:
    return home.admin()


@pytest.fixture(scope="session")
def vkey(client: httpx.Client) -> str:
    return client.get("/log/key").text.strip()


def nonce_extras(nonce: str | None | object, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """`extra` plus a `nonce` member: a fresh random one for "fresh", none for None, else the one given."""
    ex = dict(extra or {})
    if nonce == "fresh":
        ex["nonce"] = secrets.token_hex(16)
    elif nonce is not None:
        ex["nonce"] = nonce
    return ex


def with_nonce(
    st: Statement, *, nonce: str | None | object = "fresh", extra: Mapping[str, Any] | None = None, signer: Any = None
) -> Statement:
    """Re-sign `st` (same kind, subject, payload and time) with a `nonce` member and any other extras."""
    ex = nonce_extras(nonce, extra)
    return sign_statement(signer, kind=st.kind, subject=st.subject, payload=st.payload, time=st.time, extra=ex)


class Api:
    """The session's client with the helpers every write test needs."""

    def __init__(self, client: httpx.Client, vkey: str) -> None:
        self.client = client
        self.vkey = vkey
        self.verifier = parse_vkey(vkey)
        self.origin = self.verifier.name
        self.reader = RegLedgerClient(str(client.base_url), log_key=vkey)  # the shipped client's checkpoint reading

    # -- building statements ------------------------------------------------------------

    def step(
        self,
        signer: Any,
        kind: str,
        registration: str,
        payload: Mapping[str, Any] | None = None,
        *,
        time: str | None = None,
        nonce: str | None | object = "fresh",
        extra: Mapping[str, Any] | None = None,
    ) -> Statement:
        """A registration step as registry.client.make_step builds it (due dates under the server's
        calendar, GET /v1/calendar/{year}), plus a nonce."""
        return with_nonce(
            make_step(signer, kind, registration, payload, time=time or utc_now(), calendar=self.calendar()),
            nonce=nonce,
            extra=extra,
            signer=signer,
        )

    def calendar(self) -> Calendar:
        """The calendar in force on the server: its ledger's years over the package's."""

        def served_year(year: int) -> CalendarYear | None:
            r = self.client.get(f"/v1/calendar/{year}")
            if r.status_code == 404 or r.json()["from"] != "ledger":
                return None
            body = r.json()
            return parse_notice({k: body[k] for k in ("year", "holidays", "workdays", "source")}, index=body["index"])

        return Calendar(served_year)

    @staticmethod
    def statement(
        signer: Any,
        kind: str,
        subject: str,
        payload: Mapping[str, Any],
        *,
        time: str | None = None,
        nonce: str | None | object = "fresh",
        extra: Mapping[str, Any] | None = None,
    ) -> Statement:
        ex = nonce_extras(nonce, extra)
        return sign_statement(signer, kind=kind, subject=subject, payload=payload, time=time or utc_now(), extra=ex)

    @staticmethod
    def register_key(
        admin: Ed25519Signer, key: Ed25519Signer, role: str, scope: Mapping[str, Any] | None = None
    ) -> Statement:
        return with_nonce(register_key_statement(admin, key, role, scope, time=utc_now()), signer=admin)

    @staticmethod
    def revoke_key(admin: Ed25519Signer, key_id: str, reason: str) -> Statement:
        return with_nonce(revoke_key_statement(admin, key_id, reason, time=utc_now()), signer=admin)

    # -- talking to the server ----------------------------------------------------------

    def post(self, body: Statement | Mapping[str, Any] | bytes | str, **kw: Any) -> httpx.Response:
        if isinstance(body, Statement):
            body = body.canonical  # the server takes a statement's RFC 8785 bytes and nothing else
        elif isinstance(body, Mapping):  # RFC 8785 for the members tests use (no floats, BMP text)
            body = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode()
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return self.client.post("/v1/statements", content=body, headers=headers, **kw)

    def ok(self, st: Statement) -> dict[str, Any]:
        r = self.post(st)
        assert r.status_code == 201, r.text
        return r.json()

    def checkpoint(self) -> tuple[int, bytes]:
        """The latest checkpoint, checked with the log's key: (size, note)."""
        return self.reader.checkpoint()

    def wait_integrated(self, index: int, timeout: float = 20) -> int:
        """Wait until the latest checkpoint covers entry `index`; returns its size."""
        return self.reader.wait_for_checkpoint(index, timeout)

    def settle(self, timeout: float = 20) -> tuple[int, bytes]:
        """Wait until the latest checkpoint covers every sequenced entry; returns (size, note)."""
        deadline = time.monotonic() + timeout
        while True:
            size, note = self.checkpoint()
            if self.client.get(f"/v1/entries/{size}").status_code == 404:
                return size, note
            if time.monotonic() > deadline:
                raise AssertionError(f"entries past {size} were not integrated within {timeout} s")
            time.sleep(0.1)

    # -- assertions and payloads --------------------------------------------------------

    @staticmethod
    def problem(
        r: httpx.Response, status: int, field: str | None | object = ..., *, detail_has: str | None = None
    ) -> dict[str, Any]:
        """`r` is an RFC 9457 problem document with `status` (and `field`, when given; None = no field)."""
        assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
        assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
        body = r.json()
        assert body["status"] == status
        assert isinstance(body["title"], str) and body["title"]
        assert isinstance(body["detail"], str) and body["detail"]
        assert body.get("type", "about:blank") == "about:blank"
        assert body.get("instance") == r.request.url.path
        if field is not ...:
            assert body.get("field") == field, body
        if detail_has is not None:
            assert detail_has.lower() in body["detail"].lower(), body
        return body

    @staticmethod
    def gz_resource(name: str) -> dict[str, Any]:
        """An application payload for a Guizhou (520000) resource held by GZ_HOLDER."""
        return {"subject_kind": "resource", "fields": _resource(name, GZ_HOLDER, "520000")}

    @staticmethod
    def new_id(prefix: str = "api") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def b64d(s: str) -> bytes:
        return base64.b64decode(s, validate=True)


@pytest.fixture(scope="session")
def api(client: httpx.Client, vkey: str) -> Api:
    return Api(client, vkey)


@dataclass
class Clerks:
    gz_holder: Ed25519Signer  # registrant clerk of GZ_HOLDER (贵州省气象局)
    zj_holder: Ed25519Signer  # registrant clerk of ZJ_HOLDER (杭州市公共交通集团)
    gz_registrar: Ed25519Signer  # registration-institution clerk for Guizhou (520000)
    zj_registrar: Ed25519Signer  # registration-institution clerk for Zhejiang (330000)
    gz_medical_registrar: Ed25519Signer  # registrar scoped to Guiyang city only (520100)
    indexes: dict[str, int]


@pytest.fixture(scope="session")
def clerks(api: Api, home_admin: Ed25519Signer) -> Clerks:
    """Clerk keys registered by the administrator over HTTP (key.register statements)."""
    tag = uuid.uuid4().hex[:8]
    o = api.origin

    def new(name: str) -> Ed25519Signer:
        return Ed25519Signer.generate(f"{name}-{tag}@{o}")

    c = Clerks(new("gz-holder"), new("zj-holder"), new("gz-registrar"), new("zj-registrar"), new("gy-registrar"), {})
    for name, key, role, scope in (
        ("gz_holder", c.gz_holder, "registrant", {"institution": GZ_HOLDER.uscc}),
        ("zj_holder", c.zj_holder, "registrant", {"institution": ZJ_HOLDER.uscc}),
        ("gz_registrar", c.gz_registrar, "registrar", {"region": "520000"}),
        ("zj_registrar", c.zj_registrar, "registrar", {"region": "330000"}),
        ("gz_medical_registrar", c.gz_medical_registrar, "registrar", {"region": "520100"}),
    ):
        body = api.ok(api.register_key(home_admin, key, role, scope))
        assert body["state"] is None
        c.indexes[name] = body["index"]
    return c


class InProcessServer:
    """A FastAPI app served by uvicorn in a thread of this process, on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from regledger.api.serving import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn_config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        wait_until_answers(self.url + "/healthz", None, None)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def serve_app() -> Iterator[Any]:
    """serve_app(app) -> an httpx.Client on that app, served for real over TCP for the rest of the test."""
    running: list[tuple[InProcessServer, httpx.Client]] = []

    def start(app: Any) -> httpx.Client:
        srv = InProcessServer(app).start()
        c = httpx.Client(base_url=srv.url, timeout=30, trust_env=False, event_hooks={"response": [no_server_errors]})
        running.append((srv, c))
        return c

    yield start
    for srv, c in running:
        c.close()
        srv.stop()
