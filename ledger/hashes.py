"""RFC 9162 section 2.1 hashing: SHA-256 with leaf (0x00) and node (0x01) domain separation."""

from __future__ import annotations

import hashlib
from typing import NewType

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "Hash", "leaf_hash", "node_hash"]

Hash = NewType("Hash", bytes)

HASH_SIZE = 32

#: MTH({}) = SHA-256 of the empty string; a size-0 checkpoint carries this root.
EMPTY_ROOT = Hash(hashlib.sha256(b"").digest())

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> Hash:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return Hash(_sha256(b"\x00" + data).digest())


def node_hash(left: bytes, right: bytes) -> Hash:
    """SHA-256(0x01 || left || right)."""
    return Hash(_sha256(b"\x01" + left + right).digest())
