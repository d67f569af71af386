"""The clerk's client end to end, with only the shipped commands: `regledger init`, `serve`, `key new`,
`key register`, `apply` (YAML), `step` … `code`, `status`, `certificate`, `verify`, against a real server
process whose log clock a test moves forward (serve --test-clock-offset) to pass the publicity period.
Bad input through the client prints the field, exits non-zero, and writes nothing.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from apitest_fixtures import REPO, Server, cli, start_server, stop_server
from conftest import load_test_calendars

from regledger.client import Refused, RegLedgerClient, load_key
from regledger.demo_registry import sample_uscc
from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.keystore import load_signer
from regledger.registry.statement_schemas import STATEMENT_KINDS
from regledger.registry.workflow import KINDS, TERMINAL, allowed_steps

pytest_plugins = ["apitest_fixtures"]
pytestmark = pytest.mark.slow

PASSPHRASE = "client-test-passphrase"
ZUNYI_HOLDER = sample_uscc("11", "520300", "MB000009")
OTHER_HOLDER = sample_uscc("11", "520300", "MB000010")
DAY = 86400


@dataclass
class Setup:
    home: Path
    dir: Path
    server: Server
    clock: Path
    vkey: str
    registrar: Path
    registrant: Path
    objector: Path

    def run(self, *args: str, key: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        env = {"REGLEDGER_PASSPHRASE": PASSPHRASE, "REGLEDGER_SERVER": self.server.url}
        if key is not None:
            env["REGLEDGER_KEY"] = str(key)
        done = cli(*args, timeout=120, env=env)
        if ok:
            assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    def advance(self, days: int) -> None:
        """Move the server's log clock `days` further ahead of the real one."""
        now = float(self.clock.read_text() or 0)
        self.clock.write_text(str(now + days * DAY))

    def size(self) -> int:
        """The log's size, once the server has signed a checkpoint over everything sequenced so far."""
        time.sleep(1.2)  # > integrate_delay: anything sequenced is in the next checkpoint by now
        note = httpx.get(self.server.url + "/log/checkpoint", trust_env=False).text
        return int(note.splitlines()[1])


def _run(*args: str) -> subprocess.CompletedProcess:
    return cli(*args, timeout=120, env={"REGLEDGER_PASSPHRASE": PASSPHRASE})


def _new_key(s: Setup | None, d: Path, name: str) -> tuple[Path, str]:
    out = d / f"{name}.key"
    done = _run("key", "new", "--name", name, "--out", str(out))
    assert done.returncode == 0, done.stderr
    vkey = done.stdout.strip().splitlines()[-1]
    assert vkey.startswith(name + "+")
    assert out.stat().st_mode & 0o077 == 0 and b"ENCRYPTED" in out.read_bytes()
    return out, vkey


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("client")
    home = d / "home"
    done = _run("init", "--home", str(home), "--origin", "client.test.example/520300")
    assert done.returncode == 0, done.stderr
    load_test_calendars(home, lambda *a: _run(*a))
    clock = d / "clock-offset"
    clock.write_text("0")
    srv = start_server(home, "--test-clock-offset", str(clock), env={"REGLEDGER_PASSPHRASE": PASSPHRASE})
    try:
        vkey = _run("log", "key", "--home", str(home)).stdout.strip()
        keys = {name: _new_key(None, d, name) for name in ("registrar-zunyi", "clerk-zunyi", "objector")}
        s = Setup(home, d, srv, clock, vkey, keys["registrar-zunyi"][0], keys["clerk-zunyi"][0], keys["objector"][0])
        admin = home / "keys" / "admin.pem"
        for name, role, scope in (
            ("registrar-zunyi", "registrar", ["--region", "520300"]),
            ("clerk-zunyi", "registrant", ["--institution", ZUNYI_HOLDER]),
            ("objector", "registrant", ["--institution", OTHER_HOLDER]),
        ):
            done = s.run("key", "register", "--vkey", keys[name][1], "--role", role, *scope, key=admin)
            assert done.stdout.strip().splitlines()[-1].isdigit(), done.stdout
        yield s
    finally:
        stop_server(srv)


def application_yaml(name: str, *, uscc: str = ZUNYI_HOLDER, region: str = "520300") -> str:
    return f"""\
subject_kind: resource
fields:
  name: {name}
  summary: 遵义市公共数据资源（测试），用于客户端端到端测试。
  holder:
    name: 遵义市大数据发展管理局（样例）
    uscc: {uscc}
    category: 持有单位
    region: "520300"
  region: "{region}"
  commitment_sha256: {"ab" * 32}
  data_type: 结构化数据
  data_format: CSV
  source: 业务系统
  records: 5000
  update_frequency: 每月
  time_range:
    start: 2024-01-01
  classification:
    category: 公共服务
    security_level: 一般数据
  industry_code: M74
  storage:
    location: 贵州省政务云
    method: 关系数据库
  in_authorised_scope: true
  supply_mode: 授权运营
  access_method: authorized_operation
"""


