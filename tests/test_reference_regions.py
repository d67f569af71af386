"""The region table as ledger data: 遵义 registrations, and `regions.load` statements that amend the table.

Runs through `Ledger(policy=RegistryPolicy())` on the in-memory store with the workflow tests' World.
"""

from __future__ import annotations

from datetime import date

import pytest

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.audit import audit
from regledger.ledger.entry import MAX_STATEMENT_BYTES, canonical_json, sign_statement
from regledger.ledger.errors import MalformedError, UnknownKeyError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.policy import CompositePolicy, ReplayGuard
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore
from regledger.registry.policy import RegistryPolicy
from regledger.registry.reference import REGIONS_LOAD, REGIONS_SUBJECT, region_load_payloads, table_in_force
from regledger.registry.regions import RegionTable, default_table
from regledger.sync.policy import SyncPolicy
from tests.test_workflow import World, party, resource_fields

ZUNYI_HOLDER = party("遵义市红花岗区大数据中心（测试）", "持有单位", "520302", "MB000101")
NEW_COUNTY = {
    "code": "520399",
    "name": "新蒲新区（测试）",
    "level": "county",
    "valid_from": "2026-01-01",
    "valid_to": None,
}


def world() -> World:
    w = World()
    w.keys["zunyi"] = Ed25519Signer.generate("zunyi@test")
    w.ledger.append(
        register_key_statement(
            w.admin, w.keys["zunyi"], "registrant", {"institution": ZUNYI_HOLDER["uscc"]}, time=w.clock()
        )
    )
    return w


def load(w: World, payload: dict, who: str = "admin"):
    st = sign_statement(w.keys[who], kind=REGIONS_LOAD, subject=REGIONS_SUBJECT, payload=payload, time=w.clock())
    return w.ledger.append(st).entry


def zunyi_fields(region: str = "520302", **over):
    return resource_fields(
        "遵义市红花岗区城市管理数据", holder={**ZUNYI_HOLDER, "region": region}, region=region, **over
    )


def test_a_zunyi_county_applies_and_registers():
    w = world()
    code = w.register("zunyi-1", zunyi_fields(), who="zunyi")
    assert w.status("zunyi-1") == "CODED" and code.startswith("PDR-1-520302-")
    assert w.state("zunyi-1")["region"] == "520302"


def test_regions_load_adds_a_code_from_its_index_on():
    w = world()
    err = w.refused(MalformedError, w.apply, "new-1", zunyi_fields("520399"), who="zunyi")
    assert err.field == "/payload/fields/region" and "unknown region code 520399" in err.message
    e = load(w, {"version": "2026-12-test", "source": "民政部 变更公告（测试）", "records": [NEW_COUNTY]})
    w.apply("new-1", zunyi_fields("520399"), who="zunyi")
    assert w.status("new-1") == "SUBMITTED"
    regions = w.store.get_states([REGIONS_SUBJECT])[REGIONS_SUBJECT]
    assert regions.state["loads"][0]["index"] == e.index and regions.state["version"] == "2026-12-test"
    assert [r.name for r in table_in_force(regions).chain("520399", date(2026, 12, 1))] == [
        "新蒲新区（测试）",
        "遵义市",
        "贵州省",
    ]
    audit(w.store, origin=w.ledger.origin, verifier=w.ledger.verifier(), policy=RegistryPolicy())


