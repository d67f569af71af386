"""Working-day (工作日) clocks on China's official calendar.

The calendar is the State Council's annual holiday notice (国务院办公厅关于……部分节假日安排的通知),
including make-up working Saturdays and Sundays (调休补班), as shipped in the `chinese_calendar` package.
That package covers whole years only (2004 to its last notice, 2026 in version 1.11.0); a date outside
raises CalendarError, never a guess: a deadline past the last published notice cannot be computed yet.
Caveat: the next year's notice can still change the last days of December of the last covered year
(the 2019 notice made Saturday 2018-12-29 a working day), so a deadline that ends in late December of
the last covered year is provisional until that notice is out.

Counting rule (domain.md §5): the count starts the day after the triggering date, so
``add_working_days(receipt_date, 3)`` is the last day to accept an application received on
``receipt_date``, and ``working_days_between(start, end)`` counts the working days in (start, end].

Dates are calendar dates in China (UTC+8).  A `datetime` is refused rather than silently truncated,
since its date depends on the time zone it is read in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from chinese_calendar import constants as _cc

from ledger.errors import MalformedError

__all__ = [
    "CALENDAR_FIRST_DAY",
    "CALENDAR_LAST_DAY",
    "CalendarError",
    "Deadlines",
    "add_working_days",
    "is_working_day",
    "working_days_between",
]

CALENDAR_FIRST_DAY = date(min(_cc.holidays).year, 1, 1)
CALENDAR_LAST_DAY = date(max(_cc.holidays).year, 12, 31)
_ONE_DAY = timedelta(days=1)
# The notices as data: public holidays and make-up working days (调休上班), keyed by date.
_HOLIDAYS = frozenset(_cc.holidays)
_MAKE_UP_WORKDAYS = frozenset(_cc.workdays)


def _workday(d: date) -> bool:
    # Same rule as chinese_calendar.is_workday, without its per-call scan of the whole table.
    return d in _MAKE_UP_WORKDAYS or (d.weekday() < 5 and d not in _HOLIDAYS)


class CalendarError(MalformedError):
    """A date the official holiday calendar does not cover (no State Council notice loaded for its year)."""


def _check_date(d: object, name: str) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"{name} must be a datetime.date (a calendar date in China), got {type(d).__name__}")
    return d


def _covered(d: date) -> date:
    if not CALENDAR_FIRST_DAY <= d <= CALENDAR_LAST_DAY:
        raise CalendarError(
            f"{d} is outside the official holiday calendar, which covers {CALENDAR_FIRST_DAY} to "
            f"{CALENDAR_LAST_DAY}; expected a date in that range (the State Council notice for {d.year} "
            f"is not loaded: upgrade the chinese-calendar package once it is published)")
    return d


def is_working_day(d: date) -> bool:
    """True on a working day: Monday-Friday that is not a public holiday, or a make-up working weekend day."""
    return _workday(_covered(_check_date(d, "d")))


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (counting starts the day after `start`); `start` itself if n == 0."""
    _covered(_check_date(start, "start"))
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise MalformedError(f"cannot add {n} working days; expected n >= 0")
    d = start
    while n:
        d = _covered(d + _ONE_DAY)
        if _workday(d):
            n -= 1
    return d


def working_days_between(start: date, end: date) -> int:
    """How many working days lie in (start, end]; 0 if end == start."""
    _covered(_check_date(start, "start"))
    _covered(_check_date(end, "end"))
    if end < start:
        raise MalformedError(f"end {end} is before start {start}; expected end >= start")
    count, d = 0, start + _ONE_DAY
    while d <= end:
        count += _workday(d)
        d += _ONE_DAY
    return count


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Time limits in working days.  Every default awaits verification against 发改数据规〔2025〕26号.

    accept              受理: within 3 working days of receipt [Q Fujian; national R]
    formal_review       形式审核: 10 [R, unverified recollection]
    publicity           公示: 10 [Q Fujian; national R]
    first_registration  首次登记: within 20 after operation starts / delivery [Q]
    change, correction, cancellation   变更 / 更正 / 注销: 20 [R, unverified]
    """

    accept: int = 3
    formal_review: int = 10
    publicity: int = 10
    first_registration: int = 20
    change: int = 20
    correction: int = 20
    cancellation: int = 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
                raise MalformedError(f"deadline {f.name} must be a whole number of working days 0..366, "
                                     f"got {value!r}", field=f"/{f.name}")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], *, field: str = "/deadlines") -> Deadlines:
        """Defaults overridden by `d` (e.g. a configuration section); unknown keys are refused."""
        if not isinstance(d, Mapping):
            raise MalformedError(f"deadlines must be a mapping of name to working days, got {type(d).__name__}",
                                 field=field)
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise MalformedError(f"unknown deadline(s) {', '.join(unknown)}; expected only "
                                 f"{', '.join(sorted(known))}", field=f"{field}/{unknown[0]}")
        try:
            return cls(**d)
        except MalformedError as exc:
            raise MalformedError(exc.message, field=field + exc.field) from None
