"""Reference tables as ledger data: `regions.load` statements amend the shipped GB/T 2260 table.

A `regions.load` statement (payload ``{"version", "source", "records": [...]}``, records in the
format of ``registry/data/gbt2260.json``) replaces, from its index on, every window of each code it
lists: to add a code, list it; to retire one, list it again with its ``valid_to``; to rename one,
list both windows.  Codes it does not list stay as they were.  A whole new table is loaded as
several statements (each must stay under the 60,000-byte statement limit), which
`region_load_statements` cuts from the difference to the table in force.

Who may load: on an instance with no parent, an admin key; on an instance with a parent, only the
parent's key, which relays what the top of the cascade loaded (sync/cascade.py `send_reference_data`;
the parent rule is sync/policy.py's, for every RELAYED_KINDS statement).

Subject state kept (rebuildable from the entries):
    regions     {"version", "loads": [{"index", "version", "source", "digest", "codes"}],
                 "records": {code: [record, ...]}}  -- every code the ledger has amended
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from regledger.ledger.entry import Entry, canonical_json
from regledger.ledger.errors import ConflictError, MalformedError
from regledger.ledger.policy import StateMap
from regledger.ledger.store import KeyRecord, LedgerStore, SubjectState

from .calendar import loaded_years
from .key_scope import require_reference_signer
from .regions import RegionTable, default_table, parse_records

__all__ = [
    "REGIONS_LOAD",
    "REGIONS_SUBJECT",
    "apply_regions_load",
    "load_digest",
    "reference_entries_due",
    "region_load_payloads",
    "stored_region_table",
    "table_in_force",
]

REGIONS_LOAD = "regions.load"
REGIONS_SUBJECT = "regions"
#: payload bytes per statement when a table is cut into several (the statement limit is 60,000)
CHUNK_BYTES = 45_000
#: amended tables by the digests of the loads that made them, most recently used last
_AMENDED: OrderedDict[tuple[str, ...], RegionTable] = OrderedDict()
_AMENDED_LOCK = threading.Lock()


def load_digest(payload: Mapping[str, Any]) -> str:
    """What identifies a load across the cascade: the SHA-256 of its canonical payload."""
    return hashlib.sha256(canonical_json(dict(payload))).hexdigest()


def table_in_force(state: SubjectState | None) -> RegionTable:
    """The shipped table amended by every `regions.load` up to the state's index."""
    if state is None:
        return default_table()
    # the records are a fold of the loads in order, so the loads' digests name the amended table
    key = tuple(load["digest"] for load in state.state["loads"])
    with _AMENDED_LOCK:
        table = _AMENDED.get(key)
        if table is not None:
            _AMENDED.move_to_end(key)
            return table
    rows = [r for recs in state.state["records"].values() for r in recs]
    table = default_table().patched(parse_records(rows, "/records"), version=state.state["version"])
    with _AMENDED_LOCK:
        _AMENDED[key] = table
        while len(_AMENDED) > 8:
            _AMENDED.popitem(last=False)
    return table


def stored_region_table(store: LedgerStore) -> RegionTable:
    """The table in force at the head of a ledger's store."""
    return table_in_force(store.get_state(REGIONS_SUBJECT))


def _text(payload: Mapping[str, Any], name: str) -> str:
    v = payload.get(name)
    if not isinstance(v, str) or not v.strip() or len(v) > 500:
        raise MalformedError("expected a non-empty string of at most 500 characters", field=f"/payload/{name}")
    return v


def apply_regions_load(entry: Entry, signer: KeyRecord, states: StateMap) -> None:
    """Check a `regions.load` statement and fold it into the `regions` state (or raise to refuse it)."""
    require_reference_signer(REGIONS_LOAD, signer)
    if entry.statement.subject != REGIONS_SUBJECT:
        raise MalformedError(f"the subject of a {REGIONS_LOAD} statement is {REGIONS_SUBJECT!r}", field="/subject")
    p = entry.statement.payload
    unknown = sorted(set(p) - {"version", "source", "records"})
    if unknown:
        raise MalformedError(
            f"unknown member(s) {', '.join(unknown)}; expected version, source, records", field="/payload"
        )
    version, source = _text(p, "version"), _text(p, "source")
    by_code = parse_records(p.get("records"), "/payload/records")
    current = states.get(REGIONS_SUBJECT)
    old = current.state if current else {"loads": [], "records": {}}
    digest = load_digest(p)
    if any(load["digest"] == digest for load in old["loads"]):
        raise ConflictError(f"this table was already loaded (digest {digest}); a correction needs a new version")
    table_in_force(current).patched(by_code, version=version)  # refuses a code whose province is unknown
    records = dict(old["records"])
    for code in by_code:
        records[code] = [r for r in p["records"] if r["code"] == code]
    load = {"index": entry.index, "version": version, "source": source, "digest": digest, "codes": len(by_code)}
    states.put(
        SubjectState(
            REGIONS_SUBJECT,
            {"version": version, "loads": [*old["loads"], load], "records": records},
            entry.index,
            kind="regions",
            name=version,
        )
    )


def region_load_payloads(
    new: RegionTable, in_force: RegionTable, *, version: str, source: str
) -> Iterator[dict[str, Any]]:
    """`regions.load` payloads that turn `in_force` into `new`: every code whose windows differ, in chunks."""
    changed = [new.windows(code) for code in sorted(new.codes()) if new.windows(code) != in_force.windows(code)]
    chunk: list[dict[str, Any]] = []
    size = 0
    for windows in changed:
        cost = len(canonical_json(windows))
        if chunk and size + cost > CHUNK_BYTES:
            yield {"version": version, "source": source, "records": chunk}
            chunk, size = [], 0
        chunk.extend(windows)
        size += cost
    if chunk:
        yield {"version": version, "source": source, "records": chunk}


def reference_entries_due(
    store: LedgerStore, mirrored: Callable[[list[str]], Mapping[str, SubjectState | None]]
) -> list[int]:
    """Indexes, in log order, of the reference entries in force here (each year's calendar notice,
    every region load) that a child does not show yet; `mirrored(subjects)` gives the child's
    states for these subjects as this instance mirrors them.  What the cascade re-signs and sends
    down (sync.cascade): the domain knows how it keeps each kind, the cascade only relays entries."""
    years = loaded_years(store)
    regions = store.get_state(REGIONS_SUBJECT)
    theirs = mirrored([st.subject for st in years] + [REGIONS_SUBJECT])
    due = [
        st.state["index"]
        for st in years
        if (got := theirs.get(st.subject)) is None or got.state["payload"] != st.state["payload"]
    ]
    if regions is not None:
        held = theirs.get(REGIONS_SUBJECT)
        have = {load["digest"] for load in held.state["loads"]} if held is not None else set()
        due += [load["index"] for load in regions.state["loads"] if load["digest"] not in have]
    return sorted(due)
