"""Writes: a clerk POSTs a statement signed with their registered key.

The signed statement is the request's authentication: it names the key, carries a `time`
(within Settings.max_skew_seconds of the server clock) and a `nonce` (used once per key, enforced
by the ledger's ReplayGuard), and the ledger checks the signature, the key's validity, the role
and the institution/region scope before anything is stored.  The identical statement sent again
(a retry after a lost answer) is answered as the first time, with 200 instead of 201.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from regledger.ledger.entry import Statement
from regledger.ledger.errors import UnknownKeyError
from regledger.ledger.fold import verify_statement
from regledger.ledger.policy import ReplayError, nonce_used_at
from regledger.ledger.sequencer import Appended, Ledger
from regledger.registry.state import registration_key
from regledger.sync.policy import RELAYED_KINDS

from ..deps import LedgerDep, SettingsDep
from ..kinds import ALLOWED_KINDS
from ..problems import Problem
from ..schemas import AppendResult
from ..settings import Settings

router = APIRouter(prefix="/v1", tags=["writes"])
log = logging.getLogger("regledger.api.writes")


@router.post(
    "/statements",
    response_model=AppendResult,
    status_code=201,
    summary="Submit a signed statement (a registration step, or key management by an admin)",
    responses={
        200: {"model": AppendResult, "description": "this very statement was sequenced before: the first answer again"},
        401: {"description": "bad signature"},
        403: {"description": "key not valid or not permitted"},
        409: {"description": "step not allowed now, or another statement used this nonce (`index` names its entry)"},
        413: {"description": "body too large"},
        422: {"description": "invalid input"},
        429: {"description": "rate limit"},
    },
)
async def submit(request: Request, response: Response, ledger: LedgerDep, settings: SettingsDep) -> AppendResult:
    body = await request.body()  # BodyLimit refuses anything over Settings.max_body_bytes as it streams in
    result, created = await run_in_threadpool(_submit, request, body, ledger, settings)
    if not created:
        response.status_code = 200
    return result


def _submit(request: Request, body: bytes, ledger: Ledger, settings: Settings) -> tuple[AppendResult, bool]:
    """The blocking part, off the event loop: the database may make us wait for its write lock.

    Returns the answer and whether this request sequenced the statement (False: a retry of one that was).
    """
    st = Statement.from_bytes(body)  # canonical RFC 8785 only: a re-encoded statement is refused, not repaired
    if not st.kind.startswith(ALLOWED_KINDS):
        raise Problem(
            422,
            "Invalid input",
            f"only registration.*, key.*, sync.code and {', '.join(RELAYED_KINDS)} statements are accepted here",
            field="/kind",
        )
    nonce = st.extra.get("nonce")
    if not isinstance(nonce, str):
        raise Problem(422, "Invalid input", "a signed request needs a nonce (16-64 letters and digits)", field="/nonce")
    earlier = _sequenced_before(ledger, st, nonce)  # before the clock check: a late retry still learns its fate
    if earlier is not None:
        return _answer(ledger, st, earlier), False
    signed_at = datetime.fromisoformat(st.time.replace("Z", "+00:00"))
    now = datetime.fromisoformat(ledger.clock().replace("Z", "+00:00"))  # the log's clock: what entries carry
    skew = abs((now - signed_at).total_seconds())
    if skew > settings.max_skew_seconds:
        raise Problem(
            422,
            "Invalid input",
            f"the statement's time is {skew:.0f} s from the server's clock (at most {settings.max_skew_seconds} s)",
            field="/time",
        )
    # Charge the rate limit only to a key that really signed this: a forger cannot spend a clerk's budget.
    rec = ledger.store.get_keys([st.key]).get(st.key)
    if rec is None:
        raise UnknownKeyError(f"key {st.key} is not registered in this ledger")
    verify_statement(rec.public_key, st)
    request.app.state.rate_limiter.charge(
        st.key, f"key {st.key} is over {settings.rate_per_minute} statements a minute"
    )
    try:
        appended = ledger.append(st)
    except ReplayError:  # the same statement, sent again while the first was being sequenced
        earlier = _sequenced_before(ledger, st, nonce)
        if earlier is None:
            raise
        return _answer(ledger, st, earlier), False
    request.app.state.metrics.appends.inc()
    e = appended.entry
    log.info(
        "sequenced %s",
        st.kind,
        extra={"event": "append", "index": e.index, "kind": st.kind, "key": st.key, "subject": st.subject},
    )
    return _answer(ledger, st, appended), True


def _sequenced_before(ledger: Ledger, st: Statement, nonce: str) -> Appended | None:
    """The entry this very statement became, if its nonce was used; ReplayError if another statement used it."""
    index = nonce_used_at(ledger.store.get_states, st.key, nonce)
    if index is None:
        return None
    earlier = ledger.appended(index)
    if earlier.entry.statement.canonical != st.canonical:
        raise ReplayError(st.key, nonce, index)
    return earlier


def _answer(ledger: Ledger, st: Statement, appended: Appended) -> AppendResult:
    e = appended.entry
    state: dict[str, Any] | None = None
    if st.kind.startswith("registration."):
        found = ledger.store.get_state(registration_key(st.subject))
        state = dict(found.state) if found else None
    return AppendResult(
        index=e.index,
        leaf_hash=base64.b64encode(e.leaf_hash).decode(),
        time=e.time,
        receipt=(appended.receipt or b"").decode(),
        state=state,
    )
