"""C2SP tlog-cosignature v1 (Ed25519, signature type 0x04): https://c2sp.org/tlog-cosignature.

A witness or mirror cosigns a checkpoint to say it saw that tree head at a given time. A
cosignature is an ordinary signed-note line, so `open_note` ignores it unless a verifier from here
is given.  Its own key type (0x04) and its `cosignature/v1` message prefix keep one key's
cosignatures and plain note signatures from being taken for each other.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from regledger.keys.ed25519 import note_key_hash, verify_ed25519

from .errors import InvalidSignatureError, MalformedError, UnknownKeyError
from .note import Note, NoteSignature, Verifier, check_key_name, open_note

__all__ = [
    "SIG_COSIGNATURE_V1",
    "CosignatureVerifier",
    "Cosigner",
    "add_cosignatures",
    "cosign",
    "cosignature_message",
    "parse_cosigner_vkey",
    "verify_cosigned",
]

#: C2SP signed-note signature type for an Ed25519 cosignature/v1.
SIG_COSIGNATURE_V1 = 0x04

_TS_SIZE = 8
_SIG_SIZE = 64
_MAX_TS = 2**63 - 1  # C2SP: a u64; Go's time.Unix takes an int64, so stay below 2^63


def cosignature_message(body: bytes, timestamp: int) -> bytes:
    """What an Ed25519 cosigner signs: `cosignature/v1\\ntime <ts>\\n` then the checkpoint body."""
    if not 0 <= timestamp <= _MAX_TS:
        raise MalformedError(f"cosignature timestamp {timestamp} is out of range")
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body


def _vkey(name: str, key_hash: int, public: bytes) -> str:
    raw = bytes([SIG_COSIGNATURE_V1]) + public
    return f"{name}+{key_hash:08x}+{base64.b64encode(raw).decode()}"


class CosignatureVerifier:
    """A note Verifier for one named cosigner key; `signature` is the 8-byte time || 64-byte sig."""

    def __init__(self, name: str, public: bytes) -> None:
        check_key_name(name)
        if len(public) != 32:
            raise MalformedError(f"an Ed25519 public key is 32 bytes, not {len(public)}", field="key")
        self.name = name
        self.public = bytes(public)
        self.key_hash = note_key_hash(name, SIG_COSIGNATURE_V1, self.public)

    @staticmethod
    def timestamp(signature: bytes) -> int:
        """The cosigning time (Unix seconds) carried in `signature`; does not verify it."""
        if len(signature) != _TS_SIZE + _SIG_SIZE:
            raise MalformedError(f"an Ed25519 cosignature is {_TS_SIZE + _SIG_SIZE} bytes, not {len(signature)}")
        ts = int.from_bytes(signature[:_TS_SIZE], "big")
        if ts > _MAX_TS:
            raise MalformedError(f"cosignature timestamp {ts} is out of range")
        return ts

    def verify(self, message: bytes, signature: bytes) -> None:
        ts = self.timestamp(signature)
        try:
            verify_ed25519(self.public, cosignature_message(message, ts), signature[_TS_SIZE:])
        except InvalidSignatureError as exc:
            raise InvalidSignatureError(f"cosignature by {self.name} does not verify") from exc

    def vkey(self) -> str:
        return _vkey(self.name, self.key_hash, self.public)

    def __repr__(self) -> str:
        return f"CosignatureVerifier(name={self.name!r}, key_hash={self.key_hash:08x})"


def parse_cosigner_vkey(vkey: str) -> CosignatureVerifier:
    """A CosignatureVerifier from `name+hash+base64(0x04||pub)`; the hash must match the key."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedError("cosigner key must look like name+hash+base64", field="key")
    name, hash_hex, b64 = parts
    if len(hash_hex) != 8 or any(c not in "0123456789abcdef" for c in hash_hex):
        raise MalformedError("cosigner key hash must be 8 lowercase hex digits", field="key")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("cosigner key is not base64", field="key") from exc
    if len(raw) != 33 or raw[0] != SIG_COSIGNATURE_V1:
        raise MalformedError("only Ed25519 cosigner keys (type 0x04, 32 bytes) are supported", field="key")
    try:
        v = CosignatureVerifier(name, raw[1:])
    except MalformedError as exc:
        raise MalformedError(f"cosigner key: {exc.message}", field="key") from exc
    if f"{v.key_hash:08x}" != hash_hex:
        raise MalformedError("cosigner key hash does not match the key", field="key")
    return v


