"""遵义 over HTTP: a county of 遵义 applies through the published workflow, and the table is amended by a
signed `regions.load` (admin only, field errors as RFC 9457 problems)."""

from __future__ import annotations

import uuid

from regledger.demo_registry import Party, _resource, sample_uscc
from regledger.keys.ed25519 import Ed25519Signer

pytest_plugins = ["apitest_fixtures"]

HONGHUAGANG = Party(
    "遵义市红花岗区大数据发展中心（样例）", sample_uscc("12", "520302", "MB000201"), "持有单位", "520302"
)


def _zunyi_clerks(api, home_admin):
    tag = uuid.uuid4().hex[:8]
    holder = Ed25519Signer.generate(f"zunyi-holder-{tag}@{api.origin}")
    registrar = Ed25519Signer.generate(f"zunyi-registrar-{tag}@{api.origin}")
    api.ok(api.register_key(home_admin, holder, "registrant", {"institution": HONGHUAGANG.uscc}))
    api.ok(api.register_key(home_admin, registrar, "registrar", {"region": "520300"}))  # 遵义市's registrar
    return holder, registrar


def test_a_zunyi_county_applies_is_accepted_and_published(api, home_admin):
    holder, registrar = _zunyi_clerks(api, home_admin)
    reg = api.new_id("zunyi")
    fields = _resource("红花岗区城市管理数据", HONGHUAGANG, "520302", industry_code="N78")
    applied = api.ok(api.step(holder, "registration.apply", reg, {"subject_kind": "resource", "fields": fields}))
    assert applied["state"]["region"] == "520302"
    api.ok(api.step(registrar, "registration.accept", reg))
    published = api.ok(api.step(registrar, "registration.publish", reg))
    assert published["state"]["status"] == "PUBLICITY"
    page = api.client.get(f"/registrations/{reg}").text
    assert "贵州省 遵义市 红花岗区" in page and "公共设施管理业" in page


def test_an_unknown_county_or_industry_is_422_with_the_field(api, home_admin):
    holder, _ = _zunyi_clerks(api, home_admin)
    fields = _resource("不存在的区县数据", HONGHUAGANG, "520399")
    r = api.post(
        api.step(holder, "registration.apply", api.new_id("zunyi"), {"subject_kind": "resource", "fields": fields})
    )
    api.problem(r, 422, "/payload/fields/region", detail_has="unknown region code 520399")
    fields = _resource("行业代码错误的数据", HONGHUAGANG, "520302", industry_code="不存在")
    r = api.post(
        api.step(holder, "registration.apply", api.new_id("zunyi"), {"subject_kind": "resource", "fields": fields})
    )
    api.problem(r, 422, "/payload/fields/industry_code", detail_has="GB/T 4754-2017")


def test_regions_load_over_http(api, home_admin):
    holder, registrar = _zunyi_clerks(api, home_admin)
    record = {"code": "520398", "name": "遵义测试新区", "level": "county", "valid_from": "2026-01-01", "valid_to": None}
    payload = {"version": f"api-{uuid.uuid4().hex[:6]}", "source": "民政部 变更公告（测试）", "records": [record]}
    api.problem(api.post(api.statement(registrar, "regions.load", "regions", payload)), 403)
    api.problem(
        api.post(
            api.statement(home_admin, "regions.load", "regions", {**payload, "records": [{**record, "level": "town"}]})
        ),
        422,
        "/payload/records/0/level",
    )
    api.ok(api.statement(home_admin, "regions.load", "regions", payload))
    fields = _resource("遵义测试新区数据", HONGHUAGANG, "520398")
    applied = api.ok(
        api.step(holder, "registration.apply", api.new_id("zunyi"), {"subject_kind": "resource", "fields": fields})
    )
    assert applied["state"]["region"] == "520398"
