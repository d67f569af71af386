"""The desk (/desk) end to end in real Chromium, against a real server process and the shipped CLI.

A registrar creates a key in the desk (WebCrypto, kept in IndexedDB), an administrator registers it with
`regledger key register`; a registrant imports a key file `regledger key new` made and applies from the
desk (a refusal first, shown beside the field it names); the registrar accepts and publishes from the desk
(publishing with the keyboard alone); a citizen lodges an objection on the publicity page and gets a
receipt; the registrar decides it from the desk, citing the objection's entry, and codes it once the period
has ended; the registrant asks for a change from the desk; the exported log holds the objection's hash and
not its text or contact.  Screenshots (also at 390 px) go to artifacts/desk/, their
paths printed.  Chromium is launched as tests/test_pages.py does it (Debian's chromium through Playwright).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apitest_fixtures import cli, start_server, stop_server
from conftest import load_test_calendars
from test_pages import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture, launched as the page tests do)

from regledger.demo_registry import sample_uscc
from regledger.keys.ed25519 import statement_key_id
from regledger.keys.keystore import load_signer
from regledger.keys.vkey import parse_vkey
from regledger.registry.uscc import CHARSET, uscc_check_char

pytestmark = pytest.mark.slow

PASSPHRASE = "desk-test-passphrase"
HOLDER = sample_uscc("11", "520300", "MB000021")
SHOTS = ARTIFACTS / "desk"
OBJECTION_TEXT = "该数据的内容简介与实际发布的数据不符（测试异议）"
OBJECTION_CONTACT = "objector-desk-test@example.cn"


def run(*args: str, key: Path | None = None, server: str = "") -> str:
    env = {"REGLEDGER_PASSPHRASE": PASSPHRASE}
    if server:
        env["REGLEDGER_SERVER"] = server
    if key is not None:
        env["REGLEDGER_KEY"] = str(key)
    done = cli(*args, timeout=120, env=env)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("desk")
    home = d / "home"
    run("init", "--home", str(home), "--origin", "desk.test.example/520300")
    load_test_calendars(home, lambda *a: cli(*a, env={"REGLEDGER_PASSPHRASE": PASSPHRASE}))
    clock = d / "clock-offset"
    clock.write_text("0")
    srv = start_server(home, "--test-clock-offset", str(clock), env={"REGLEDGER_PASSPHRASE": PASSPHRASE})
    try:
        yield {"dir": d, "home": home, "url": srv.url, "admin": home / "keys" / "admin.pem", "clock": clock}
    finally:
        stop_server(srv)


class Shots:
    numbers = itertools.count(1)  # one series over the module's tests: the files sort in the order taken

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.capsys = capsys

    def __call__(self, page: Any, name: str, *, mobile: bool = False) -> None:
        path = SHOTS / f"{next(self.numbers):02d}-{name}.png"
        if mobile:
            size = page.viewport_size
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(100)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(path), full_page=True)
            page.set_viewport_size(size)
            assert overflow <= 390, f"{name}: the desk is {overflow} px wide at 390 px"
        else:
            page.screenshot(path=str(path), full_page=True)
        with self.capsys.disabled():
            print(f"\n[test_desk] screenshot {path}", end="")


def tab_to(page: Any, selector: str, most: int) -> None:
    """Press Tab (nothing else) until the element `selector` names has the focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"{selector} is not reachable with Tab")


