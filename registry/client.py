"""Building registration statements as a clerk's client would: due dates computed, codes looked up.

Every statement that starts a clock must carry its due date (the workflow checks it), so clients
use these helpers instead of assembling payloads by hand.
"""

from __future__ import annotations

from typing import Any, Mapping

from regledger.ledger.entry import Statement, StatementSigner, sign_statement, utc_now
from regledger.ledger.store import LedgerStore

from .codes import make_code
from .fields import KIND_CODE_TYPE
from .policy import registration_subject
from .workdays import BUILTIN_CALENDAR, Calendar, Deadlines
from .workflow import china_date

__all__ = ["make_step", "next_code"]

_ACCEPT_CLOCK = ("registration.apply", "registration.change", "registration.correction", "registration.cancel",
                 "registration.resubmit")


def make_step(signer: StatementSigner, kind: str, registration: str, payload: Mapping[str, Any] | None = None, *,
              time: str | None = None, deadlines: Deadlines | None = None,
              calendar: Calendar = BUILTIN_CALENDAR) -> Statement:
    """Sign a workflow step, adding the due date the step's clock needs under `calendar`
    (the ledger's: `registry.calendar.stored_calendar(store)`; by default the package's alone)."""
    t = time or utc_now()
    day = china_date(t)
    dl = deadlines or Deadlines()
    p = dict(payload or {})
    if kind in _ACCEPT_CLOCK:
        p["accept_due"] = calendar.add_working_days(day, dl.accept).isoformat()
    elif kind == "registration.accept":
        p["review_due"] = calendar.add_working_days(day, dl.formal_review).isoformat()
    elif kind == "registration.publish":
        p["publicity_end"] = calendar.add_working_days(day, dl.publicity).isoformat()
    return sign_statement(signer, kind=kind, subject=registration, payload=p, time=t)


def next_code(store: LedgerStore, registration: str, *, time: str | None = None) -> str:
    """The code the next `registration.code` step for a first registration must carry."""
    state = store.get_states([registration_subject(registration)]).get(registration_subject(registration))
    if state is None:
        raise LookupError(f"no registration {registration}")
    if state.state.get("code"):
        return str(state.state["code"])
    year = china_date(time or utc_now()).year
    type_ = KIND_CODE_TYPE[state.state["subject_kind"]]
    prefix = f"PDR-{type_}-{state.state['region']}-{year}"
    counter = store.get_states([f"seq:{prefix}"]).get(f"seq:{prefix}")
    return make_code(type_, state.state["region"], year, (int(counter.state["last"]) if counter else 0) + 1)
