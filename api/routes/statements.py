"""Writes: a clerk POSTs a statement signed with their registered key.

The signed statement is the request's authentication: it names the key, carries a `time`
(within Settings.max_skew_seconds of the server clock) and a `nonce` (used once per key, enforced
by the ledger's ReplayGuard), and the ledger checks the signature, the key's validity, the role
and the institution/region scope before anything is stored.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from keys.ed25519 import verify_ed25519
from ledger.errors import UnknownKeyError
from ledger.sequencer import Ledger

from ledger.entry import Statement, parse_json
from registry.policy import registration_subject

from ..deps import LedgerDep, SettingsDep
from ..problems import Problem
from ..settings import Settings
from ..schemas import AppendResult

router = APIRouter(prefix="/v1", tags=["writes"])
log = logging.getLogger("regledger.api.writes")
ALLOWED_KINDS = ("registration.", "key.", "sync.code", "regions.load")


class RateLimiter:
    """A token bucket per key id: `rate` statements a minute, bursts up to the same number."""

    def __init__(self, rate_per_minute: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(rate_per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self.buckets[key] = (tokens - 1, now)
            return 0.0


@router.post("/statements", response_model=AppendResult, status_code=201,
             summary="Submit a signed statement (a registration step, or key management by an admin)",
             responses={401: {"description": "bad signature"}, 403: {"description": "key not valid or not permitted"},
                        409: {"description": "step not allowed now, or a replayed request"},
                        413: {"description": "body too large"}, 422: {"description": "invalid input"},
                        429: {"description": "rate limit"}})
async def submit(request: Request, ledger: LedgerDep, settings: SettingsDep) -> AppendResult:
    body = await request.body()  # BodyLimit refuses anything over Settings.max_body_bytes as it streams in
    return await run_in_threadpool(_submit, request, body, ledger, settings)


def _submit(request: Request, body: bytes, ledger: Ledger, settings: Settings) -> AppendResult:
    """The blocking part, off the event loop: the database may make us wait for its write lock."""
    obj = parse_json(body)
    st = Statement.from_json(obj)
    if not st.kind.startswith(ALLOWED_KINDS):
        raise Problem(422, "Invalid input", "only registration.*, key.*, sync.code and regions.load statements are accepted here",
                      field="/kind")
    nonce = st.extra.get("nonce")
    if not isinstance(nonce, str):
        raise Problem(422, "Invalid input", "a signed request needs a nonce (16-64 letters and digits)",
                      field="/nonce")
    signed_at = datetime.fromisoformat(st.time.replace("Z", "+00:00"))
    skew = abs((datetime.now(timezone.utc) - signed_at).total_seconds())
    if skew > settings.max_skew_seconds:
        raise Problem(422, "Invalid input", f"the statement's time is {skew:.0f} s from the server's clock "
                      f"(at most {settings.max_skew_seconds} s)", field="/time")
    # Charge the rate limit only to a key that really signed this: a forger cannot spend a clerk's budget.
    rec = ledger.store.get_keys([st.key]).get(st.key)
    if rec is None:
        raise UnknownKeyError(f"key {st.key} is not registered in this ledger")
    verify_ed25519(rec.public_key, st.signed_message(), st.sig)
    wait = request.app.state.rate_limiter.take(st.key)
    if wait:
        raise Problem(429, "Too many requests", f"key {st.key} is over {settings.rate_per_minute} statements a "
                      "minute", headers={"Retry-After": str(max(1, round(wait)))})
    appended = ledger.append(st)
    request.app.state.metrics.appends.inc()
    e = appended.entry
    log.info("sequenced %s", st.kind, extra={"event": "append", "index": e.index, "kind": st.kind, "key": st.key,
                                              "subject": st.subject})
    state: dict[str, Any] | None = None
    if st.kind.startswith("registration."):
        found = ledger.store.get_states([registration_subject(st.subject)]).get(registration_subject(st.subject))
        state = found.state if found else None
    return AppendResult(index=e.index, leaf_hash=base64.b64encode(e.leaf_hash).decode(), time=e.time,
                        receipt=(appended.receipt or b"").decode(), state=state)
