"""The calendar over HTTP: GET /v1/calendar/{year}, the 503 calendar-missing problem, /readyz and /metrics.

On an app built in-process (create_app) and served by uvicorn over TCP.  "Today" for the coverage
countdown is fixed through api.routes.health.china_today, so nothing depends on the real year.  The
2027 notice is TEST DATA (tests/test_calendar.py says so).
"""

from __future__ import annotations

import secrets
from datetime import date

import httpx
import pytest

from regledger.api import Settings, create_app
from regledger.demo_registry import GZ_HOLDER, _resource
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import sign_statement, utc_now
from regledger.ledger.keyring import register_key_statement
from regledger.registry import workdays
from regledger.registry.workflow import china_date

pytest_plugins = ["apitest_fixtures"]

ORIGIN = "api-calendar.regledger.example/1"
NOTICE = {
    "year": 2027,
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"],
    "workdays": ["2027-01-31"],
    "source": "TEST DATA: an invented 2027 notice",
}


@pytest.fixture
def served(tmp_path, serve_app, monkeypatch):
    home = Home(tmp_path / "home")
    home.init(ORIGIN, say=lambda _: None).store.close()
    ledger = home.open()
    monkeypatch.setattr("regledger.api.routes.health.china_today", lambda: date(2026, 12, 1))
    client = serve_app(create_app(ledger, Settings(run_integrator=False)))
    yield client, ledger, home.admin()
    ledger.store.close()


def post(client, signer, kind: str, subject: str, payload: dict):
    st = sign_statement(
        signer, kind=kind, subject=subject, payload=payload, time=utc_now(), extra={"nonce": secrets.token_hex(16)}
    )
    return client.post("/v1/statements", content=st.canonical, headers={"content-type": "application/json"})


def test_a_clock_no_source_covers_is_a_503_calendar_missing_problem(served, monkeypatch):
    client, ledger, admin = served
    clerk = Ed25519Signer.generate("clerk@api-calendar")
    ledger.append(register_key_statement(admin, clerk, "registrant", {"institution": GZ_HOLDER.uscc}))
    # the built-in calendar as it will be once the real date has passed its end: nothing for this year
    this_year = china_date(utc_now()).year
    monkeypatch.setattr(
        "regledger.registry.workdays._PACKAGE_YEARS",
        {y: c for y, c in workdays._PACKAGE_YEARS.items() if y < this_year},
    )
    with httpx.Client(base_url=client.base_url, trust_env=False) as plain:  # this 5xx is the documented answer
        r = post(
            plain,
            clerk,
            "registration.apply",
            "cal-1",
            {
                "subject_kind": "resource",
                "fields": _resource("日历测试数据", GZ_HOLDER, "520000"),
                "accept_due": f"{this_year}-12-31",
            },
        )
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/calendar-missing")
    assert str(this_year) in problem["detail"] and "regledger calendar load" in problem["detail"]
    assert ledger.store.get_states(["reg:cal-1"]) == {}  # nothing written
    assert "Retry-After" not in r.headers  # not a busy server: waiting does not help, the operator must act


def test_the_calendar_served_and_its_countdown(served):
    client, ledger, admin = served
    got = client.get("/v1/calendar/2026").json()
    assert got["from"] == "package" and got["index"] is None and "2026-02-14" in got["workdays"]
    missing = client.get("/v1/calendar/2027")
    assert missing.status_code == 404 and "regledger calendar load" in missing.json()["detail"]
    assert client.get("/v1/calendar/1800").status_code == 422
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert "warning: calendar: the official calendar ends on 2026-12-31 (30 days left)" in ready.text
    assert "regledger_calendar_days_left 30.0" in client.get("/metrics").text

    r = post(client, admin, "calendar.year", "2027", NOTICE)
    assert r.status_code == 201, r.text
    shown = client.get("/v1/calendar/2027").json()
    assert shown == {**NOTICE, "from": "ledger", "index": r.json()["index"], "replaced": []}
    assert "calendar" not in client.get("/readyz").text
    assert "regledger_calendar_days_left 395.0" in client.get("/metrics").text
    again = post(client, admin, "calendar.year", "2027", NOTICE)
    assert again.status_code == 409
    bad = post(client, admin, "calendar.year", "2027", {**NOTICE, "workdays": ["2027-02-01"]})
    assert bad.status_code == 422 and bad.json()["field"] == "/payload/workdays/0"
