"""An independent status-proof verifier, written from the byte description of the status map alone
(docs/formats.md, "Status map"), for cross-checking what the server serves and what certificates carry.

It imports nothing of regledger: SHA-256 from hashlib, Ed25519 from `cryptography`, JSON canonical form
written here (RFC 8785 for the values the map holds: objects of strings and lists of non-negative integers).
It raises `IndependentFailure` saying what failed; a pass returns what the proof says.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EMPTY = bytes(32)
MAP_LINE = "regledger-map/v1 "
DOC_FORMAT = "regledger-status-proof/v1"


class IndependentFailure(Exception):
    """What failed, in words."""


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def canonical(value: Any) -> bytes:
    """RFC 8785 for objects, arrays, strings, integers, null (the map's values hold nothing else)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return b"{" + b",".join(canonical(k) + b":" + canonical(v) for k, v in items) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(canonical(v) for v in value) + b"]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value).encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).encode()
    raise IndependentFailure(f"a map value may not hold {type(value).__name__}")


def key_hash(key: str) -> bytes:
    return sha256(b"\x10", key.encode())


def value_hash(value: Any) -> bytes:
    return sha256(b"\x11", canonical(value))


def leaf_hash(kh: bytes, vh: bytes) -> bytes:
    return sha256(b"\x12", kh, vh)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x13", left, right)


def bit(h: bytes, d: int) -> int:
    return (h[d // 8] >> (7 - d % 8)) & 1


def root_of(items: dict[str, Any]) -> bytes:
    """The map root of `items`, from scratch (the compacted tree of the description)."""
    return _sub(sorted((key_hash(k), value_hash(v)) for k, v in items.items()), 0)


def verify_path(root: bytes, key: str, value: Any, siblings: bytes, leaf: dict[str, str] | None) -> None:
    """The proof that `key` maps to `value` (None: is absent) under `root`; raises IndependentFailure."""
    if len(siblings) % 32:
        raise IndependentFailure("siblings is not a whole number of 32-byte hashes")
    sib = [siblings[i : i + 32] for i in range(0, len(siblings), 32)]
    if len(sib) > 256:
        raise IndependentFailure("more than 256 siblings")
    kh = key_hash(key)
    if leaf is None:
        if value is not None:
            raise IndependentFailure("the proof ends in an empty subtree, but a value is claimed")
        if sib and sib[-1] == EMPTY:
            raise IndependentFailure("non-canonical: an empty subtree beside an empty last sibling")
        h = EMPTY
    else:
        lk = base64.b64decode(leaf["key_hash"], validate=True)
        lv = base64.b64decode(leaf["value_hash"], validate=True)
        if len(lk) != 32 or len(lv) != 32:
            raise IndependentFailure("the leaf's hashes are not 32 bytes")
        if sib and sib[-1] == EMPTY:
            raise IndependentFailure("non-canonical: a leaf beside an empty last sibling")
        if lk == kh:
            if value is None:
                raise IndependentFailure("the key is present, but absence is claimed")
            if lv != value_hash(value):
                raise IndependentFailure("the leaf's value hash is not the claimed value's")
        else:
            if value is not None:
                raise IndependentFailure("the proof ends in another key's leaf, but a value is claimed")
            if any(bit(lk, d) != bit(kh, d) for d in range(len(sib))):
                raise IndependentFailure("the other key's leaf is not on this key's path")
        h = leaf_hash(lk, lv)
    for d in range(len(sib) - 1, -1, -1):
        h = node_hash(sib[d], h) if bit(kh, d) else node_hash(h, sib[d])
    if h != root:
        raise IndependentFailure("the proof does not lead to the map root")


def open_note(note: str, vkey: str) -> list[str]:
    """The checkpoint body's lines, after checking the log's Ed25519 signature (C2SP signed-note)."""
    name, key_id_hex, key_b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise IndependentFailure("not an Ed25519 verifier key")
    key_id = sha256(name.encode(), b"\n", raw)[:4]
    if key_id.hex() != key_id_hex:
        raise IndependentFailure("the verifier key's id does not match")
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise IndependentFailure("the checkpoint is not a signed note")
    message = (body + "\n").encode()
    for line in sigs.rstrip("\n").split("\n"):
        signer, _, sig_b64 = line.removeprefix("\u2014 ").rpartition(" ")
        sig = base64.b64decode(sig_b64)
        if signer == name and sig[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], message)
            except Exception:
                raise IndependentFailure("the log's signature does not verify") from None
            return body.split("\n")
    raise IndependentFailure("no signature by the log's key")


@dataclass(frozen=True)
class Opened:
    size: int
    log_root: bytes
    map_root: bytes
    key: str
    value: Any


def verify_document(doc: dict[str, Any], vkey: str) -> Opened:
    """A regledger-status-proof/v1 document, checked end to end: signature, map line, proof."""
    if doc.get("format") != DOC_FORMAT:
        raise IndependentFailure("not a status-proof document")
    lines = open_note(doc["checkpoint"], vkey)
    if lines[0] != doc["origin"] or doc["origin"] != vkey.split("+")[0]:
        raise IndependentFailure("origin mismatch")
    maps = [ln for ln in lines[3:] if ln.startswith(MAP_LINE)]
    if len(maps) != 1:
        raise IndependentFailure(f"the checkpoint has {len(maps)} map lines")
    map_root = base64.b64decode(maps[0][len(MAP_LINE) :], validate=True)
    if len(map_root) != 32:
        raise IndependentFailure("the map root is not 32 bytes")
    siblings = base64.b64decode(doc["siblings"], validate=True)
    verify_path(map_root, doc["key"], doc["value"], siblings, doc["leaf"])
    return Opened(int(lines[1]), base64.b64decode(lines[2]), map_root, doc["key"], doc["value"])


def prove(items: dict[str, Any], key: str) -> tuple[bytes, dict[str, str] | None]:
    """(siblings, leaf) of `key` in the map of `items`, from scratch (for the verifier's own tests)."""
    kh = key_hash(key)
    group = sorted((key_hash(k), value_hash(v)) for k, v in items.items())
    siblings: list[bytes] = []
    depth = 0
    while len(group) > 1:
        same = [g for g in group if bit(g[0], depth) == bit(kh, depth)]
        other = [g for g in group if bit(g[0], depth) != bit(kh, depth)]
        siblings.append(_sub(other, depth + 1))
        group, depth = same, depth + 1
    leaf = None
    if group:
        leaf = {
            "key_hash": base64.b64encode(group[0][0]).decode(),
            "value_hash": base64.b64encode(group[0][1]).decode(),
        }
    return b"".join(siblings), leaf


def _sub(group: list[tuple[bytes, bytes]], depth: int) -> bytes:
    if not group:
        return EMPTY
    if len(group) == 1:
        return leaf_hash(*group[0])
    return node_hash(
        _sub([g for g in group if bit(g[0], depth) == 0], depth + 1),
        _sub([g for g in group if bit(g[0], depth) == 1], depth + 1),
    )
