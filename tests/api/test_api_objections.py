"""Objections from anyone (issue 15): POST /v1/registrations/{id}/objections and the publicity page's form,
over real HTTP on the session's `regledger serve` process (and, for the limits, on a home of their own)."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import uuid

import httpx
import pytest
from conftest import append_test_calendars
from test_pages import browser  # noqa: F401  (the Chromium fixture: Debian's chromium through playwright)

from regledger.demo_registry import GZ_HOLDER, _resource
from regledger.home import Home
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.checkpoint import open_receipt
from regledger.ledger.entry import canonical_json, sign_statement, utc_now
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.tiles import TILE_WIDTH, decode_entry_bundle, entry_bundle_path
from regledger.registry.calendar import stored_calendar
from regledger.registry.client import make_step

pytest_plugins = ["apitest_fixtures"]

TEXT = "该数据资源的内容简介与实际不符，异议人张三丰-测试"
CONTACT = "zhangsanfeng.objector@example.cn 13800138000"


def in_publicity(api, clerks, prefix: str = "obj") -> str:
    """A fresh Guizhou registration driven to PUBLICITY over HTTP by the session's clerks."""
    reg = api.new_id(prefix)
    api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource(f"异议测试数据{reg[-6:]}")))
    api.ok(api.step(clerks.gz_registrar, "registration.accept", reg))
    body = api.ok(api.step(clerks.gz_registrar, "registration.publish", reg))
    assert body["state"]["status"] == "PUBLICITY"
    return reg


def objections(reg: str) -> str:
    return f"/v1/registrations/{reg}/objections"


def exported_log(client, size: int) -> list[bytes]:
    """Every leaf of the log as a tlog-tiles client reads it (/log/tile/entries/…)."""
    leaves: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        r = client.get(f"/log/{entry_bundle_path(n, width)}")
        assert r.status_code == 200, r.text
        leaves += decode_entry_bundle(r.content)
    assert len(leaves) == size
    return leaves


def test_anyone_lodges_an_objection_and_the_log_holds_only_its_hash(api, clerks, client, home):
    reg = in_publicity(api, clerks)
    attachment = hashlib.sha256(b"scan of the evidence").hexdigest()
    r = client.post(objections(reg), json={"text": f"  {TEXT}\n", "contact": CONTACT, "attachment_sha256": attachment})
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"registration", "index", "time", "document_sha256", "document", "receipt"}
    doc = body["document"]
    assert doc["registration"] == reg and doc["text"] == TEXT and doc["contact"] == CONTACT
    assert doc["attachment_sha256"] == attachment and doc["received_at"] and re.fullmatch(r"[0-9a-f]{32}", doc["salt"])
    # the objector can prove what they lodged: the document's RFC 8785 hash is the entry's
    digest = hashlib.sha256(canonical_json(doc)).hexdigest()
    assert body["document_sha256"] == digest
    entry = client.get(f"/v1/entries/{body['index']}").json()
    st = entry["entry"]["statement"]
    assert st["kind"] == "registration.objection_received" and st["subject"] == reg
    assert st["payload"] == {"document_sha256": digest}
    receipt = open_receipt(body["receipt"].encode(), api.verifier)  # signed by the log
    assert receipt.index == body["index"] and receipt.leaf_hash == leaf_hash(api.b64d(entry["leaf"]))
    # signed by the instance's intake key, registered by its administrator on this first use
    key = client.get(f"/v1/keys/{st['key']}").json()
    assert key["role"] == "intake" and key["name"] == f"intake@{api.origin}" and key["scope"] == {}
    assert (home.path / "keys" / "intake.pem").exists()
    # the registration stays in publicity; its public history shows the hash, not the objector
    state = client.get(f"/v1/registrations/{reg}").json()
    assert state["status"] == "PUBLICITY"
    page = client.get(f"/registrations/{reg}").text
    assert "收到公众异议" in page and digest in page and TEXT not in page and CONTACT not in page
    # the document is kept outside the log, readable by the instance only
    kept = home.path / "objections" / reg / f"{digest}.json"
    assert kept.read_bytes() == canonical_json(doc) and os.stat(kept).st_mode & 0o077 == 0
    # neither the text nor the contact, nor any part of them, is anywhere in the exported log
    size = api.wait_integrated(body["index"])
    leaves = exported_log(client, size)
    assert any(digest.encode() in leaf for leaf in leaves)
    for needle in (TEXT, CONTACT, "张三丰", "13800138000", "zhangsanfeng"):
        for encoded in (needle.encode(), json.dumps(needle).encode()):  # raw UTF-8 and \u-escaped
            assert not any(encoded in leaf for leaf in leaves), needle
    assert not any(
        needle.encode() in p.read_bytes() for p in home.path.glob("ledger.sqlite*") for needle in (TEXT, CONTACT)
    )


