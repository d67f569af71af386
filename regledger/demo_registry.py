"""The demo's registrations: a few provinces' resources, products and institutions taken through
the whole workflow (with a supplement request, objections, a refusal, a change, a cancellation and a
revocation), on a simulated clock so that 10-working-day publicity periods pass in seconds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import format_time
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.registry.calendar import stored_calendar
from regledger.registry.client import make_step, next_code
from regledger.registry.state import registration_key
from regledger.registry.uscc import org_code_check_char, uscc_check_char

__all__ = ["SimClock", "register_demo_set", "sample_uscc"]


def sample_uscc(category: str, region: str, org8: str) -> str:
    """A well-formed USCC (both check characters computed) for demo parties; not a real organisation."""
    body = category + region + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


class SimClock:
    """The log's clock in the demo: starts on a Monday morning in China and moves when told."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> str:
        self.t += timedelta(seconds=1)
        return format_time(self.t)

    def advance(self, days: int) -> None:
        self.t += timedelta(days=days)


@dataclass
class Party:
    name: str
    uscc: str
    category: str
    region: str

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "uscc": self.uscc, "category": self.category, "region": self.region}


GZ_HOLDER = Party("贵州省气象局（样例）", sample_uscc("11", "520000", "MB000001"), "持有单位", "520000")
GZ_MEDICAL = Party("贵阳市医疗保障局（样例）", sample_uscc("11", "520100", "MB000002"), "持有单位", "520100")
GZ_OPERATOR = Party("贵州数据运营有限公司（样例）", sample_uscc("91", "520000", "MA6H0003"), "运营机构", "520000")
ZJ_HOLDER = Party("杭州市公共交通集团（样例）", sample_uscc("91", "330100", "MA2C0004"), "公用企业", "330100")
ZY_HOLDER = Party("遵义市红花岗区大数据发展中心（样例）", sample_uscc("12", "520302", "MB000007"), "持有单位", "520302")


