"""Which keys may sign what, as a fold over the ledger's own entries.

- Entry 0 registers the first administrator key and is signed by that same key.
- `key.register` (subject = the new key's id) and `key.revoke` (subject = the key's id) are
  signed by an administrator key.
- A key is valid for statements sequenced after its registration and before its revocation.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Protocol

from regledger.keys.ed25519 import statement_key_id

from .entry import Statement, sign_statement
from .errors import MalformedError, UnknownKeyError, VerificationError
from .store import KeyRecord

__all__ = [
    "apply_change",
    "KEY_REGISTER",
    "KEY_REVOKE",
    "ROLES",
    "KeyChange",
    "bootstrap_key",
    "key_change",
    "register_key_statement",
    "registered_public_key",
    "revoke_key_statement",
    "signing_key",
]

KEY_REGISTER = "key.register"
KEY_REVOKE = "key.revoke"
#: admin: registers and revokes keys.  registrant: a registrant institution's clerk.
#: registrar: a registration institution's clerk.  authority: may revoke registrations.
#: platform: another regledger instance (parent or child) in the cascade.
#: intake: the instance's own key that records objections the public lodges over HTTP (no scope, no other step).
ROLES = ("admin", "registrant", "registrar", "authority", "platform", "intake")
_NAME_RE = re.compile(r"^[^\s+]{1,128}$")

KeyChange = tuple[str, "KeyRecord | str"]  # ("register", record) or ("revoke", key_id)


def _public_key(payload: Mapping[str, object]) -> bytes:
    value = payload.get("public_key")
    if not isinstance(value, str):
        raise MalformedError("required: base64 of the 32-byte Ed25519 public key", field="/payload/public_key")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("not base64", field="/payload/public_key") from exc
    if len(raw) != 32:
        raise MalformedError("must be 32 bytes", field="/payload/public_key")
    return raw


def _registration(index: int, st: Statement) -> KeyRecord:
    """The KeyRecord a key.register statement at `index` creates (payload validated)."""
    p = st.payload
    pub = _public_key(p)
    if statement_key_id(pub) != st.subject:
        raise MalformedError("subject must be the id of the registered public key", field="/subject")
    name = p.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MalformedError("required: 1-128 characters without spaces or '+'", field="/payload/name")
    role = p.get("role")
    if role not in ROLES:
        raise MalformedError(f"must be one of {', '.join(ROLES)}", field="/payload/role")
    scope = p.get("scope", {})
    if not isinstance(scope, dict):
        raise MalformedError("must be an object", field="/payload/scope")
    unknown = set(p) - {"public_key", "name", "role", "scope"}
    if unknown:
        raise MalformedError("unknown member", field=f"/payload/{sorted(unknown)[0]}")
    return KeyRecord(st.subject, pub, name, str(role), scope, index)


def registered_public_key(st: Statement) -> bytes | None:
    """The public key a key.register statement registers, if it names one consistently."""
    try:
        pub = _public_key(st.payload)
    except MalformedError:
        return None
    return pub if statement_key_id(pub) == st.subject else None


def bootstrap_key(st: Statement) -> KeyRecord:
    """Entry 0: a self-signed registration of an administrator key."""
    if st.kind != KEY_REGISTER:
        raise VerificationError("entry 0 must be the key.register of the first administrator")
    rec = _registration(0, st)
    if rec.role != "admin" or st.key != rec.key_id:
        raise VerificationError("entry 0 must register an admin key and be signed by it")
    return KeyRecord(rec.key_id, rec.public_key, rec.name, rec.role, rec.scope, -1)


def signing_key(index: int, st: Statement, keys: Mapping[str, KeyRecord]) -> KeyRecord:
    """The key that must have signed `st` for it to be sequenced at `index`; raises if none."""
    if index == 0:
        return bootstrap_key(st)
    rec = keys.get(st.key)
    if rec is None:
        raise UnknownKeyError(f"key {st.key} is not registered in this ledger")
    if not rec.valid_at(index):
        if rec.revoked_at is not None and index >= rec.revoked_at:
            raise UnknownKeyError(f"key {st.key} was revoked at entry {rec.revoked_at}")
        raise UnknownKeyError(f"key {st.key} is registered only from entry {rec.registered_at + 1}")
    return rec


def key_change(index: int, st: Statement, signer: KeyRecord, keys: Mapping[str, KeyRecord]) -> KeyChange | None:
    """What sequencing `st` at `index` does to the key set; raises if it is not allowed."""
    if st.kind not in (KEY_REGISTER, KEY_REVOKE):
        if st.kind.startswith("key."):
            raise MalformedError(
                f"unknown key statement {st.kind}; only {KEY_REGISTER} and {KEY_REVOKE} exist", field="/kind"
            )
        return None
    if signer.role != "admin":
        raise UnknownKeyError(f"{st.kind} must be signed by an admin key; {st.key} is a {signer.role} key")
    if st.kind == KEY_REGISTER:
        rec = _registration(index, st)
        if rec.key_id in keys and index != 0:
            raise MalformedError(f"key {rec.key_id} is already registered", field="/subject")
        return ("register", rec)
    target = keys.get(st.subject)
    if target is None:
        raise MalformedError(f"key {st.subject} is not registered", field="/subject")
    if target.revoked_at is not None:
        raise MalformedError(f"key {st.subject} is already revoked", field="/subject")
    reason = st.payload.get("reason")
    if not isinstance(reason, str) or not reason:
        raise MalformedError("required: why the key is revoked", field="/payload/reason")
    return ("revoke", st.subject)


class _KeySigner(Protocol):
    @property
    def key_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def public(self) -> bytes: ...
    def sign(self, message: bytes) -> bytes: ...


def register_key_statement(
    admin: _KeySigner, key: _KeySigner, role: str, scope: Mapping[str, Any] | None = None, *, time: str | None = None
) -> Statement:
    """A key.register statement for `key`, signed by `admin` (for entry 0, by the key itself)."""
    payload: dict[str, Any] = {"public_key": base64.b64encode(key.public).decode(), "name": key.name, "role": role}
    if scope:
        payload["scope"] = dict(scope)
    return sign_statement(admin, kind=KEY_REGISTER, subject=key.key_id, payload=payload, time=time)


def revoke_key_statement(admin: _KeySigner, key_id: str, reason: str, *, time: str | None = None) -> Statement:
    return sign_statement(admin, kind=KEY_REVOKE, subject=key_id, payload={"reason": reason}, time=time)


def apply_change(keys: dict[str, KeyRecord], index: int, change: KeyChange | None) -> None:
    """Fold one key change into `keys` (a dict keyed by key id)."""
    if change is None:
        return
    what, value = change
    if what == "register":
        assert isinstance(value, KeyRecord)
        keys[value.key_id] = value
    else:
        assert isinstance(value, str)
        old = keys[value]
        keys[value] = KeyRecord(old.key_id, old.public_key, old.name, old.role, old.scope, old.registered_at, index)
