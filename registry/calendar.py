"""The official calendar as ledger data: `calendar.year` statements and the calendar in force.

An administrator loads a year's State Council notice (holidays and make-up working days, 调休) as
a signed `calendar.year` statement; subject = the year, payload = the notice:

    {"year": 2027, "holidays": ["2027-01-01", ...], "workdays": ["2027-02-07", ...], "source": "国办发明电…"}

The fold refuses a notice that contradicts itself (a date outside the year, listed twice or in
both lists, a make-up working day that is not a Saturday or Sunday) with the field at fault.  A
later statement for the same year replaces the earlier one from its own index on: the workflow
checks each step's due dates against the calendar in force at that step's index, so due dates
already signed stay as signed.  In a cascade only the top instance's administrator loads
calendars; a child takes them from its parent (sync/policy.py, RELAYED_KINDS).

Subject state kept (rebuildable from the entries):
    calendar:<year>     {"subject", "payload" (the notice in force, as signed), "index", "key",
                         "replaced": [indexes of the earlier notices for the year]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from regledger.ledger.entry import Entry
from regledger.ledger.errors import ConflictError, MalformedError, NotFoundError
from regledger.ledger.policy import StateMap
from regledger.ledger.store import KeyRecord, LedgerStore, StateQuery, SubjectState

from .key_scope import require_reference_signer
from .workdays import Calendar, CalendarYear, iso_date

__all__ = [
    "CALENDAR_KIND",
    "FIRST_YEAR",
    "LAST_YEAR",
    "WARN_DAYS",
    "apply_calendar_statement",
    "calendar_coverage",
    "calendar_subject",
    "calendar_year_from_state",
    "describe_year",
    "ledger_calendar",
    "loaded_years",
    "parse_notice",
    "stored_calendar",
]

CALENDAR_KIND = "calendar.year"
_MEMBERS = ("year", "holidays", "workdays", "source")
FIRST_YEAR, LAST_YEAR = 1949, 2200
#: warn (in /readyz) this many days before the covered range ends
WARN_DAYS = 60


def calendar_subject(year: int) -> str:
    return f"calendar:{year}"


def _dates(p: Mapping[str, Any], name: str, year: int) -> list[date]:
    items = p.get(name)
    if not isinstance(items, list) or len(items) > 366:
        raise MalformedError("required: a list of ISO dates (YYYY-MM-DD), at most 366", field=f"/payload/{name}")
    out: list[date] = []
    for i, s in enumerate(items):
        where = f"/payload/{name}/{i}"
        d = iso_date(s, where)
        if d.year != year:
            raise MalformedError(f"{s} is outside the notice's year {year}", field=where)
        if d in out:
            raise MalformedError(f"{s} is listed twice", field=where)
        out.append(d)
    return out


def parse_notice(p: Any, *, index: int | None = None) -> CalendarYear:
    """A year's notice, checked for contradictions; every refusal names the field (`/payload/...`)."""
    if not isinstance(p, Mapping):
        raise MalformedError("the notice is an object: year, holidays, workdays, source", field="/payload")
    unknown = sorted(set(p) - set(_MEMBERS))
    if unknown:
        raise MalformedError(f"unknown member; a notice has only {', '.join(_MEMBERS)}", field=f"/payload/{unknown[0]}")
    year = p.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise MalformedError(f"required: the year, {FIRST_YEAR}-{LAST_YEAR}", field="/payload/year")
    source = p.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 2048:
        raise MalformedError(
            "required: the notice this comes from (its title, number or URL), 1-2048 characters",
            field="/payload/source",
        )
    holidays = _dates(p, "holidays", year)
    workdays = _dates(p, "workdays", year)
    for i, d in enumerate(workdays):
        if d in holidays:
            raise MalformedError(
                f"{d} is listed both as a holiday and as a make-up working day", field=f"/payload/workdays/{i}"
            )
        if d.weekday() < 5:
            raise MalformedError(
                f"{d} is a {d.strftime('%A')}; a make-up working day (调休上班) is a Saturday or Sunday",
                field=f"/payload/workdays/{i}",
            )
    return CalendarYear(year, frozenset(holidays), frozenset(workdays), source, index)


