"""The registration workflow as the ledger enforces it (registry.workflow through RegistryPolicy).

Every step is a signed statement sequenced by a `Ledger(policy=RegistryPolicy())` on a simulated
log clock (SimClock), with statement times taken from the same clock, so working-day periods pass
by advancing calendar days.  Most tests use the in-memory store; a smoke subset (a realistic flow,
its rebuild and audit, disclosure) runs on every store.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from regledger.demo_registry import SimClock, _resource, sample_uscc
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.audit import AuditFailure, audit
from regledger.ledger.entry import format_time, sign_statement
from regledger.ledger.errors import MalformedError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.policy import replay
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import KeyRecord, MemoryStore, StateQuery
from regledger.registry.client import make_step, next_code
from regledger.registry.codes import check_query_code, make_code, parse_code
from regledger.registry.disclosure import annual_report, iter_registrations, overdue
from regledger.registry.policy import RegistryPolicy
from regledger.registry.regions import default_table
from regledger.registry.statusmap import RegistryStatusMap
from regledger.registry.workdays import BUILTIN_CALENDAR, add_working_days
from regledger.registry.workflow import (
    HANDLERS,
    KINDS,
    MAX_SKEW,
    NotPermittedError,
    Step,
    StepNotAllowedError,
    StepPayloadError,
    WorkflowConfig,
    query_code_for,
)
from regledger.sync.statusmap import CascadeStatusMap

ORIGIN = "test.regledger.example/1"
#: Monday 2 March 2026, 09:00 in China (01:00 UTC)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CHINA = timezone(timedelta(hours=8))


# -- parties, keys, fields ----------------------------------------------------------------------


def party(name: str, category: str, region: str, org8: str, cat2: str = "11") -> dict[str, str]:
    return {"name": name, "uscc": sample_uscc(cat2, region, org8), "category": category, "region": region}


HOLDER = party("贵州省气象局（测试）", "持有单位", "520000", "MB000001")
MEDICAL = party("贵阳市医疗保障局（测试）", "持有单位", "520100", "MB000002")
OPERATOR = party("贵州数据运营有限公司（测试）", "运营机构", "520000", "MA6H0003", "91")
ZJ_HOLDER = party("杭州市公共交通集团（测试）", "公用企业", "330100", "MA2C0004", "91")
AGENT = party("贵州登记代理服务有限公司（测试）", "开发利用机构", "520000", "MA6H0005", "91")
LULONG = party("卢龙县医疗保障局（测试）", "持有单位", "130324", "MB000006")

#: key name -> (role, scope)
KEYS: dict[str, tuple[str, dict[str, str]]] = {
    "holder": ("registrant", {"institution": HOLDER["uscc"]}),
    "medical": ("registrant", {"institution": MEDICAL["uscc"]}),
    "operator": ("registrant", {"institution": OPERATOR["uscc"]}),
    "zj-holder": ("registrant", {"institution": ZJ_HOLDER["uscc"]}),
    "agent": ("registrant", {"institution": AGENT["uscc"]}),
    "lulong": ("registrant", {"institution": LULONG["uscc"]}),
    "registrar": ("registrar", {"region": "520000"}),
    "gy-registrar": ("registrar", {"region": "520100"}),
    "zj-registrar": ("registrar", {"region": "330000"}),
    "hb-registrar": ("registrar", {"region": "130000"}),
    "authority": ("authority", {"region": "520000"}),
    "zj-authority": ("authority", {"region": "330000"}),
    "platform": ("platform", {}),
    "intake": ("intake", {}),
}
#: the role each step needs (the registrant steps here are for HOLDER's registrations)
ACTOR = {
    "registration.apply": "holder",
    "registration.change": "holder",
    "registration.correction": "holder",
    "registration.cancel": "holder",
    "registration.resubmit": "holder",
    "registration.object": "zj-holder",
    "registration.revoke": "authority",
    "registration.code_assigned": "platform",
    "registration.objection_received": "intake",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def resource_fields(
    name: str = "贵州省气象观测数据", holder: dict[str, str] = HOLDER, region: str | None = None, **over: Any
) -> dict[str, Any]:
    return _resource(name, holder, region or holder["region"], **{"summary": f"{name}：测试用数据资源。", **over})


AUTH = {
    "agreement_id": "GZ-SQYY-2026-001",
    "valid_from": "2026-01-01",
    "valid_to": "2030-12-31",
    "scope": "气象公共数据授权运营",
}


def product_fields(sources: list[str], name: str = "农业气象风险预警接口", **over: Any) -> dict[str, Any]:
    f = {
        "name": name,
        "summary": "基于气象观测数据的农业风险预警数据接口（测试）",
        "holder": dict(OPERATOR),
        "region": "520000",
        "commitment_sha256": sha("产品承诺书 " + name),
        "form": "数据接口",
        "source_codes": list(sources),
        "scenarios": ["农业保险"],
        "public_welfare": False,
        "price_cap_ref": "黔发改价格〔2026〕测试号",
        "price": "0.05",
        "delivery": "API",
        "operator_uscc": OPERATOR["uscc"],
        "authorisation": dict(AUTH),
    }
    f.update(over)
    return f


def institution_fields(**over: Any) -> dict[str, Any]:
    f = {
        "name": OPERATOR["name"],
        "summary": "省级公共数据授权运营机构（测试）",
        "holder": dict(OPERATOR),
        "region": "520000",
        "role": "运营机构",
        "authorisation": dict(AUTH),
        "commitment_sha256": sha("机构承诺书"),
    }
    f.update(over)
    return f


# -- a ledger with the register's policy on a simulated clock --------------------------------------


#: the states one step past another on the shortest legal path: target -> (from, signer, kind, payload)
ONE_STEP_FROM: dict[str, tuple[str, str, str, dict[str, Any] | None]] = {
    "SUPPLEMENT_REQUIRED": ("SUBMITTED", "registrar", "registration.supplement", {"items": ["数据分类分级说明"]}),
    "NOT_ACCEPTED": ("SUBMITTED", "registrar", "registration.refuse", {"reason": "材料不属于本机构受理范围"}),
    "FORMAL_REVIEW": ("SUBMITTED", "registrar", "registration.accept", None),
    "REVIEW_REJECTED": ("FORMAL_REVIEW", "registrar", "registration.reject", {"reason": "形式审核不通过"}),
    "PUBLICITY": ("FORMAL_REVIEW", "registrar", "registration.publish", None),
    "OBJECTION_UNDER_REVIEW": ("PUBLICITY", "zj-holder", "registration.object", {"reason": "简介与实际不符"}),
    "OBJECTION_UPHELD": (
        "OBJECTION_UNDER_REVIEW",
        "registrar",
        "registration.decide",
        {"upheld": True, "reason": "异议成立"},
    ),
    "REVOKED": ("CODED", "authority", "registration.revoke", {"reason": "虚假登记"}),
}


class World:
    """A ledger with RegistryPolicy, every key of KEYS registered, and a SimClock for log and statements."""

    def __init__(
        self,
        store=None,
        log_signer: Ed25519Signer | None = None,
        admin: Ed25519Signer | None = None,
        *,
        config: WorkflowConfig | None = None,
        start: datetime = START,
    ) -> None:
        self.store = store if store is not None else MemoryStore()
        self.log_signer = log_signer or Ed25519Signer.generate(ORIGIN)
        self.admin = admin or Ed25519Signer.generate("admin@test")
        self.config = config
        self.clock = SimClock(start)
        self.ledger = Ledger(
            self.store,
            origin=self.log_signer.name,
            log_signer=self.log_signer,
            policy=RegistryPolicy(config),
            status_map=CascadeStatusMap(self.log_signer.name, RegistryStatusMap()),
            clock=self.clock,
        )
        self.ledger.integrate()
        self.ledger.append(register_key_statement(self.admin, self.admin, "admin", time=self.clock()))
        self.keys: dict[str, Ed25519Signer] = {"admin": self.admin}
        batch = []
        for name, (role, scope) in KEYS.items():
            self.keys[name] = Ed25519Signer.generate(f"{name}@test")
            batch.append(register_key_statement(self.admin, self.keys[name], role, scope, time=self.clock()))
        self.ledger.append_batch(batch)
        self.ledger.integrate()

    # time
    def today(self) -> date:
        return self.clock.t.astimezone(CHINA).date()

    def advance(self, days: int) -> None:
        self.clock.advance(days)

    def advance_to(self, day: str | date) -> None:
        d = date.fromisoformat(day) if isinstance(day, str) else day
        assert d >= self.today()
        self.clock.advance((d - self.today()).days)

    # steps
    def step(self, who: str, kind: str, reg: str, payload: dict[str, Any] | None = None, *, time: str | None = None):
        """A step as a client makes it (due dates computed by registry.client.make_step)."""
        st = make_step(
            self.keys[who],
            kind,
            reg,
            payload,
            time=time or self.clock(),
            deadlines=self.config.deadlines if self.config else None,
        )
        return self.ledger.append(st).entry

    def raw(self, who: str, kind: str, reg: str, payload: dict[str, Any], *, time: str | None = None):
        """A step with exactly this payload (no due dates added)."""
        st = sign_statement(self.keys[who], kind=kind, subject=reg, payload=payload, time=time or self.clock())
        return self.ledger.append(st).entry

    def apply(
        self,
        reg: str,
        fields: dict[str, Any] | None = None,
        *,
        who: str = "holder",
        subject_kind: str = "resource",
        **extra: Any,
    ):
        return self.step(
            who,
            "registration.apply",
            reg,
            {"subject_kind": subject_kind, "fields": fields or resource_fields(), **extra},
        )

    def code(self, reg: str, who: str = "registrar") -> str:
        t = self.clock()
        c = next_code(self.store, reg, time=t)
        self.step(who, "registration.code", reg, {"code": c}, time=t)
        return c

    def past_publicity(self, reg: str) -> None:
        self.advance_to(date.fromisoformat(self.state(reg)["publicity_end"]) + timedelta(days=1))

    def register(
        self,
        reg: str,
        fields: dict[str, Any] | None = None,
        *,
        who: str = "holder",
        registrar: str = "registrar",
        subject_kind: str = "resource",
    ) -> str:
        """apply → accept → publish → (publicity) → code; returns the code."""
        self.apply(reg, fields, who=who, subject_kind=subject_kind)
        self.advance(1)
        self.step(registrar, "registration.accept", reg)
        self.step(registrar, "registration.publish", reg)
        self.past_publicity(reg)
        return self.code(reg, registrar)

    # reading
    def state(self, reg: str) -> dict[str, Any]:
        st = self.store.get_states([f"reg:{reg}"]).get(f"reg:{reg}")
        return None if st is None else dict(st.state)

    def status(self, reg: str) -> str | None:
        s = self.state(reg)
        return None if s is None else s["status"]

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        return self.store.head().size, {s.subject: s for s in self.store.iter_states()}

    def refused(self, exc_type: type[Exception], fn, *args, **kwargs) -> Exception:
        """Run a step that must be refused; checks that nothing was written."""
        before = self.snapshot()
        with pytest.raises(exc_type) as err:
            fn(*args, **kwargs)
        assert self.snapshot() == before, "a refused statement changed the ledger or the state cache"
        return err.value

    def drive(self, reg: str, target: str | None) -> None:
        """Take a new registration of HOLDER's to `target` by the shortest legal path."""
        if target is None:
            return
        r = "registrar"
        if target == "SUBMITTED":
            self.apply(reg)
        elif target in ONE_STEP_FROM:
            before, signer, kind, payload = ONE_STEP_FROM[target]
            self.drive(reg, before)
            self.step(signer, kind, reg, payload)
        elif target == "CODED":
            self.drive(reg, "PUBLICITY")
            self.past_publicity(reg)
            self.code(reg)
        elif target == "REVIEWED":  # a correction: no publicity by default
            self.drive(reg, "CODED")
            self.step(
                "holder",
                "registration.correction",
                reg,
                {"reason": "更正笔误", "fields": resource_fields(summary="更正后的简介")},
            )
            self.step(r, "registration.accept", reg)
            self.step(r, "registration.publish", reg)
        elif target == "CANCELLED":
            self.drive(reg, "CODED")
            self.step("holder", "registration.cancel", reg, {"reason": "停止提供"})
            self.step(r, "registration.accept", reg)
            self.step(r, "registration.publish", reg)
            self.code(reg)
        else:  # pragma: no cover
            raise AssertionError(target)
        assert self.status(reg) == target


