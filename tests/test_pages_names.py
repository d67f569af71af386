"""Names, not codes, on the public pages: region, industry and institution names beside their codes, enums
and signer roles in Chinese first, and a change's history row showing field, old → new.

Uses the demo ledger and the live server of tests/test_pages.py; the last test reads the labels in Chromium.
"""

from __future__ import annotations

import re
from html import unescape

import httpx

from regledger.api.display import Names
from tests.test_pages import base_url, browser, client, demo_ledger  # noqa: F401  (fixtures)
from tests.test_reference_regions import NEW_COUNTY, load, world


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_registration_page_names_every_code(client: httpx.Client):  # noqa: F811
    page = _text(client.get("/registrations/gy-medical").text)
    assert "行政区划 Region 贵州省 贵阳市 520100" in page
    assert "行业代码 Industry code 专业技术服务业 M74" in page
    assert "访问方式 Access method 授权运营 authorised operation authorized_operation" in page
    assert "登记机构 registrar" in page and "登记主体 registrant" in page  # signer roles, Chinese first


def test_names_come_from_the_table_in_force_when_a_page_is_rendered():
    """Each page makes its own Names (api/pages.py) from the table stored now: nothing is cached from an
    earlier page or frozen at a date, so a regions.load shows on the next page."""
    w = world()
    assert Names(w.store).region("520399") == ""
    load(w, {"version": "2026-12-test", "source": "民政部 变更公告（测试）", "records": [NEW_COUNTY]})
    assert Names(w.store).region("520399") == "贵州省 遵义市 新蒲新区（测试）"


def test_a_change_row_shows_field_old_and_new(client: httpx.Client):  # noqa: F811
    html = client.get("/registrations/gy-medical").text
    rows = html.split('<tr data-index="')[1:]  # one piece per history row (rows nest a table of changes)
    change = [r for r in rows if "registration.change" in r]
    assert len(change) == 1 and change[0].count('<tr class="change">') == 1
    assert "更新频率 Update frequency 每日 → 每周" in _text(change[0])
    assert not any('<tr class="change">' in r for r in rows if "registration.change" not in r)


def test_list_shows_the_registrant_name_beside_its_uscc(client: httpx.Client):  # noqa: F811
    state = client.get("/v1/registrations/gy-medical").json()
    page = _text(client.get("/cancelled").text)
    assert f"{state['fields']['holder']['name']} {state['fields']['holder']['uscc']}" in page
    assert "贵州省 贵阳市 520100" in page


def test_product_page_names_the_operator(client: httpx.Client):  # noqa: F811
    state = client.get("/v1/registrations/gz-weather-api").json()
    operator = client.get("/v1/registrations/gz-operator-inst").json()["fields"]["holder"]
    assert state["fields"]["operator_uscc"] == operator["uscc"]
    assert f"{operator['name']} {operator['uscc']}" in _text(client.get("/registrations/gz-weather-api").text)


def test_chinese_labels_in_chromium(browser, base_url: str):  # noqa: F811
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/registrations/gy-medical")
        summary = page.locator("dl.fields.summary")
        assert "贵州省 贵阳市" in summary.inner_text() and "已注销" in summary.inner_text()
        particulars = page.locator("dl.fields").nth(1).inner_text()
        for label in ("行业代码", "专业技术服务业", "访问方式", "授权运营", "登记主体", "贵阳市医疗保障局"):
            assert label in particulars, label
        change = page.locator("table.history tr.change")
        assert change.count() == 1
        assert re.fullmatch(r"更新频率\s+Update frequency\s+每日 → 每周", change.inner_text().strip()), (
            change.inner_text()
        )
        roles = page.locator("table.history tbody > tr > td:nth-child(3)").all_inner_texts()
        assert any(r.startswith("登记机构") for r in roles) and any(r.startswith("登记主体") for r in roles)
    finally:
        context.close()