def test_a_second_objection_gets_its_own_entry_and_document(api, clerks, client):
    reg = in_publicity(api, clerks)
    a = client.post(objections(reg), json={"text": TEXT}).json()
    b = client.post(objections(reg), json={"text": TEXT}).json()
    assert a["index"] != b["index"] and a["document_sha256"] != b["document_sha256"]  # the salt differs
    assert "contact" not in a["document"] and "attachment_sha256" not in a["document"]


def test_objections_are_taken_only_in_publicity(api, clerks, client, home):
    reg = api.new_id("obj-submitted")
    api.ok(api.step(clerks.gz_holder, "registration.apply", reg, api.gz_resource("未公示的数据")))
    size = api.settle()[0]
    r = client.post(objections(reg), json={"text": TEXT})
    api.problem(r, 409, None, detail_has="only while a registration is in publicity")
    api.problem(client.post(objections("no-such-registration"), json={"text": TEXT}), 404)
    assert api.settle()[0] == size  # nothing was written
    assert not (home.path / "objections" / reg).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "/text"),
        ({"text": "   "}, "/text"),
        ({"text": 12}, "/text"),
        ({"text": "x" * 5001}, "/text"),
        ({"text": TEXT, "contact": "c" * 201}, "/contact"),
        ({"text": TEXT, "contact": ["a"]}, "/contact"),
        ({"text": TEXT, "attachment_sha256": "abc"}, "/attachment_sha256"),
        ({"text": TEXT, "name": "张三"}, "/name"),
    ],
    ids=["no-text", "blank", "number", "too-long", "long-contact", "contact-list", "bad-hash", "unknown-member"],
)
def test_a_malformed_objection_is_a_problem_naming_its_field(api, clerks, client, body, field):
    reg = in_publicity(api, clerks, "obj-bad")
    api.problem(client.post(objections(reg), json=body), 422, field)
    r = client.post(objections(reg), content=b"not json", headers={"content-type": "application/json"})
    api.problem(r, 422)
    last = client.get(f"/v1/registrations/{reg}/history").json()["steps"][-1]
    assert last["entry"]["statement"]["kind"] == "registration.publish"


def test_the_publicity_page_has_a_form_that_works_without_javascript(api, clerks, client, home):
    reg = in_publicity(api, clerks, "obj-form")
    page = client.get(f"/registrations/{reg}").text
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form and form[1] == f"/registrations/{reg}/objections"
    assert page.index("提出异议") < page.index("Lodge an objection")  # Chinese first
    for name, ident in (
        ("text", "objection-text"),
        ("contact", "objection-contact"),
        ("attachment_sha256", "objection-attachment"),
    ):
        assert f'name="{name}"' in form[2] and f'<label for="{ident}">' in form[2] and f'id="{ident}"' in form[2]
    r = client.post(form[1], data={"text": TEXT, "contact": CONTACT, "attachment_sha256": ""})
    assert r.status_code == 202 and r.headers["content-type"].startswith("text/html")
    assert "异议已受理" in r.text and "Objection received" in r.text
    digest = re.search(r'<code id="document-sha256">([0-9a-f]{64})</code>', r.text)[1]
    document = re.search(r'<pre class="note" id="objection-document">(.*?)</pre>', r.text, re.S)[1]
    assert hashlib.sha256(html.unescape(document).encode()).hexdigest() == digest
    receipt = html.unescape(re.search(r'<pre class="note" id="objection-receipt">(.*?)</pre>', r.text, re.S)[1])
    assert (
        open_receipt(receipt.encode(), api.verifier).index
        == client.get(f"/v1/registrations/{reg}/history").json()["steps"][-1]["index"]
    )
    assert (home.path / "objections" / reg / f"{digest}.json").exists()
    # a refusal is a page that says why, naming the field
    r = client.post(form[1], data={"text": "  "})
    assert r.status_code == 422 and "/text" in r.text and "异议内容有误" in r.text
    # a registration out of publicity has no form, and a forged post is refused
    other = api.new_id("obj-form-submitted")
    api.ok(api.step(clerks.gz_holder, "registration.apply", other, api.gz_resource("无表单的数据")))
    assert "<form" not in client.get(f"/registrations/{other}").text
    r = client.post(f"/registrations/{other}/objections", data={"text": TEXT})
    assert r.status_code == 409 and "现在不能提出异议" in r.text


