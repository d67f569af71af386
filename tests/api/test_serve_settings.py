"""Settings from the environment: REGLEDGER_<FIELD> variables parsed by Settings.from_environ, applied by a
`regledger serve` process (seen over HTTP), refused with a message naming the variable, listed by
`serve --help` and in docs/api.md."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

from regledger.api.settings import Settings, env_name
from regledger.cli import main, serve_settings
from regledger.demo_registry import GZ_HOLDER
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.errors import MalformedError

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "serve-settings.regledger.example/1"
REPO = Path(__file__).resolve().parents[2]


def test_every_field_is_read_from_its_variable():
    environ = {
        "REGLEDGER_MAX_BODY_BYTES": "2000",
        "REGLEDGER_RATE_PER_MINUTE": " 7 ",
        "REGLEDGER_BODY_TIMEOUT": "2.5",
        "REGLEDGER_RUN_INTEGRATOR": "off",
        "REGLEDGER_SELF_AUDIT_INTERVAL": "0",
        "REGLEDGER_INTEGRATE_DELAY": "0",
        "REGLEDGER_HOME": "/elsewhere",
        "max_page": "1",
    }  # other variables are not settings
    s = Settings.from_environ(environ)
    assert (s.max_body_bytes, s.rate_per_minute, s.body_timeout) == (2000, 7, 2.5)
    assert s.run_integrator is False and s.self_audit_interval == 0 == s.integrate_delay
    assert (s.max_page, s.default_page, s.header_timeout) == (200, 50, 10.0)  # unset: the defaults
    assert Settings.from_environ({}) == Settings()
    samples = {bool: ("false", False), int: ("150", 150), float: ("0.25", 0.25), str: ("10.0.0.0/8", "10.0.0.0/8")}
    for f in fields(Settings):  # each field has its variable, parsed to the field's type
        text, value = samples[type(f.default)]
        assert getattr(Settings.from_environ({env_name(f.name): text}), f.name) == value, f.name


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("REGLEDGER_RATE_PER_MINUTE", "lots", "a whole number above 0"),
        ("REGLEDGER_RATE_PER_MINUTE", "0", "a whole number above 0"),  # 0 would divide by zero in the bucket
        ("REGLEDGER_MAX_BODY_BYTES", "1.5", "a whole number above 0"),
        ("REGLEDGER_MAX_BODY_BYTES", "", "a whole number above 0"),
        ("REGLEDGER_BODY_TIMEOUT", "nan", "a number above 0"),
        ("REGLEDGER_HEADER_TIMEOUT", "0", "a number above 0"),
        ("REGLEDGER_SELF_AUDIT_INTERVAL", "-1", "a number of at least 0"),
        ("REGLEDGER_RUN_INTEGRATOR", "maybe", "true or false"),
    ],
)
def test_a_bad_value_names_its_variable_and_the_type(name, value, expected):
    with pytest.raises(MalformedError) as info:
        Settings.from_environ({name: value})
    assert info.value.field == name and expected in info.value.message and repr(value) in info.value.message


def test_the_default_page_must_fit_the_page_maximum():
    with pytest.raises(MalformedError) as info:
        Settings.from_environ({"REGLEDGER_MAX_PAGE": "20"})
    assert info.value.field == "REGLEDGER_DEFAULT_PAGE" and "REGLEDGER_MAX_PAGE (20)" in info.value.message
    assert Settings.from_environ({"REGLEDGER_MAX_PAGE": "20", "REGLEDGER_DEFAULT_PAGE": "20"}).max_page == 20


def test_serve_flags_win_over_the_environment():
    environ = {"REGLEDGER_RUN_INTEGRATOR": "true", "REGLEDGER_RATE_PER_MINUTE": "9"}
    assert serve_settings(environ, read_only=True).run_integrator is False
    assert serve_settings(environ, read_only=True).rate_per_minute == 9
    assert serve_settings({"REGLEDGER_RUN_INTEGRATOR": "false"}, read_only=False).run_integrator is False


def test_serve_help_lists_every_variable_with_its_default(capsys):
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for f in fields(Settings):
        line = next((x for x in lines if x.split()[:1] == [env_name(f.name)]), None)
        assert line is not None, f.name
        assert line.split()[1] == (str(f.default).lower() if isinstance(f.default, bool) else str(f.default))
        assert f.metadata["meaning"] in line


def test_docs_list_every_variable_with_its_default():
    text = (REPO / "docs" / "api.md").read_text()
    for f in fields(Settings):
        default = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        assert f"| `{env_name(f.name)}` | `{default}` |" in text, f.name


@pytest.mark.slow
def test_serve_exits_on_a_bad_value_naming_the_variable(tmp_path: Path):
    from apitest_fixtures import child_env

    env = {**child_env(), "REGLEDGER_RATE_PER_MINUTE": "lots"}
    done = subprocess.run(
        [sys.executable, "-m", "regledger.cli", "serve", "--home", str(tmp_path / "home")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "REGLEDGER_RATE_PER_MINUTE" in done.stderr and "whole number" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "serving" not in done.stdout


def test_serve_applies_body_size_and_rate_from_the_environment(tmp_path: Path, serve_home):
    from apitest_fixtures import Api

    home = Home(tmp_path / "home")
    home.init(ORIGIN, say=lambda _: None).store.close()
    srv = serve_home(
        home.path, "--sync-interval", "0", env={"REGLEDGER_MAX_BODY_BYTES": "2000", "REGLEDGER_RATE_PER_MINUTE": "2"}
    )
    with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as client:
        r = client.post(
            "/v1/statements", content=b"{" + b" " * 2500 + b"}", headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and "2000 bytes" in r.json()["detail"], r.text
        admin = home.admin()
        answers = []
        for i in range(3):
            key = Ed25519Signer.generate(f"clerk-{i}@{ORIGIN}")
            st = Api.register_key(admin, key, "registrant", {"institution": GZ_HOLDER.uscc})
            assert len(st.canonical) < 2000
            answers.append(
                client.post("/v1/statements", content=st.canonical, headers={"content-type": "application/json"})
            )
    assert [a.status_code for a in answers] == [201, 201, 429], [a.text for a in answers]
    assert "over 2 statements a minute" in answers[2].json()["detail"]
