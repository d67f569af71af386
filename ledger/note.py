"""C2SP signed-note: sign and open notes (https://c2sp.org/signed-note).

This module knows only the Signer and Verifier protocols; Ed25519 and the vkey string
format live in `keys/`.  `open_note` verifies before anyone parses the text it returns.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from regledger.keys.names import check_key_name

from .errors import MalformedError, UnknownKeyError

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "Signer",
    "Verifier",
    "check_key_name",
    "open_note",
    "sign_note",
]

MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
_DASH = "\u2014 "


class Signer(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def key_hash(self) -> int: ...
    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def key_hash(self) -> int: ...
    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise InvalidSignatureError unless `signature` is valid for `message`."""

    def vkey(self) -> str:
        """The C2SP verifier key string (`name+hash+base64`) that others pin to check these signatures."""


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: int
    signature: bytes  # without the 4-byte key hash

    def line(self) -> str:
        raw = self.key_hash.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str
    verified: list[NoteSignature] = field(default_factory=list)
    unverified: list[NoteSignature] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        sigs = "".join(s.line() for s in [*self.verified, *self.unverified])
        return (self.text + "\n" + sigs).encode()


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedError("note text must end in a newline")
    if "\n\n" in text or text.startswith("\n"):
        raise MalformedError("note text must not contain a blank line")
    bad = _CONTROL.search(text)
    if bad:
        raise MalformedError(f"note text contains control character {ord(bad.group()):#x}")


def sign_note(text: str, *signers: Signer, extra: Iterable[NoteSignature] = ()) -> bytes:
    """The signed note: text, a blank line, one signature line per signer, then `extra` lines."""
    _check_text(text)
    msg = text.encode()
    sigs = []
    for s in signers:
        check_key_name(s.name)
        sigs.append(NoteSignature(s.name, s.key_hash, s.sign(msg)))
    note = Note(text, sigs, list(extra)).to_bytes()
    if len(note) > MAX_NOTE_SIZE:
        raise MalformedError(f"note would be larger than {MAX_NOTE_SIZE} bytes")
    return note


VerifierLookup = Callable[[str, int], "Verifier | None"]


def open_note(msg: bytes, verifiers: VerifierLookup | Iterable[Verifier]) -> Note:
    """Parse a signed note strictly and verify it.

    Signatures from keys the lookup does not know are kept in `unverified`.  A known key
    whose signature is bad raises InvalidSignatureError; no known key at all raises
    UnknownKeyError.
    """
    lookup = verifiers if callable(verifiers) else _lookup_from(verifiers)
    if len(msg) > MAX_NOTE_SIZE:
        raise MalformedError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        s = msg.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedError("note is not UTF-8") from exc
    split = s.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no signature block")
    text, sig_block = s[: split + 1], s[split + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise MalformedError("signature block must end in a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has more than {MAX_SIGNATURES} signatures")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    text_bytes = text.encode()
    for line in lines:
        sig = _parse_signature_line(line)
        v = lookup(sig.name, sig.key_hash)
        if v is None:
            unverified.append(sig)
            continue
        if (sig.name, sig.key_hash) in seen:
            raise MalformedError(f"two signatures by {sig.name}+{sig.key_hash:08x}")
        seen.add((sig.name, sig.key_hash))
        v.verify(text_bytes, sig.signature)
        verified.append(sig)
    if not verified:
        raise UnknownKeyError(
            "no signature on the note is from a known key: "
            + ", ".join(f"{u.name}+{u.key_hash:08x}" for u in unverified)
        )
    return Note(text, verified, unverified)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise MalformedError(f"malformed signature line {line[:80]!r}")
    rest = line[len(_DASH) :]
    name, sep, b64 = rest.partition(" ")
    if not sep or " " in b64:
        raise MalformedError(f"malformed signature line {line[:80]!r}")
    check_key_name(name)
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"signature of {name} is not base64") from exc
    if len(raw) < 5 or base64.b64encode(raw).decode() != b64:
        raise MalformedError(f"signature of {name} is malformed")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _lookup_from(verifiers: Iterable[Verifier]) -> VerifierLookup:
    table = {(v.name, v.key_hash): v for v in verifiers}
    return lambda name, key_hash: table.get((name, key_hash))
