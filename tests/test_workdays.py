"""Working-day clocks across the 2025 and 2026 Spring Festival and National Day make-up days (调休)."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta

import pytest

from regledger.ledger.errors import MalformedError, OperatorError
from regledger.registry.workdays import (
    CALENDAR_FIRST_DAY,
    CALENDAR_LAST_DAY,
    CalendarError,
    Deadlines,
    add_working_days,
    is_working_day,
    working_days_between,
)

D = date.fromisoformat


def _days(first: str, last: str) -> list[date]:
    d, out = D(first), []
    while d <= D(last):
        out.append(d)
        d += timedelta(days=1)
    return out


# The State Council notices, typed in independently of chinese_calendar's data.
OFFICIAL = {
    # 2025 春节: 1-28..2-4 off; Sunday 1-26 and Saturday 2-8 worked.
    "2025 spring festival": (_days("2025-01-28", "2025-02-04"), ["2025-01-26", "2025-02-08"]),
    # 2025 国庆+中秋: 10-1..10-8 off; Sunday 9-28 and Saturday 10-11 worked.
    "2025 national day": (_days("2025-10-01", "2025-10-08"), ["2025-09-28", "2025-10-11"]),
    # 2026 春节: 2-15..2-23 off; Saturdays 2-14 and 2-28 worked.
    "2026 spring festival": (_days("2026-02-15", "2026-02-23"), ["2026-02-14", "2026-02-28"]),
    # 2026 中秋 9-25..9-27 and 国庆 10-1..10-7 off; Sunday 9-20 and Saturday 10-10 worked.
    "2026 national day": (
        _days("2026-09-25", "2026-09-27") + _days("2026-10-01", "2026-10-07"),
        ["2026-09-20", "2026-10-10"],
    ),
}


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_holidays_and_make_up_days(name):
    off, worked = OFFICIAL[name]
    for d in off:
        assert not is_working_day(d), d
    for s in worked:
        assert D(s).weekday() >= 5 and is_working_day(D(s)), s


def test_same_answers_as_chinese_calendar_for_every_day_of_2024_to_2026():
    import chinese_calendar

    for d in _days("2024-01-01", "2026-12-31"):
        assert is_working_day(d) == chinese_calendar.is_workday(d), d


def test_plain_weekdays_and_weekends():
    assert is_working_day(D("2025-03-03"))  # Monday
    assert not is_working_day(D("2025-03-08"))  # Saturday
    assert not is_working_day(D("2025-03-09"))  # Sunday
    assert not is_working_day(D("2025-01-25"))  # the Saturday before the 2025-01-26 make-up Sunday


@pytest.mark.parametrize(
    ("start", "n", "due", "why"),
    [
        # Acceptance (3 working days after receipt), counting from the day after receipt.
        ("2025-01-24", 3, "2025-02-05", "Fri receipt: Sun 1-26 (make-up), Mon 1-27, then Wed 2-5 after the break"),
        ("2025-01-27", 3, "2025-02-07", "receipt on the eve of 春节: 2-5, 2-6, 2-7 after the break"),
        ("2025-09-26", 3, "2025-09-30", "Sun 9-28 make-up day, Mon 9-29, Tue 9-30"),
        ("2026-02-13", 3, "2026-02-25", "Sat 2-14 make-up day, then 2-24 and 2-25 after the break"),
        # Publicity (10 working days) starting on the eve of a holiday.
        ("2025-01-27", 10, "2025-02-17", "2025 春节: Sat 2-8 counts, Sun 2-9 does not"),
        ("2025-09-30", 10, "2025-10-21", "2025 国庆: Sat 10-11 counts"),
        ("2026-02-14", 10, "2026-03-06", "2026 春节: starts on a make-up Saturday; Sat 2-28 counts"),
        ("2026-09-30", 10, "2026-10-20", "2026 国庆: Sat 10-10 counts"),
        # First registration (20 working days) across 中秋 and 国庆 2026.
        ("2026-09-18", 20, "2026-10-22", "Sun 9-20 and Sat 10-10 count; 9-25..27 and 10-1..7 do not"),
        ("2025-03-03", 0, "2025-03-03", "zero days: the start itself"),
        ("2025-03-08", 1, "2025-03-10", "start on a Saturday: the next working day is Monday"),
    ],
)
def test_add_working_days(start, n, due, why):
    assert add_working_days(D(start), n) == D(due), why
    assert working_days_between(D(start), D(due)) == n


def test_acceptance_deadline_over_the_2025_spring_festival():
    # Receipt Friday 1-24: Sat off, Sun 1-26 worked (1), Mon 1-27 (2), 1-28..2-4 off, Wed 2-5 (3).
    assert add_working_days(D("2025-01-24"), 2) == D("2025-01-27")
    assert add_working_days(D("2025-01-24"), 3) == D("2025-02-05")


def test_naive_weekday_counting_would_be_wrong():
    start = D("2025-01-27")
    d, k = start, 0
    while k < 10:
        d += timedelta(days=1)
        if d.weekday() < 5:
            k += 1
    assert d == D("2025-02-10") != add_working_days(start, 10)


def test_working_days_between():
    assert working_days_between(D("2025-01-27"), D("2025-01-27")) == 0
    assert working_days_between(D("2025-01-27"), D("2025-02-04")) == 0  # the whole 春节 break
    assert working_days_between(D("2025-01-27"), D("2025-02-09")) == 4  # 2-5, 2-6, 2-7, Sat 2-8
    assert working_days_between(D("2026-02-13"), D("2026-02-14")) == 1  # the make-up Saturday
    assert working_days_between(D("2025-01-01"), D("2025-12-31")) == 248  # 1-1 excluded (a holiday anyway)
    with pytest.raises(MalformedError, match="end 2025-01-01 is before start 2025-01-02"):
        working_days_between(D("2025-01-02"), D("2025-01-01"))


def test_2025_has_248_working_days():
    # 365 days − 104 weekend days − 18 holiday weekdays (1 + 6 + 1 + 3 + 1 + 6) + 5 make-up days = 248.
    assert sum(is_working_day(d) for d in _days("2025-01-01", "2025-12-31")) == 248
    assert working_days_between(D("2024-12-31"), D("2025-12-31")) == 248


def test_add_and_between_are_inverse():
    rng = random.Random(2025)
    for _ in range(300):
        start = D("2025-01-01") + timedelta(days=rng.randint(0, 600))
        n = rng.randint(0, 30)
        due = add_working_days(start, n)
        assert working_days_between(start, due) == n
        if n:
            assert is_working_day(due)
            assert working_days_between(start, due - timedelta(days=1)) == n - 1


def test_outside_the_calendar_is_the_operators_calendar_error():
    assert CALENDAR_FIRST_DAY == D("2004-01-01") and CALENDAR_LAST_DAY == D("2026-12-31")
    assert is_working_day(D("2026-12-31"))  # Thursday, last covered day
    with pytest.raises(CalendarError) as info:
        is_working_day(D("2027-01-04"))
    assert "2027-01-04 is outside the official holiday calendar: no State Council notice for 2027" in info.value.message
    assert "regledger calendar load" in info.value.message and "upgrade" not in info.value.message
    # not the clerk's input: an operator's gap (HTTP 503 calendar-missing)
    assert isinstance(info.value, OperatorError) and not isinstance(info.value, MalformedError)
    assert (info.value.year, info.value.problem) == (2027, "calendar-missing")
    with pytest.raises(CalendarError, match="2003-12-31 is outside"):
        is_working_day(D("2003-12-31"))
    with pytest.raises(CalendarError, match="2027-01-01 is outside"):
        add_working_days(D("2026-12-28"), 5)  # 12-29, 12-30, 12-31, then off the calendar
    assert add_working_days(D("2026-12-28"), 3) == D("2026-12-31")
    with pytest.raises(CalendarError, match="2027-01-02 is outside"):
        working_days_between(D("2026-12-01"), D("2027-01-02"))


def test_bad_arguments():
    with pytest.raises(TypeError, match="calendar date"):
        is_working_day(datetime(2025, 1, 26, 9))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_working_days("2025-01-26", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_working_days(D("2025-01-26"), 3.0)  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="cannot add -1 working days"):
        add_working_days(D("2025-01-26"), -1)


def test_deadlines_defaults_and_configuration():
    d = Deadlines()
    assert dataclasses.asdict(d) == {
        "accept": 3,
        "formal_review": 10,
        "publicity": 10,
        "first_registration": 20,
        "change": 20,
        "correction": 20,
        "cancellation": 20,
    }
    assert Deadlines.from_mapping({}) == d
    fujian = Deadlines.from_mapping({"first_registration": 30, "formal_review": 5})
    assert (fujian.first_registration, fujian.formal_review, fujian.accept) == (30, 5, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.accept = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mapping", "field", "reason"),
    [
        ({"publicty": 10}, "/deadlines/publicty", "unknown deadline(s) publicty"),
        ({"accept": -1}, "/deadlines/accept", "0..366, got -1"),
        ({"accept": "3"}, "/deadlines/accept", "got '3'"),
        ({"accept": True}, "/deadlines/accept", "got True"),
        ({"publicity": 10.5}, "/deadlines/publicity", "got 10.5"),
        ([("accept", 3)], "/deadlines", "must be a mapping"),
    ],
)
def test_deadlines_reject_bad_configuration(mapping, field, reason):
    with pytest.raises(MalformedError) as info:
        Deadlines.from_mapping(mapping)  # type: ignore[arg-type]
    assert info.value.field == field and reason in info.value.message