STATES = [
    None,
    "SUBMITTED",
    "SUPPLEMENT_REQUIRED",
    "NOT_ACCEPTED",
    "FORMAL_REVIEW",
    "REVIEW_REJECTED",
    "PUBLICITY",
    "OBJECTION_UNDER_REVIEW",
    "OBJECTION_UPHELD",
    "REVIEWED",
    "CODED",
    "CANCELLED",
    "REVOKED",
]

#: the steps allowed from each state, written out from docs/registry.md (in KINDS order)
ALLOWED = {
    None: ["registration.apply"],
    "SUBMITTED": ["registration.supplement", "registration.refuse", "registration.accept", "registration.revoke"],
    "SUPPLEMENT_REQUIRED": ["registration.resubmit", "registration.revoke"],
    "NOT_ACCEPTED": [],
    "FORMAL_REVIEW": ["registration.reject", "registration.publish", "registration.revoke"],
    "REVIEW_REJECTED": [],
    "PUBLICITY": [
        "registration.object",
        "registration.objection_received",
        "registration.code",
        "registration.revoke",
    ],
    "OBJECTION_UNDER_REVIEW": ["registration.decide", "registration.revoke"],
    "OBJECTION_UPHELD": [],
    "REVIEWED": ["registration.code", "registration.revoke"],
    "CODED": [
        "registration.change",
        "registration.correction",
        "registration.cancel",
        "registration.revoke",
        "registration.code_assigned",
    ],
    "CANCELLED": ["registration.code_assigned"],
    "REVOKED": ["registration.code_assigned"],
}


def test_allowed_table_matches_kinds():
    for state in STATES:
        assert [k for k, (_, froms) in KINDS.items() if state in froms] == ALLOWED[state], state
    assert set(KINDS) == {k for steps in ALLOWED.values() for k in steps}


def _rid(state: str | None) -> str:
    return f"st-{(state or 'none').lower().replace('_', '-')}"


def _id(v: Any) -> str:
    return "none" if v is None else str(v)


# -- 1. every legal transition ---------------------------------------------------------------------


def _legal_payload(w: World, kind: str, reg: str) -> dict[str, Any]:
    if kind == "registration.apply":
        return {"subject_kind": "resource", "fields": resource_fields()}
    if kind == "registration.change":
        return {"reason": "更新频率调整", "fields": resource_fields(update_frequency="每周")}
    if kind == "registration.correction":
        return {"reason": "更正笔误", "fields": resource_fields(summary="更正后的简介")}
    if kind == "registration.resubmit":
        return {"fields": resource_fields(records=1_300_000)}
    if kind == "registration.supplement":
        return {"items": ["数据分类分级说明", "登记承诺书原件扫描件"]}
    if kind == "registration.decide":
        return {"upheld": False, "reason": "经核实，异议不成立"}
    if kind == "registration.code":
        return {"code": next_code(w.store, reg, time=format_time(w.clock.t))}
    if kind == "registration.code_assigned":
        return {"official_code": "1393264726771781632103"}
    if kind == "registration.objection_received":
        return {"document_sha256": sha("异议文件")}
    if kind == "registration.accept" or kind == "registration.publish":
        return {}
    return {"reason": "说明理由"}


#: (kind, from state) -> state after the step
LEGAL = {
    ("registration.apply", None): "SUBMITTED",
    ("registration.change", "CODED"): "SUBMITTED",
    ("registration.correction", "CODED"): "SUBMITTED",
    ("registration.cancel", "CODED"): "SUBMITTED",
    ("registration.supplement", "SUBMITTED"): "SUPPLEMENT_REQUIRED",
    ("registration.resubmit", "SUPPLEMENT_REQUIRED"): "SUBMITTED",
    ("registration.refuse", "SUBMITTED"): "NOT_ACCEPTED",
    ("registration.accept", "SUBMITTED"): "FORMAL_REVIEW",
    ("registration.reject", "FORMAL_REVIEW"): "REVIEW_REJECTED",
    ("registration.publish", "FORMAL_REVIEW"): "PUBLICITY",
    ("registration.object", "PUBLICITY"): "OBJECTION_UNDER_REVIEW",
    ("registration.objection_received", "PUBLICITY"): "PUBLICITY",
    ("registration.decide", "OBJECTION_UNDER_REVIEW"): "PUBLICITY",
    ("registration.code", "PUBLICITY"): "CODED",
    ("registration.code", "REVIEWED"): "CODED",
    **{("registration.revoke", s): "REVOKED" for s in KINDS["registration.revoke"][1]},
    ("registration.code_assigned", "CODED"): "CODED",
    ("registration.code_assigned", "CANCELLED"): "CANCELLED",
    ("registration.code_assigned", "REVOKED"): "REVOKED",
}


def test_legal_table_covers_every_allowed_step():
    assert set(LEGAL) == {(k, s) for k, (_, froms) in KINDS.items() for s in froms}