def calendar_year_from_state(st: SubjectState | None) -> CalendarYear | None:
    """The year as kept: its notice was checked by parse_notice when the entry was folded."""
    if st is None:
        return None
    p = st.state["payload"]
    return CalendarYear(
        p["year"],
        frozenset(map(date.fromisoformat, p["holidays"])),
        frozenset(map(date.fromisoformat, p["workdays"])),
        p["source"],
        int(st.state["index"]),
    )


def ledger_calendar(get_state: Callable[[str], SubjectState | None]) -> Calendar:
    """The calendar in force given a subject-state lookup (a StateMap's or a store's)."""
    return Calendar(lambda year: calendar_year_from_state(get_state(calendar_subject(year))))


def stored_calendar(store: LedgerStore) -> Calendar:
    """The calendar in force now in `store` (what a client computes due dates with): every loaded
    year read in one query, not one query per year asked about."""
    loaded = {st.subject: st for st in loaded_years(store)}
    return ledger_calendar(loaded.get)


def loaded_years(store: LedgerStore) -> list[SubjectState]:
    """This ledger's own `calendar:<year>` states (not those mirrored from children), by year."""
    # one page holds them all: at most LAST_YEAR - FIRST_YEAR + 1 years
    found = store.find_states(StateQuery(kind=CALENDAR_KIND, after="calendar:", limit=500))
    return [st for st in found if st.subject.startswith("calendar:")]


def describe_year(store: LedgerStore, year: int) -> dict[str, Any]:
    """A year as in force here, with where it comes from (`regledger calendar show`, GET /v1/calendar/{year})."""
    got = stored_calendar(store).year(year)
    if got is None:
        raise NotFoundError(
            f"no official calendar for {year}: neither the package nor this ledger covers it; an "
            "administrator loads the State Council notice with `regledger calendar load FILE`"
        )
    st = store.get_state(calendar_subject(year))
    return {**got.to_json(), "replaced": [] if st is None else list(st.state["replaced"])}


def calendar_coverage(calendar: Calendar, today: date) -> tuple[int, str | None]:
    """Days from `today` to the last covered day (0 if today is not covered), and a warning within WARN_DAYS."""
    last = calendar.covered_until(today)
    if last is None:
        return 0, (
            f"no official calendar covers {today.year}: steps that start a clock are refused (503); load the "
            f"State Council notice with `regledger calendar load FILE`"
        )
    left = (last - today).days
    if left > WARN_DAYS:
        return left, None
    return left, (
        f"the official calendar ends on {last} ({left} days left): load the {last.year + 1} State Council "
        f"notice with `regledger calendar load FILE` before then"
    )


def apply_calendar_statement(entry: Entry, signer: KeyRecord, states: StateMap) -> None:
    """Fold one `calendar.year` statement: check it, then make it the year's notice from this index on."""
    st = entry.statement
    require_reference_signer(CALENDAR_KIND, signer)
    notice = parse_notice(st.payload, index=entry.index)
    if st.subject != str(notice.year):
        raise MalformedError(f"the subject of a {CALENDAR_KIND} statement is its year, {notice.year}", field="/subject")
    subject = calendar_subject(notice.year)
    old = states.get(subject)
    replaced: list[int] = []
    if old is not None:
        prior = calendar_year_from_state(old)
        assert prior is not None
        if (prior.holidays, prior.workdays, prior.source) == (notice.holidays, notice.workdays, notice.source):
            raise ConflictError(f"the {notice.year} calendar in force (entry {prior.index}) already says exactly this")
        replaced = [*old.state["replaced"], int(old.state["index"])]
    states.put(
        SubjectState(
            subject,
            {
                "subject": st.subject,
                "payload": dict(st.payload),
                "index": entry.index,
                "key": signer.key_id,
                "replaced": replaced,
            },
            entry.index,
            kind=CALENDAR_KIND,
            name=str(notice.year),
        )
    )