class _Ed25519Like(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def public(self) -> bytes: ...
    def sign(self, message: bytes) -> bytes: ...


class Cosigner:
    """A note Signer that makes cosignature/v1 signatures with an Ed25519 signer's key.

    Use a key only for cosigning: the signed message does not name the cosigner.
    """

    def __init__(self, signer: _Ed25519Like, clock: Callable[[], float] = time.time) -> None:
        check_key_name(signer.name)
        self._signer = signer
        self._clock = clock
        self.name = signer.name
        self.public = bytes(signer.public)
        self.key_hash = note_key_hash(self.name, SIG_COSIGNATURE_V1, self.public)

    def sign(self, message: bytes) -> bytes:
        ts = int(self._clock())
        sig = self._signer.sign(cosignature_message(message, ts))
        return ts.to_bytes(_TS_SIZE, "big") + sig

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public)

    def vkey(self) -> str:
        return _vkey(self.name, self.key_hash, self.public)

    def __repr__(self) -> str:  # never show key material
        return f"Cosigner(name={self.name!r}, key_hash={self.key_hash:08x})"


def cosign(note_text: str | bytes, cosigner: Cosigner) -> str:
    """The `— name base64…\\n` cosignature line for a checkpoint body (the text with final \\n)."""
    text = note_text.decode("utf-8") if isinstance(note_text, bytes) else note_text
    if not text.endswith("\n") or "\n\n" in text:
        raise MalformedError("cosign takes the checkpoint body, not a signed note")
    sig = cosigner.sign(text.encode())
    return NoteSignature(cosigner.name, cosigner.key_hash, sig).line()


def add_cosignatures(note: bytes, lines: Iterable[str]) -> bytes:
    """`note` with signature `lines` appended after its own; repeats are dropped.

    Nothing is verified here, but every line must be a well-formed signature line.
    """
    if not note.endswith(b"\n") or b"\n\n" not in note:
        raise MalformedError("not a signed note")
    try:
        have = note[note.rfind(b"\n\n") + 2 :].decode("utf-8").split("\n")[:-1]
    except UnicodeDecodeError as exc:
        raise MalformedError("note is not UTF-8") from exc
    if not have:
        raise MalformedError("note has no signature block")
    out = list(have)
    seen = set(have)
    for line in lines:
        line = line[:-1] if line.endswith("\n") else line
        if "\n" in line or not line.startswith("\u2014 "):
            raise MalformedError(f"not a signature line: {line[:80]!r}")
        if line not in seen:
            seen.add(line)
            out.append(line)
    result = note[: note.rfind(b"\n\n") + 2] + "".join(f"{x}\n" for x in out).encode()
    _check_parses(result)
    return result


def _check_parses(note: bytes) -> None:
    """Parse every signature line (open_note's own parser) without needing any key."""
    try:
        open_note(note, lambda _name, _hash: None)
    except UnknownKeyError:
        pass  # well-formed; no key was offered, so none could verify


def verify_cosigned(
    note: bytes, origin_verifier: Verifier, cosigner_verifiers: Iterable[CosignatureVerifier]
) -> dict[str, int]:
    """Open `note`, requiring the log's signature and a cosignature from every given cosigner.

    Returns {cosigner name: cosigning time}.  A bad signature by any of these keys raises
    InvalidSignatureError; a missing one raises UnknownKeyError naming whose is missing.
    """
    cosigners = list(cosigner_verifiers)
    names = [c.name for c in cosigners]
    if len(set(names)) != len(names):
        raise MalformedError("two cosigners with the same name", field="key")
    opened: Note = open_note(note, [origin_verifier, *cosigners])
    got = {(s.name, s.key_hash): s for s in opened.verified}
    if (origin_verifier.name, origin_verifier.key_hash) not in got:
        raise UnknownKeyError(f"note is not signed by the log key {origin_verifier.name}")
    missing = [c for c in cosigners if (c.name, c.key_hash) not in got]
    if missing:
        raise UnknownKeyError(
            "note has no cosignature from " + ", ".join(f"{c.name}+{c.key_hash:08x}" for c in missing)
        )
    return {c.name: c.timestamp(got[(c.name, c.key_hash)].signature) for c in cosigners}
