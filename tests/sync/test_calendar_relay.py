"""The official calendar down the cascade: province -> city -> county, three `regledger serve` processes.

Only the top instance's administrator loads a year's notice; each parent re-signs what it holds and
sends it one hop down, and a child takes it from its parent's key only.  The 2027 notice here is
TEST DATA (tests/test_calendar.py says so), not the official arrangement.
"""

from __future__ import annotations

import json

import pytest
from cascade_env import Instance, running_cascade, wait_for

from regledger.keys.ed25519 import Ed25519Signer, statement_key_id
from regledger.keys.vkey import parse_vkey
from regledger.ledger.entry import sign_statement
from regledger.ledger.errors import ConflictError, UnknownKeyError
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.policy import CompositePolicy, ReplayGuard
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore
from regledger.registry.policy import RegistryPolicy
from regledger.sync.cascade import reference_data_due
from regledger.sync.manage import set_parent
from regledger.sync.policy import SyncPolicy

LEVELS = [("county", "regledger.test/520302"), ("city", "regledger.test/520300"), ("province", "regledger.test/520000")]
#: TEST DATA: an invented 2027 notice (see tests/test_calendar.py)
NOTICE = {
    "year": 2027,
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"] + [f"2027-02-{d:02d}" for d in range(6, 15)],
    "workdays": ["2027-01-31", "2027-02-20"],
    "source": "TEST DATA: an invented 2027 notice",
}


def _ledger(origin: str) -> tuple[Ledger, Ed25519Signer]:
    log, admin = Ed25519Signer.generate(origin), Ed25519Signer.generate(f"admin@{origin}")
    register = RegistryPolicy()
    ledger = Ledger(
        MemoryStore(),
        origin=origin,
        log_signer=log,
        policy=CompositePolicy(ReplayGuard(), SyncPolicy(origin, register), register),
    )
    ledger.append(register_key_statement(admin, admin, "admin"))
    return ledger, admin


def _notice(signer: Ed25519Signer, payload: dict) -> object:
    return sign_statement(signer, kind="calendar.year", subject=str(payload["year"]), payload=payload)


def test_a_child_takes_the_calendar_only_from_its_parent():
    parent_log = Ed25519Signer.generate("regledger.test/top")
    child, admin = _ledger("regledger.test/child")
    child.append(_notice(admin, NOTICE))  # no parent yet: this instance is the top of its cascade
    set_parent(child, admin, "http://127.0.0.1:9", parent_log.verifier().vkey())
    for mine in (NOTICE, {**NOTICE, "source": "TEST DATA: the child's own"}):
        with pytest.raises(UnknownKeyError, match="only from its parent regledger.test/top"):
            child.append(_notice(admin, mine))
    relayed = child.append(_notice(parent_log, {**NOTICE, "source": "TEST DATA: from the top"})).entry
    shown = child.store.get_states(["calendar:2027"])["calendar:2027"].state
    assert shown["index"] == relayed.index and shown["key"] == statement_key_id(parent_log.public)


def test_reference_data_due_lists_what_the_childs_mirror_lacks():
    top, admin = _ledger("regledger.test/top")
    top.append(_notice(admin, NOTICE))
    assert reference_data_due(top, "regledger.test/child", RegistryPolicy()) == [("calendar.year", "2027", NOTICE)]


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    with running_cascade(tmp_path_factory.mktemp("calendar-cascade"), LEVELS) as insts:
        yield insts


def _key_of(inst: Instance) -> str:
    return statement_key_id(parse_vkey(inst.vkey).public)


def _signer_of(inst: Instance, index: int) -> str:
    return inst.get(f"/v1/entries/{index}")["entry"]["statement"]["key"]


def test_the_top_calendar_reaches_every_level_signed_by_each_parent(cascade, tmp_path):
    county, city, province = cascade
    f = tmp_path / "2027.json"
    f.write_text(json.dumps(NOTICE, ensure_ascii=False))
    province.run("calendar", "load", str(f))
    top = province.get("/v1/calendar/2027")
    assert top["from"] == "ledger" and _signer_of(province, top["index"]) != _key_of(province)  # the admin's
    at_county = wait_for(
        lambda: (lambda y: y["from"] == "ledger" and y)(county.get("/v1/calendar/2027")),
        120,
        "the 2027 calendar at the county",
    )
    at_city = city.get("/v1/calendar/2027")
    for shown in (at_city, at_county):
        assert {k: shown[k] for k in ("holidays", "workdays", "source")} == {
            k: sorted(v) if isinstance(v, list) else v for k, v in NOTICE.items() if k != "year"
        }
    assert _signer_of(city, at_city["index"]) == _key_of(province)
    assert _signer_of(county, at_county["index"]) == _key_of(city)
    # the county's clocks run on it: Thu 1-28 + 3 working days, with the make-up Sunday 1-31
    assert county.run("calendar", "due", "2027-01-28", "3").stdout.strip() == "2027-02-01"
    shown = json.loads(county.run("calendar", "show", "2027", "--json").stdout)
    assert shown["index"] == at_county["index"]
    # the county's own administrator cannot load one: only the top's calendar counts
    refused = county.run("calendar", "load", str(f), check=False)
    assert refused.returncode == 1 and "only from its parent regledger.test/520300" in refused.stderr


def test_a_corrected_notice_at_the_top_replaces_it_everywhere(cascade, tmp_path):
    county, city, province = cascade
    before = wait_for(
        lambda: (lambda y: y["from"] == "ledger" and y)(county.get("/v1/calendar/2027")),
        120,
        "the 2027 calendar at the county",
    )
    f = tmp_path / "2027-corrected.json"
    f.write_text(json.dumps({**NOTICE, "workdays": ["2027-02-20"], "source": "TEST DATA: corrected notice"}))
    province.run("calendar", "load", str(f))
    after = wait_for(
        lambda: (lambda y: y["source"] == "TEST DATA: corrected notice" and y)(county.get("/v1/calendar/2027")),
        120,
        "the corrected notice at the county",
    )
    assert after["workdays"] == ["2027-02-20"] and after["replaced"] == [before["index"]]
    assert county.run("calendar", "due", "2027-01-28", "3").stdout.strip() == "2027-02-02"


def test_the_parent_is_pinned_once():
    """Whoever holds a child's admin key cannot point it at another "parent" that would then hand it
    reference data: a second sync.parent is refused, in the child's ledger and in every mirror."""
    first, other = Ed25519Signer.generate("regledger.test/top"), Ed25519Signer.generate("regledger.test/rogue")
    child, admin = _ledger("regledger.test/child")
    set_parent(child, admin, "http://127.0.0.1:9", first.verifier().vkey())
    size = child.store.head().size
    again = sign_statement(
        admin,
        kind="sync.parent",
        subject=other.name,
        payload={"vkey": other.verifier().vkey(), "url": "http://127.0.0.1:10"},
    )
    with pytest.raises(ConflictError, match="already regledger.test/top"):
        child.append(again)
    assert child.store.head().size == size
    assert child.store.get_states(["parent"])["parent"].state["origin"] == "regledger.test/top"
