"""Building registration statements as a clerk's client would: due dates computed, codes looked up.

Every statement that starts a clock must carry its due date (the workflow checks it), and a first
`registration.code` must carry the next code in its series.  The server fills both into a draft
(POST /v1/drafts, `draft_payload`); `make_step` does the same for code that holds the ledger itself
(the demo, tests).  The registration lookups a draft needs are all in `next_code`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from regledger.ledger.entry import Statement, StatementSigner, sign_statement, utc_now
from regledger.ledger.store import LedgerStore

from .state import next_code, registration_key
from .workdays import BUILTIN_CALENDAR, Calendar, Deadlines
from .workflow import china_date, open_objections

__all__ = ["DUE_DATES", "draft_payload", "make_step", "next_code", "with_due_date"]

_ACCEPT_CLOCK = (
    "registration.apply",
    "registration.change",
    "registration.correction",
    "registration.cancel",
    "registration.resubmit",
)
#: statement kind -> the due date it carries (computed, never chosen by the clerk)
DUE_DATES: dict[str, str] = {
    **{k: "accept_due" for k in _ACCEPT_CLOCK},
    "registration.accept": "review_due",
    "registration.publish": "publicity_end",
}


def _working_days(name: str, dl: Deadlines) -> int:
    return {"accept_due": dl.accept, "review_due": dl.formal_review, "publicity_end": dl.publicity}[name]


def with_due_date(
    kind: str, payload: Mapping[str, Any] | None, day: date, *, calendar: Calendar, deadlines: Deadlines | None = None
) -> dict[str, Any]:
    """`payload` with the due date a `kind` step taken on `day` (China time) must carry, if it carries one."""
    p = dict(payload or {})
    name = DUE_DATES.get(kind)
    if name is not None:
        p[name] = calendar.add_working_days(day, _working_days(name, deadlines or Deadlines())).isoformat()
    return p


def make_step(
    signer: StatementSigner,
    kind: str,
    registration: str,
    payload: Mapping[str, Any] | None = None,
    *,
    time: str | None = None,
    deadlines: Deadlines | None = None,
    calendar: Calendar = BUILTIN_CALENDAR,
) -> Statement:
    """Sign a workflow step, adding the due date the step's clock needs under `calendar`
    (the ledger's: `registry.calendar.stored_calendar(store)`; by default the package's alone)."""
    t = time or utc_now()
    p = with_due_date(kind, payload, china_date(t), calendar=calendar, deadlines=deadlines)
    return sign_statement(signer, kind=kind, subject=registration, payload=p, time=t)


def draft_payload(
    store: LedgerStore,
    kind: str,
    registration: str,
    payload: Mapping[str, Any],
    *,
    time: str,
    calendar: Calendar,
    deadlines: Deadlines | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The payload the server would accept for a step the clerk decided on, and warnings for the clerk:
    the due date computed on the ledger's calendar, the next code for a first `registration.code`, and for a
    `registration.decide` that cites no objection the oldest one still open (said in a warning)."""
    warnings: list[str] = []
    p = with_due_date(kind, payload, china_date(time), calendar=calendar, deadlines=deadlines)
    name = DUE_DATES.get(kind)
    if name is not None and name in payload and payload[name] != p[name]:
        warnings.append(f"payload.{name} was {payload[name]!r}; the ledger's calendar makes it {p[name]}")
    if kind == "registration.code":
        try:
            code = next_code(store, registration, time=time)
        except LookupError:
            code = None  # the dry run says what is wrong with a step on a registration that does not exist
        if code is not None:
            if "code" in payload and payload["code"] != code:
                warnings.append(f"payload.code was {payload['code']!r}; the next code here is {code}")
            p["code"] = code
    if kind == "registration.decide" and "objection" not in payload:
        found = store.get_state(registration_key(registration))
        pending = open_objections(found.state) if found is not None else []
        if pending:
            p["objection"] = pending[0]
            warnings.append(
                f"payload.objection: the oldest open objection, log index {pending[0]}"
                + (f" (open: {', '.join(map(str, pending))})" if len(pending) > 1 else "")
            )
    return p, warnings
