"""The official calendar as ledger data: a clock running through 2027 on a loaded 2027 notice.

TEST DATA, NOT THE OFFICIAL NOTICE: the 2027 holidays and make-up working days below are invented
for these tests (shaped like a State Council notice: New Year, a nine-day Spring Festival break,
a make-up Sunday before it and a make-up Saturday after it).  They say nothing about the real 2027
arrangements; an operator loads the published notice with `regledger calendar load FILE`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from test_workflow import World

from regledger.ledger.audit import audit
from regledger.ledger.entry import sign_statement
from regledger.ledger.errors import ConflictError, MalformedError, UnknownKeyError, VerificationError
from regledger.ledger.policy import replay
from regledger.registry.calendar import calendar_coverage, describe_year, parse_notice, stored_calendar
from regledger.registry.certificate import build_certificate, verify_certificate
from regledger.registry.client import make_step
from regledger.registry.policy import RegistryPolicy
from regledger.registry.workdays import BUILTIN_CALENDAR, Calendar, CalendarError
from regledger.registry.workflow import StepNotAllowedError, StepPayloadError

D = date.fromisoformat


def _days(first: str, last: str) -> list[str]:
    d, out = D(first), []
    while d <= D(last):
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


#: TEST DATA (see the module docstring): a made-up 2027 notice
NOTICE_2027: dict[str, Any] = {
    "year": 2027,
    "holidays": _days("2027-01-01", "2027-01-03") + _days("2027-02-06", "2027-02-14"),
    "workdays": ["2027-01-31", "2027-02-20"],  # Sunday before the break, Saturday after it
    "source": "TEST DATA: an invented 2027 notice for the regledger test suite",
}
#: Thursday 28 January 2027, 09:00 in China
JAN_28 = datetime(2027, 1, 28, 1, 0, tzinfo=UTC)


def notice(**over: Any) -> dict[str, Any]:
    return {**NOTICE_2027, **over}


def load(w: World, payload: dict[str, Any], who: str = "admin"):
    st = sign_statement(
        w.keys[who], kind="calendar.year", subject=str(payload.get("year")), payload=payload, time=w.clock()
    )
    return w.ledger.append(st).entry


def step(w: World, who: str, kind: str, reg: str, payload: dict[str, Any] | None = None):
    """A step as a client makes it, with due dates under the ledger's calendar in force."""
    st = make_step(w.keys[who], kind, reg, payload, time=w.clock(), calendar=stored_calendar(w.store))
    return w.ledger.append(st).entry


def apply(w: World, reg: str):
    from test_workflow import resource_fields

    return step(w, "holder", "registration.apply", reg, {"subject_kind": "resource", "fields": resource_fields()})


def test_a_clock_through_2027_runs_on_the_loaded_notice():
    w = World(start=JAN_28)
    load(w, NOTICE_2027)
    apply(w, "r1")
    # Fri 1-29 (1), Sat 1-30 off, Sun 1-31 make-up working day (2), Mon 2-1 (3); plain weekends say 2-2
    assert w.state("r1")["accept_due"] == "2027-02-01"
    assert Calendar().year(2027) is None  # the package alone does not know 2027
    w.advance_to("2027-02-01")
    step(w, "registrar", "registration.accept", "r1")
    assert w.state("r1")["history"][1]["late"] is False  # accepted on the due date itself
    # Tue 2-2 .. Fri 2-5 (4), the break 2-6..2-14, Mon 2-15 .. Fri 2-19 (9), the make-up Saturday 2-20 (10);
    # plain weekends say 2-15
    assert w.state("r1")["review_due"] == "2027-02-20"
    w.advance_to("2027-02-05")
    step(w, "registrar", "registration.publish", "r1")
    # Mon 2-15 .. Fri 2-19 (5), Sat 2-20 (6), Mon 2-22 .. Thu 2-25 (10)
    assert w.state("r1")["publicity_end"] == "2027-02-25"
    w.advance_to("2027-02-25")
    w.refused(StepNotAllowedError, w.code, "r1")  # the publicity period runs until 2-25
    w.advance(1)
    assert w.code("r1").startswith("PDR-1-520000-2027-")


def test_a_step_carrying_a_due_date_the_calendar_does_not_give_is_refused():
    w = World(start=JAN_28)
    load(w, NOTICE_2027)
    from test_workflow import resource_fields

    wrong = {"subject_kind": "resource", "fields": resource_fields(), "accept_due": "2027-02-02"}
    err = w.refused(StepPayloadError, w.raw, "holder", "registration.apply", "r1", wrong)
    assert err.field == "/payload/accept_due" and "must be 2027-02-01" in str(err)


def test_without_a_notice_a_2027_clock_is_the_operators_calendar_error():
    w = World(start=JAN_28)
    with pytest.raises(CalendarError):  # the client cannot compute the due date either
        make_step(w.keys["holder"], "registration.apply", "r1", {}, time=w.clock())
    from test_workflow import resource_fields

    payload = {"subject_kind": "resource", "fields": resource_fields(), "accept_due": "2027-02-02"}
    err = w.refused(CalendarError, w.raw, "holder", "registration.apply", "r1", payload)
    assert err.year == 2027 and err.problem == "calendar-missing" and "regledger calendar load" in err.message
    # a step that starts no clock goes on: a registration whose publicity ended in 2026 is coded in 2027
    w2 = World(start=datetime(2026, 12, 14, 1, 0, tzinfo=UTC))
    w2.apply("r2")
    w2.advance(1)
    w2.step("registrar", "registration.accept", "r2")
    w2.step("registrar", "registration.publish", "r2")
    assert w2.state("r2")["publicity_end"] == "2026-12-29"
    w2.advance_to("2027-01-05")
    assert w2.code("r2").startswith("PDR-1-520000-2027-") and w2.status("r2") == "CODED"


