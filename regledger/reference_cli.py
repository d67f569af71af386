"""`regledger regions ...`: the GB/T 2260 table in force, and loading a newer one as signed statements."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from regledger.ledger.entry import sign_statement
from regledger.ledger.errors import MalformedError
from regledger.registry.reference import REGIONS_LOAD, REGIONS_SUBJECT, region_load_payloads, stored_region_table
from regledger.registry.regions import RegionTable, default_table, parse_records
from regledger.registry.workdays import iso_date
from regledger.registry.workflow import china_date

from .inputs import read_json_object

__all__ = ["add_regions_parser"]


def _table(args: argparse.Namespace) -> RegionTable:
    """The ledger's table in force, or the shipped one when there is no instance here."""
    from .cli import _home

    home = _home(args)
    return stored_region_table(home.open().store) if home.exists() else default_table()


def cmd_regions_show(args: argparse.Namespace) -> int:
    from regledger.ledger.entry import utc_now

    table = _table(args)
    on = iso_date(args.on, "--on") if args.on else china_date(utc_now())
    try:
        chain = table.chain(args.code, on, field="CODE")
    except MalformedError as exc:
        print(f"regledger: {args.code}: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "code": args.code,
                    "name": chain[0].name,
                    "level": chain[0].level,
                    "on": on.isoformat(),
                    "table": table.version,
                    "parents": [{"code": r.code, "name": r.name} for r in chain[1:]],
                    "windows": table.windows(args.code),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(f"{args.code} → " + " ← ".join(r.name for r in chain))
    for r in chain:
        print(f"  {r.code}  {r.name}  ({r.level}{', non-GB' if r.non_gb else ''})")
    print(f"table {table.version}, as of {on}")
    return 0


def _text(doc: dict[str, Any], name: str) -> str:
    """The file's non-empty string member `name`."""
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedError("expected a non-empty string", field=f"/{name}")
    return value


def cmd_regions_load(args: argparse.Namespace) -> int:
    from .cli import _home

    doc = read_json_object(args.file, "with version, source and records")
    version, source = _text(doc, "version"), _text(doc, "source")
    home = _home(args)
    ledger = home.open()
    in_force = stored_region_table(ledger.store)
    new = in_force.patched(parse_records(doc.get("records"), "/records"), version=version)
    admin = home.admin()
    payloads = list(region_load_payloads(new, in_force, version=version, source=source))
    # one batch: the table is amended by all of the file or none of it
    appended = ledger.append_batch(
        [sign_statement(admin, kind=REGIONS_LOAD, subject=REGIONS_SUBJECT, payload=p) for p in payloads], receipts=False
    )
    loaded = 0
    for a, payload in zip(appended, payloads, strict=True):
        loaded += len({r["code"] for r in payload["records"]})
        print(f"entry {a.entry.index}: {REGIONS_LOAD} of {len(payload['records'])} records")
    ledger.integrate()
    print(
        f"{loaded} codes changed; the table in force is now {version}"
        if loaded
        else "nothing to load: every code in the file is already in force as given"
    )
    return 0


def add_regions_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    regions = sub.add_parser("regions", parents=[common], help="the GB/T 2260 region table: show a code, load a table")
    s2 = regions.add_subparsers(dest="regions_command", required=True)

    s = s2.add_parser("show", parents=[common], help="a code, its name and its parent chain (exit 1 if unknown)")
    s.add_argument("code")
    s.add_argument("--on", help="the date to look the code up on (default: today, China time)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_regions_show)

    s = s2.add_parser("load", parents=[common], help="load a newer table (or changes) as signed regions.load entries")
    s.add_argument("file", help="JSON {version, source, records} in the format of registry/data/gbt2260.json")
    s.set_defaults(func=cmd_regions_load)
