"""C2SP tlog-checkpoint notes, and the log's signed receipts.

A checkpoint body is `<origin>\n<size>\n<base64 root>\n` plus optional extension lines.
`open_checkpoint` verifies the log's signature first and only then parses the body.

A receipt is a signed note in the same key's name whose first line, `regledger receipt/v1`,
contains a space and so can never be read as a checkpoint origin.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from .errors import MalformedError, VerificationError
from .hashes import HASH_SIZE, Hash
from .note import Note, NoteSignature, Signer, Verifier, open_note, sign_note

__all__ = [
    "RECEIPT_HEADER",
    "Checkpoint",
    "Receipt",
    "check_origin",
    "open_checkpoint",
    "open_receipt",
    "parse_checkpoint_text",
    "sign_checkpoint",
    "sign_receipt",
]

RECEIPT_HEADER = "regledger receipt/v1"


def check_origin(origin: str) -> None:
    if not origin or len(origin) > 255 or any(c.isspace() or c == "+" or ord(c) < 0x20 for c in origin):
        raise MalformedError(f"invalid origin {origin!r}: 1-255 characters, no spaces or '+'", field="origin")


def _b64_hash(value: str, what: str) -> Hash:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what} is not base64") from exc
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != value:
        raise MalformedError(f"{what} is not a canonical base64 32-byte hash")
    return Hash(raw)


def _decimal(value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit() or (len(value) > 1 and value[0] == "0") or len(value) > 19:
        raise MalformedError(f"{what} {value!r} is not a canonical decimal")
    if int(value) >= 2**63:
        raise MalformedError(f"{what} {value} is too large")
    return int(value)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: Hash
    extensions: tuple[str, ...] = field(default=())

    def text(self) -> str:
        check_origin(self.origin)
        ext = "".join(f"{e}\n" for e in self.extensions)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n{ext}"


def parse_checkpoint_text(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise MalformedError("checkpoint must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("checkpoint needs origin, size and root lines")
    origin = lines[0]
    check_origin(origin)
    size = _decimal(lines[1], "tree size")
    root = _b64_hash(lines[2], "root hash")
    ext = tuple(lines[3:])
    if any(not e for e in ext):
        raise MalformedError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root, ext)


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> bytes:
    return sign_note(cp.text(), signer)


def open_checkpoint(note: bytes, origin: str, verifier: Verifier) -> tuple[Checkpoint, Note]:
    """Verify `note` with the log's key, then parse it and check the origin."""
    if verifier.name != origin:
        raise MalformedError(f"key name {verifier.name!r} is not the origin {origin!r}", field="key")
    opened = open_note(note, [verifier])  # raises unless the log signed it
    cp = parse_checkpoint_text(opened.text)
    if cp.origin != origin:
        raise VerificationError(f"checkpoint origin is {cp.origin!r}, expected {origin!r}")
    return cp, opened


@dataclass(frozen=True)
class Receipt:
    """The log's promise that a leaf was sequenced at an index (like a CT SCT)."""

    origin: str
    index: int
    leaf_hash: Hash
    time: str

    def text(self) -> str:
        return (
            f"{RECEIPT_HEADER}\n{self.origin}\n{self.index}\n{base64.b64encode(self.leaf_hash).decode()}\n{self.time}\n"
        )


def sign_receipt(receipt: Receipt, signer: Signer) -> bytes:
    """One per append, so built directly: every part of the text is already validated."""
    text = receipt.text().encode()
    sig = NoteSignature(signer.name, signer.key_hash, signer.sign(text))
    return text + b"\n" + sig.line().encode()


def open_receipt(note: bytes, verifier: Verifier) -> Receipt:
    opened = open_note(note, [verifier])
    lines = opened.text[:-1].split("\n")
    if len(lines) != 5 or lines[0] != RECEIPT_HEADER:
        raise MalformedError("not a regledger receipt")
    return Receipt(lines[1], _decimal(lines[2], "index"), _b64_hash(lines[3], "leaf hash"), lines[4])