def _doc(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _resource(name: str, party: Party | Mapping[str, Any], region: str, **over: Any) -> dict[str, Any]:
    """A resource registration's fields, complete and valid (tests build theirs with it too); `over` replaces any."""
    f = {
        "name": name,
        "summary": f"{name}：样例数据资源，用于演示登记流程。",
        "holder": party.json() if isinstance(party, Party) else dict(party),
        "region": region,
        "commitment_sha256": _doc(f"登记承诺书 {name}"),
        "data_type": "结构化数据",
        "data_format": "CSV",
        "source": "业务系统",
        "records": 1_200_000,
        "update_frequency": "每日",
        "classification": {"category": "公共服务", "security_level": "一般数据"},
        "industry_code": "M74",
        "storage": {"location": "贵州省政务云", "method": "关系数据库"},
        "in_authorised_scope": True,
        "supply_mode": "授权运营",
        "access_method": "authorized_operation",
    }
    f.update(over)
    return f


def _application(name: str, party: Party, region: str, **over: Any) -> dict[str, Any]:
    """The payload of a registration.apply for a resource (`over`: fields to replace)."""
    return {"subject_kind": "resource", "fields": _resource(name, party, region, **over)}


def register_demo_set(
    ledger: Ledger, admin: Ed25519Signer, clock: SimClock, say: Callable[[str], None]
) -> dict[str, str]:
    """Run the demo registrations; returns {registration id: final status}."""
    k = {
        name: Ed25519Signer.generate(f"{name}@{ledger.origin}")
        for name in (
            "gz-holder",
            "gz-medical",
            "gz-operator",
            "zj-holder",
            "gz-registrar",
            "zj-registrar",
            "gz-authority",
            "objector",
            "zy-holder",
        )
    }
    ledger.append_batch(
        [
            register_key_statement(admin, k["gz-holder"], "registrant", {"institution": GZ_HOLDER.uscc}),
            register_key_statement(admin, k["gz-medical"], "registrant", {"institution": GZ_MEDICAL.uscc}),
            register_key_statement(admin, k["gz-operator"], "registrant", {"institution": GZ_OPERATOR.uscc}),
            register_key_statement(admin, k["zj-holder"], "registrant", {"institution": ZJ_HOLDER.uscc}),
            register_key_statement(admin, k["gz-registrar"], "registrar", {"region": "520000"}),
            register_key_statement(admin, k["zj-registrar"], "registrar", {"region": "330000"}),
            register_key_statement(admin, k["gz-authority"], "authority", {"region": "520000"}),
            register_key_statement(admin, k["objector"], "registrant", {"institution": ZJ_HOLDER.uscc}),
            register_key_statement(admin, k["zy-holder"], "registrant", {"institution": ZY_HOLDER.uscc}),
        ]
    )

    calendar = stored_calendar(ledger.store)  # the demo loads no notice while it runs

    def do(who: str, kind: str, reg: str, payload: dict[str, Any] | None = None) -> None:
        ledger.append(make_step(k[who], kind, reg, payload, time=clock(), calendar=calendar))

    def code(who: str, reg: str) -> str:
        t = clock()
        c = next_code(ledger.store, reg, time=t)
        ledger.append(make_step(k[who], "registration.code", reg, {"code": c}, time=t))
        return c

    def through_review(holder: str, registrar: str, reg: str, kind: str, payload: dict[str, Any]) -> None:
        do(holder, kind, reg, payload)
        clock.advance(1)
        do(registrar, "registration.accept", reg)
        clock.advance(2)
        do(registrar, "registration.publish", reg)

    said: dict[str, str] = {}
    # 1. a weather resource: apply, accept, review, 10 working days of publicity, code
    through_review(
        "gz-holder",
        "gz-registrar",
        "gz-weather",
        "registration.apply",
        _application("贵州省气象观测数据", GZ_HOLDER, "520000") | {"operation_started": "2026-02-24"},
    )
    clock.advance(16)
    weather = code("gz-registrar", "gz-weather")
    say(f"  registered 贵州省气象观测数据 as {weather}")
    # 2. medical insurance settlements: one-time supplement notice, resubmission, an objection dismissed
    medical_class = {"category": "医疗保障", "security_level": "重要数据"}

    def medical_fields(**over: Any) -> dict[str, Any]:  # as resubmitted and later corrected
        return _resource("贵阳市医疗保障结算数据", GZ_MEDICAL, "520100", classification=medical_class, **over)

    do("gz-medical", "registration.apply", "gy-medical", _application("贵阳市医疗保障结算数据", GZ_MEDICAL, "520100"))
    clock.advance(1)
    do("gz-registrar", "registration.supplement", "gy-medical", {"items": ["数据分类分级说明", "登记承诺书原件扫描件"]})
    clock.advance(2)
    do("gz-medical", "registration.resubmit", "gy-medical", {"fields": medical_fields()})
    clock.advance(1)
    do("gz-registrar", "registration.accept", "gy-medical")
    clock.advance(1)
    do("gz-registrar", "registration.publish", "gy-medical")
    clock.advance(3)
    do("objector", "registration.object", "gy-medical", {"reason": "数据内容简介与实际范围不符", "objector": "公众"})
    clock.advance(2)
    do("gz-registrar", "registration.decide", "gy-medical", {"upheld": False, "reason": "经核实，简介准确"})
    clock.advance(12)
    medical = code("gz-registrar", "gy-medical")
    say(f"  registered 贵阳市医疗保障结算数据 as {medical} (after a supplement notice and a dismissed objection)")
    # 3. the operator registers itself, then a product built on the weather resource
    auth = {
        "agreement_id": "GZ-SQYY-2026-001",
        "valid_from": "2026-01-01",
        "valid_to": "2030-12-31",
        "scope": "气象、医疗保障公共数据授权运营",
    }
    through_review(
        "gz-operator",
        "gz-registrar",
        "gz-operator-inst",
        "registration.apply",
        {
            "subject_kind": "institution",
            "fields": {
                "name": GZ_OPERATOR.name,
                "summary": "省级公共数据授权运营机构（样例）",
                "holder": GZ_OPERATOR.json(),
                "region": "520000",
                "role": "运营机构",
                "authorisation": auth,
                "commitment_sha256": _doc("运营机构承诺书"),
            },
        },
    )
    clock.advance(16)
    inst = code("gz-registrar", "gz-operator-inst")
    through_review(
        "gz-operator",
        "gz-registrar",
        "gz-weather-api",
        "registration.apply",
        {
            "subject_kind": "product",
            "fields": {
                "name": "农业气象风险预警接口",
                "summary": "基于气象观测数据的农业风险预警数据接口（样例）",
                "holder": GZ_OPERATOR.json(),
                "region": "520000",
                "commitment_sha256": _doc("产品承诺书"),
                "form": "数据接口",
                "source_codes": [weather],
                "scenarios": ["农业保险", "防灾减灾"],
                "public_welfare": False,
                "price_cap_ref": "黔发改价格〔2026〕样例号",
                "price": "0.05",
                "delivery": "API",
                "operator_uscc": GZ_OPERATOR.uscc,
                "authorisation": auth,
            },
        },
    )
    clock.advance(16)
    product = code("gz-registrar", "gz-weather-api")
    say(f"  registered operating institution {inst} and its product {product} (cites {weather})")
    # 4. Zhejiang: one refused at acceptance, one stopped by an upheld objection
    do("zj-holder", "registration.apply", "hz-bus-draft", _application("杭州公交客流数据（初稿）", ZJ_HOLDER, "330100"))
    clock.advance(1)
    do("zj-registrar", "registration.refuse", "hz-bus-draft", {"reason": "不属于本机构登记范围的材料格式"})
    through_review(
        "zj-holder",
        "zj-registrar",
        "hz-bus",
        "registration.apply",
        _application("杭州公交客流数据", ZJ_HOLDER, "330100"),
    )
    clock.advance(4)
    do("objector", "registration.object", "hz-bus", {"reason": "含未脱敏的个人出行信息"})
    clock.advance(2)
    do("zj-registrar", "registration.decide", "hz-bus", {"upheld": True, "reason": "异议成立，终止登记"})
    say("  refused one Zhejiang application at acceptance; stopped another by an upheld objection")
    # 5. a change to the medical resource, then its cancellation; a revocation by the authority
    do(
        "gz-medical",
        "registration.change",
        "gy-medical",
        {"reason": "更新频率调整", "fields": medical_fields(update_frequency="每周")},
    )
    clock.advance(1)
    do("gz-registrar", "registration.accept", "gy-medical")
    clock.advance(1)
    do("gz-registrar", "registration.publish", "gy-medical")
    clock.advance(16)
    code("gz-registrar", "gy-medical")
    do("gz-medical", "registration.cancel", "gy-medical", {"reason": "数据资源已停止提供"})
    clock.advance(1)
    do("gz-registrar", "registration.accept", "gy-medical")
    do("gz-registrar", "registration.publish", "gy-medical")
    code("gz-registrar", "gy-medical")
    say(f"  changed {medical} (new update frequency), then cancelled it (the code stays taken)")
    through_review(
        "gz-holder",
        "gz-registrar",
        "gz-radar",
        "registration.apply",
        _application("贵州省雷达回波数据", GZ_HOLDER, "520000"),
    )
    clock.advance(16)
    radar = code("gz-registrar", "gz-radar")
    do("gz-authority", "registration.revoke", "gz-radar", {"reason": "虚假登记：数据实际由其他单位持有"})
    say(f"  revoked {radar} (撤销 by the data authority)")
    # 6. a county of 遵义 (红花岗区, 520302), registered by the province's registrar
    through_review(
        "zy-holder",
        "gz-registrar",
        "zy-city-mgmt",
        "registration.apply",
        {
            "subject_kind": "resource",
            "fields": _resource("遵义市红花岗区城市管理数据", ZY_HOLDER, "520302", industry_code="N78"),
        },
    )
    clock.advance(16)
    zunyi = code("gz-registrar", "zy-city-mgmt")
    say(f"  registered 遵义市红花岗区城市管理数据 (红花岗区 520302) as {zunyi}")
    through_review(
        "gz-holder",
        "gz-registrar",
        "gz-hydrology",
        "registration.apply",
        _application("贵州省水文监测数据", GZ_HOLDER, "520000"),
    )
    say("  left 贵州省水文监测数据 in publicity (公示中), open for objections")
    for reg in (
        "gz-hydrology",
        "gz-weather",
        "gy-medical",
        "gz-operator-inst",
        "gz-weather-api",
        "hz-bus-draft",
        "hz-bus",
        "gz-radar",
        "zy-city-mgmt",
    ):
        st = ledger.store.get_state(registration_key(reg))
        assert st is not None, reg
        said[reg] = st.status
    return said


DEMO_START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 on Monday 2 March 2026, China time