def test_a_registration_from_application_to_certificate_with_the_shipped_commands(setup: Setup):
    s = setup
    app = s.dir / "application.yaml"
    app.write_text(application_yaml("遵义市公交客流数据"))
    out = s.run("apply", str(app), "--id", "zunyi-bus-flow", key=s.registrant).stdout
    assert "registration zunyi-bus-flow: SUBMITTED" in out and "查询码" in out
    assert '"accept_due"' in out and '"nonce"' in out  # the draft is shown before it is signed

    def step(kind: str, *fields: str, key: Path = s.registrar) -> str:
        args = [a for f in fields for a in ("--field", f)]
        return s.run("step", "zunyi-bus-flow", kind, *args, key=key).stdout

    assert "FORMAL_REVIEW" in step("accept")
    out = step("publish")
    assert "PUBLICITY" in out and "publicity_end" in out
    assert "OBJECTION_UNDER_REVIEW" in step("object", "reason=简介与实际不符", key=s.objector)
    assert "registration zunyi-bus-flow: PUBLICITY" in step("decide", "upheld=false", "reason=经核实，简介准确")
    # coding during publicity is refused; after the period (on the server's test clock) it goes through
    early = s.run("step", "zunyi-bus-flow", "code", key=s.registrar, ok=False)
    assert early.returncode != 0 and "/time" in early.stderr
    s.advance(30)
    out = step("code")
    assert "CODED" in out
    code = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("code:"))
    query = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("query_code:"))
    assert code.startswith("PDR-1-520300-")

    # status by id, by code and by 查询码 shows the same registration and its next steps
    for ref in ("zunyi-bus-flow", code, query):
        out = s.run("status", ref).stdout
        assert "registration zunyi-bus-flow: CODED" in out and "next steps: change, correction, cancel" in out
    assert json.loads(s.run("status", query, "--json").stdout)["code"] == code

    time.sleep(1.5)  # the coding entry is in a signed checkpoint (integrate_delay 0.5 s)
    cert = s.dir / "cert.json"
    s.run("certificate", code, "--out", str(cert), "--home", str(s.home))
    out = s.run("verify", str(cert), "--key", s.vkey).stdout
    assert out.startswith(f"OK: {code} 遵义市公交客流数据 (CODED)")
    assert query in cert.read_text()  # the certificate shows the 查询码


def _refused(done: subprocess.CompletedProcess, field: str) -> None:
    assert done.returncode != 0, done.stdout
    assert f"(field {field})" in done.stderr, done.stderr


def test_bad_input_through_the_client_prints_the_field_and_writes_nothing(setup: Setup):
    s = setup
    before = s.size()
    # a USCC whose check character is wrong
    bad = ZUNYI_HOLDER[:-1] + ("0" if ZUNYI_HOLDER[-1] != "0" else "1")
    f = s.dir / "bad-uscc.yaml"
    f.write_text(application_yaml("错误的信用代码", uscc=bad))
    _refused(s.run("apply", str(f), key=s.registrant, ok=False), "/payload/fields/holder/uscc")
    # a region code that does not exist
    f = s.dir / "bad-region.yaml"
    f.write_text(application_yaml("不存在的行政区划", region="529999"))
    _refused(s.run("apply", str(f), key=s.registrant, ok=False), "/payload/fields/region")
    assert s.size() == before

    # a step out of order
    f = s.dir / "ok.yaml"
    f.write_text(application_yaml("遵义市路灯数据"))
    s.run("apply", str(f), "--id", "zunyi-lamps", key=s.registrant)
    before = s.size()
    _refused(s.run("step", "zunyi-lamps", "publish", key=s.registrar, ok=False), "/kind")
    assert s.size() == before
    # a revoked key
    key, vkey = _new_key(s, s.dir, "leaving-registrar")
    s.run(
        "key",
        "register",
        "--vkey",
        vkey,
        "--role",
        "registrar",
        "--region",
        "520300",
        key=s.home / "keys" / "admin.pem",
    )
    s.run("key", "revoke", "leaving-registrar", "--reason", "离职", key=s.home / "keys" / "admin.pem")
    before = s.size()
    done = s.run("step", "zunyi-lamps", "accept", key=key, ok=False)
    _refused(done, "/key")
    assert "revoked" in done.stderr
    assert s.size() == before
    assert "registration zunyi-lamps: SUBMITTED" in s.run("status", "zunyi-lamps").stdout


# -- docs/statements.md: every example accepted; the schemas refuse what the server refuses ----------------

DOC = REPO / "docs" / "statements.md"
EXAMPLE = re.compile(r"<!-- example (?P<attrs>[^>]*) -->\n```json\n(?P<body>.*?)\n```", re.S)
WRONG_TYPE = {str: 12345, bool: "yes", int: "many", list: "x", dict: "x"}


def doc_examples() -> list[tuple[dict[str, str], dict[str, Any]]]:
    return [
        (dict(a.split("=", 1) for a in m["attrs"].split()), json.loads(m["body"]))
        for m in EXAMPLE.finditer(DOC.read_text())
    ]


