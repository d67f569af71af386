"""GB/T 2260 administrative-division codes, validated against the table in force on a given date.

The table is data (``registry/data/gbt2260.json`` ships a PARTIAL table for the demo and tests;
deployments load the full 民政部 table with `load_table(path)`).  Format::

    {"source": "...", "version": "...",
     "records": [{"code": "130323", "name": "抚宁县", "level": "county",
                  "valid_from": "2000-01-01", "valid_to": "2015-07-01"}, ...]}

A record is valid on dates ``valid_from <= d < valid_to`` (``valid_to`` null: still in force).  One code
may have several records with disjoint windows (codes are occasionally reused).  Optional members:
``non_gb`` (true for configured codes outside GB/T 2260, such as 660000 新疆生产建设兵团) and ``note``.

Codes change every year, so a code is checked "as of the event date": a record made while a code was
in force stays valid after the code is retired (domain.md §9).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

from ledger.errors import MalformedError

__all__ = ["LEVELS", "Region", "RegionTable", "default_table", "load_table"]

Level = Literal["province", "prefecture", "county"]
LEVELS: tuple[str, ...] = ("province", "prefecture", "county")

_CODE_RE = re.compile(r"[0-9]{6}")
_RECORD_KEYS = {"code", "name", "level", "valid_from", "valid_to", "non_gb", "note"}
_REQUIRED_KEYS = ("code", "name", "level", "valid_from", "valid_to")


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative division as the table has it on the date asked about."""

    code: str
    name: str
    level: Level
    province_code: str
    non_gb: bool = False


@dataclass(frozen=True, slots=True)
class _Record:
    region: Region
    valid_from: date
    valid_to: date | None

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)


