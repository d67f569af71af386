"""The independent status-proof verifier (tests/independent_statusmap.py, from the byte description alone)
against itself, against ledger.vmap, and against what a ledger serves."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import independent_statusmap as ind
import pytest

from regledger.ledger import vmap
from regledger.ledger.errors import MapProofError

ITEMS = {
    "reg:a": {"indexes": [3, 7, 12]},
    "reg:b": {"indexes": [4]},
    "code:PDR-1-520000-2026-000001": {"registration": "reg:a"},
    "query:ABCD-EFGH": {"registration": "reg:a"},
    "reg:数据": {"indexes": [0, 1, 2, 9007199254740991]},
}


def test_the_roots_agree_with_ledger_vmap():
    assert ind.root_of({}) == ind.EMPTY == vmap.map_root({})
    for n in range(1, len(ITEMS) + 1):
        some = dict(list(ITEMS.items())[:n])
        assert ind.root_of(some) == vmap.map_root(some), n
    one = {"reg:a": ITEMS["reg:a"]}
    assert ind.root_of(one) == ind.leaf_hash(ind.key_hash("reg:a"), ind.value_hash(ITEMS["reg:a"]))


@pytest.mark.parametrize("key", [*ITEMS, "reg:nobody", "code:PDR-never", ""])
def test_proofs_verify_on_both_sides(key):
    root = ind.root_of(ITEMS)
    siblings, leaf = ind.prove(ITEMS, key)
    value = ITEMS.get(key)
    ind.verify_path(root, key, value, siblings, leaf)
    vleaf = None if leaf is None else (base64.b64decode(leaf["key_hash"]), base64.b64decode(leaf["value_hash"]))
    vmap.verify_map_proof(root, key, value, [siblings[i : i + 32] for i in range(0, len(siblings), 32)], vleaf)
    # the wrong claim fails on both sides
    wrong = {"indexes": [1]} if value is None or "registration" in value else None
    with pytest.raises(ind.IndependentFailure):
        ind.verify_path(root, key, wrong, siblings, leaf)
    with pytest.raises(MapProofError):
        vmap.verify_map_proof(root, key, wrong, [siblings[i : i + 32] for i in range(0, len(siblings), 32)], vleaf)


def test_every_flipped_bit_fails():
    root = ind.root_of(ITEMS)
    siblings, leaf = ind.prove(ITEMS, "reg:a")
    assert leaf is not None and siblings
    for i in range(len(siblings) * 8):
        bad = bytearray(siblings)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(ind.IndependentFailure):
            ind.verify_path(root, "reg:a", ITEMS["reg:a"], bytes(bad), leaf)
    for name in ("key_hash", "value_hash"):
        raw = base64.b64decode(leaf[name])
        for i in range(256):
            flipped = bytearray(raw)
            flipped[i // 8] ^= 1 << (i % 8)
            with pytest.raises(ind.IndependentFailure):
                ind.verify_path(
                    root, "reg:a", ITEMS["reg:a"], siblings, {**leaf, name: base64.b64encode(flipped).decode()}
                )


def test_non_canonical_proofs_are_refused():
    """A trailing empty sibling would mean a parent that should have been compacted away."""
    items = {"reg:a": ITEMS["reg:a"]}
    root = ind.root_of(items)
    siblings, leaf = ind.prove(items, "reg:a")
    assert siblings == b""
    ind.verify_path(root, "reg:a", items["reg:a"], siblings, leaf)
    with pytest.raises(ind.IndependentFailure, match="non-canonical"):
        ind.verify_path(root, "reg:a", items["reg:a"], ind.EMPTY, leaf)


def test_the_independent_verifier_passes_the_map_vectors():
    """tests/vectors/vmap/map.json (made with ledger.vmap): its root rebuilt and every proof checked here too,
    and the proofs this module makes from the items are the vectors' own."""
    vectors = json.loads((Path(__file__).parent / "vectors" / "vmap" / "map.json").read_text())
    root = base64.b64decode(vectors["root"])
    assert ind.root_of(vectors["items"]) == root
    for p in vectors["proofs"]:
        siblings = base64.b64decode(p["siblings"])
        ind.verify_path(root, p["key"], p["value"], siblings, p["leaf"])
        assert ind.prove(vectors["items"], p["key"]) == (siblings, p["leaf"]), p["key"]
