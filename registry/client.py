"""Building registration statements as a clerk's client would: due dates computed, codes looked up.

Every statement that starts a clock must carry its due date (the workflow checks it), so clients
use these helpers instead of assembling payloads by hand.
"""

from __future__ import annotations

from typing import Any, Mapping

from regledger.ledger.entry import Statement, StatementSigner, sign_statement, utc_now
from .state import next_code
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