@pytest.mark.parametrize("kind,state", sorted(LEGAL, key=lambda ks: (ks[0], _id(ks[1]))), ids=_id)
def test_legal_step(kind, state):
    w = World()
    reg = "r1"
    w.drive(reg, state)
    if kind == "registration.code" and state == "PUBLICITY":
        w.past_publicity(reg)
    before = w.state(reg)
    size = w.store.head().size
    who = ACTOR.get(kind, "registrar")
    e = w.step(who, kind, reg, _legal_payload(w, kind, reg))
    after = w.state(reg)
    assert after["status"] == LEGAL[(kind, state)]
    assert w.store.head().size == size + 1
    event = after["history"][-1]
    assert (event["kind"], event["index"], event["by"]) == (kind, e.index, w.keys[who].key_id)
    assert after["updated_at"] == e.index
    if before is not None:
        assert after["history"][:-1] == before["history"]
    if kind == "registration.code_assigned":
        assert after["official_code"] == event["official_code"] == "1393264726771781632103"
        assert after["code"] == before["code"]
    if kind == "registration.code" and state == "REVIEWED":
        assert after["fields"]["summary"] == "更正后的简介" and after["pending"] is None
    if kind == "registration.resubmit":
        assert after["fields"]["records"] == 1_300_000


def test_decide_upheld_on_a_change_leaves_the_registration_coded():
    w = World()
    w.drive("r1", "CODED")
    code = w.state("r1")["code"]
    w.step(
        "holder", "registration.change", "r1", {"reason": "调整", "fields": resource_fields(update_frequency="每周")}
    )
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.publish", "r1")
    assert w.status("r1") == "PUBLICITY"
    w.step("zj-holder", "registration.object", "r1", {"reason": "变更内容不实"})
    w.step("registrar", "registration.decide", "r1", {"upheld": True, "reason": "异议成立"})
    s = w.state("r1")
    assert s["status"] == "CODED" and s["code"] == code and s["pending"] is None
    assert s["fields"]["update_frequency"] == "每日"  # the change did not take effect


def test_refused_change_leaves_the_registration_coded():
    w = World()
    w.drive("r1", "CODED")
    w.step(
        "holder", "registration.change", "r1", {"reason": "调整", "fields": resource_fields(update_frequency="每周")}
    )
    w.step("registrar", "registration.refuse", "r1", {"reason": "理由不充分"})
    s = w.state("r1")
    assert s["status"] == "CODED" and s["pending"] is None and s["fields"]["update_frequency"] == "每日"
    w.step(
        "holder",
        "registration.change",
        "r1",
        {"reason": "再次调整", "fields": resource_fields(update_frequency="每月")},
    )
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.reject", "r1", {"reason": "形式审核不通过"})
    assert w.status("r1") == "CODED"


def test_change_goes_through_publicity_and_updates_fields_on_coding():
    w = World()
    code = w.register("r1")
    w.step(
        "holder", "registration.change", "r1", {"reason": "调整", "fields": resource_fields(update_frequency="每周")}
    )
    s = w.state("r1")
    assert s["reg_type"] == "change" and s["pending"]["update_frequency"] == "每周"
    assert s["fields"]["update_frequency"] == "每日"  # not until coded
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.publish", "r1")
    assert w.status("r1") == "PUBLICITY"
    other = make_code(1, "520000", 2026, 2)
    w.past_publicity("r1")
    err = w.refused(MalformedError, w.step, "registrar", "registration.code", "r1", {"code": other})
    assert err.field == "/payload/code" and f"must be the registration's code {code}" in str(err)
    assert next_code(w.store, "r1") == code
    w.code("r1")
    s = w.state("r1")
    assert s["status"] == "CODED" and s["code"] == code and s["fields"]["update_frequency"] == "每周"
    assert s["publicity_end"] is None


# -- 1. every illegal transition -------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_state() -> World:
    """One registration in each state (refused steps write nothing, so the tests can share it)."""
    w = World()
    for state in STATES:
        w.drive(_rid(state), state)
    return w


ILLEGAL = [(k, s) for k, (_, froms) in KINDS.items() for s in STATES if s not in froms]


@pytest.mark.parametrize("kind,state", ILLEGAL, ids=_id)
def test_illegal_step_names_state_and_allowed_steps(every_state, kind, state):
    w = every_state
    reg = _rid(state)
    payload = _legal_payload(w, kind, reg) if kind not in ("registration.code",) else {"code": "x"}
    err = w.refused(StepNotAllowedError, w.step, ACTOR.get(kind, "registrar"), kind, reg, payload)
    allowed = ", ".join(ALLOWED[state]) or "none (the registration is closed)"
    assert err.field == "/kind" and err.state == state
    assert str(err) == (
        f"/kind: {kind} is not allowed now (current state: {state or 'not applied for'}; allowed steps: {allowed})"
    )


def test_unknown_step_kind_is_refused(every_state):
    w = every_state
    err = w.refused(MalformedError, w.raw, "registrar", "registration.approve", _rid("SUBMITTED"), {})
    assert err.field == "/kind" and "unknown registration step registration.approve" in str(err)


def test_registration_id_must_be_plain(every_state):
    w = every_state
    err = w.refused(MalformedError, w.apply, "a b/c")
    assert err.field == "/subject"


# -- the step table: one handler per kind, each a function of a Step ------------------------------


def test_every_step_kind_has_one_handler():
    assert list(HANDLERS) == list(KINDS)


class NoLinks:
    """A WorkflowContext with no other registrations, the package's calendar and region table."""

    def registration_by_code(self, code):
        return None

    def last_seq(self, prefix):
        return 0

    def calendar(self):
        return BUILTIN_CALENDAR

    def region_table(self):
        return default_table()


_DEFAULT_CONFIG = WorkflowConfig()


def _bare_step(
    kind: str,
    state: dict[str, Any],
    payload: dict[str, Any],
    today: date = date(2026, 3, 3),
    config: WorkflowConfig = _DEFAULT_CONFIG,
) -> Step:
    role = KINDS[kind][0]
    signer = KeyRecord("0" * 32, bytes(32), "clerk@test", role, {"region": "520000"}, 1)
    return Step(
        kind=kind,
        subject="r1",
        role=role,
        status=state["status"],
        payload=payload,
        today=today,
        signer=signer,
        ctx=NoLinks(),
        config=config,
        calendar=BUILTIN_CALENDAR,
        new=dict(state),
        event={"index": 9, "kind": kind},
    )


def test_a_handler_runs_on_its_own():
    """A handler takes a Step and builds the new state and history event: no ledger, no signature."""
    s = _bare_step(
        "registration.publish",
        {"status": "FORMAL_REVIEW", "reg_type": "change", "review_due": "2026-03-16"},
        {},
        config=WorkflowConfig(publicity={"change": False}),
    )
    HANDLERS["registration.publish"](s)
    assert s.new == {"status": "REVIEWED", "reg_type": "change", "review_due": None}
    assert s.event == {"index": 9, "kind": "registration.publish"}
    s = _bare_step(
        "registration.accept", {"status": "SUBMITTED", "accept_due": "2026-03-05"}, {"review_due": "2026-03-16"}
    )
    with pytest.raises(StepPayloadError) as err:
        HANDLERS["registration.accept"](s)
    assert err.value.field == "/payload/review_due" and "review_due must be 2026-03-17" in str(err.value)
    s = _bare_step("registration.revoke", {"status": "CODED", "pending": {"name": "x"}}, {"reason": "违规"})
    HANDLERS["registration.revoke"](s)
    assert s.new["status"] == "REVOKED" and s.new["pending"] is None and s.event["reason"] == "违规"
    s = _bare_step("registration.code_assigned", {"status": "CANCELLED", "code": None}, {"official_code": "1"})
    with pytest.raises(StepNotAllowedError) as err:
        HANDLERS["registration.code_assigned"](s)
    assert err.value.field == "/kind" and "current state: CANCELLED" in str(err.value)


# -- 1. wrong actors -------------------------------------------------------------------------------


def test_registrant_cannot_accept(every_state):
    w = every_state
    err = w.refused(NotPermittedError, w.step, "holder", "registration.accept", _rid("SUBMITTED"))
    assert err.field == "/key"
    assert "registration.accept must be signed by a registrar key, not a registrant key" in str(err)
    assert "current state: SUBMITTED" in str(err)


@pytest.mark.parametrize(
    "kind,who,needed",
    [
        ("registration.apply", "registrar", "registrant"),
        ("registration.supplement", "holder", "registrar"),
        ("registration.refuse", "authority", "registrar"),
        ("registration.accept", "platform", "registrar"),
        ("registration.revoke", "registrar", "authority"),
    ],
)
def test_wrong_role(every_state, kind, who, needed):
    w = every_state
    reg = _rid("SUBMITTED") if kind != "registration.apply" else "fresh-one"
    role = KEYS[who][0]
    err = w.refused(NotPermittedError, w.step, who, kind, reg, _legal_payload(w, kind, reg))
    assert err.field == "/key" and f"must be signed by a {needed} key, not a {role} key" in str(err)


@pytest.mark.parametrize(
    "state,kind",
    [
        (None, "registration.apply"),
        ("SUBMITTED", "registration.accept"),
        ("CODED", "registration.change"),
        ("PUBLICITY", "registration.revoke"),
    ],
)
def test_admin_key_cannot_take_workflow_steps(every_state, state, kind):
    w = every_state
    reg = _rid(state) if state else "admin-try"
    err = w.refused(NotPermittedError, w.step, "admin", kind, reg, _legal_payload(w, kind, reg))
    assert err.field == "/key" and "not a admin key" in str(err)


