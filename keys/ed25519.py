"""Ed25519 signers and verifiers for signed notes and statements.

Keys are generated and stored with pyca/cryptography; signatures are made and checked with
libsodium (PyNaCl), which on this class of machine verifies about 40% faster — verification is
the largest cost of an append.  Ed25519 is deterministic (RFC 8032), so both libraries produce the
same signature bytes (the Go note vectors in tests/test_note.py pin this).  libsodium's verifier
is stricter than Go's crypto/ed25519 (it also refuses small-order points), so anything this
ledger accepts, other verifiers accept too.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import nacl.bindings as _sodium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError

from .errors import InvalidSignatureError, MalformedError
from .names import check_key_name

__all__ = [
    "SIG_ED25519",
    "Ed25519Signer",
    "Ed25519Verifier",
    "note_key_hash",
    "statement_key_id",
    "verify_ed25519",
]

#: C2SP signed-note signature type for plain Ed25519.
SIG_ED25519 = 0x01


def note_key_hash(name: str, sig_type: int, public: bytes) -> int:
    """C2SP key ID: the first 4 bytes of SHA-256(name || 0x0A || type || public), big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def statement_key_id(public: bytes) -> str:
    """The `key` field of a statement: hex of the first 16 bytes of SHA-256(raw public key)."""
    return hashlib.sha256(public).hexdigest()[:32]


@lru_cache(maxsize=4096)
def _load_public(public: bytes) -> Ed25519PublicKey:
    if len(public) != 32:
        raise MalformedError(f"an Ed25519 public key is 32 bytes, not {len(public)}")
    try:
        return Ed25519PublicKey.from_public_bytes(public)
    except ValueError as exc:
        raise MalformedError("not an Ed25519 public key") from exc


def verify_ed25519(public: bytes, message: bytes, signature: bytes) -> None:
    """Raise InvalidSignatureError unless `signature` is a valid Ed25519 signature."""
    if len(public) != 32:
        raise MalformedError(f"an Ed25519 public key is 32 bytes, not {len(public)}")
    if len(signature) != 64:
        raise InvalidSignatureError(f"an Ed25519 signature is 64 bytes, not {len(signature)}")
    try:
        _sodium.crypto_sign_open(bytes(signature) + message, bytes(public))
    except BadSignatureError as exc:
        raise InvalidSignatureError("Ed25519 signature does not verify") from exc
    except (ValueError, TypeError) as exc:  # libsodium refuses the key itself
        raise InvalidSignatureError("Ed25519 signature does not verify (unusable public key)") from exc


class Ed25519Verifier:
    """A note Verifier (and statement verifier) for one named Ed25519 public key."""

    def __init__(self, name: str, public: bytes) -> None:
        check_key_name(name)
        _load_public(public)  # refuse what is not a public key at all
        self.public = bytes(public)
        self.name = name
        self.key_hash = note_key_hash(name, SIG_ED25519, self.public)

    def verify(self, message: bytes, signature: bytes) -> None:
        try:
            verify_ed25519(self.public, message, signature)
        except InvalidSignatureError as exc:
            raise InvalidSignatureError(f"signature by {self.name} does not verify") from exc

    def vkey(self) -> str:
        from .vkey import format_vkey

        return format_vkey(self.name, self.public)


class Ed25519Signer:
    """A note Signer and statement signer holding one named Ed25519 private key."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self._private = private
        self.public = private.public_key().public_bytes_raw()
        seed = private.private_bytes_raw()
        self._sodium_secret = _sodium.crypto_sign_seed_keypair(seed)[1]
        self.name = name
        self.key_hash = note_key_hash(name, SIG_ED25519, self.public)
        self.key_id = statement_key_id(self.public)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        if len(seed) != 32:
            raise MalformedError("an Ed25519 seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._private

    def sign(self, message: bytes) -> bytes:
        return _sodium.crypto_sign(message, self._sodium_secret)[:64]

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.public)

    def __repr__(self) -> str:  # never show key material
        return f"Ed25519Signer(name={self.name!r}, key_hash={self.key_hash:08x})"
