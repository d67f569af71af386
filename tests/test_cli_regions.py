"""`regledger regions show` and `regledger regions load` as a user runs them."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import run

# each test runs the CLI in fresh processes (init, load, show, audit): seconds each
pytestmark = pytest.mark.slow


def test_show_prints_the_parent_chain(tmp_path):
    p = run("regions", "show", "520302", "--home", str(tmp_path / "none"))
    assert p.stdout.splitlines()[0] == "520302 → 红花岗区 ← 遵义市 ← 贵州省"
    j = json.loads(
        run("regions", "show", "520321", "--on", "2015-06-01", "--json", "--home", str(tmp_path / "none")).stdout
    )
    assert j["name"] == "遵义县" and [p["name"] for p in j["parents"]] == ["遵义市", "贵州省"]
    assert j["windows"][0]["valid_to"] == "2017-01-01"


def test_show_exits_1_for_an_unknown_or_retired_code(tmp_path):
    p = run("regions", "show", "999999", "--home", str(tmp_path / "none"), ok=False)
    assert p.returncode == 1 and "unknown region code 999999" in p.stderr
    p = run("regions", "show", "520321", "--on", "2020-01-01", "--home", str(tmp_path / "none"), ok=False)
    assert p.returncode == 1 and "retired on 2017-01-01" in p.stderr


def test_load_a_change_then_show_it_and_audit(tmp_path):
    home = str(tmp_path / "home")
    env = {"REGLEDGER_PASSPHRASE": "test-passphrase"}
    run("init", "--origin", "test.example/regions", "--home", home, env=env)
    assert run("regions", "show", "520399", "--home", home, env=env, ok=False).returncode == 1
    table = tmp_path / "change.json"
    table.write_text(
        json.dumps(
            {
                "version": "2027-01",
                "source": "民政部 变更公告（测试）",
                "records": [
                    {
                        "code": "520399",
                        "name": "新蒲新区（测试）",
                        "level": "county",
                        "valid_from": "2026-01-01",
                        "valid_to": None,
                    },
                    {
                        "code": "520302",
                        "name": "红花岗区",
                        "level": "county",
                        "valid_from": "1997-01-01",
                        "valid_to": None,
                    },
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    p = run("regions", "load", str(table), "--home", home, env=env)
    assert "1 codes changed; the table in force is now 2027-01" in p.stdout  # 520302 was in force as given
    shown = run("regions", "show", "520399", "--home", home, env=env).stdout
    assert shown.startswith("520399 → 新蒲新区（测试） ← 遵义市 ← 贵州省") and "table 2027-01" in shown
    assert "nothing to load" in run("regions", "load", str(table), "--home", home, env=env).stdout
    assert "audit OK" in run("audit", "--home", home, env=env).stdout


def test_load_refuses_a_bad_record_with_its_field(tmp_path):
    home = str(tmp_path / "home")
    env = {"REGLEDGER_PASSPHRASE": "test-passphrase"}
    run("init", "--origin", "test.example/regions", "--home", home, env=env)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": "v",
                "source": "s",
                "records": [
                    {"code": "52039", "name": "X", "level": "county", "valid_from": "2026-01-01", "valid_to": None}
                ],
            }
        )
    )
    p = run("regions", "load", str(bad), "--home", home, env=env, ok=False)
    assert p.returncode == 1 and "/records/0/code" in p.stderr


def test_the_demo_registers_a_zunyi_county_and_its_certificate_verifies(tmp_path):
    home = str(tmp_path / "demo")
    env = {"REGLEDGER_PASSPHRASE": "test-passphrase"}
    out = run("demo", "--home", home, env=env).stdout
    line = next(x for x in out.splitlines() if "遵义市红花岗区城市管理数据" in x)
    code = line.split(" as ")[-1].strip()
    assert code.startswith("PDR-1-520302-2026-")
    state = json.loads(run("show", code, "--home", home, env=env).stdout)
    assert state["status"] == "CODED" and state["region"] == "520302"
    assert state["fields"]["holder"]["region"] == "520302" and state["fields"]["industry_code"] == "N78"
    vkey = run("log", "key", "--home", home, env=env).stdout.strip().splitlines()[-1]
    cert = tmp_path / "zunyi.json"
    run("certificate", code, "--out", str(cert), "--home", home, env=env)
    assert run("verify", str(cert), "--key", vkey, "--home", home, env=env).stdout.startswith(f"OK: {code} ")
