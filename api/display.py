"""What the public pages show beside a bare code: names from the reference tables, and what a change
step changed.

Nothing here fails on odd data: an unknown code or value is shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from regledger.ledger.entry import Entry
from regledger.ledger.errors import LedgerError
from regledger.ledger.store import LedgerStore, StateQuery
from regledger.registry.industries import default_industries
from regledger.registry.reference import stored_region_table
from regledger.registry.regions import RegionTable

__all__ = ["Names", "field_changes"]

#: fields whose changes are shown by their parts (one row per changed member)
_NESTED = ("holder", "agent", "classification", "storage", "time_range", "authorisation")
#: the steps whose payload carries the full particulars
_FIELD_STEPS = ("registration.apply", "registration.change", "registration.correction", "registration.resubmit")


class Names:
    """Names for the codes on one page, from the ledger's reference tables as they are now."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.regions: RegionTable | None
        try:
            self.regions = stored_region_table(store)
        except LedgerError:  # an unreadable state: fall back to showing codes
            self.regions = None
        self._institutions: dict[str, str] = {}

    def region(self, code: Any) -> str:
        """The region's name, with its prefecture and province when it is a county ('' if unknown)."""
        if not isinstance(code, str) or self.regions is None:
            return ""
        return self.regions.display_name(code)

    def industry(self, code: Any) -> str:
        return default_industries().name(code)

    def institution(self, uscc: Any) -> str:
        """The name under which the institution registered anything here ('' if none)."""
        if not isinstance(uscc, str) or not uscc or len(uscc) > 18:
            return ""
        if uscc not in self._institutions:
            found = self.store.find_states(StateQuery(institution=uscc, limit=1))
            fields = found[0].state.get("fields") if found and isinstance(found[0].state, Mapping) else None
            holder = fields.get("holder") if isinstance(fields, Mapping) else None
            name = holder.get("name") if isinstance(holder, Mapping) else None
            self._institutions[uscc] = name if isinstance(name, str) else ""
        return self._institutions[uscc]


def field_changes(store: LedgerStore, history: Iterable[Mapping[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """index -> [{field, old, new}] for each change or correction in `history`, against the particulars
    the step before it filed (read from the entries themselves)."""
    out: dict[int, list[dict[str, Any]]] = {}
    before: Mapping[str, Any] | None = None
    for h in history:
        index = h.get("index")
        if h.get("kind") not in _FIELD_STEPS or not isinstance(index, int) or h.get("cascade_index") is not None:
            continue
        fields = _fields_at(store, index)
        if fields is None:
            continue
        if before is not None and h.get("kind") in ("registration.change", "registration.correction"):
            out[index] = _diff(before, fields)
        before = fields
    return out


def _fields_at(store: LedgerStore, index: int) -> Mapping[str, Any] | None:
    try:
        leaf = store.read_entries(index, index + 1)[0][0]
        fields = Entry.from_leaf(leaf).statement.payload.get("fields")
    except (LedgerError, IndexError):
        return None
    return fields if isinstance(fields, Mapping) else None


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in list(dict.fromkeys([*old, *new])):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in _NESTED and isinstance(a, Mapping) and isinstance(b, Mapping):
            rows += [{"field": key, "member": r["field"], "old": r["old"], "new": r["new"]} for r in _diff(a, b)]
        else:
            rows.append({"field": key, "member": None, "old": a, "new": b})
    return rows
