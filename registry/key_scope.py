"""What a key may be registered for: each role's scope, checked when the key.register is sequenced.

The ledger core only knows that a scope is a JSON object; the register gives it meaning
(registry.workflow acts on it), so the register refuses a scope it could not act on:

    admin, platform, intake  no scope (a platform key may carry "parent": true, set by sync)
    registrant               {"institution": <USCC>}: the institution its clerk acts for
    registrar, authority     {"region": <GB/T 2260 code>}: the region it serves and the regions below

A USCC must pass its check characters; a region must be in the region table on the statement's
date in China time (the same check an application's region gets).  Any other member is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from regledger.ledger.errors import MalformedError, UnknownKeyError
from regledger.ledger.store import KeyRecord

from .regions import RegionTable
from .uscc import validate_uscc

__all__ = ["SCOPE_MEMBERS", "require_reference_signer", "validate_key_scope"]

#: role -> the scope members a key of that role may (and, except "parent", must) have
SCOPE_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "admin": (),
    "platform": ("parent",),
    "registrant": ("institution",),
    "registrar": ("region",),
    "authority": ("region",),
    "intake": (),
}
_FIELD = "/payload/scope"


def validate_key_scope(role: str, scope: Mapping[str, Any], on: date, regions: RegionTable) -> None:
    """MalformedError naming the scope member if a `role` key may not have `scope` (on date `on`, under
    the region table in force `regions`)."""
    allowed = SCOPE_MEMBERS[role]
    for name in scope:
        if name not in allowed:
            expected = ", ".join(allowed) or "no scope members"
            raise MalformedError(
                f"a {role} key's scope has no member {name!r}; expected {expected}", field=f"{_FIELD}/{name}"
            )
    if role == "registrant":
        validate_uscc(_required(scope, "institution", role), field=f"{_FIELD}/institution")
    elif role in ("registrar", "authority"):
        regions.validate(_required(scope, "region", role), on, field=f"{_FIELD}/region")
    elif role == "platform" and "parent" in scope and scope["parent"] is not True:
        raise MalformedError("must be true (the key is the parent platform's)", field=f"{_FIELD}/parent")


def _required(scope: Mapping[str, Any], name: str, role: str) -> Any:
    if name not in scope:
        what = "the USCC of the institution it acts for" if name == "institution" else "the region code it serves"
        raise MalformedError(f"required: a {role} key's scope names {what}", field=f"{_FIELD}/{name}")
    return scope[name]


def require_reference_signer(kind: str, signer: KeyRecord) -> None:
    """Reference data (calendar.year, regions.load) is loaded by an admin key, or relayed by the parent
    platform's; sync.policy decides which of the two an instance takes (admin at the top, parent below)."""
    if signer.role not in ("admin", "platform"):
        raise UnknownKeyError(
            f"{kind} must be signed by an admin key (or relayed by the parent platform); "
            f"{signer.key_id} is a {signer.role} key"
        )