def _level_of(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _parse_date(value: Any, field: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise MalformedError(f"expected an ISO date YYYY-MM-DD, got {value!r}", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError(f"{value!r} is not a calendar date ({exc}); expected YYYY-MM-DD", field=field) from None


def _check_on(on: date) -> None:
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError(f"expected a datetime.date (the event's calendar date in China), got {type(on).__name__}")


class RegionTable:
    """An immutable, versioned code table.  Build it with `load`, `from_dict` or `default_table()`."""

    def __init__(self, records: Mapping[str, tuple[_Record, ...]], *, version: str, source: str) -> None:
        self._records = dict(records)
        self.version = version
        self.source = source

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> RegionTable:
        """Read a table from `path` (UTF-8 JSON), or the shipped partial table if `path` is None."""
        if path is None:
            text = resources.files(__package__).joinpath("data", "gbt2260.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedError(f"the region table is not valid JSON ({exc}); expected a JSON object "
                                 f"with 'version' and 'records'") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> RegionTable:
        """Build a table from the parsed JSON document, checking every record."""
        if not isinstance(data, dict):
            raise MalformedError("the region table must be a JSON object with 'version' and 'records'")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise MalformedError("expected a non-empty string naming the table version", field="/version")
        source = data.get("source", "")
        if not isinstance(source, str):
            raise MalformedError("expected a string describing where the table comes from", field="/source")
        rows = data.get("records")
        if not isinstance(rows, list) or not rows:
            raise MalformedError("expected a non-empty array of region records", field="/records")

        by_code: dict[str, list[_Record]] = {}
        for i, row in enumerate(rows):
            rec = cls._parse_record(row, f"/records/{i}")
            windows = by_code.setdefault(rec.region.code, [])
            for other in windows:
                if _overlaps(rec, other):
                    raise MalformedError(
                        f"code {rec.region.code} has overlapping validity windows "
                        f"({_window(other)} and {_window(rec)}); expected disjoint windows", field=f"/records/{i}")
            windows.append(rec)

        for i, row in enumerate(rows):
            code = row["code"]
            province = code[:2] + "0000"
            if province not in by_code:
                raise MalformedError(f"code {code} belongs to province {province}, which is not in the table; "
                                     f"expected every province-level code to be listed", field=f"/records/{i}/code")
        return cls({c: tuple(sorted(w, key=lambda r: r.valid_from)) for c, w in by_code.items()},
                   version=version, source=source)

    @staticmethod
    def _parse_record(row: Any, at: str) -> _Record:
        if not isinstance(row, dict):
            raise MalformedError("expected a record object {code, name, level, valid_from, valid_to}", field=at)
        unknown = sorted(set(row) - _RECORD_KEYS)
        if unknown:
            raise MalformedError(f"unknown member(s) {', '.join(unknown)}; expected only "
                                 f"{', '.join(sorted(_RECORD_KEYS))}", field=at)
        for key in _REQUIRED_KEYS:
            if key not in row:
                raise MalformedError(f"missing member {key!r}", field=at)
        code = row["code"]
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise MalformedError(f"expected a 6-digit code, got {code!r}", field=f"{at}/code")
        name = row["name"]
        if not isinstance(name, str) or not name.strip():
            raise MalformedError("expected a non-empty name", field=f"{at}/name")
        level = row["level"]
        if level not in LEVELS:
            raise MalformedError(f"expected one of {', '.join(LEVELS)}, got {level!r}", field=f"{at}/level")
        if level != _level_of(code):
            raise MalformedError(f"code {code} has the shape of a {_level_of(code)}-level code, but the record "
                                 f"says {level}", field=f"{at}/level")
        valid_from = _parse_date(row["valid_from"], f"{at}/valid_from")
        valid_to = None if row["valid_to"] is None else _parse_date(row["valid_to"], f"{at}/valid_to")
        if valid_to is not None and valid_to <= valid_from:
            raise MalformedError(f"valid_to {valid_to} is not after valid_from {valid_from}; expected a "
                                 f"non-empty window", field=f"{at}/valid_to")
        non_gb = row.get("non_gb", False)
        if not isinstance(non_gb, bool):
            raise MalformedError(f"expected true or false, got {non_gb!r}", field=f"{at}/non_gb")
        if "note" in row and not isinstance(row["note"], str):
            raise MalformedError("expected a string", field=f"{at}/note")
        region = Region(code=code, name=name, level=level, province_code=code[:2] + "0000", non_gb=non_gb)
        return _Record(region, valid_from, valid_to)

    # -- queries ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, code: object) -> bool:
        return code in self._records

    def validate(self, code: str, on: date, *, field: str = "/region") -> Region:
        """The region `code` denotes on date `on`; MalformedError naming `field` if it is not valid then."""
        _check_on(on)
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise MalformedError(f"a region code is 6 digits (GB/T 2260), got {code!r}", field=field)
        windows = self._records.get(code)
        if not windows:
            raise MalformedError(f"unknown region code {code}: not in the administrative-division table "
                                 f"(version {self.version})", field=field)
        for rec in windows:
            if rec.covers(on):
                return rec.region
        if on < windows[0].valid_from:
            raise MalformedError(f"region code {code} ({windows[0].region.name}) is not yet valid on {on}; "
                                 f"expected a date on or after {windows[0].valid_from}", field=field)
        retired = max((r for r in windows if r.valid_to is not None and r.valid_to <= on),
                      key=lambda r: r.valid_to)  # type: ignore[arg-type, return-value]
        nxt = [r for r in windows if r.valid_from > on]
        later = f"; it is valid again from {nxt[0].valid_from}" if nxt else ""
        raise MalformedError(f"region code {code} ({retired.region.name}) was retired on {retired.valid_to} and "
                             f"is not valid on {on}{later}", field=field)


def _window(r: _Record) -> str:
    return f"[{r.valid_from}, {r.valid_to or '…'})"


def _overlaps(a: _Record, b: _Record) -> bool:
    a_end = a.valid_to or date.max
    b_end = b.valid_to or date.max
    return a.valid_from < b_end and b.valid_from < a_end


def load_table(path: str | Path) -> RegionTable:
    """Load a deployment's full table (e.g. the 民政部 table converted to this JSON format)."""
    return RegionTable.load(path)


@lru_cache(maxsize=1)
def default_table() -> RegionTable:
    """The shipped partial table, loaded once."""
    return RegionTable.load()