def test_admin_and_platform_keys_may_object():
    """Anyone with a registered key may object (role '*'), an administrator's key included."""
    w = World()
    w.drive("r1", "PUBLICITY")
    w.step("platform", "registration.object", "r1", {"reason": "平台核查发现问题"})
    assert w.status("r1") == "OBJECTION_UNDER_REVIEW"
    w.step("registrar", "registration.decide", "r1", {"upheld": False, "reason": "不成立"})
    w.step("admin", "registration.object", "r1", {"reason": "管理员提出异议", "objector": "公众"})
    assert w.state("r1")["history"][-1]["objector"] == "公众"


def test_registrant_of_another_institution_cannot_apply_or_change(every_state):
    w = every_state
    err = w.refused(NotPermittedError, w.apply, "someone-elses", who="medical")
    assert err.field == "/key"
    assert (
        f"key {w.keys['medical'].key_id} acts for institution {MEDICAL['uscc']}, not for the registrant "
        f"{HOLDER['uscc']}"
    ) in str(err)
    for kind in ("registration.change", "registration.correction", "registration.cancel"):
        err = w.refused(NotPermittedError, w.step, "medical", kind, _rid("CODED"), _legal_payload(w, kind, ""))
        assert err.field == "/key" and f"acts for institution {MEDICAL['uscc']}" in str(err)
    err = w.refused(NotPermittedError, w.step, "medical", "registration.resubmit", _rid("SUPPLEMENT_REQUIRED"), {})
    assert err.field == "/key"


def test_agent_may_act_for_the_registrant():
    w = World()
    agent = {"name": AGENT["name"], "uscc": AGENT["uscc"], "authority_letter_sha256": sha("授权委托书")}
    w.apply("by-agent", resource_fields(agent=agent), who="agent")
    assert w.status("by-agent") == "SUBMITTED"
    assert w.state("by-agent")["fields"]["agent"]["uscc"] == AGENT["uscc"]


def test_registrar_of_another_region_is_refused(every_state):
    w = every_state
    err = w.refused(NotPermittedError, w.step, "zj-registrar", "registration.accept", _rid("SUBMITTED"))
    assert err.field == "/key"
    assert f"key {w.keys['zj-registrar'].key_id} serves region 330000, not 520000" in str(err)
    # a prefecture's registrar cannot act on a province-level registration
    err = w.refused(NotPermittedError, w.step, "gy-registrar", "registration.accept", _rid("SUBMITTED"))
    assert "serves region 520100, not 520000" in str(err)
    err = w.refused(NotPermittedError, w.step, "zj-authority", "registration.revoke", _rid("CODED"), {"reason": "x"})
    assert "serves region 330000, not 520000" in str(err)


def test_registrar_scope_covers_the_regions_below_it():
    w = World()
    w.apply("gy", resource_fields("贵阳市医保数据", holder=MEDICAL, region="520102"), who="medical")
    w.step("gy-registrar", "registration.accept", "gy")  # 520100 covers 520102
    w.step("registrar", "registration.publish", "gy")  # and so does the province's registrar
    assert w.status("gy") == "PUBLICITY"


# -- 2. clocks -------------------------------------------------------------------------------------


def test_due_dates_are_checked_and_named():
    w = World()  # Monday 2 March 2026
    p = {"subject_kind": "resource", "fields": resource_fields()}
    err = w.refused(StepPayloadError, w.raw, "holder", "registration.apply", "r1", {**p, "accept_due": "2026-03-06"})
    assert err.field == "/payload/accept_due"
    assert "accept_due must be 2026-03-05" in str(err) and "not '2026-03-06'" in str(err)
    err = w.refused(StepPayloadError, w.raw, "holder", "registration.apply", "r1", p)
    assert err.field == "/payload/accept_due" and "not None" in str(err)
    w.raw("holder", "registration.apply", "r1", {**p, "accept_due": "2026-03-05"})
    w.advance(1)  # Tuesday 3 March: review due 10 working days later
    err = w.refused(StepPayloadError, w.raw, "registrar", "registration.accept", "r1", {"review_due": "2026-03-16"})
    assert err.field == "/payload/review_due" and "review_due must be 2026-03-17" in str(err)
    w.raw("registrar", "registration.accept", "r1", {"review_due": "2026-03-17"})
    assert w.state("r1")["review_due"] == "2026-03-17"
    err = w.refused(StepPayloadError, w.raw, "registrar", "registration.publish", "r1", {"publicity_end": "2026-03-16"})
    assert err.field == "/payload/publicity_end" and "publicity_end must be 2026-03-17" in str(err)
    w.raw("registrar", "registration.publish", "r1", {"publicity_end": "2026-03-17"})
    s = w.state("r1")
    assert (s["publicity_start"], s["publicity_end"], s["review_due"]) == ("2026-03-03", "2026-03-17", None)


def test_due_dates_on_resubmit_and_change():
    w = World()
    w.drive("r1", "SUPPLEMENT_REQUIRED")
    err = w.refused(StepPayloadError, w.raw, "holder", "registration.resubmit", "r1", {"accept_due": "2026-03-02"})
    assert err.field == "/payload/accept_due"
    w.drive("r2", "CODED")
    due = add_working_days(w.today(), 3).isoformat()
    err = w.refused(
        StepPayloadError,
        w.raw,
        "holder",
        "registration.change",
        "r2",
        {"reason": "x", "fields": resource_fields(), "accept_due": "2099-01-01"},
    )
    assert err.field == "/payload/accept_due" and f"accept_due must be {due}" in str(err)