def test_a_corrected_notice_applies_from_its_index_and_signed_due_dates_stay(store):
    w = World(store, start=JAN_28)
    first = load(w, notice(workdays=["2027-02-20"], source="TEST DATA: first notice, without the make-up Sunday"))
    apply(w, "before")
    assert w.state("before")["accept_due"] == "2027-02-02"  # Fri 1-29, Mon 2-1, Tue 2-2
    corrected = load(w, NOTICE_2027)
    apply(w, "after")
    assert w.state("after")["accept_due"] == "2027-02-01"  # Sunday 1-31 now counts
    assert w.state("before")["accept_due"] == "2027-02-02"  # as signed under the first notice
    shown = describe_year(w.store, 2027)
    assert (shown["from"], shown["index"], shown["replaced"]) == ("ledger", corrected.index, [first.index])
    # accepting "before" on 2-2 is on time: its own signed due date is what counts
    w.advance_to("2027-02-02")
    step(w, "registrar", "registration.accept", "before")
    assert w.state("before")["history"][-1]["late"] is False
    # the fold is the same from the entries alone, and audit agrees with the cache
    assert replay(RegistryPolicy(), w.ledger.iter_leaves()) == {s.subject: s for s in w.store.iter_states()}
    w.ledger.integrate()
    audit(w.store, origin=w.ledger.origin, verifier=w.ledger.verifier(), policy=RegistryPolicy())


def test_loading_the_same_notice_again_is_a_conflict():
    w = World(start=JAN_28)
    load(w, NOTICE_2027)
    w.refused(ConflictError, load, w, NOTICE_2027)


@pytest.mark.parametrize(
    "over,field,words",
    [
        ({"holidays": ["2026-12-31"]}, "/payload/holidays/0", "outside the notice's year 2027"),
        ({"workdays": ["2028-01-02"]}, "/payload/workdays/0", "outside the notice's year 2027"),
        ({"holidays": ["2027-01-01", "2027-01-01"]}, "/payload/holidays/1", "listed twice"),
        ({"workdays": ["2027-01-02"]}, "/payload/workdays/0", "both as a holiday and as a make-up working day"),
        ({"workdays": ["2027-02-01"]}, "/payload/workdays/0", "is a Monday"),
        ({"holidays": ["2027-1-1"]}, "/payload/holidays/0", "not an ISO date"),
        ({"holidays": ["2027-W01-1"]}, "/payload/holidays/0", "not an ISO date"),  # an ISO week date is 10 long too
        ({"holidays": "2027-01-01"}, "/payload/holidays", "a list of ISO dates"),
        ({"year": "2027"}, "/payload/year", "the year"),
        ({"source": " "}, "/payload/source", "the notice this comes from"),
        ({"remark": "x"}, "/payload/remark", "unknown member"),
    ],
)
def test_a_notice_that_contradicts_itself_is_refused_with_the_field(over, field, words):
    w = World(start=JAN_28)
    payload = notice(**over)
    st = sign_statement(w.admin, kind="calendar.year", subject="2027", payload=payload, time=w.clock())
    err = w.refused(MalformedError, w.ledger.append, st)
    assert err.field == field and words in err.message


def test_only_an_admin_loads_a_notice_and_its_subject_is_its_year():
    w = World(start=JAN_28)
    w.refused(UnknownKeyError, load, w, NOTICE_2027, who="holder")
    for subject in ("2028", "²⁰²⁷", "２０２７"):  # digits, but not the year's ASCII digits
        st = sign_statement(w.admin, kind="calendar.year", subject=subject, payload=NOTICE_2027, time=w.clock())
        assert w.refused(MalformedError, w.ledger.append, st).field == "/subject"


def test_a_certificate_carries_the_notice_its_due_dates_need(store):
    w = World(store, start=JAN_28)
    load(w, NOTICE_2027)
    apply(w, "r1")
    w.advance(1)
    step(w, "registrar", "registration.accept", "r1")
    step(w, "registrar", "registration.publish", "r1")
    w.advance_to(D(w.state("r1")["publicity_end"]) + timedelta(days=1))
    w.code("r1")
    w.ledger.integrate()
    cert = build_certificate(w.ledger, w.state("r1")["code"])
    assert len(cert["calendar"]) == 1
    vkey = w.ledger.verifier().vkey()
    assert verify_certificate(cert, vkey)["status"] == "CODED"
    with pytest.raises(
        VerificationError, match="outside the official holiday calendar: no State Council notice for 2027"
    ):  # without the notice, the due dates cannot be recomputed
        verify_certificate({**cert, "calendar": []}, vkey)


def test_coverage_counts_down_from_60_days_before_the_end():
    cal = Calendar()
    assert calendar_coverage(cal, D("2026-10-01")) == (91, None)
    left, warning = calendar_coverage(cal, D("2026-12-01"))
    assert left == 30 and "ends on 2026-12-31" in warning and "regledger calendar load" in warning
    assert calendar_coverage(cal, D("2027-01-04"))[0] == 0
    loaded = Calendar(lambda y: parse_notice(NOTICE_2027, index=7) if y == 2027 else None)
    assert calendar_coverage(loaded, D("2026-12-01")) == (395, None)
    assert loaded.covered_until(D("2026-12-01")) == D("2027-12-31")
    assert BUILTIN_CALENDAR.covered_until(D("2030-01-01")) is None
