"""The roots of the one error tree, for keys/, the lowest layer, to raise.

ledger/errors.py is where the tree is drawn and imported from: it re-exports these classes (they
are the same objects, so `except ledger.errors.MalformedError` catches what keys/ raises) and
defines the rest.  They live here only so that keys/ imports nothing from ledger/.
"""

from __future__ import annotations

__all__ = ["InvalidSignatureError", "LedgerError", "MalformedError", "VerificationError"]


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""


class MalformedError(LedgerError, ValueError):
    """Input that does not parse, or breaks a documented limit.

    `field` is a JSON-pointer-like path to the offending member ("" for the whole input),
    so an HTTP edge can report it as an RFC 9457 problem with a field path.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


class VerificationError(LedgerError):
    """A signature, proof, chain link or stored row failed a check."""


class InvalidSignatureError(VerificationError):
    """The key is known but the signature over the message does not verify."""
