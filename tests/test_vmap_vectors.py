"""Status-map vectors (tests/vectors/vmap/map.json): the root and every proof, checked by ledger.vmap and by an
independent verifier written here from docs/formats.md ("Status map") with hashlib alone; every byte flipped in
a proof, a value, a key or the root makes both fail."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from regledger.ledger import vmap
from regledger.ledger.errors import LedgerError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "vmap" / "map.json").read_text())


# -- the independent verifier: docs/formats.md, "Status map", nothing else ----------------------------


def _h(prefix: int, *parts: bytes) -> bytes:
    return hashlib.sha256(bytes([prefix]) + b"".join(parts)).digest()


def _canonical(value: Any) -> bytes:
    # RFC 8785 for what map values hold (objects of strings, integers and lists): sorted keys, no spaces
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _bit(h: bytes, d: int) -> int:
    return (h[d // 8] >> (7 - d % 8)) & 1


def independent_verify(root: bytes, key: str, value: Any, siblings: bytes, leaf: dict | None) -> None:
    """Raise ValueError unless the proof shows key -> value (None: absent) under root."""
    if len(siblings) % 32 or len(siblings) > 256 * 32:
        raise ValueError("siblings")
    sibs = [siblings[i : i + 32] for i in range(0, len(siblings), 32)]
    kh = _h(0x10, key.encode())
    if leaf is None:
        if value is not None:
            raise ValueError("claims a value, proof ends empty")
        if sibs and sibs[-1] == bytes(32):
            raise ValueError("non-canonical")
        h = bytes(32)
    else:
        lkh, lvh = base64.b64decode(leaf["key_hash"]), base64.b64decode(leaf["value_hash"])
        if len(lkh) != 32 or len(lvh) != 32:
            raise ValueError("leaf")
        if lkh == kh:
            if value is None or _h(0x11, _canonical(value)) != lvh:
                raise ValueError("value")
        else:
            if value is not None:
                raise ValueError("claims a value, proof ends in another leaf")
            if any(_bit(lkh, d) != _bit(kh, d) for d in range(len(sibs))):
                raise ValueError("prefix")
        if sibs and sibs[-1] == bytes(32):
            raise ValueError("non-canonical")
        h = _h(0x12, lkh, lvh)
    for d in range(len(sibs) - 1, -1, -1):
        h = _h(0x13, sibs[d], h) if _bit(kh, d) else _h(0x13, h, sibs[d])
    if h != root:
        raise ValueError("root")


def _ours(root: bytes, key: str, value: Any, siblings: bytes, leaf: dict | None) -> None:
    if len(siblings) % 32:
        raise ValueError("siblings")
    sibs = [siblings[i : i + 32] for i in range(0, len(siblings), 32)]
    pair = None if leaf is None else (base64.b64decode(leaf["key_hash"]), base64.b64decode(leaf["value_hash"]))
    vmap.verify_map_proof(root, key, value, sibs, pair)


VERIFIERS = {"ledger.vmap": _ours, "independent": independent_verify}
ROOT = base64.b64decode(VECTORS["root"])
PROOFS = VECTORS["proofs"]


def test_the_root_is_the_items_root_by_both_computations() -> None:
    assert vmap.map_root(VECTORS["items"]) == ROOT
    assert {p["kind"] for p in PROOFS} == {"present", "absent-empty", "absent-other-leaf"}
    for p in PROOFS:
        assert base64.b64decode(p["key_hash"]) == _h(0x10, p["key"].encode()) == vmap.key_hash(p["key"])
        if p["value"] is not None:
            assert base64.b64decode(p["value_hash"]) == _h(0x11, _canonical(p["value"])) == vmap.value_hash(p["value"])


@pytest.mark.parametrize("name", VERIFIERS)
@pytest.mark.parametrize("p", PROOFS, ids=lambda p: f"{p['kind']}:{p['key']}")
def test_every_vector_verifies(name: str, p: dict[str, Any]) -> None:
    VERIFIERS[name](ROOT, p["key"], p["value"], base64.b64decode(p["siblings"]), p["leaf"])


def _flips(data: bytes) -> list[bytes]:
    return [data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :] for i in range(len(data)) for b in (0, 7)]


def _must_fail(verify: Any, *args: Any) -> None:
    with pytest.raises((ValueError, LedgerError)):
        verify(*args)


@pytest.mark.parametrize("name", VERIFIERS)
@pytest.mark.parametrize("p", PROOFS, ids=lambda p: f"{p['kind']}:{p['key']}")
def test_every_byte_flipped_fails(name: str, p: dict[str, Any]) -> None:
    verify = VERIFIERS[name]
    key, value, sibs, leaf = p["key"], p["value"], base64.b64decode(p["siblings"]), p["leaf"]
    for bad in _flips(sibs):
        _must_fail(verify, ROOT, key, value, bad, leaf)
    for bad in _flips(ROOT):
        _must_fail(verify, bad, key, value, sibs, leaf)
    # a presence proof is for its key alone (an absence proof may also, truly, show a nearby key absent)
    for bad in _flips(key.encode()) if value is not None else []:
        try:
            bad_key = bad.decode()
        except UnicodeDecodeError:
            continue  # not a key anyone can ask for
        _must_fail(verify, ROOT, bad_key, value, sibs, leaf)
    if leaf is not None:
        for field in ("key_hash", "value_hash"):
            for bad in _flips(base64.b64decode(leaf[field])):
                _must_fail(verify, ROOT, key, value, sibs, {**leaf, field: base64.b64encode(bad).decode()})
    if value is not None:
        for bad in _flips(_canonical(value)):
            try:
                bad_value = json.loads(bad)
            except (ValueError, UnicodeDecodeError):
                continue  # not JSON: nothing to verify
            if bad_value == value:
                continue  # e.g. a flip inside insignificant bytes cannot exist in canonical JSON, but be safe
            _must_fail(verify, ROOT, key, bad_value, sibs, leaf)
        _must_fail(verify, ROOT, key, None, sibs, leaf)
    else:
        _must_fail(verify, ROOT, key, {"indexes": [0]}, sibs, leaf)
    if sibs:
        _must_fail(verify, ROOT, key, value, sibs[:-32], leaf)
        _must_fail(verify, ROOT, key, value, sibs + bytes(32), leaf)