def test_due_dates_are_counted_in_china_time():
    """23:30 UTC on Sunday 1 March is 07:30 on Monday 2 March in China: due Thursday, not Wednesday."""
    w = World(start=datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    w.apply("r1")
    assert w.state("r1")["accept_due"] == "2026-03-05"


def test_publicity_window_objection_and_coding():
    w = World()
    w.drive("r1", "PUBLICITY")
    end = w.state("r1")["publicity_end"]
    assert end == add_working_days(w.today(), 10).isoformat()
    w.advance_to(end)
    err = w.refused(StepNotAllowedError, w.code, "r1")
    assert err.field == "/time" and f"the publicity period runs until {end}; code after it ends" in str(err)
    # objections are still open on the last day
    w.step("zj-holder", "registration.object", "r1", {"reason": "简介不准确"})
    w.step("registrar", "registration.decide", "r1", {"upheld": False, "reason": "不成立"})
    assert w.status("r1") == "PUBLICITY"
    w.advance(1)
    err = w.refused(StepNotAllowedError, w.step, "zj-holder", "registration.object", "r1", {"reason": "迟到的异议"})
    assert err.field == "/time" and f"the publicity period ended on {end}; objections are closed" in str(err)
    code = w.code("r1")
    assert w.status("r1") == "CODED" and w.state("r1")["code"] == code


def test_an_objection_received_keeps_the_registration_in_publicity_and_holds_only_a_hash():
    """The intake key's entry (POST .../objections) records the document's hash; the status does not change,
    only the intake key may sign it, and it is refused once the publicity period has ended."""
    w = World()
    w.drive("r1", "PUBLICITY")
    digest = sha("异议文件")
    before = w.state("r1")
    w.step("intake", "registration.objection_received", "r1", {"document_sha256": digest})
    after = w.state("r1")
    assert after["status"] == "PUBLICITY" and after["publicity_end"] == before["publicity_end"]
    assert after["history"][-1]["document_sha256"] == digest
    assert set(after["history"][-1]) == {"index", "kind", "time", "by", "document_sha256"}
    for who in ("zj-holder", "registrar", "platform"):
        err = w.refused(
            NotPermittedError, w.step, who, "registration.objection_received", "r1", {"document_sha256": digest}
        )
        assert err.field == "/key" and "intake key" in str(err)
    for bad in (None, "", digest.upper(), digest[:-1], 12345):
        payload = {} if bad is None else {"document_sha256": bad}
        err = w.refused(MalformedError, w.step, "intake", "registration.objection_received", "r1", payload)
        assert err.field == "/payload/document_sha256"
    w.advance_to(after["publicity_end"])
    w.advance(1)
    err = w.refused(
        StepNotAllowedError, w.step, "intake", "registration.objection_received", "r1", {"document_sha256": digest}
    )
    assert err.field == "/time" and "objections are closed" in str(err)


def test_objection_and_decision_need_reasons():
    w = World()
    w.drive("r1", "PUBLICITY")
    err = w.refused(StepPayloadError, w.step, "zj-holder", "registration.object", "r1", {"reason": "  "})
    assert err.field == "/payload/reason" and "a reason is required" in str(err)
    w.step("zj-holder", "registration.object", "r1", {"reason": "有异议"})
    err = w.refused(MalformedError, w.step, "registrar", "registration.decide", "r1", {"upheld": "no", "reason": "x"})
    assert err.field == "/payload/upheld"
    err = w.refused(StepPayloadError, w.step, "registrar", "registration.decide", "r1", {"upheld": True})
    assert err.field == "/payload/reason"


def test_supplement_is_requested_once():
    w = World()
    w.apply("r1")
    w.advance(1)
    err = w.refused(MalformedError, w.step, "registrar", "registration.supplement", "r1", {"items": []})
    assert err.field == "/payload/items"
    w.step("registrar", "registration.supplement", "r1", {"items": ["数据分类分级说明", "承诺书扫描件"]})
    s = w.state("r1")
    assert s["status"] == "SUPPLEMENT_REQUIRED" and s["accept_due"] is None  # the clock stops
    assert s["history"][-1]["items"] == ["数据分类分级说明", "承诺书扫描件"]
    w.advance(7)  # Tuesday 10 March
    w.step("holder", "registration.resubmit", "r1", {})
    assert w.state("r1")["accept_due"] == "2026-03-13"  # the clock restarts from the resubmission
    err = w.refused(StepNotAllowedError, w.step, "registrar", "registration.supplement", "r1", {"items": ["再补一份"]})
    assert err.field == "/kind" and "supplements were already requested once for this application" in str(err)
    assert "current state: SUBMITTED" in str(err)
    w.step("registrar", "registration.accept", "r1")
    assert w.state("r1")["history"][-1]["late"] is False


def test_a_change_is_a_new_application_with_its_own_supplement():
    w = World()
    w.drive("r1", "CODED")
    w.step("holder", "registration.change", "r1", {"reason": "调整", "fields": resource_fields(records=5)})
    w.step("registrar", "registration.supplement", "r1", {"items": ["变更说明"]})
    w.step("holder", "registration.resubmit", "r1", {"fields": resource_fields(records=6)})
    s = w.state("r1")
    assert s["pending"]["records"] == 6 and s["fields"]["records"] == 1_200_000


def test_late_acceptance_is_recorded():
    w = World()  # apply Monday 2 March: accept due Thursday 5 March
    w.apply("on-time")
    w.apply("late")
    w.advance_to("2026-03-05")
    w.step("registrar", "registration.accept", "on-time")
    w.advance(1)
    w.step("registrar", "registration.accept", "late")
    assert w.state("on-time")["history"][-1]["late"] is False
    assert w.state("late")["history"][-1]["late"] is True
    assert w.state("late")["accept_due"] is None


@pytest.mark.parametrize(
    "offset,sign", [(timedelta(minutes=11), -1), (timedelta(minutes=11), 1), (timedelta(hours=8), 1)]
)
def test_statement_time_far_from_log_time_is_refused(offset, sign):
    w = World()
    w.drive("r1", "SUBMITTED")
    t = format_time(w.clock.t + sign * offset)
    err = w.refused(MalformedError, w.step, "registrar", "registration.accept", "r1", time=t)
    assert err.field == "/time" and f"is more than {MAX_SKEW} from the log's time" in str(err)
    err = w.refused(
        MalformedError,
        w.step,
        "holder",
        "registration.apply",
        "r2",
        {"subject_kind": "resource", "fields": resource_fields()},
        time=t,
    )
    assert err.field == "/time"


def test_statement_time_within_skew_is_accepted():
    w = World()
    w.drive("r1", "SUBMITTED")
    w.step("registrar", "registration.accept", "r1", time=format_time(w.clock.t - timedelta(minutes=9)))
    assert w.status("r1") == "FORMAL_REVIEW"


def test_late_application_across_the_spring_festival():
    """Operation started Monday 2 February 2026.  20 working days later is Friday 6 March: the Spring
    Festival holiday (15-23 February) does not count and the make-up Saturdays 14 and 28 February do.
    (Weekdays alone would give 2 March; skipping the holiday but not the make-up days, 10 March.)"""
    w = World(start=datetime(2026, 3, 6, 1, 0, tzinfo=UTC))
    w.apply("in-time", operation_started="2026-02-02")
    s = w.state("in-time")
    assert s["late_application"] is False
    assert s["history"][-1]["first_registration_due"] == "2026-03-06"
    w.advance(3)  # Monday 9 March
    w.apply("too-late", operation_started="2026-02-02")
    assert w.state("too-late")["late_application"] is True
    w.apply("no-start-date")
    assert "late_application" not in w.state("no-start-date")
    err = w.refused(MalformedError, w.apply, "bad-start", operation_started="2 Feb 2026")
    assert err.field == "/payload/operation_started"


def test_operation_started_before_every_official_calendar_is_late_not_an_operator_error():
    """A clerk's true answer (a resource running since 1998) is no operator's gap: its 20 working days
    ended before the first official calendar (2004) could count them, so it is late, with no exact due date."""
    w = World()
    w.apply("r1", operation_started="1998-06-01")
    assert w.state("r1")["late_application"] is True
    assert "first_registration_due" not in w.state("r1")["history"][-1]
    err = w.refused(MalformedError, w.apply, "r2", operation_started="2030-01-01")
    assert err.field == "/payload/operation_started" and "after the application date" in str(err)


# -- 3. configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,reg_type",
    [
        ("registration.correction", "correction"),
        ("registration.change", "change"),
        ("registration.cancel", "cancellation"),
    ],
)
@pytest.mark.parametrize("publicity", [True, False])
def test_publicity_is_configurable_per_registration_type(kind, reg_type, publicity):
    cfg = WorkflowConfig(
        publicity={"initial": True, "change": True, "correction": False, "cancellation": False, reg_type: publicity}
    )
    w = World(config=cfg)
    code = w.register("r1")
    payload = {"reason": "原因"}
    if kind != "registration.cancel":
        payload["fields"] = resource_fields(summary="新的简介")
    w.step("holder", kind, "r1", payload)
    assert w.state("r1")["reg_type"] == reg_type
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.publish", "r1")
    final = "CANCELLED" if kind == "registration.cancel" else "CODED"
    if publicity:
        assert w.status("r1") == "PUBLICITY"
        err = w.refused(StepNotAllowedError, w.code, "r1")
        assert err.field == "/time"
        w.past_publicity("r1")
    else:
        s = w.state("r1")
        assert s["status"] == "REVIEWED" and s.get("publicity_end") is None
    w.code("r1")
    s = w.state("r1")
    assert s["status"] == final and s["code"] == code
    if final == "CODED":
        assert s["fields"]["summary"] == "新的简介"


def test_default_config_correction_skips_and_change_keeps_publicity():
    w = World()
    w.drive("r1", "REVIEWED")
    w.drive("r2", "CODED")
    w.step("holder", "registration.change", "r2", {"reason": "x", "fields": resource_fields(records=7)})
    w.step("registrar", "registration.accept", "r2")
    w.step("registrar", "registration.publish", "r2")
    assert w.status("r2") == "PUBLICITY"


# -- 4. codes --------------------------------------------------------------------------------------


def test_codes_are_sequential_per_prefix_unique_and_never_reused():
    w = World()
    a = w.register("a")
    b = w.register("b")
    assert parse_code(a).seq == 1 and parse_code(b).seq == 2
    assert a == make_code(1, "520000", 2026, 1) and b == make_code(1, "520000", 2026, 2)
    # another region and another type have their own counters
    gy = w.register("gy", resource_fields("贵阳医保", holder=MEDICAL), who="medical")
    assert gy == make_code(1, "520100", 2026, 1)
    p = w.register("p", product_fields([a]), who="operator", subject_kind="product")
    assert p == make_code(2, "520000", 2026, 1)
    inst = w.register("inst", institution_fields(), who="operator", subject_kind="institution")
    assert inst == make_code(4, "520000", 2026, 1)
    # cancel b: its code stays taken
    w.step("holder", "registration.cancel", "b", {"reason": "停止提供"})
    w.step("registrar", "registration.accept", "b")
    w.step("registrar", "registration.publish", "b")
    assert w.code("b") == b and w.status("b") == "CANCELLED"
    w.drive("c", "PUBLICITY")
    w.past_publicity("c")
    err = w.refused(MalformedError, w.step, "registrar", "registration.code", "c", {"code": b})
    expected = make_code(1, "520000", 2026, 3)
    assert err.field == "/payload/code" and str(err) == f"/payload/code: the next code here is {expected}, not {b!r}"
    err = w.refused(
        MalformedError, w.step, "registrar", "registration.code", "c", {"code": make_code(1, "520000", 2026, 4)}
    )
    assert f"the next code here is {expected}" in str(err)
    assert w.code("c") == expected
    states = {s.subject: s for s in w.store.iter_states()}
    assert states[f"code:{b}"].state == {"registration": "b"}
    assert states["seq:PDR-1-520000-2026"].state == {"last": 3}
    assert states["seq:PDR-1-520100-2026"].state == {"last": 1}
    all_codes = [s.code for k, s in states.items() if k.startswith("reg:") and s.code]
    assert len(all_codes) == len(set(all_codes)) == 6
    qc = w.state("c")["query_code"]
    assert check_query_code(qc) == qc == query_code_for(expected, "c")


