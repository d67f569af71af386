"""Public disclosure: the lists anyone may read, overdue steps, and the annual report (信息披露)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from typing import Any

from regledger.ledger.entry import format_time
from regledger.ledger.errors import MalformedError
from regledger.ledger.policy import replay
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import LedgerStore, StateQuery, SubjectState

from .policy import RegistryPolicy
from .state import is_registration_key
from .workflow import (
    CHINA,
    FORMAL_REVIEW,
    OBJECTION_UNDER_REVIEW,
    PUBLICITY,
    REVIEWED,
    SUBMITTED,
    open_objections,
    region_prefix,
)

__all__ = ["PUBLIC_LISTS", "annual_report", "iter_registrations", "overdue", "registrar_work"]

#: the public lists: 公示中, 已登记, 已注销, 已撤销
PUBLIC_LISTS = {"publicity": "PUBLICITY", "registered": "CODED", "cancelled": "CANCELLED", "revoked": "REVOKED"}


def iter_registrations(store: LedgerStore, query: StateQuery) -> Iterator[SubjectState]:
    """Every registration matching `query`, page by page (cursor = subject)."""
    if query.limit < 1:
        raise MalformedError("page size must be at least 1", field="/limit")
    after = query.after
    while True:
        page = store.find_states(
            StateQuery(query.kind, query.status, query.region_prefix, query.institution, query.text, after, query.limit)
        )
        for st in page:
            if is_registration_key(st.subject):
                yield st
        if len(page) < query.limit:
            return
        after = page[-1].subject


def overdue(store: LedgerStore, on: date) -> list[dict[str, Any]]:
    """Applications whose acceptance or formal review is past its statutory due date on `on`."""
    out = []
    for status, due_field in ((SUBMITTED, "accept_due"), (FORMAL_REVIEW, "review_due")):
        for st in iter_registrations(store, StateQuery(status=status, limit=500)):
            due = st.state.get(due_field)
            if due and date.fromisoformat(due) < on:
                out.append(
                    {
                        "registration": st.state["registration"],
                        "status": status,
                        "due": due,
                        "name": st.name,
                        "region": st.region,
                        "days_late": (on - date.fromisoformat(due)).days,
                    }
                )
    return sorted(out, key=lambda r: (r["due"], r["registration"]))


#: status -> (the registrar's task, the state member holding its due date)
_WORK = {
    SUBMITTED: ("accept", "accept_due"),
    FORMAL_REVIEW: ("review", "review_due"),
    PUBLICITY: ("publicity", "publicity_end"),
    OBJECTION_UNDER_REVIEW: ("decide", None),
    REVIEWED: ("code", None),
}


def registrar_work(store: LedgerStore, region: str, on: date) -> list[dict[str, Any]]:
    """What a registrar serving `region` has to do on `on` (China time): applications to accept (受理) and to
    review by their due dates, registrations in publicity until their end dates, objections to decide, and
    registrations to code; overdue items first, then by due date.

    A registration in publicity with objections lodged and not decided is a `decide` item; one whose publicity
    ended with none open is a `code` item.  `objections` lists the open objections' log indexes and hashes."""
    prefix = region_prefix(region)
    out = []
    for status, (task, due_field) in _WORK.items():
        for st in iter_registrations(store, StateQuery(status=status, region_prefix=prefix, limit=500)):
            state = st.state
            due: str | None = state.get(due_field) if due_field else None
            past = due is not None and date.fromisoformat(due) < on
            open_ = open_objections(state)
            item_task = task
            if open_:
                item_task = "decide"
            elif status == PUBLICITY and past:
                item_task = "code"
            overdue_ = item_task in ("accept", "review") and past
            events = {h["index"]: h for h in state.get("history", [])}
            out.append(
                {
                    "registration": state["registration"],
                    "name": st.name,
                    "kind": st.kind,
                    "region": st.region,
                    "status": status,
                    "task": item_task,
                    "due": due,
                    "overdue": overdue_,
                    "days_late": (on - date.fromisoformat(due)).days if overdue_ and due is not None else 0,
                    "objections": [
                        {
                            "index": i,
                            "kind": events[i]["kind"],
                            "time": events[i]["time"],
                            "document_sha256": events[i].get("document_sha256"),
                        }
                        for i in open_
                    ],
                }
            )
    return sorted(out, key=lambda r: (not r["overdue"], r["due"] or "9999-99-99", r["registration"]))


def annual_report(ledger: Ledger, institution: str, as_of: date) -> dict[str, Any]:
    """An operating institution's disclosure as of the end of `as_of` (China time), from the entries alone."""
    end = datetime.combine(as_of, time(23, 59, 59, 999000), CHINA)
    states = replay(ledger.policy or RegistryPolicy(), ledger.iter_leaves(), upto_time=format_time(end))
    regs = [s.state for k, s in states.items() if is_registration_key(k)]

    def summary(r: Mapping[str, Any]) -> dict[str, Any]:
        f = r["fields"]
        out = {"registration": r["registration"], "code": r["code"], "status": r["status"], "name": f["name"]}
        for k in ("public_welfare", "price_cap_ref", "price", "form", "authorisation", "source_codes"):
            if k in f:
                out[k] = f[k]
        return out

    products = [
        r
        for r in regs
        if r["subject_kind"] == "product"
        and r["code"]
        and institution in (r["fields"]["operator_uscc"], r["fields"]["holder"]["uscc"])
    ]
    sources = sorted({c for p in products for c in p["fields"]["source_codes"]})
    resources = [r for r in regs if r["subject_kind"] == "resource" and r["code"] in sources]
    inst = [r for r in regs if r["subject_kind"] == "institution" and r["fields"]["holder"]["uscc"] == institution]
    return {
        "institution": institution,
        "as_of": as_of.isoformat(),
        "institution_registrations": [summary(r) for r in inst],
        "authorised_resources": [summary(r) for r in resources],
        "products_and_services": [summary(p) for p in products],
        "note": "generated from the ledger's entries sequenced up to the end of as_of (China time)",
    }
