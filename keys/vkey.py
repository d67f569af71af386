"""C2SP verifier-key strings (`name+hash+base64(type||key)`) and Go's private-key form."""

from __future__ import annotations

import base64
import binascii

from .ed25519 import SIG_ED25519, Ed25519Signer, Ed25519Verifier, note_key_hash
from .errors import MalformedError

__all__ = ["format_skey", "format_vkey", "parse_skey", "parse_vkey"]


def format_vkey(name: str, public: bytes) -> str:
    h = note_key_hash(name, SIG_ED25519, public)
    return f"{name}+{h:08x}+{base64.b64encode(bytes([SIG_ED25519]) + public).decode()}"


def _decode_key(name: str, hash_hex: str, b64: str, what: str) -> bytes:
    if len(hash_hex) != 8 or any(c not in "0123456789abcdef" for c in hash_hex):
        raise MalformedError(f"{what}: key hash must be 8 lowercase hex digits", field="key")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what}: key is not base64", field="key") from exc
    if len(raw) != 33 or raw[0] != SIG_ED25519:
        raise MalformedError(f"{what}: only Ed25519 keys (type 0x01, 32 bytes) are supported", field="key")
    return raw[1:]


def parse_vkey(vkey: str) -> Ed25519Verifier:
    """A Verifier from `name+hash+base64`; the hash must match the key."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedError("verifier key must look like name+hash+base64", field="key")
    name, hash_hex, b64 = parts
    v = Ed25519Verifier(name, _decode_key(name, hash_hex, b64, "verifier key"))
    if f"{v.key_hash:08x}" != hash_hex:
        raise MalformedError("verifier key hash does not match the key", field="key")
    return v


def format_skey(signer: Ed25519Signer) -> str:
    """Go's `PRIVATE+KEY+name+hash+base64(0x01||seed)`: for test vectors and tooling only."""
    from cryptography.hazmat.primitives import serialization

    seed = signer.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw = bytes([SIG_ED25519]) + seed
    return f"PRIVATE+KEY+{signer.name}+{signer.key_hash:08x}+{base64.b64encode(raw).decode()}"


def parse_skey(skey: str) -> Ed25519Signer:
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise MalformedError("signer key must look like PRIVATE+KEY+name+hash+base64", field="key")
    _, _, name, hash_hex, b64 = parts
    s = Ed25519Signer.from_seed(name, _decode_key(name, hash_hex, b64, "signer key"))
    if f"{s.key_hash:08x}" != hash_hex:
        raise MalformedError("signer key hash does not match the key", field="key")
    return s