def test_revoked_code_stays_taken():
    w = World()
    a = w.register("a")
    w.step("authority", "registration.revoke", "a", {"reason": "虚假登记"})
    assert w.register("b") == make_code(1, "520000", 2026, 2) != a


def test_codes_in_one_batch_follow_each_other():
    w = World()
    for reg in ("a", "b"):
        w.drive(reg, "PUBLICITY")
    w.past_publicity("a")
    t = w.clock()
    c1, c2 = make_code(1, "520000", 2026, 1), make_code(1, "520000", 2026, 2)
    w.ledger.append_batch(
        [
            make_step(w.keys["registrar"], "registration.code", "a", {"code": c1}, time=t),
            make_step(w.keys["registrar"], "registration.code", "b", {"code": c2}, time=t),
        ]
    )
    assert (w.state("a")["code"], w.state("b")["code"]) == (c1, c2)


def test_a_refused_batch_writes_nothing():
    w = World()
    w.drive("a", "SUBMITTED")
    t = w.clock()
    good = make_step(w.keys["registrar"], "registration.accept", "a", time=t)
    bad = make_step(
        w.keys["holder"],
        "registration.apply",
        "b",
        {"subject_kind": "resource", "fields": resource_fields(records="many")},
        time=t,
    )
    err = w.refused(MalformedError, w.ledger.append_batch, [good, bad])
    assert err.field == "/payload/fields/records" and str(err).startswith("statement 1: ")
    assert w.status("a") == "SUBMITTED"


def test_code_assigned_by_platform_sets_official_code():
    w = World()
    code = w.register("r1")
    err = w.refused(
        NotPermittedError,
        w.step,
        "registrar",
        "registration.code_assigned",
        "r1",
        {"official_code": "1393264726771781632103"},
    )
    assert err.field == "/key" and "must be signed by a platform key" in str(err)
    for bad in ("", "x" * 65, 1393264726771781632103 % 10**15):
        err = w.refused(MalformedError, w.step, "platform", "registration.code_assigned", "r1", {"official_code": bad})
        assert err.field == "/payload/official_code"
    w.step("platform", "registration.code_assigned", "r1", {"official_code": "1393264726771781632103"})
    s = w.state("r1")
    assert s["official_code"] == "1393264726771781632103" and s["code"] == code and s["status"] == "CODED"


def test_code_assigned_needs_a_coded_registration():
    w = World()
    w.drive("r1", "SUBMITTED")
    w.step("authority", "registration.revoke", "r1", {"reason": "虚假申请"})
    assert w.state("r1")["code"] is None
    w.refused(MalformedError, w.step, "platform", "registration.code_assigned", "r1", {"official_code": "123"})


# -- 5. bad input: MalformedError with the field path, nothing written -----------------------------


@pytest.fixture(scope="module")
def catalog() -> World:
    """A live resource, a cancelled one, a revoked one and a coded product (for source_codes checks)."""
    w = World()
    w.live = w.register("live", resource_fields("在用资源"))
    w.cancelled = w.register("gone", resource_fields("已注销资源"))
    w.step("holder", "registration.cancel", "gone", {"reason": "停止提供"})
    w.step("registrar", "registration.accept", "gone")
    w.step("registrar", "registration.publish", "gone")
    w.code("gone")
    w.revoked = w.register("bad", resource_fields("已撤销资源"))
    w.step("authority", "registration.revoke", "bad", {"reason": "虚假登记"})
    w.product = w.register("api", product_fields([w.live]), who="operator", subject_kind="product")
    w.drive("open", "CODED")
    return w


def _bad_uscc(uscc: str) -> str:
    last = "0" if uscc[-1] != "0" else "1"
    return uscc[:-1] + last


def _resource_cases():
    holder_bad = dict(HOLDER, uscc=_bad_uscc(HOLDER["uscc"]))
    holder_no_uscc = {k: v for k, v in HOLDER.items() if k != "uscc"}
    no_summary = resource_fields()
    del no_summary["summary"]
    holder_string = dict(resource_fields(), holder="贵州省气象局")
    return [
        ("name-number", resource_fields(name=12345), "/payload/fields/name", "valid string"),
        ("summary-null", resource_fields(summary=None), "/payload/fields/summary", None),
        ("holder-string", holder_string, "/payload/fields/holder", None),
        ("documents-string", resource_fields(documents="abc"), "/payload/fields/documents", None),
        ("data-items-numbers", resource_fields(data_items=["温度", 2]), "/payload/fields/data_items/1", None),
        ("records-negative", resource_fields(records=-1), "/payload/fields/records", None),
        ("records-text", resource_fields(records="很多"), "/payload/fields/records", None),
        ("frequency", resource_fields(update_frequency="hourly"), "/payload/fields/update_frequency", None),
        (
            "level",
            resource_fields(classification={"category": "x", "security_level": "绝密"}),
            "/payload/fields/classification/security_level",
            None,
        ),
        (
            "storage-missing-method",
            resource_fields(storage={"location": "云"}),
            "/payload/fields/storage/method",
            "required field is missing",
        ),
        ("unknown-member", resource_fields(colour="red"), "/payload/fields/colour", None),
        ("commitment-not-hex", resource_fields(commitment_sha256="abc"), "/payload/fields/commitment_sha256", None),
        ("missing-summary", no_summary, "/payload/fields/summary", "required field is missing"),
        (
            "missing-holder-uscc",
            resource_fields(holder=holder_no_uscc),
            "/payload/fields/holder/uscc",
            "required field is missing",
        ),
        ("uscc-check-char", resource_fields(holder=holder_bad), "/payload/fields/holder/uscc", "check character"),
        (
            "agent-uscc",
            resource_fields(
                agent={"name": "代理", "uscc": _bad_uscc(AGENT["uscc"]), "authority_letter_sha256": sha("x")}
            ),
            "/payload/fields/agent/uscc",
            "check character",
        ),
        ("region-format", resource_fields(region="52000"), "/payload/fields/region", "6-digit"),
        ("region-number", resource_fields(region=520000), "/payload/fields/region", None),
        ("region-unknown", resource_fields(region="529999"), "/payload/fields/region", "unknown region code 529999"),
        (
            "holder-region-unknown",
            resource_fields(holder=dict(HOLDER, region="520199"), region="520000"),
            "/payload/fields/holder/region",
            "unknown region code 520199",
        ),
        (
            "time-range-text",
            resource_fields(time_range={"start": "去年"}),
            "/payload/fields/time_range/start",
            "ISO date",
        ),
    ]


@pytest.mark.parametrize("case", _resource_cases(), ids=lambda c: c[0])
def test_bad_resource_fields(catalog, case):
    _, fields, path, words = case
    w = catalog
    err = w.refused(MalformedError, w.apply, "bad-input", fields)
    assert type(err) is MalformedError and err.field == path, str(err)
    if words:
        assert words in str(err)


@pytest.mark.parametrize(
    "case",
    [
        ("records-string", {"records": "12"}, "/payload/fields/records"),
        ("records-float", {"records": 12.0}, "/payload/fields/records"),
        ("records-bool", {"records": True}, "/payload/fields/records"),
        ("in-scope-yes", {"in_authorised_scope": "yes"}, "/payload/fields/in_authorised_scope"),
        ("in-scope-1", {"in_authorised_scope": 1}, "/payload/fields/in_authorised_scope"),
        ("volume-string", {"volume_bytes": "1024"}, "/payload/fields/volume_bytes"),
        ("time-range-int", {"time_range": {"start": 0}}, "/payload/fields/time_range/start"),
    ],
    ids=lambda c: c[0],
)
def test_wrong_scalar_types_are_refused(catalog, case):
    """No coercion: a string, float or bool is not a count, "yes" or 1 is not true, 0 is not a date."""
    _, over, path = case
    w = catalog
    err = w.refused(MalformedError, w.apply, "bad-input", resource_fields(**over))
    assert err.field == path


def test_product_public_welfare_must_be_boolean(catalog):
    w = catalog
    for bad in ("false", 0, None):
        err = w.refused(
            MalformedError,
            w.apply,
            "bad-input",
            product_fields([w.live], public_welfare=bad),
            who="operator",
            subject_kind="product",
        )
        assert err.field == "/payload/fields/public_welfare"


def test_fields_must_be_an_object(catalog):
    w = catalog
    err = w.refused(
        MalformedError,
        w.step,
        "holder",
        "registration.apply",
        "bad-input",
        {"subject_kind": "resource", "fields": "贵州省气象观测数据"},
    )
    assert err.field == "/payload/fields" and "must be an object" in str(err)
    err = w.refused(MalformedError, w.step, "holder", "registration.apply", "bad-input", {"subject_kind": "resource"})
    assert err.field == "/payload/fields"


