"""Writes map.json beside it: a small status map (keys, values, root) and proofs of presence and of both kinds
of absence (the path ends in an empty subtree; the path ends in another key's leaf).  Run once; the file is
checked in and tests/test_vmap_vectors.py holds the code to it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from regledger.ledger import vmap
from regledger.ledger.statusmap import MapRows, VersionedMap

ITEMS = {
    "reg:res-001": {"indexes": [2, 5, 9, 14, 30]},
    "reg:res-002": {"indexes": [3, 6]},
    "reg:res-004": {"indexes": [44]},
    "reg:prod-007": {"indexes": [11, 12, 13]},
    "reg:撤销-示例": {"indexes": [20, 21, 22, 23, 24]},
    "code:PDR-1-520115-2026-000001": {"registration": "reg:res-001"},
    "query:7QK3-M9XD-2HFA": {"registration": "reg:res-001"},
    "code:PDR-2-520115-2026-000001": {"registration": "reg:prod-007"},
    "@county.example/520115:reg:c-1": {"indexes": [0, 4]},
    "@county.example/520115:code:PDR-1-520115-2026-000002": {"registration": "@county.example/520115:reg:c-1"},
    "code:PDR-1-520000-2026-000001": {"registration": "@county.example/520115:reg:c-1"},
}


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def main() -> None:
    root, nodes = vmap.build_map((vmap.key_hash(k), vmap.value_hash(v)) for k, v in ITEMS.items())
    store = VersionedMap()
    store.add(1, MapRows(nodes, {}))
    proofs = []
    kinds: dict[str, int] = {}
    candidates = list(ITEMS) + [f"reg:absent-{i}" for i in range(5000)] + ["code:PDR-9-000000-2099-999999"]
    for key in candidates:
        siblings, leaf = vmap.prove(store, key, None)
        value = ITEMS.get(key)
        kind = "present" if value is not None else "absent-empty" if leaf is None else "absent-other-leaf"
        if kind != "present" and kinds.get(kind, 0) >= 3:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        proofs.append(
            {
                "kind": kind,
                "key": key,
                "key_hash": b64(vmap.key_hash(key)),
                "value": value,
                "value_hash": None if value is None else b64(vmap.value_hash(value)),
                "siblings": b64(b"".join(siblings)),
                "leaf": None if leaf is None else {"key_hash": b64(leaf[0]), "value_hash": b64(leaf[1])},
            }
        )
    assert kinds["absent-empty"] and kinds["absent-other-leaf"]
    out = {
        "about": "regledger status map vectors (docs/formats.md, 'Status map'); made by make_vectors.py",
        "items": ITEMS,
        "root": b64(root),
        "proofs": proofs,
    }
    path = Path(__file__).with_name("map.json")
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
