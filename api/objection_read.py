"""Registrars read the objection documents the public lodged (api/intake.py), over a signed read request.

The documents hold personal data (the objector's text and contact), so they are never public: a read is
authenticated the way writes are (api/routes/statements.py), by a statement the clerk signs with their
registered key, which the server checks and never sequences:

    {"kind": "read.objection", "subject": <registration id>, "payload": {"objection": <log index>},
     "time": <now, within REGLEDGER_MAX_SKEW_SECONDS>, "nonce": <fresh>, "key": <key id>, "sig": ...}

Only a valid registrar key whose region covers the registration's may read, each request once (the nonce).
The kept document's SHA-256 must equal the `document_sha256` of the log's `registration.objection_received`
entry the request names before it is shown: a document changed on disk is refused, never served.  Problems
name the objection by its log index and never carry the document's content.
"""

from __future__ import annotations

import hashlib
import threading
import time as _time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regledger.ledger.entry import Statement, parse_json
from regledger.ledger.errors import LedgerError, UnknownKeyError
from regledger.ledger.fold import verify_statement
from regledger.ledger.sequencer import Ledger
from regledger.registry.state import Registration
from regledger.registry.workflow import region_prefix

from .intake import OBJECTION_RECEIVED, ObjectionIntake
from .lookup import find
from .problems import Problem
from .settings import Settings

__all__ = ["MATCHES_LOG", "READ_OBJECTION", "ReadNonces", "Shown", "read_objection"]

READ_OBJECTION = "read.objection"
MATCHES_LOG = "document matches the log"


@dataclass(frozen=True)
class Shown:
    registration: str
    index: int
    document_sha256: str
    document: dict[str, Any]
    check: str = MATCHES_LOG


class ReadNonces:
    """The (key, nonce) pairs of read requests answered in the last `window` seconds: each is answered once."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.seen: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def use(self, key: str, nonce: str) -> None:
        now = _time.monotonic()
        with self.lock:
            self.seen = {k: t for k, t in self.seen.items() if now - t < 2 * self.window}
            if (key, nonce) in self.seen:
                raise Problem(409, "Conflict", "this read request was answered already; sign a new one", field="/nonce")
            self.seen[(key, nonce)] = now


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, "Authentication required", detail, headers={"WWW-Authenticate": "Signature"})


def _signed_request(body: bytes, ledger: Ledger, settings: Settings) -> tuple[Statement, Any]:
    """The read request in `body` and its key's record, its signature and time checked (401/403/422)."""
    if not body.strip():
        raise _unauthenticated(f"send a {READ_OBJECTION} statement signed with a registrar key of the region")
    try:
        st = Statement.from_bytes(body)
    except LedgerError:
        raise _unauthenticated(f"the body is not a signed {READ_OBJECTION} statement (RFC 8785 JSON)") from None
    rec = ledger.store.get_keys([st.key]).get(st.key)
    if rec is None:
        raise UnknownKeyError(f"key {st.key} is not registered in this ledger")
    verify_statement(rec.public_key, st)  # InvalidSignatureError: 401
    if rec.revoked_at is not None:
        raise Problem(403, "Key not valid", f"key {st.key} was revoked at entry {rec.revoked_at}", field="/key")
    signed_at = datetime.fromisoformat(st.time.replace("Z", "+00:00"))
    now = datetime.fromisoformat(ledger.clock().replace("Z", "+00:00"))
    skew = abs((now - signed_at).total_seconds())
    if skew > settings.max_skew_seconds:
        raise Problem(
            422,
            "Invalid input",
            f"the request's time is {skew:.0f} s from the server's clock (at most {settings.max_skew_seconds} s)",
            field="/time",
        )
    return st, rec


def read_objection(
    ledger: Ledger,
    intake: ObjectionIntake | None,
    id_or_code: str,
    index: int,
    body: bytes,
    *,
    nonces: ReadNonces,
    settings: Settings,
) -> Shown:
    """The objection document of the log entry `index` to the registration `id_or_code`, for the registrar who
    signed the read request `body`, once its hash is checked against that entry."""
    st, rec = _signed_request(body, ledger, settings)
    reg = Registration.from_state(find(ledger, id_or_code).state)
    if st.kind != READ_OBJECTION:
        raise Problem(422, "Invalid input", f"a read request is a {READ_OBJECTION} statement", field="/kind")
    if st.subject != reg.registration:
        raise Problem(422, "Invalid input", f"the request names {st.subject}, not {reg.registration}", field="/subject")
    if st.payload != {"objection": index}:
        raise Problem(422, "Invalid input", f'the payload must be {{"objection": {index}}}', field="/payload")
    nonce = st.extra.get("nonce")
    if not isinstance(nonce, str):
        raise Problem(422, "Invalid input", "a signed request needs a nonce (16-64 letters and digits)", field="/nonce")
    region = str(rec.scope.get("region", ""))
    if rec.role != "registrar" or not region or not reg.region.startswith(region_prefix(region)):
        raise Problem(
            403,
            "Not permitted",
            f"only a registrar key serving region {reg.region} reads its objections; key {st.key} is a {rec.role}"
            + (f" of region {region}" if region else ""),
            field="/key",
        )
    nonces.use(st.key, nonce)
    digest = _logged_digest(ledger, reg.registration, index)
    if intake is None:
        raise Problem(503, "Objections not taken here", "this server keeps no objection documents (no intake)")
    raw = intake.read(reg.registration, digest)
    if raw is None:
        raise Problem(404, "Not found", f"the document of objection #{index} is not kept on this server")
    if hashlib.sha256(raw).hexdigest() != digest:
        raise Problem(
            409,
            "Document does not match the log",
            f"the kept document of objection #{index} does not hash to the entry's document_sha256; it is not shown",
        )
    document = parse_json(raw)
    return Shown(registration=reg.registration, index=index, document_sha256=digest, document=dict(document))


def _logged_digest(ledger: Ledger, registration: str, index: int) -> str:
    """The document_sha256 of the registration.objection_received entry `index` to `registration` (404 if none)."""
    missing = Problem(404, "Not found", f"entry {index} is not an objection lodged against {registration}")
    if index < 0 or index >= ledger.store.head().size:
        raise missing
    st = ledger.entry(index).statement
    if st.kind != OBJECTION_RECEIVED or st.subject != registration:
        raise missing
    return str(st.payload["document_sha256"])