def test_unknown_subject_kind(catalog):
    w = catalog
    err = w.refused(MalformedError, w.apply, "bad-input", subject_kind="dataset")
    assert err.field == "/payload/subject_kind" and "must be one of resource, product, institution" in str(err)


def test_retired_region_code_is_refused_on_a_2026_date(catalog):
    w = catalog
    err = w.refused(
        MalformedError,
        w.apply,
        "bad-input",
        resource_fields("抚宁县数据", holder=LULONG, region="130323"),
        who="lulong",
    )
    assert err.field == "/payload/fields/region"
    assert "region code 130323 (抚宁县) was retired on 2015-07-01 and is not valid on 2026-" in str(err)
    err = w.refused(
        MalformedError,
        w.apply,
        "bad-input",
        resource_fields("抚宁县数据", holder=dict(LULONG, region="130323"), region="130324"),
        who="lulong",
    )
    assert err.field == "/payload/fields/holder/region"
    # its successor is fine
    w2 = World()
    w2.apply("ok", resource_fields("抚宁区数据", holder=LULONG, region="130306"), who="lulong")
    assert w2.status("ok") == "SUBMITTED"


def test_product_source_codes(catalog):
    w = catalog
    unknown = make_code(1, "520000", 2026, 99)
    cases = [
        ([unknown], "/payload/fields/source_codes/0", f"no registered resource has code {unknown}"),
        ([w.live, w.cancelled], "/payload/fields/source_codes/1", f"resource {w.cancelled} is cancelled"),
        ([w.revoked], "/payload/fields/source_codes/0", f"resource {w.revoked} is revoked"),
        ([w.live, w.product], "/payload/fields/source_codes/1", "must be the code of a public data resource (type 1)"),
        ([make_code(2, "520000", 2026, 77)], "/payload/fields/source_codes/0", "(type 1)"),
        ([w.live[:-1] + ("0" if w.live[-1] != "0" else "1")], "/payload/fields/source_codes/0", "check character"),
        (["weather"], "/payload/fields/source_codes/0", "does not have the layout"),
        ([], "/payload/fields/source_codes", None),
    ]
    for sources, path, words in cases:
        err = w.refused(
            MalformedError, w.apply, "bad-product", product_fields(sources), who="operator", subject_kind="product"
        )
        assert err.field == path, (sources, str(err))
        if words:
            assert words in str(err)
    # a change of a coded product is held to the same rule
    err = w.refused(
        MalformedError,
        w.step,
        "operator",
        "registration.change",
        "api",
        {"reason": "新增来源", "fields": product_fields([w.live, w.cancelled])},
    )
    assert err.field == "/payload/fields/source_codes/1"


def test_bad_product_and_institution_fields(catalog):
    w = catalog
    cases = [
        ("product", product_fields([w.live], price="五毛"), "/payload/fields/price"),
        (
            "product",
            product_fields([w.live], operator_uscc=_bad_uscc(OPERATOR["uscc"])),
            "/payload/fields/operator_uscc",
        ),
        (
            "product",
            product_fields([w.live], authorisation=dict(AUTH, valid_from="2026-13-01")),
            "/payload/fields/authorisation/valid_from",
        ),
        ("product", product_fields([w.live], form="App"), "/payload/fields/form"),
        ("product", product_fields([w.live], source_codes=w.live), "/payload/fields/source_codes"),
        ("institution", institution_fields(role="监管机构"), "/payload/fields/role"),
        ("institution", institution_fields(data_type="x"), "/payload/fields/data_type"),
    ]
    for kind, fields, path in cases:
        err = w.refused(MalformedError, w.apply, "bad-input", fields, who="operator", subject_kind=kind)
        assert err.field == path, str(err)


def test_change_cannot_move_to_another_registrant(catalog):
    w = catalog
    err = w.refused(
        MalformedError,
        w.step,
        "holder",
        "registration.change",
        "open",
        {"reason": "转让", "fields": resource_fields(holder=MEDICAL)},
    )
    assert err.field == "/payload/fields/holder/uscc"
    err = w.refused(
        MalformedError,
        w.step,
        "holder",
        "registration.change",
        "open",
        {"reason": "x", "fields": resource_fields(records="many")},
    )
    assert err.field == "/payload/fields/records"
    err = w.refused(
        StepPayloadError, w.step, "holder", "registration.change", "open", {"fields": resource_fields(records=3)}
    )
    assert err.field == "/payload/reason"


def test_resubmit_cannot_move_to_another_registrant_or_region():
    w = World()
    w.drive("r1", "SUPPLEMENT_REQUIRED")
    err = w.refused(
        MalformedError, w.step, "holder", "registration.resubmit", "r1", {"fields": resource_fields(holder=MEDICAL)}
    )
    assert err.field == "/payload/fields/holder/uscc"
    err = w.refused(
        MalformedError, w.step, "holder", "registration.resubmit", "r1", {"fields": resource_fields(region="330100")}
    )
    assert err.field == "/payload/fields/region"
    # nor can a change's resubmission do what the change itself may not
    w.drive("r2", "CODED")
    w.step("holder", "registration.change", "r2", {"reason": "调整", "fields": resource_fields(records=9)})
    w.step("registrar", "registration.supplement", "r2", {"items": ["变更说明"]})
    err = w.refused(
        MalformedError, w.step, "holder", "registration.resubmit", "r2", {"fields": resource_fields(holder=MEDICAL)}
    )
    assert err.field == "/payload/fields/holder/uscc"


def test_change_cannot_move_the_region():
    """A registration stays in its locality: its region is in its code and decides which registrar serves it."""
    w = World()
    w.drive("r1", "CODED")
    err = w.refused(
        MalformedError,
        w.step,
        "holder",
        "registration.change",
        "r1",
        {"reason": "迁移", "fields": resource_fields(region="520100")},
    )
    assert err.field == "/payload/fields/region" and "the region cannot change from 520000" in str(err)


# -- 6. projection rebuild and audit (every store) -------------------------------------------------


def realistic_flow(w: World) -> dict[str, str]:
    """Several registrations through every kind of path; returns {name: code} of the coded ones."""
    codes: dict[str, str] = {}
    # a resource with a supplement notice, a resubmission and a dismissed objection
    w.apply("gz-weather", resource_fields("贵州省气象观测数据"), operation_started="2026-02-24")
    w.advance(1)
    w.step("registrar", "registration.supplement", "gz-weather", {"items": ["数据分类分级说明"]})
    w.advance(1)
    w.step(
        "holder",
        "registration.resubmit",
        "gz-weather",
        {
            "fields": resource_fields(
                "贵州省气象观测数据", classification={"category": "气象", "security_level": "重要数据"}
            )
        },
    )
    w.advance(1)
    w.step("registrar", "registration.accept", "gz-weather")
    w.step("registrar", "registration.publish", "gz-weather")
    w.advance(2)
    w.step("zj-holder", "registration.object", "gz-weather", {"reason": "范围不符", "objector": "公众"})
    w.step("registrar", "registration.decide", "gz-weather", {"upheld": False, "reason": "经核实，简介准确"})
    w.past_publicity("gz-weather")
    codes["gz-weather"] = w.code("gz-weather")
    # a product citing it, with the parent platform's code
    codes["gz-api"] = w.register(
        "gz-api", product_fields([codes["gz-weather"]]), who="operator", subject_kind="product"
    )
    w.step("platform", "registration.code_assigned", "gz-api", {"official_code": "1393264726771781632103"})
    codes["gz-operator"] = w.register("gz-operator", institution_fields(), who="operator", subject_kind="institution")
    # a prefecture's resource: changed, then cancelled
    codes["gy-medical"] = w.register(
        "gy-medical", resource_fields("贵阳市医疗保障结算数据", holder=MEDICAL), who="medical", registrar="gy-registrar"
    )
    w.step(
        "medical",
        "registration.change",
        "gy-medical",
        {
            "reason": "更新频率调整",
            "fields": resource_fields("贵阳市医疗保障结算数据", holder=MEDICAL, update_frequency="每周"),
        },
    )
    w.step("gy-registrar", "registration.accept", "gy-medical")
    w.step("gy-registrar", "registration.publish", "gy-medical")
    w.past_publicity("gy-medical")
    w.code("gy-medical", "gy-registrar")
    w.step("medical", "registration.cancel", "gy-medical", {"reason": "数据资源已停止提供"})
    w.step("registrar", "registration.accept", "gy-medical")
    w.step("registrar", "registration.publish", "gy-medical")
    w.code("gy-medical")
    # revoked by the authority
    codes["gz-radar"] = w.register("gz-radar", resource_fields("贵州省雷达回波数据"))
    w.step("authority", "registration.revoke", "gz-radar", {"reason": "虚假登记"})
    # Zhejiang: refused at acceptance, stopped by an upheld objection
    w.apply("hz-draft", resource_fields("杭州公交客流数据（初稿）", holder=ZJ_HOLDER), who="zj-holder")
    w.step("zj-registrar", "registration.refuse", "hz-draft", {"reason": "材料格式不符"})
    w.apply("hz-bus", resource_fields("杭州公交客流数据", holder=ZJ_HOLDER), who="zj-holder")
    w.step("zj-registrar", "registration.accept", "hz-bus")
    w.step("zj-registrar", "registration.publish", "hz-bus")
    w.step("holder", "registration.object", "hz-bus", {"reason": "含未脱敏的个人信息"})
    w.step("zj-registrar", "registration.decide", "hz-bus", {"upheld": True, "reason": "异议成立"})
    # left open: one in publicity, one in formal review, one waiting for acceptance
    w.drive("gz-hydrology", "PUBLICITY")
    w.apply("gz-soil", resource_fields("贵州省土壤墒情数据"))
    w.step("registrar", "registration.accept", "gz-soil")
    w.apply("gz-traffic", resource_fields("贵州省交通流量数据"))
    w.ledger.integrate()
    return codes