def mutations(payload: dict[str, Any], prefix: tuple = (), depth: int = 3) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, the payload with one member removed, of the wrong type, or empty) for every member, nested."""
    for name, value in payload.items():
        path = prefix + (name,)
        yield f"without {'/'.join(path)}", _set(payload, name, None)
        yield f"{'/'.join(path)} of the wrong type", _set(payload, name, WRONG_TYPE[type(value)])
        if isinstance(value, str):
            yield f"{'/'.join(path)} empty", _set(payload, name, "")
        if isinstance(value, dict) and depth > 1:
            for what, inner in mutations(value, path, depth - 1):
                yield what, _set(payload, name, inner)


def _set(obj: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = dict(obj)
    if value is None:
        del out[name]
    else:
        out[name] = value
    return out


def test_every_example_in_docs_statements_is_accepted_and_the_schemas_refuse_what_the_server_refuses(setup: Setup):
    s = setup
    pw = PASSPHRASE.encode()
    admin = load_signer(s.home / "keys" / "admin.pem", "admin", pw)
    authority = Ed25519Signer.generate("authority-guizhou")
    intake = Ed25519Signer.generate("intake-guizhou")  # as regledger.home.HomeIntake makes the instance's own
    signers = {
        "registrant": load_key(s.registrant, pw),
        "registrar": load_key(s.registrar, pw),
        "objector": load_key(s.objector, pw),
        "admin": admin,
        "authority": authority,
        "intake": intake,
    }
    clients = {name: RegLedgerClient(s.server.url, signer) for name, signer in signers.items()}
    clients["admin"].register_key(authority.verifier().vkey(), "authority", {"region": "520000"})
    clients["admin"].register_key(intake.verifier().vkey(), "intake", {})
    validators = {
        k: jsonschema_rs.validator_for(v, validate_formats=True)
        for k, v in ((k, clients["admin"].schema(k)) for k in clients["admin"].schema()["kinds"])
    }
    tag = uuid.uuid4().hex[:6]
    examples = doc_examples()
    assert {ex["kind"] for _, ex in examples} >= set(STATEMENT_KINDS) - {"registration.code_assigned"}
    new_key = None
    disagreements, checked = [], 0
    for attrs, ex in examples:
        c = clients[attrs["signer"]]
        kind, subject, payload = ex["kind"], ex["subject"], ex["payload"]
        if attrs.get("key") == "new":  # key.register / key.revoke: a fresh key each run
            if kind == "key.register":
                new_key = Ed25519Signer.generate(f"doc-{tag}")
                payload = {**payload, "public_key": base64.b64encode(new_key.public).decode(), "name": new_key.name}
            subject = new_key.key_id
        else:
            subject = f"{subject}-{tag}"
        if "advance-days" in attrs:
            s.advance(int(attrs["advance-days"]))
        draft = c.draft(kind, subject, payload)
        signed = c.sign(draft).to_json()
        assert validators[kind].is_valid(signed), list(validators[kind].iter_errors(signed))[:1]
        for what, mutated in mutations(payload):
            checked += 1
            try:
                c.draft(kind, subject, mutated)
                server_refuses = False
            except Refused as exc:
                assert exc.status in (403, 409, 422), exc
                server_refuses = True
            filled = {**draft.statement["payload"], **mutated}
            filled = {k: v for k, v in filled.items() if k in mutated or k not in payload}
            schema_refuses = not validators[kind].is_valid({**signed, "payload": filled})
            if server_refuses != schema_refuses:
                disagreements.append(
                    f"{kind} {what}: server {'refuses' if server_refuses else 'accepts'}, "
                    f"schema {'refuses' if schema_refuses else 'accepts'}"
                )
        result = c.submit(c.sign(draft))
        assert result.first_time
        if attrs["status"] != "-":
            assert result.state["status"] == attrs["status"], (kind, subject, result.state["status"])
    assert not disagreements, "\n".join(disagreements)
    assert checked > 100
    # the shapes the page shows are the shapes the server answers
    shown = {
        m["name"]: json.loads(m["body"])
        for m in re.finditer(
            r"<!-- (?P<name>draft-request|draft-response|statement-response) -->\n```json\n(?P<body>.*?)\n```",
            DOC.read_text(),
            re.S,
        )
    }
    assert set(shown["draft-request"]) == {"kind", "subject", "payload", "key"}
    with RegLedgerClient(s.server.url) as keyless:  # a draft for no key is not checked, and has no `key`
        d = keyless.draft("registration.accept", "anything")
    assert set(shown["draft-response"]) == {"statement", "warnings"}
    assert set(shown["draft-response"]["statement"]) == set(d.statement) | {"key"}
    assert set(shown["statement-response"]) == {"index", "leaf_hash", "time", "receipt", "state"}
    assert set(shown["statement-response"]["state"]) <= set(result.state) | {"review_due", "accept_due"}


def test_the_status_table_in_docs_statements_lists_the_workflows_next_steps():
    rows = re.findall(r"^\| `([A-Z_]+)` \| [^|]+ \| ([^|]+) \|$", DOC.read_text(), re.M)
    assert {status for status, _ in rows} == {s for _, (_, froms) in KINDS.items() for s in froms if s} | set(TERMINAL)
    for status, steps in rows:
        assert re.findall(r"`(\w+)`", steps) == [k.removeprefix("registration.") for k in allowed_steps(status)]