def every_field_has_a_label(page: Any) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#desk input, #desk select, #desk textarea')]
             .filter(e => e.offsetParent !== null && e.labels.length === 0).map(e => e.id || e.name)"""
    )
    assert unlabelled == []


def sign_and_wait(page: Any, status: str | None = None) -> int:
    """Confirm the draft shown in plain words, sign it, and wait for the receipt and the checkpoint."""
    page.wait_for_selector("#confirm:not([hidden])")
    page.click("#confirm-sign")
    page.wait_for_selector("#result:not([hidden]) #result-index")
    if status is not None:
        assert page.inner_text("#result-status") == status
    page.wait_for_selector("#result-inclusion[data-state=included]", timeout=30_000)
    return int(page.inner_text("#result-index"))


#: a resource application: typed into the desk's form (text inputs), or posted by the CLI as JSON
TYPED = {
    "name": "遵义市公交客流数据（工作台）",
    "summary": "遵义市公交客流统计数据，用于工作台端到端测试。",
    "holder": {"name": "遵义市大数据发展管理局（样例）", "region": "520300"},
    "region": "520300",
    "commitment_sha256": "ab" * 32,
    "data_type": "结构化数据",
    "data_format": "CSV",
    "source": "业务系统",
    "records": 5000,
    "time_range": {"start": "2024-01-01"},
    "classification": {"category": "公共服务"},
    "industry_code": "M74",
    "storage": {"location": "贵州省政务云", "method": "关系数据库"},
}
#: ... and chosen from the form's lists
CHOSEN = {
    "holder": {"category": "持有单位"},
    "update_frequency": "每月",
    "classification": {"security_level": "一般数据"},
    "in_authorised_scope": True,
    "supply_mode": "授权运营",
    "access_method": "authorized_operation",
}


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"holder": {"name": x}} -> {"holder-name": x}: the desk's input ids are f-fields-<path with '-'>."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flat(v, f"{prefix}{k}-") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def application(uscc: str) -> dict[str, Any]:
    fields = {**TYPED, **CHOSEN}
    for part in ("holder", "classification"):
        fields[part] = {**TYPED[part], **CHOSEN[part]}
    fields["holder"]["uscc"] = uscc
    return {"subject_kind": "resource", "fields": fields}


def fill_application(page: Any, reg: str, uscc: str) -> None:
    page.fill("#application-id", reg)
    for k, v in flat(TYPED).items():
        page.fill(f"#f-fields-{k}", str(v))
    page.fill("#f-fields-holder-uscc", uscc)
    for k, v in flat(CHOSEN).items():
        page.select_option(f"#f-fields-{k}", json.dumps(v, ensure_ascii=False))


def test_the_desk_from_a_new_key_to_a_decided_objection(served, browser, capsys: pytest.CaptureFixture[str]):  # noqa: F811
    url, d = served["url"], served["dir"]
    shot = Shots(capsys)
    reg = "zunyi-desk-bus"

    # -- a registrar creates a key in the desk, with the keyboard alone ------------------------------------------
    registrar_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    registrar = registrar_ctx.new_page()
    registrar.goto(url + "/desk")
    registrar.wait_for_selector("#key-none:not([hidden])")
    every_field_has_a_label(registrar)
    shot(registrar, "desk-no-key")
    shot(registrar, "desk-no-key-390", mobile=True)
    tab_to(registrar, "#create-key-name", 40)  # Tab to the name field, type, Enter submits
    registrar.keyboard.type("registrar-desk@520300")
    registrar.keyboard.press("Enter")
    registrar.wait_for_selector("#key-status[data-state=unregistered]")
    vkey = registrar.inner_text("#key-vkey")
    assert vkey.startswith("registrar-desk@520300+") and "尚未登记" in registrar.inner_text("#key-status")
    key_id = registrar.inner_text("#key-id")
    shot(registrar, "desk-key-created")

    # -- the administrator registers it with the CLI --------------------------------------------------------------
    out = run(
        "key", "register", "--vkey", vkey, "--role", "registrar", "--region", "520300",
        key=served["admin"], server=url,
    )  # fmt: skip
    assert out.strip().splitlines()[-1].isdigit()
    assert httpx.get(f"{url}/v1/keys/{key_id}", trust_env=False).json()["role"] == "registrar"
    registrar.click("#key-refresh")
    registrar.wait_for_selector("#key-role[data-role=registrar]")
    registrar.wait_for_selector("#work-body >> text=暂无待办事项")

    # -- a registrant imports a key file the CLI made, and applies from the desk --------------------------------
    clerk_file = d / "clerk.key"
    clerk_vkey = run("key", "new", "--name", "clerk-desk", "--out", str(clerk_file)).strip().splitlines()[-1]
    run("key", "register", "--vkey", clerk_vkey, "--role", "registrant", "--institution", HOLDER,
        key=served["admin"], server=url)  # fmt: skip
    clerk_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    clerk = clerk_ctx.new_page()
    errors: list[str] = []
    for p in (registrar, clerk):
        p.on("pageerror", lambda e: errors.append(str(e)))
    clerk.goto(url + "/desk")
    clerk.wait_for_selector("#key-none:not([hidden])")
    clerk.set_input_files("#import-key-file", str(clerk_file))
    clerk.fill("#import-key-vkey", clerk_vkey)
    clerk.fill("#import-key-passphrase", "not the passphrase")
    clerk.click("#import-key-form button[type=submit]")
    clerk.wait_for_selector("#key-message .error")
    assert "口令不对" in clerk.inner_text("#key-message")
    clerk.fill("#import-key-passphrase", PASSPHRASE)
    clerk.click("#import-key-form button[type=submit]")
    clerk.wait_for_selector("#key-role[data-role=registrant]")
    assert clerk.inner_text("#key-id") == statement_key_id(parse_vkey(clerk_vkey).public)
    assert clerk.inner_text("#key-vkey") == clerk_vkey  # the desk computes the same vkey as keys/vkey.py
    clerk.wait_for_selector("#application-form #f-fields-supply_mode")  # a resource's form first
    clerk.select_option("#application-kind", "product")
    clerk.wait_for_selector("#application-form #f-fields-operator_uscc")  # a product's own fields
    every_field_has_a_label(clerk)
    clerk.select_option("#application-kind", "resource")
    clerk.wait_for_selector("#application-form #f-fields-supply_mode")
    every_field_has_a_label(clerk)
    # the form checks in the browser first: every required field is named beside it
    clerk.click("#application-form button[type=submit]")
    marked = clerk.eval_on_selector_all("#application-form .field-error", "es => es.map(e => e.id)")
    assert len(marked) >= 10, " ".join(marked)
    assert "必填" in clerk.inner_text("#f-fields-name-error")
    shot(clerk, "registrant-form-required")
    # a USCC whose check character is wrong passes the pattern; the desk checks it before any request
    bad = HOLDER[:-1] + ("0" if HOLDER[-1] != "0" else "1")
    fill_application(clerk, reg, bad)
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_selector("#f-fields-holder-uscc-error")
    assert clerk.get_attribute("#f-fields-holder-uscc", "aria-invalid") == "true"
    assert f"check character is {HOLDER[-1]}, not {bad[-1]}" in clerk.inner_text("#f-fields-holder-uscc-error")
    assert clerk.is_hidden("#confirm")
    shot(clerk, "registrant-check-character-in-the-browser")
    # one the desk cannot judge (positions 1-2 outside the configured table, its check character right):
    # the server's refusal is shown beside the field
    first17 = "14" + HOLDER[2:17]
    fill_application(clerk, reg, first17 + uscc_check_char(first17))
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_function(
        "() => (document.querySelector('#f-fields-holder-uscc-error') || {}).textContent?.includes('/holder/uscc')"
    )
    assert "positions 1-2" in clerk.inner_text("#f-fields-holder-uscc-error")
    assert clerk.get_attribute("#f-fields-holder-uscc", "aria-invalid") == "true"
    assert clerk.is_hidden("#confirm")
    shot(clerk, "registrant-refused-beside-the-field")
    clerk.fill("#f-fields-holder-uscc", HOLDER)
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_selector("#confirm:not([hidden])")
    words = clerk.inner_text("#confirm-words")
    assert "申请" in words and reg in words and "遵义市公交客流数据（工作台）" in words and "受理期限" in words
    shot(clerk, "registrant-confirm")
    shot(clerk, "registrant-confirm-390", mobile=True)
    applied = sign_and_wait(clerk, "SUBMITTED")
    shot(clerk, "registrant-receipt")
    shot(clerk, "registrant-receipt-390", mobile=True)
    state = httpx.get(f"{url}/v1/registrations/{reg}", trust_env=False).json()
    assert state["status"] == "SUBMITTED" and state["history"][0]["index"] == applied

    # -- the registrar accepts and publishes from the desk (publishing with the keyboard alone) -----------------
    registrar.reload()
    registrar.wait_for_selector(f"tr[data-registration='{reg}'][data-task=accept]")
    shot(registrar, "registrar-work-to-accept")
    shot(registrar, "registrar-work-390", mobile=True)
    registrar.click(f"button[data-step='registration.accept'][data-registration='{reg}']")
    registrar.wait_for_selector("#confirm:not([hidden])")
    assert "受理" in registrar.inner_text("#confirm-words")
    sign_and_wait(registrar, "FORMAL_REVIEW")
    registrar.wait_for_selector(f"tr[data-registration='{reg}'][data-task=review]")
    registrar.focus("#key-refresh")  # from the top of the page, with Tab and Enter only
    tab_to(registrar, f"button[data-step='registration.publish'][data-registration='{reg}']", 60)
    registrar.keyboard.press("Enter")
    registrar.wait_for_selector("#confirm:not([hidden])")
    assert registrar.evaluate("document.activeElement.id") == "confirm"  # the confirmation takes the focus
    tab_to(registrar, "#confirm-sign", 5)  # past the statement's JSON (a <details>) to the sign button
    registrar.keyboard.press("Enter")
    registrar.wait_for_selector("#result:not([hidden]) #result-index")
    assert registrar.inner_text("#result-status") == "PUBLICITY"
    registrar.wait_for_selector("#result-inclusion[data-state=included]", timeout=30_000)
    shot(registrar, "registrar-published")

    # -- a citizen lodges an objection on the publicity page (no JavaScript needed) -----------------------------
    citizen_ctx = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    citizen = citizen_ctx.new_page()
    citizen.goto(f"{url}/registrations/{reg}")
    citizen.get_by_label(re.compile("异议内容")).fill(OBJECTION_TEXT)
    citizen.get_by_label(re.compile("联系方式")).fill(OBJECTION_CONTACT)
    citizen.get_by_role("button", name=re.compile("提出异议")).click()
    citizen.wait_for_selector("#document-sha256")
    digest = citizen.inner_text("#document-sha256")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    shot(citizen, "citizen-objection-receipt")
    lodged = next(
        h["index"]
        for h in httpx.get(f"{url}/v1/registrations/{reg}", trust_env=False).json()["history"]
        if h["kind"] == "registration.objection_received"
    )

    # -- the registrar decides it from the desk, citing the objection's entry -----------------------------------
    registrar.reload()
    row = f"tr[data-registration='{reg}'][data-task=decide]"
    registrar.wait_for_selector(row)
    assert digest in registrar.inner_text(row) and f"#{lodged}" in registrar.inner_text(row)
    # the objection's text and contact beside its decision, read with a signed request and checked on the log
    shown = registrar.wait_for_selector(f"{row} .objection-document[data-objection='{lodged}'][data-state=matches]")
    assert "document matches the log" in shown.inner_text()
    assert registrar.inner_text(f"{row} .objection-text") == OBJECTION_TEXT
    assert registrar.inner_text(f"{row} .objection-contact") == OBJECTION_CONTACT
    shot(registrar, "registrar-objection-to-decide")
    registrar.click(f"{row} summary")
    form = f"{row} form[data-kind='registration.decide']"
    registrar.select_option(f"{form} select", "false")
    registrar.fill(f"{form} textarea", "经核实，内容简介与发布的数据一致，异议不成立")
    registrar.click(f"{form} button[type=submit]")
    registrar.wait_for_selector("#confirm:not([hidden])")
    words = registrar.inner_text("#confirm-words")
    assert "异议处理决定" in words and str(lodged) in words
    shot(registrar, "registrar-decide-confirm")
    sign_and_wait(registrar, "PUBLICITY")
    shot(registrar, "registrar-decided")
    decided = httpx.get(f"{url}/v1/registrations/{reg}", trust_env=False).json()["history"][-1]
    assert decided["kind"] == "registration.decide" and decided["objection"] == lodged and decided["upheld"] is False

    # -- after the publicity period the registrar codes it; the registrant asks for a change from the desk ---------
    served["clock"].write_text(str(float(served["clock"].read_text()) + 30 * 86400))  # the server's log clock
    registrar.reload()
    registrar.click(f"tr[data-registration='{reg}'][data-task=code] button[data-step='registration.code']")
    registrar.wait_for_selector("#confirm:not([hidden])")
    assert "PDR-1-520300-" in registrar.inner_text("#confirm-words")  # the draft's next code, shown before signing
    sign_and_wait(registrar, "CODED")
    clerk.reload()
    change = f"#my-registrations tr[data-registration='{reg}'] button"
    clerk.wait_for_selector(change)
    clerk.locator(change, has_text="Change").click()
    clerk.wait_for_selector("#application-reason")
    assert clerk.input_value("#f-fields-name") == TYPED["name"]  # the form holds the registered fields
    clerk.fill("#application-reason", "更新频率调整为每周")
    clerk.select_option("#f-fields-update_frequency", '"每周"')
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_selector("#confirm:not([hidden])")
    assert "变更申请" in clerk.inner_text("#confirm-words")
    sign_and_wait(clerk, "SUBMITTED")
    state = httpx.get(f"{url}/v1/registrations/{reg}", trust_env=False).json()
    assert state["reg_type"] == "change" and state["pending"]["update_frequency"] == "每周"

    # -- the exported log holds the objection's hash, not its text or contact -----------------------------------
    out_dir = d / "exported"
    run("log", "export", str(out_dir), "--home", str(served["home"]))
    blob = b"".join(p.read_bytes() for p in out_dir.rglob("*") if p.is_file())
    assert digest.encode() in blob
    for needle in (OBJECTION_TEXT, OBJECTION_CONTACT):
        assert needle.encode() not in blob and needle.encode("unicode_escape") not in blob
    assert errors == []  # no script error in either desk
    for ctx in (registrar_ctx, clerk_ctx, citizen_ctx):
        ctx.close()


def test_the_admin_and_authority_desks(served, browser, capsys: pytest.CaptureFixture[str]):  # noqa: F811
    """The administrator imports the home's admin key into the desk and registers an authority key made in
    another browser; the authority revokes a registration from the desk (a refusal first, beside the field);
    the administrator revokes the authority's key, and the authority's desk then shows it revoked."""
    url, d, home = served["url"], served["dir"], served["home"]
    shot = Shots(capsys)
    clerk_file = d / "clerk-2.key"
    clerk_vkey = run("key", "new", "--name", "clerk-desk-2", "--out", str(clerk_file)).strip().splitlines()[-1]
    run("key", "register", "--vkey", clerk_vkey, "--role", "registrant", "--institution", HOLDER,
        key=served["admin"], server=url)  # fmt: skip
    app = d / "application-2.json"
    app.write_text(json.dumps(application(HOLDER), ensure_ascii=False))
    run("apply", str(app), "--id", "zunyi-desk-revoked", key=clerk_file, server=url)

    admin_name = json.loads((home / "config.json").read_text())["admin_name"]
    admin_vkey = load_signer(served["admin"], admin_name, PASSPHRASE.encode()).verifier().vkey()  # as FILE.pub holds
    admin_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_ctx.new_page()
    admin.goto(url + "/desk")
    admin.wait_for_selector("#key-none:not([hidden])")
    admin.set_input_files("#import-key-file", str(served["admin"]))
    admin.fill("#import-key-vkey", admin_vkey)
    admin.fill("#import-key-passphrase", PASSPHRASE)
    admin.click("#import-key-form button[type=submit]")
    admin.wait_for_selector("#key-role[data-role=admin]")
    admin.wait_for_selector("#register-key-form")
    every_field_has_a_label(admin)

    authority_ctx = browser.new_context(viewport={"width": 390, "height": 844})
    authority = authority_ctx.new_page()
    authority.goto(url + "/desk")
    authority.fill("#create-key-name", "authority-desk@520000")
    authority.click("#create-key-form button[type=submit]")
    authority.wait_for_selector("#key-status[data-state=unregistered]")
    vkey = authority.inner_text("#key-vkey")

    admin.fill("#register-vkey", vkey)
    admin.select_option("#register-role", "authority")
    admin.fill("#register-region", "520000")
    admin.click("#register-key-form button[type=submit]")
    admin.wait_for_selector("#confirm:not([hidden])")
    assert "登记密钥" in admin.inner_text("#confirm-words") and "authority-desk@520000" in admin.inner_text("#confirm")
    shot(admin, "admin-register-confirm")
    sign_and_wait(admin)
    shot(admin, "admin-registered")

    authority.click("#key-refresh")
    authority.wait_for_selector("#key-role[data-role=authority]")
    every_field_has_a_label(authority)
    authority.fill("#free-revoke-subject", "no-such-registration")
    authority.fill("form[data-kind='registration.revoke'] textarea", "虚假登记")
    authority.click("form[data-kind='registration.revoke'] button[type=submit]")
    authority.wait_for_selector("form[data-kind='registration.revoke'] .form-error .error")
    shot(authority, "authority-refused-390", mobile=True)
    authority.fill("#free-revoke-subject", "zunyi-desk-revoked")
    authority.click("form[data-kind='registration.revoke'] button[type=submit]")
    authority.wait_for_selector("#confirm:not([hidden])")
    assert "撤销" in authority.inner_text("#confirm-words")
    assert sign_and_wait(authority, "REVOKED") > 0
    shot(authority, "authority-revoked-390", mobile=True)

    authority_id = authority.inner_text("#key-id")
    admin.fill("#revoke-key-id", authority_id)
    admin.fill("#revoke-key-reason", "岗位调整")
    admin.click("#revoke-key-form button[type=submit]")
    admin.wait_for_selector("#confirm:not([hidden])")
    sign_and_wait(admin)
    authority.click("#key-refresh")
    authority.wait_for_selector("#key-status[data-state=revoked]")
    assert authority.is_hidden("#work")
    for ctx in (admin_ctx, authority_ctx):
        ctx.close()


def test_the_desk_computes_the_uscc_check_character_as_registry_uscc(served, browser):  # noqa: F811
    """uscc.js against the vectors of tests/test_uscc.py and, exhaustively, every single-character substitution
    of one of them (each must change the check character, as in registry/uscc.py)."""
    from test_uscc import VALID

    page = browser.new_page()
    try:
        page.goto(f"{served['url']}/desk")
        page.wait_for_function("typeof globalThis.usccCheckChar === 'function'")
        check = "cs => cs.map(c => globalThis.usccCheckChar(c))"
        assert page.evaluate(check, [c[:17] for c in VALID]) == [c[17] for c in VALID]
        code = VALID[0]
        variants = [code[:p] + c + code[p + 1 : 17] for p in range(17) for c in CHARSET if c != code[p]]
        assert page.evaluate(check, variants) == [uscc_check_char(v) for v in variants]
        assert all(ch != code[17] for ch in page.evaluate(check, variants))
        assert page.evaluate(check, ["91110000600037341", "9111000060003IOZS", "12345", "91110000600037341l"]) == [
            "L",
            None,
            None,
            None,
        ]
    finally:
        page.close()


def test_the_registrant_resubmits_corrects_and_cancels(served, browser, capsys):  # noqa: F811
    """Registrations brought to SUPPLEMENT_REQUIRED and CODED with the CLI; the registrant then resubmits one,
    asks for a correction of another and the cancellation of a third, each from the desk."""
    url, d = served["url"], served["dir"]
    shot = Shots(capsys)
    clerk_file, registrar_file = d / "clerk-3.key", d / "registrar-3.key"
    clerk_vkey = run("key", "new", "--name", "clerk-desk-3", "--out", str(clerk_file)).strip().splitlines()[-1]
    reg_vkey = run("key", "new", "--name", "registrar-desk-3", "--out", str(registrar_file)).strip().splitlines()[-1]
    run("key", "register", "--vkey", clerk_vkey, "--role", "registrant", "--institution", HOLDER,
        key=served["admin"], server=url)  # fmt: skip
    run("key", "register", "--vkey", reg_vkey, "--role", "registrar", "--region", "520300",
        key=served["admin"], server=url)  # fmt: skip
    app = d / "application-3.json"
    app.write_text(json.dumps(application(HOLDER), ensure_ascii=False))

    def step(reg: str, kind: str, *fields: str) -> None:
        run("step", reg, kind, *(a for f in fields for a in ("--field", f)), key=registrar_file, server=url)

    resubmit, correct, cancel = "desk-resubmit", "desk-correct", "desk-cancel"
    for reg in (resubmit, correct, cancel):
        run("apply", str(app), "--id", reg, key=clerk_file, server=url)
    step(resubmit, "supplement", 'items=["数据样例（前100行）"]')
    for reg in (correct, cancel):
        step(reg, "accept")
        step(reg, "publish")
    served["clock"].write_text(str(float(served["clock"].read_text()) + 30 * 86400))  # the publicity period ends
    for reg in (correct, cancel):
        step(reg, "code")

    def state(reg: str) -> dict[str, Any]:
        return httpx.get(f"{url}/v1/registrations/{reg}", trust_env=False).json()

    assert [state(r)["status"] for r in (resubmit, correct, cancel)] == ["SUPPLEMENT_REQUIRED", "CODED", "CODED"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    clerk = ctx.new_page()
    errors: list[str] = []
    clerk.on("pageerror", lambda e: errors.append(str(e)))
    clerk.goto(url + "/desk")
    clerk.wait_for_selector("#key-none:not([hidden])")
    clerk.set_input_files("#import-key-file", str(clerk_file))
    clerk.fill("#import-key-vkey", clerk_vkey)
    clerk.fill("#import-key-passphrase", PASSPHRASE)
    clerk.click("#import-key-form button[type=submit]")
    clerk.wait_for_selector("#key-role[data-role=registrant]")

    def row(reg: str) -> str:
        return f"#my-registrations tr[data-registration='{reg}']"

    # -- resubmission after the supplement request: the form holds the fields sent before -----------------------
    clerk.wait_for_selector(f"{row(resubmit)} button")
    clerk.locator(f"{row(resubmit)} button", has_text="Resubmit").click()
    clerk.wait_for_function(
        "() => document.querySelector('#f-fields-name') && document.querySelector('#f-fields-name').value"
    )
    assert clerk.input_value("#f-fields-name") == TYPED["name"]
    clerk.fill("#f-fields-records", "5200")
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_selector("#confirm:not([hidden])")
    assert resubmit in clerk.inner_text("#confirm-words")
    shot(clerk, "registrant-resubmit-confirm")
    sign_and_wait(clerk, "SUBMITTED")
    assert state(resubmit)["fields"]["records"] == 5200

    # -- a correction of a coded registration: the registered fields, a changed one and a reason ---------------
    clerk.reload()
    clerk.wait_for_selector(f"{row(correct)} button")
    clerk.locator(f"{row(correct)} button", has_text="Correct").click()
    clerk.wait_for_selector("#application-reason")
    assert clerk.input_value("#f-fields-name") == TYPED["name"]
    clerk.fill("#f-fields-records", "5001")
    clerk.fill("#application-reason", "记录数登记有误，更正为5001")
    clerk.click("#application-form button[type=submit]")
    clerk.wait_for_selector("#confirm:not([hidden])")
    assert "更正" in clerk.inner_text("#confirm-words")
    shot(clerk, "registrant-correction-confirm")
    sign_and_wait(clerk, "SUBMITTED")
    corrected = state(correct)
    assert corrected["reg_type"] == "correction" and corrected["pending"]["records"] == 5001

    # -- a cancellation: only a reason --------------------------------------------------------------------------
    clerk.reload()
    clerk.wait_for_selector(f"{row(cancel)} details summary")
    clerk.click(f"{row(cancel)} details summary")
    clerk.fill(f"{row(cancel)} details textarea", "该数据资源已停止维护")
    clerk.click(f"{row(cancel)} details button[type=submit]")
    clerk.wait_for_selector("#confirm:not([hidden])")
    assert "注销" in clerk.inner_text("#confirm-words") and cancel in clerk.inner_text("#confirm-words")
    shot(clerk, "registrant-cancel-confirm")
    sign_and_wait(clerk, "SUBMITTED")
    cancelled = state(cancel)
    assert cancelled["reg_type"] == "cancellation" and cancelled["history"][-1]["reason"] == "该数据资源已停止维护"
    shot(clerk, "registrant-cancel-receipt")
    assert errors == []
    ctx.close()