FINAL = {
    "gz-weather": "CODED",
    "gz-api": "CODED",
    "gz-operator": "CODED",
    "gy-medical": "CANCELLED",
    "gz-radar": "REVOKED",
    "hz-draft": "NOT_ACCEPTED",
    "hz-bus": "OBJECTION_UPHELD",
    "gz-hydrology": "PUBLICITY",
    "gz-soil": "FORMAL_REVIEW",
    "gz-traffic": "SUBMITTED",
}


def _leaves(w: World):
    size = w.store.head().size
    for start in range(0, size, 50):
        yield from w.ledger.entries(start, min(size, start + 50))


def _audit(w: World):
    return audit(w.store, origin=w.ledger.origin, verifier=w.ledger.verifier(), policy=RegistryPolicy(w.config))


def test_rebuild_and_audit(store, log_signer, admin):
    w = World(store, log_signer, admin)
    realistic_flow(w)
    assert {reg: w.status(reg) for reg in FINAL} == FINAL
    cached = {s.subject: s for s in store.iter_states()}
    rebuilt = replay(RegistryPolicy(), _leaves(w))
    assert rebuilt == cached
    report = _audit(w)
    assert report.entries == store.head().size
    # corrupt one cached state: the audit names it
    radar = cached["reg:gz-radar"]
    forged = dataclasses.replace(radar, status="CODED", state={**radar.state, "status": "CODED"})
    store.replace_states([forged if s.subject == radar.subject else s for s in cached.values()])
    with pytest.raises(AuditFailure) as err:
        _audit(w)
    assert err.value.where == "state reg:gz-radar" and "differs from the fold" in str(err.value)
    # a row missing from the cache is named too
    store.replace_states([s for s in cached.values() if s.subject != "reg:gz-soil"])
    with pytest.raises(AuditFailure) as err:
        _audit(w)
    assert err.value.where == "state reg:gz-soil" and "missing" in str(err.value)
    # reindex: the cache rebuilt from the entries passes again
    assert store.replace_states(replay(RegistryPolicy(), _leaves(w)).values()) == len(cached)
    _audit(w)
    assert {s.subject: s for s in store.iter_states()} == cached


def test_audit_notices_an_edited_state_column_only():
    w = World()
    realistic_flow(w)
    cached = list(w.store.iter_states())
    edited = [dataclasses.replace(s, name="别的名字") if s.subject == "reg:gz-api" else s for s in cached]
    w.store.replace_states(edited)
    with pytest.raises(AuditFailure, match="state reg:gz-api"):
        _audit(w)


def test_rebuild_with_a_non_default_config():
    cfg = WorkflowConfig(publicity={"initial": True, "change": False, "correction": True, "cancellation": True})
    w = World(config=cfg)
    w.register("r1")
    w.step("holder", "registration.correction", "r1", {"reason": "x", "fields": resource_fields(records=1)})
    w.step("registrar", "registration.accept", "r1")
    w.step("registrar", "registration.publish", "r1")
    assert w.status("r1") == "PUBLICITY"
    assert replay(RegistryPolicy(cfg), _leaves(w)) == {s.subject: s for s in w.store.iter_states()}
    _audit(w)
    # folded with the default config the correction would not be in publicity: audit says so
    with pytest.raises(AuditFailure, match="state reg:r1"):
        audit(w.store, origin=w.ledger.origin, verifier=w.ledger.verifier(), policy=RegistryPolicy())


# -- 8. disclosure (every store) -------------------------------------------------------------------


def test_disclosure(store, log_signer, admin):
    w = World(store, log_signer, admin)
    codes = realistic_flow(w)

    def regs(**q) -> list[str]:
        return [s.state["registration"] for s in iter_registrations(store, StateQuery(**q))]

    assert sorted(regs(status="CODED")) == ["gz-api", "gz-operator", "gz-weather"]
    assert regs(status="CANCELLED") == ["gy-medical"] and regs(status="REVOKED") == ["gz-radar"]
    assert regs(status="PUBLICITY") == ["gz-hydrology"]
    assert regs(kind="product") == ["gz-api"] and regs(kind="institution") == ["gz-operator"]
    assert sorted(regs(region_prefix="33")) == ["hz-bus", "hz-draft"]
    assert regs(region_prefix="5201") == ["gy-medical"]
    assert regs(text="雷达") == ["gz-radar"]
    assert regs(text=codes["gz-api"]) == ["gz-api"]
    assert regs(text="%") == [] and regs(text="_") == []
    assert sorted(regs(institution=OPERATOR["uscc"])) == ["gz-api", "gz-operator"]
    assert regs(kind="resource", status="CODED", region_prefix="52", institution=HOLDER["uscc"]) == ["gz-weather"]
    # cursor paging with a small limit returns every registration exactly once, in order
    everything = regs(limit=1000)
    assert sorted(everything) == sorted(FINAL) and everything == sorted(everything)
    for limit in (1, 2, 3):
        assert regs(limit=limit) == everything
    assert regs(after="reg:gz-radar", limit=2) == [r for r in everything if r > "gz-radar"]
    # overdue on the last day of the soil review and of the traffic acceptance
    soil, traffic = w.state("gz-soil")["review_due"], w.state("gz-traffic")["accept_due"]
    assert traffic < soil
    assert overdue(store, date.fromisoformat(traffic)) == []
    late = overdue(store, date.fromisoformat(traffic) + timedelta(days=1))
    assert [r["registration"] for r in late] == ["gz-traffic"]
    assert late[0] == {
        "registration": "gz-traffic",
        "status": "SUBMITTED",
        "due": traffic,
        "name": "贵州省交通流量数据",
        "region": "520000",
        "days_late": 1,
    }
    both = overdue(store, date.fromisoformat(soil) + timedelta(days=3))
    assert {r["registration"]: r["status"] for r in both} == {"gz-traffic": "SUBMITTED", "gz-soil": "FORMAL_REVIEW"}


def test_overdue_lists_an_application_past_accept_due():
    w = World()
    w.apply("r1")  # due Thursday 5 March
    w.drive("r2", "SUPPLEMENT_REQUIRED")  # the clock is stopped: never overdue
    assert overdue(w.store, date(2026, 3, 5)) == []
    rows = overdue(w.store, date(2026, 3, 9))
    assert rows == [
        {
            "registration": "r1",
            "status": "SUBMITTED",
            "due": "2026-03-05",
            "name": "贵州省气象观测数据",
            "region": "520000",
            "days_late": 4,
        }
    ]
    w.advance(10)
    w.step("registrar", "registration.accept", "r1")
    assert overdue(w.store, date(2026, 3, 13)) == []
    assert w.state("r1")["history"][-1]["late"] is True


def test_annual_report_before_and_after_the_product_is_coded():
    w = World()
    weather = w.register("gz-weather")
    inst = w.register("gz-operator", institution_fields(), who="operator", subject_kind="institution")
    w.apply("gz-api", product_fields([weather]), who="operator", subject_kind="product")
    w.step("registrar", "registration.accept", "gz-api")
    w.step("registrar", "registration.publish", "gz-api")
    before = w.today()
    w.past_publicity("gz-api")
    api = w.code("gz-api")
    after = w.today()
    report = annual_report(w.ledger, OPERATOR["uscc"], before)
    assert report["as_of"] == before.isoformat() and report["institution"] == OPERATOR["uscc"]
    assert report["products_and_services"] == [] and report["authorised_resources"] == []
    assert [r["code"] for r in report["institution_registrations"]] == [inst]
    report = annual_report(w.ledger, OPERATOR["uscc"], after)
    [p] = report["products_and_services"]
    assert p["code"] == api and p["status"] == "CODED" and p["source_codes"] == [weather]
    assert p["price"] == "0.05" and p["public_welfare"] is False and p["authorisation"] == AUTH
    assert [r["code"] for r in report["authorised_resources"]] == [weather]
    # another institution has nothing to disclose
    assert annual_report(w.ledger, MEDICAL["uscc"], after)["products_and_services"] == []