def test_a_later_load_retires_a_code_and_earlier_registrations_stay_valid():
    w = world()
    load(w, {"version": "v1", "source": "test", "records": [NEW_COUNTY]})
    w.apply("new-1", zunyi_fields("520399"), who="zunyi")
    load(w, {"version": "v2", "source": "更正", "records": [{**NEW_COUNTY, "valid_to": "2026-03-01"}]})
    err = w.refused(MalformedError, w.apply, "new-2", zunyi_fields("520399"), who="zunyi")
    assert "retired on 2026-03-01" in err.message
    w.advance(1)
    w.step("registrar", "registration.accept", "new-1")  # the application made under v1 goes on
    audit(w.store, origin=w.ledger.origin, verifier=w.ledger.verifier(), policy=RegistryPolicy())


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"version": "v", "source": "s", "records": []}, "/payload/records", "non-empty array"),
        (
            {"version": "v", "source": "s", "records": [{**NEW_COUNTY, "code": "52039"}]},
            "/payload/records/0/code",
            "6-digit code",
        ),
        (
            {"version": "v", "source": "s", "records": [{**NEW_COUNTY, "code": "990101"}]},
            "/payload/records/0/code",
            "province 990000, which is not in the table",
        ),
        (
            {"version": "v", "source": "s", "records": [NEW_COUNTY, {**NEW_COUNTY, "valid_from": "2026-02-01"}]},
            "/payload/records/1",
            "overlapping validity windows",
        ),
        ({"version": "", "source": "s", "records": [NEW_COUNTY]}, "/payload/version", "non-empty string"),
        ({"version": "v", "records": [NEW_COUNTY]}, "/payload/source", "non-empty string"),
        ({"version": "v", "source": "s", "records": [NEW_COUNTY], "extra": 1}, "/payload", "unknown member(s) extra"),
    ],
)
def test_bad_loads_are_refused_with_the_field(payload, field, says):
    w = world()
    err = w.refused(MalformedError, load, w, payload)
    assert err.field == field and says in err.message


@pytest.mark.parametrize("who", ["registrar", "holder"])
def test_only_an_admin_or_the_parent_platform_may_load(who):
    w = world()
    err = w.refused(UnknownKeyError, load, w, {"version": "v", "source": "s", "records": [NEW_COUNTY]}, who)
    assert "must be signed by an admin key" in str(err)


def test_the_subject_of_a_load_is_regions():
    w = world()
    payload = {"version": "v", "source": "s", "records": [NEW_COUNTY]}
    st = sign_statement(w.admin, kind=REGIONS_LOAD, subject="whatever", payload=payload, time=w.clock())
    assert w.refused(MalformedError, w.ledger.append, st).field == "/subject"


def test_a_platform_key_may_not_load_at_the_top_of_a_cascade():
    """At the top (no parent) only an admin loads; the parent rule is the cascade's (sync.policy)."""
    origin = "regledger.test/top"
    register = RegistryPolicy()
    admin, platform = Ed25519Signer.generate("admin@top"), Ed25519Signer.generate("platform@top")
    ledger = Ledger(
        MemoryStore(),
        origin=origin,
        log_signer=Ed25519Signer.generate(origin),
        policy=CompositePolicy(ReplayGuard(), SyncPolicy(origin, register), register),
    )
    ledger.append(register_key_statement(admin, admin, "admin"))
    ledger.append(register_key_statement(admin, platform, "platform"))
    payload = {"version": "v", "source": "s", "records": [NEW_COUNTY]}
    with pytest.raises(UnknownKeyError, match="admin key at the top of the cascade"):
        ledger.append(sign_statement(platform, kind=REGIONS_LOAD, subject=REGIONS_SUBJECT, payload=payload))
    assert ledger.store.get_states([REGIONS_SUBJECT]) == {}
    ledger.append(sign_statement(admin, kind=REGIONS_LOAD, subject=REGIONS_SUBJECT, payload=payload))
    assert ledger.store.get_states([REGIONS_SUBJECT])


def test_a_whole_table_is_cut_into_statements_under_the_size_limit():
    shipped = default_table()
    provinces_only = RegionTable.from_dict(
        {
            "version": "p",
            "source": "test",
            "records": [w for code in shipped.codes() if code.endswith("0000") for w in shipped.windows(code)],
        }
    )
    payloads = list(region_load_payloads(shipped, provinces_only, version="full", source="test"))
    assert len(payloads) > 10
    for p in payloads:
        st = sign_statement(Ed25519Signer.generate("a@t"), kind=REGIONS_LOAD, subject=REGIONS_SUBJECT, payload=p)
        assert len(canonical_json(st.to_json())) < MAX_STATEMENT_BYTES
    codes = {r["code"] for p in payloads for r in p["records"]}
    assert codes == {c for c in shipped.codes() if not c.endswith("0000")}
    assert list(region_load_payloads(shipped, shipped, version="same", source="test")) == []


def test_the_same_load_twice_is_a_conflict():
    from regledger.ledger.errors import ConflictError

    w = world()
    payload = {"version": "v1", "source": "test", "records": [NEW_COUNTY]}
    load(w, payload)
    err = w.refused(ConflictError, load, w, payload)
    assert "already loaded" in str(err)
