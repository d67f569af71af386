"""`regledger calendar ...`: load a year's State Council notice, show a year, compute a due date."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from regledger.registry.workdays import iso_date

from .inputs import read_json_object

__all__ = ["add_calendar_parser"]


def cmd_load(args: argparse.Namespace) -> int:
    from regledger.ledger.entry import sign_statement
    from regledger.registry.calendar import CALENDAR_KIND

    from .cli import _home

    notice = read_json_object(args.file, '{"year", "holidays", "workdays", "source"}')
    home = _home(args)
    ledger = home.open()
    st = sign_statement(home.admin(), kind=CALENDAR_KIND, subject=str(notice.get("year")), payload=notice)
    index = ledger.append(st).entry.index
    ledger.integrate()
    print(
        f"loaded the {notice['year']} official calendar as entry {index}: {len(notice['holidays'])} holidays, "
        f"{len(notice['workdays'])} make-up working days; it is in force from this entry on"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from regledger.registry.calendar import describe_year

    from .cli import _home

    year = describe_year(_home(args).open().store, args.year)
    if args.json:
        print(json.dumps(year, ensure_ascii=False, indent=1))
        return 0
    where = year["source"] if year["from"] == "package" else f"ledger entry {year['index']}"
    if year["replaced"]:
        where += (
            f" (replaces entr{'ies' if len(year['replaced']) > 1 else 'y'} {', '.join(map(str, year['replaced']))})"
        )
    print(f"{year['year']}: from {where}")
    if year["from"] == "ledger":
        print(f"source: {year['source']}")
    for name, label in (("holidays", "holidays"), ("workdays", "make-up working days (调休上班)")):
        days = [f"{d} {date.fromisoformat(d).strftime('%a')}" for d in year[name]]
        print(f"{label} ({len(days)}): {', '.join(days) or '-'}")
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    from regledger.registry.calendar import stored_calendar

    from .cli import _home

    start = iso_date(args.start, "START")
    print(stored_calendar(_home(args).open().store).add_working_days(start, args.n).isoformat())
    return 0


def add_calendar_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    cal = sub.add_parser("calendar", parents=[common], help="the official holiday calendar: load, show, due dates")
    s2 = cal.add_subparsers(dest="calendar_command", required=True)
    s = s2.add_parser("load", parents=[common], help="load a year's State Council notice as a signed ledger entry")
    s.add_argument("file", help='JSON: {"year": 2027, "holidays": [...], "workdays": [...], "source": "..."}')
    s.set_defaults(func=cmd_load)
    s = s2.add_parser("show", parents=[common], help="a year's holidays and make-up working days, and their source")
    s.add_argument("year", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    s = s2.add_parser("due", parents=[common], help="the N-th working day after START (START not counted)")
    s.add_argument("start", help="a date, YYYY-MM-DD")
    s.add_argument("n", type=int)
    s.set_defaults(func=cmd_due)
