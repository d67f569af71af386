"""Objections from the public (异议), lodged without a key, for the JSON API and the publicity page alike.

Anyone may object while a registration is in publicity (公示).  The objection document (the text, an optional
contact, an optional attachment hash, the time it was received and a random salt) is kept outside the log,
for the registrars of the registration's region (ObjectionIntake.keep: files in the instance's home); the log
gets a `registration.objection_received` entry signed by the instance's intake key holding only the
document's SHA-256.  The salt makes that hash unguessable from a known text or contact: personal data never
goes into the public, permanent log, not even as a hash that could be tested against a guess.

The objector gets the document back with the entry's index and the log's signed receipt: hashing the
document (RFC 8785) gives the entry's `document_sha256`, so they can later prove what they lodged, and when.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import canonical_json, sign_statement
from regledger.ledger.sequencer import Ledger
from regledger.registry.state import Registration
from regledger.registry.workflow import PUBLICITY

from .lookup import find
from .problems import Problem
from .ratelimit import RateLimiter
from .settings import Settings

__all__ = ["OBJECTION_RECEIVED", "Lodged", "ObjectionIntake", "lodge", "parse_objection"]

OBJECTION_RECEIVED = "registration.objection_received"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MEMBERS = ("text", "contact", "attachment_sha256")


class ObjectionIntake(Protocol):
    """The instance's side of an objection: its intake key and where documents are kept (regledger.home)."""

    def signer(self) -> Ed25519Signer: ...
    def keep(self, registration: str, sha256: str, document: bytes) -> None: ...
    def accept(self, registration: str, sha256: str) -> None: ...
    def discard(self, registration: str, sha256: str) -> None: ...
    def read(self, registration: str, sha256: str) -> bytes | None: ...


@dataclass(frozen=True)
class Objection:
    text: str
    contact: str | None = None
    attachment_sha256: str | None = None


@dataclass(frozen=True)
class Lodged:
    registration: str
    index: int
    time: str
    document_sha256: str
    document: dict[str, Any]
    receipt: str


def parse_objection(data: Mapping[str, Any], settings: Settings) -> Objection:
    """The objection in a JSON body or a form, checked; Problem 422 naming the member at fault."""
    for name in data:
        if name not in _MEMBERS:
            raise _invalid(f"unknown member; an objection has {', '.join(_MEMBERS)}", name)
    text = _text(data, "text", settings.objection_max_chars, required=True)
    contact = _text(data, "contact", settings.objection_contact_max_chars, required=False)
    attachment = data.get("attachment_sha256")
    if attachment in (None, ""):
        attachment = None
    elif not isinstance(attachment, str) or not _SHA256.fullmatch(attachment.strip().lower()):
        raise _invalid("the attachment's SHA-256: 64 hex digits", "attachment_sha256")
    else:
        attachment = attachment.strip().lower()
    assert text is not None
    return Objection(text, contact, attachment)


def _text(data: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise _invalid("required: the objection's text", name)
        return None
    if not isinstance(value, str):
        raise _invalid("must be text", name)
    value = value.strip()
    if not value:
        raise _invalid("must not be blank", name)
    if len(value) > limit:
        raise _invalid(f"at most {limit} characters, got {len(value)}", name)
    return value


def _invalid(detail: str, name: str) -> Problem:
    return Problem(422, "Invalid input", detail, field=f"/{name}")


def lodge(
    ledger: Ledger,
    intake: ObjectionIntake | None,
    id_or_code: str,
    objection: Objection,
    *,
    client: str,
    limiter: RateLimiter,
    settings: Settings,
) -> Lodged:
    """Record an objection to the registration `id_or_code` lodged by `client` (its address, for the rate
    limit): keep the document under a pending name, sequence its hash, then keep it under its final name.
    Nothing is kept if the entry is refused."""
    if intake is None:
        raise Problem(503, "Objections not taken here", "this server does not take objections (no intake key)")
    reg = Registration.from_state(find(ledger, id_or_code).state)
    if reg.status != PUBLICITY:
        raise Problem(
            409,
            "Step not allowed now",
            f"objections are taken only while a registration is in publicity (公示); "
            f"{reg.registration} is {reg.status}",
        )
    limiter.charge(client, f"at most {settings.objections_per_minute} objections a minute from one address")
    signer = intake.signer()  # may register the intake key first (its first use)
    received = ledger.clock()
    document: dict[str, Any] = {
        "registration": reg.registration,
        "text": objection.text,
        "received_at": received,
        "salt": secrets.token_hex(16),
    }
    if objection.contact is not None:
        document["contact"] = objection.contact
    if objection.attachment_sha256 is not None:
        document["attachment_sha256"] = objection.attachment_sha256
    raw = canonical_json(document)
    digest = hashlib.sha256(raw).hexdigest()
    st = sign_statement(
        signer,
        kind=OBJECTION_RECEIVED,
        subject=reg.registration,
        payload={"document_sha256": digest},
        time=received,
        extra={"nonce": secrets.token_hex(16)},
    )
    intake.keep(reg.registration, digest, raw)  # pending: a crash from here on is settled by the sweep at start
    try:
        appended = ledger.append(st)
    except BaseException:
        intake.discard(reg.registration, digest)
        raise
    intake.accept(reg.registration, digest)
    return Lodged(
        registration=reg.registration,
        index=appended.entry.index,
        time=appended.entry.time,
        document_sha256=digest,
        document=document,
        receipt=(appended.receipt or b"").decode(),
    )
