"""The one fold of an entry: find its signing key, verify its signature, apply the policy, apply the key change.

The sequencer, replay, audit, a parent pulling a child's log and the parent's mirror of that log
all accept an entry by these four steps in this order; they differ only in what they do around
them, which they pass in (`apply`, `refused`, `verified_with`, `verify`).  One copy means a rule
cannot drift between what is sequenced and what is re-checked.  Nothing else calls the signature
primitive for a statement (tests/test_architecture.py pins it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from regledger.keys.ed25519 import verify_ed25519

from .entry import Statement
from .errors import InvalidSignatureError, LedgerError, UnknownKeyError
from .keyring import KeyChange, apply_change, key_change, signing_key
from .store import KeyRecord

__all__ = ["Folded", "fold_entry", "signature_holds", "signed_by", "unknown_key_at", "verify_statement"]

T = TypeVar("T")


@dataclass(frozen=True)
class Folded(Generic[T]):
    signer: KeyRecord
    change: KeyChange | None  # already applied to the keys passed in
    applied: T | None  # what the `apply` hook returned


def verify_statement(public_key: bytes, st: Statement) -> None:
    """Raise InvalidSignatureError unless `st` is signed by `public_key`."""
    verify_ed25519(public_key, st.signed_message(), st.sig)


def signature_holds(args: tuple[bytes, bytes, bytes]) -> bool:
    """(public key, signed message, signature): for checking many statements in worker threads or
    processes before the writer lock is taken (plain bytes travel cheaply to a process)."""
    public_key, message, sig = args
    try:
        verify_ed25519(public_key, message, sig)
    except InvalidSignatureError:
        return False
    return True


def signed_by(
    index: int,
    st: Statement,
    keys: Mapping[str, KeyRecord],
    *,
    verified_with: bytes | None = None,
    verify: bool = True,
    refused: Callable[[LedgerError], LedgerError | None] | None = None,
) -> KeyRecord:
    """The key valid at `index` that signed `st`, its signature checked (unless it already was with that key).

    `refused` may turn the refusal into the caller's own error (None: raise it as it is)."""
    try:
        signer = signing_key(index, st, keys)
        if verify and verified_with != signer.public_key:
            verify_statement(signer.public_key, st)
    except LedgerError as exc:
        mine = refused(exc) if refused is not None else None
        if mine is None:
            raise
        raise mine from exc
    return signer


def unknown_key_at(where: str) -> Callable[[LedgerError], LedgerError | None]:
    """A `refused` hook that says where an unknown, not yet valid or revoked key signed (other refusals pass)."""

    def refused(exc: LedgerError) -> LedgerError | None:
        return UnknownKeyError(f"{where}: {exc}") if isinstance(exc, UnknownKeyError) else None

    return refused


def fold_entry(
    index: int,
    st: Statement,
    keys: dict[str, KeyRecord],
    *,
    apply: Callable[[KeyRecord], T] | None = None,
    verified_with: bytes | None = None,
    verify: bool = True,
    refused: Callable[[LedgerError], LedgerError | None] | None = None,
) -> Folded[T]:
    """Accept `st` as entry `index`: raises the refusal, or folds its key change into `keys`.

    `apply(signer)` is the policy step (it raises to refuse); `verified_with` is the public key a
    caller already checked the signature with; `verify=False` only where the signature was checked
    before the entry was stored (a child's entries, verified by the pull that recorded them);
    `refused` translates a refusal of the key or signature step, as for `signed_by`.
    """
    signer = signed_by(index, st, keys, verified_with=verified_with, verify=verify, refused=refused)
    applied = apply(signer) if apply is not None else None
    change = key_change(index, st, signer, keys)
    apply_change(keys, index, change)
    return Folded(signer, change, applied)