# -- limits, on a home of their own (the session server keeps the default limits) ------------------------------

ORIGIN = "api-objections.regledger.example/1"


@pytest.fixture(scope="module")
def limits_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, str]:
    """A home with one Guizhou registration in publicity, built directly on its ledger."""
    home = Home(tmp_path_factory.mktemp("objections") / "home")
    home.init(ORIGIN, say=lambda _: None).store.close()
    ledger = home.open()  # with the register's rules, which init's bare ledger does not apply
    admin = home.admin()
    append_test_calendars(ledger, admin)
    holder, registrar = Ed25519Signer.generate("holder@t"), Ed25519Signer.generate("registrar@t")
    ledger.append(register_key_statement(admin, holder, "registrant", {"institution": GZ_HOLDER.uscc}))
    ledger.append(register_key_statement(admin, registrar, "registrar", {"region": "520000"}))
    reg = "limits-" + uuid.uuid4().hex[:6]
    payload = {"subject_kind": "resource", "fields": _resource("限额测试数据", GZ_HOLDER, "520000")}
    for signer, kind, p in (
        (holder, "registration.apply", payload),
        (registrar, "registration.accept", None),
        (registrar, "registration.publish", None),
    ):
        st = make_step(signer, kind, reg, p, time=utc_now(), calendar=stored_calendar(ledger.store))
        ledger.append(sign_statement(signer, kind=st.kind, subject=st.subject, payload=st.payload, time=st.time))
    ledger.integrate()
    ledger.store.close()
    return home, reg


def test_objections_over_the_rate_are_429_and_sizes_follow_the_settings(limits_home, serve_home, api):
    home, reg = limits_home
    env = {"REGLEDGER_OBJECTIONS_PER_MINUTE": "2", "REGLEDGER_OBJECTION_MAX_CHARS": "40"}
    srv = serve_home(home.path, env=env)
    with httpx.Client(base_url=srv.url, timeout=30, trust_env=False) as c:
        api.problem(c.post(objections(reg), json={"text": "长" * 41}), 422, "/text", detail_has="at most 40")
        assert [c.post(objections(reg), json={"text": "长" * 40}).status_code for _ in range(2)] == [202, 202]
        r = c.post(objections(reg), json={"text": "第三条"})
        api.problem(r, 429, None, detail_has="2 objections a minute")
        assert int(r.headers["Retry-After"]) >= 1
    assert len(list((home.path / "objections" / reg).glob("*.json"))) == 2


# -- the form in real Chromium: without JavaScript, and with the keyboard alone ----------------------------------


def test_the_form_in_chromium_without_javascript_and_by_keyboard(api, clerks, server, browser, capsys):  # noqa: F811
    from test_pages import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: (ARTIFACTS / f"objection-{name}.png").resolve() for name in ("form", "receipt", "keyboard")}
    reg = in_publicity(api, clerks, "obj-chromium")
    context = browser.new_context(java_script_enabled=False, locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/registrations/{reg}")
        page.get_by_label("异议内容").fill(TEXT)  # every field is found by its label
        page.get_by_label("联系方式").fill(CONTACT)
        page.locator("#objection").screenshot(path=str(shots["form"]))
        page.get_by_role("button", name="提出异议 / Lodge an objection").click()
        assert page.locator("h1").inner_text().startswith("异议已受理")
        digest = page.locator("#document-sha256").inner_text()
        page.screenshot(path=str(shots["receipt"]), full_page=True)
    finally:
        context.close()
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{server.url}/registrations/{reg}")
        for _ in range(200):  # Tab through the page until the objection's text has the focus
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "objection-text":
                break
        else:
            raise AssertionError("the objection's text cannot be reached with Tab")
        page.keyboard.type("键盘提交的异议")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "objection-contact"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "objection-attachment"
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # on the submit button
        page.wait_for_selector("#document-sha256")
        assert page.locator("#document-sha256").inner_text() != digest
        page.screenshot(path=str(shots["keyboard"]), full_page=True)
    finally:
        context.close()
    history = api.client.get(f"/v1/registrations/{reg}").json()["history"]
    assert [h["kind"] for h in history[-2:]] == ["registration.objection_received"] * 2
    with capsys.disabled():
        for name, path in shots.items():
            print(f"\n[test_api_objections] screenshot ({name}): {path}", end="")
        print()
