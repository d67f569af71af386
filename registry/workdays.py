"""Working-day (工作日) clocks on China's official calendar, as a value.

The calendar is the State Council's annual holiday notice (国务院办公厅关于……部分节假日安排的通知):
public holidays and make-up working Saturdays and Sundays (调休补班).  A `Calendar` holds one
`CalendarYear` per year and says where each comes from: the `chinese_calendar` package (2004 to its
last notice, 2026 in version 1.11.0), unless the ledger holds a `calendar.year` statement for that
year (registry/calendar.py), which takes precedence.  A date no source covers raises CalendarError
(an operator's gap, never a guess): a deadline past the last loaded notice cannot be computed yet.
Caveat: the next year's notice can still change the last days of December of the last covered year
(the 2019 notice made Saturday 2018-12-29 a working day), so a deadline that ends in late December of
the last covered year is provisional until that notice is loaded.

Counting rule (domain.md §5): the count starts the day after the triggering date, so
``calendar.add_working_days(receipt_date, 3)`` is the last day to accept an application received on
``receipt_date``, and ``working_days_between(start, end)`` counts the working days in (start, end].

Dates are calendar dates in China (UTC+8).  A `datetime` is refused rather than silently truncated,
since its date depends on the time zone it is read in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from importlib.metadata import version
from typing import Any

from chinese_calendar import constants as _cc

from regledger.ledger.errors import MalformedError, OperatorError

__all__ = [
    "iso_date",
    "BUILTIN_CALENDAR",
    "CALENDAR_FIRST_DAY",
    "CALENDAR_LAST_DAY",
    "Calendar",
    "CalendarError",
    "CalendarYear",
    "Deadlines",
    "add_working_days",
    "is_working_day",
    "working_days_between",
]

#: the years the chinese_calendar package covers (whole years only)
CALENDAR_FIRST_DAY = date(min(_cc.holidays).year, 1, 1)
CALENDAR_LAST_DAY = date(max(_cc.holidays).year, 12, 31)
PACKAGE_SOURCE = f"chinese-calendar {version('chinese-calendar')}"
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarYear:
    """One year's notice: public holidays and make-up working days (调休上班), and where they come from.

    `index` is the ledger entry of the `calendar.year` statement in force (None: the package);
    `source` is the package's name and version, or the notice the statement cites.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str
    index: int | None = None

    def is_working_day(self, d: date) -> bool:
        # Same rule as chinese_calendar.is_workday, without its per-call scan of the whole table.
        return d in self.workdays or (d.weekday() < 5 and d not in self.holidays)

    def to_json(self) -> dict[str, Any]:
        """What `regledger calendar show --json` and GET /v1/calendar/{year} answer."""
        return {
            "year": self.year,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
            "source": self.source,
            "from": "package" if self.index is None else "ledger",
            "index": self.index,
        }


def _package_years() -> dict[int, CalendarYear]:
    years: dict[int, CalendarYear] = {}
    for y in range(CALENDAR_FIRST_DAY.year, CALENDAR_LAST_DAY.year + 1):
        years[y] = CalendarYear(
            y,
            frozenset(d for d in _cc.holidays if d.year == y),
            frozenset(d for d in _cc.workdays if d.year == y),
            PACKAGE_SOURCE,
        )
    return years


_PACKAGE_YEARS = _package_years()


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: Any, field: str) -> date:
    """A calendar date written YYYY-MM-DD, nothing else (date.fromisoformat also takes week dates
    such as 2027-W01-1 and 20270101); MalformedError naming `field` otherwise."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise MalformedError(f"expected an ISO date YYYY-MM-DD; {value!r} is not an ISO date", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError(f"{value!r} is not a calendar date ({exc}); expected YYYY-MM-DD", field=field) from None


class CalendarError(OperatorError):
    """A date the official holiday calendar does not cover: no notice loaded for its year (HTTP 503)."""

    def __init__(self, year: int, message: str, *, field: str = "") -> None:
        super().__init__(message, problem="calendar-missing", field=field)
        self.year = year


def _check_date(d: object, name: str) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"{name} must be a datetime.date (a calendar date in China), got {type(d).__name__}")
    return d


class Calendar:
    """The official calendar in force: the ledger's years (looked up through `ledger_year`) over the package's."""

    def __init__(self, ledger_year: Callable[[int], CalendarYear | None] = lambda year: None) -> None:
        self._ledger_year = ledger_year
        self._years: dict[int, CalendarYear | None] = {}

    def year(self, y: int) -> CalendarYear | None:
        """Year `y` as in force here, or None if no source covers it."""
        if y not in self._years:
            self._years[y] = self._ledger_year(y) or _PACKAGE_YEARS.get(y)
        return self._years[y]

    def covering(self, d: date) -> CalendarYear:
        got = self.year(d.year)
        if got is None:
            raise CalendarError(
                d.year,
                f"{d} is outside the official holiday calendar: no State Council notice "
                f"for {d.year} is loaded (the chinese-calendar package covers "
                f"{CALENDAR_FIRST_DAY.year}-{CALENDAR_LAST_DAY.year}); an administrator loads it "
                f"with `regledger calendar load FILE`",
            )
        return got

    def covered_until(self, today: date) -> date | None:
        """The last day of the unbroken run of covered years from `today`'s year (None if that year is not)."""
        y = today.year
        while self.year(y) is not None:
            y += 1
        return None if y == today.year else date(y - 1, 12, 31)

    def is_working_day(self, d: date) -> bool:
        """True on a working day: Monday-Friday that is not a public holiday, or a make-up working weekend day."""
        return self.covering(_check_date(d, "d")).is_working_day(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (counting starts the day after `start`); `start` itself if n == 0."""
        self.covering(_check_date(start, "start"))
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise MalformedError(f"cannot add {n} working days; expected n >= 0")
        d = start
        while n:
            d += _ONE_DAY
            n -= self.is_working_day(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days lie in (start, end]; 0 if end == start."""
        self.covering(_check_date(start, "start"))
        self.covering(_check_date(end, "end"))
        if end < start:
            raise MalformedError(f"end {end} is before start {start}; expected end >= start")
        count, d = 0, start + _ONE_DAY
        while d <= end:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count


#: the package's calendar alone (what a ledger with no calendar.year statement uses)
BUILTIN_CALENDAR = Calendar()
is_working_day = BUILTIN_CALENDAR.is_working_day
add_working_days = BUILTIN_CALENDAR.add_working_days
working_days_between = BUILTIN_CALENDAR.working_days_between


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
                raise MalformedError(
                    f"deadline {f.name} must be a whole number of working days 0..366, got {value!r}",
                    field=f"/{f.name}",
                )

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], *, field: str = "/deadlines") -> Deadlines:
        """Defaults overridden by `d` (e.g. a configuration section); unknown keys are refused."""
        if not isinstance(d, Mapping):
            raise MalformedError(
                f"deadlines must be a mapping of name to working days, got {type(d).__name__}", field=field
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise MalformedError(
                f"unknown deadline(s) {', '.join(unknown)}; expected only {', '.join(sorted(known))}",
                field=f"{field}/{unknown[0]}",
            )
        try:
            return cls(**d)
        except MalformedError as exc:
            raise MalformedError(exc.message, field=field + exc.field) from None
