"""The status map's pure functions (ledger.vmap): incremental updates agree with the root from scratch, proofs of
presence and of both kinds of absence verify at every version, and each wrong claim fails with its reason."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Sequence
from typing import Any

import pytest

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger import statusmap, vmap
from regledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from regledger.ledger.entry import canonical_json
from regledger.ledger.errors import IntegrityError, MalformedError, MapProofError, VerificationError
from regledger.ledger.hashes import EMPTY_ROOT


class Nodes:
    """Versioned, append-only rows, as the stores keep them."""

    def __init__(self) -> None:
        self.rows: dict[vmap.Position, list[tuple[int, bytes]]] = {}
        self.version = 0

    def read_map_nodes(self, positions: Sequence[vmap.Position], version: int | None) -> dict[vmap.Position, bytes]:
        out = {}
        for p in positions:
            rows = [c for v, c in self.rows.get(p, []) if version is None or v <= version]
            if rows:
                out[p] = rows[-1]
        return out

    def commit(self, writes: dict[vmap.Position, bytes]) -> None:
        self.version += 1
        for p, c in writes.items():
            self.rows.setdefault(p, []).append((self.version, c))


def _grow(
    nodes: Nodes, values: dict[str, dict[str, Any]], batch: dict[str, dict[str, Any]]
) -> tuple[bytes, dict[str, dict[str, Any]]]:
    before, values = values, {**values, **batch}
    change = vmap.update_map(
        nodes, {vmap.key_hash(k): vmap.value_hash(v) for k, v in batch.items()}, expected_root=vmap.map_root(before)
    )
    nodes.commit(change.writes)
    assert change.before == {vmap.key_hash(k): (vmap.value_hash(before[k]) if k in before else None) for k in batch}
    return change.root, values


def test_hashes_are_domain_separated_from_the_log() -> None:
    assert vmap.key_hash("reg:a") == __import__("hashlib").sha256(b"\x10reg:a").digest()
    assert vmap.value_hash({"indexes": [1]}) == __import__("hashlib").sha256(b'\x11{"indexes":[1]}').digest()
    assert vmap.map_root({}) == vmap.EMPTY == bytes(32) != EMPTY_ROOT
    one = {"reg:a": {"indexes": [3]}}
    assert vmap.map_root(one) == vmap.leaf_hash(vmap.key_hash("reg:a"), vmap.value_hash(one["reg:a"]))


def test_incremental_updates_match_the_root_from_scratch_at_every_version() -> None:
    rng = random.Random(7)
    nodes = Nodes()
    values: dict[str, dict[str, Any]] = {}
    history: list[tuple[bytes, dict[str, dict[str, Any]]]] = []
    for step in range(30):
        batch: dict[str, dict[str, Any]] = {}
        for _ in range(rng.choice([1, 2, 5, 20])):
            key = f"reg:r{rng.randrange(60)}" if rng.random() < 0.7 else f"code:c{rng.randrange(40)}"
            batch[key] = {"indexes": [step, rng.randrange(1000)]}
        root, values = _grow(nodes, values, batch)
        assert root == vmap.map_root(values)
        history.append((root, dict(values)))
    # every version's proofs: present keys with their values, absent keys both ways
    kinds = set()
    for version, (root, vals) in enumerate(history, start=1):
        for key in [*vals, *(f"reg:absent{i}" for i in range(100))]:
            siblings, leaf = vmap.prove(nodes, key, version)
            value = vals.get(key)
            vmap.verify_map_proof(root, key, value, siblings, leaf)
            kinds.add("present" if value else "empty" if leaf is None else "other-leaf")
            if value is not None:
                with pytest.raises(MapProofError) as e:
                    vmap.verify_map_proof(root, key, None, siblings, leaf)
                assert e.value.reason == "not-absent"
                with pytest.raises(MapProofError) as e:
                    vmap.verify_map_proof(root, key, {"indexes": [-1]}, siblings, leaf)
                assert e.value.reason == "value-mismatch"
            else:
                with pytest.raises(MapProofError) as e:
                    vmap.verify_map_proof(root, key, {"indexes": [1]}, siblings, leaf)
                assert e.value.reason == "not-present"
    assert kinds == {"present", "empty", "other-leaf"}


def test_setting_the_same_value_writes_nothing() -> None:
    nodes = Nodes()
    root, values = _grow(nodes, {}, {f"reg:{i}": {"indexes": [i]} for i in range(20)})
    same = vmap.update_map(nodes, {vmap.key_hash("reg:3"): vmap.value_hash({"indexes": [3]})})
    assert same.root == root and same.writes == {}
    assert vmap.update_map(nodes, {}).root == root and vmap.update_map(nodes, {}).writes == {}


def test_empty_map_and_single_leaf_proofs() -> None:
    nodes = Nodes()
    siblings, leaf = vmap.prove(nodes, "reg:x", None)
    assert siblings == [] and leaf is None
    vmap.verify_map_proof(vmap.EMPTY, "reg:x", None, siblings, leaf)
    root, _ = _grow(nodes, {}, {"reg:a": {"indexes": [0]}})
    siblings, leaf = vmap.prove(nodes, "reg:x", None)
    assert siblings == [] and leaf == (vmap.key_hash("reg:a"), vmap.value_hash({"indexes": [0]}))
    vmap.verify_map_proof(root, "reg:x", None, siblings, leaf)


def test_a_damaged_stored_node_is_named_not_built_on() -> None:
    nodes = Nodes()
    root, values = _grow(nodes, {}, {f"reg:{i}": {"indexes": [i]} for i in range(50)})
    inner = [p for p, rows in nodes.rows.items() if len(rows[-1][1]) == 32 and p != vmap.ROOT]
    depth, prefix = inner[0]
    nodes.rows[(depth, prefix)].append((nodes.version, b"\x07" * 32))
    under = next(k for k in values if vmap.prove(nodes, k, None)[0][depth - 1 : depth])
    with pytest.raises(IntegrityError) as e:
        updates = {vmap.key_hash(k): vmap.value_hash({"indexes": [9]}) for k in values}
        vmap.update_map(nodes, updates, expected_root=root)
    assert e.value.where.startswith("map node ")
    with pytest.raises(IntegrityError) as e:
        vmap.update_map(nodes, {vmap.key_hash(under): bytes(32)}, expected_root=b"\x01" * 32)
    assert e.value.where == "map node 0/-"


def test_non_canonical_and_overlong_proofs_are_refused() -> None:
    nodes = Nodes()
    root, _ = _grow(nodes, {}, {f"reg:{i}": {"indexes": [i]} for i in range(8)})
    siblings, leaf = vmap.prove(nodes, "reg:1", None)
    kh = vmap.key_hash("reg:1")
    # pushing the leaf one level down beside an EMPTY sibling gives the same root, but is not canonical
    deeper = [*siblings, vmap.EMPTY]
    with pytest.raises(MapProofError) as e:
        vmap.verify_map_proof(root, "reg:1", {"indexes": [1]}, deeper, leaf)
    assert e.value.reason == "non-canonical"
    with pytest.raises(MapProofError) as e:
        vmap.verify_map_proof(root, "reg:1", {"indexes": [1]}, [vmap.EMPTY] * 257, leaf)
    assert e.value.reason == "too-long"
    # an absent key's proof that ends in an empty subtree beside an empty sibling
    with pytest.raises(MapProofError) as e:
        vmap.verify_map_proof(root, "reg:1", None, [vmap.EMPTY], None)
    assert e.value.reason == "non-canonical"
    # another key's leaf that is not on the path
    other = next(f"reg:{i}" for i in range(8) if vmap.key_hash(f"reg:{i}")[0] >> 7 != kh[0] >> 7)
    s2, l2 = vmap.prove(nodes, other, None)
    with pytest.raises(MapProofError) as e:
        vmap.verify_map_proof(root, "reg:1", None, s2, l2)
    assert e.value.reason in ("prefix-mismatch", "root-mismatch")
    with pytest.raises(MapProofError) as e:
        vmap.verify_map_proof(root, "reg:absent", None, s2[:1], l2)
    assert e.value.reason in ("prefix-mismatch", "root-mismatch")


def test_apply_updates_appends_in_order_and_sets_aliases() -> None:
    got = vmap.apply_updates(
        {"reg:a": {"indexes": [1, 5]}},
        [
            vmap.MapUpdate("reg:a", append=7),
            vmap.MapUpdate("reg:a", append=5),
            vmap.MapUpdate("reg:b", append=9),
            vmap.MapUpdate("reg:b", append=3),
            vmap.MapUpdate("code:X", value={"registration": "reg:a"}),
        ],
    )
    assert got == {"reg:a": {"indexes": [1, 5, 7]}, "reg:b": {"indexes": [3, 9]}, "code:X": {"registration": "reg:a"}}


ORIGIN = "map.regledger.example/1"


def _doc(key: str, *, extensions: tuple[str, ...] | None = None) -> tuple[dict[str, Any], Ed25519Signer]:
    signer = Ed25519Signer.generate(ORIGIN)
    nodes = Nodes()
    values = {f"reg:{i}": {"indexes": [i, i + 10]} for i in range(6)} | {"code:C1": {"registration": "reg:1"}}
    root, _ = _grow(nodes, {}, values)
    ext = (vmap.map_line(root),) if extensions is None else extensions
    note = sign_checkpoint(Checkpoint(ORIGIN, 16, bytes(32), ext), signer)
    siblings, leaf = vmap.prove(nodes, key, None)
    return vmap.status_proof_document(ORIGIN, note, key, values.get(key), siblings, leaf), signer


def test_status_proof_documents_open_with_the_log_key() -> None:
    for key in ("reg:2", "code:C1", "reg:nope", "query:none"):
        doc, signer = _doc(key)
        opened = vmap.open_status_proof(doc, origin=ORIGIN, verifier=signer.verifier())
        assert opened.key == key and opened.checkpoint.size == 16
        assert opened.value == doc["value"]
        assert vmap.map_root_of(opened.checkpoint) == opened.map_root


def test_status_proof_refusals_name_their_reason() -> None:
    doc, signer = _doc("reg:2")
    v = signer.verifier()
    other = Ed25519Signer.generate(ORIGIN).verifier()
    with pytest.raises(VerificationError):  # another key of the same name: the note does not open
        vmap.open_status_proof(doc, origin=ORIGIN, verifier=other)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**doc, "value": {"indexes": [2]}}, "value-mismatch"),
        ({**doc, "value": None}, "not-absent"),
        ({**doc, "key": "reg:3"}, "not-present"),
        ({**doc, "key": "reg:3", "value": None}, "prefix-mismatch"),
        ({**doc, "format": "x"}, "malformed"),
        ({**doc, "siblings": doc["siblings"][:-4]}, "malformed"),
        ({k: v for k, v in doc.items() if k != "leaf"}, "malformed"),
        ({**doc, "leaf": None}, "not-present"),
    ]
    for bad, reason in cases:
        with pytest.raises(MapProofError) as e:
            vmap.open_status_proof(bad, origin=ORIGIN, verifier=v)
        assert e.value.reason == reason, bad
    nomap, signer2 = _doc("reg:2", extensions=())
    with pytest.raises(MapProofError) as e:
        vmap.open_status_proof(nomap, origin=ORIGIN, verifier=signer2.verifier())
    assert e.value.reason == "no-map-root"


@pytest.mark.parametrize(
    "ext",
    [
        ("regledger-map/v1 " + base64.b64encode(bytes(32)).decode(),) * 2,
        ("regledger-map/v1  " + base64.b64encode(bytes(32)).decode(),),
        ("regledger-map/v1 " + base64.b64encode(bytes(31)).decode(),),
        ("regledger-map/v1 " + base64.b64encode(bytes(32)).decode().rstrip("="),),
        ("regledger-map/v1",),
        ("regledger-map/v1 " + base64.b64encode(bytes(32)).decode() + " x",),
    ],
)
def test_map_line_is_parsed_strictly(ext: tuple[str, ...]) -> None:
    with pytest.raises(MapProofError) as e:
        vmap.map_root_of(Checkpoint(ORIGIN, 1, bytes(32), ext))
    assert e.value.reason == "malformed"


def test_other_extension_lines_are_ignored() -> None:
    line = vmap.map_line(b"\x01" * 32)
    cp = Checkpoint(ORIGIN, 1, bytes(32), ("— other/v1 x", line, "regledger-mapx y"))
    assert vmap.map_root_of(cp) == b"\x01" * 32
    assert vmap.map_root_of(Checkpoint(ORIGIN, 1, bytes(32))) is None
    assert issubclass(MapProofError, VerificationError)


@pytest.mark.parametrize(
    "value",
    [
        {"indexes": []},
        {"indexes": [0]},
        {"indexes": [3, 17, 2**53 - 1]},
        {"indexes": [True]},
        {"indexes": [2**53]},
        {"indexes": [-1]},
        {"indexes": [1], "x": 1},
        {"registration": "reg:r1"},
        {"registration": '@o:reg:"\u00e9\n'},
    ],
)
def test_value_bytes_are_canonical_json_or_refused_like_it(value: dict[str, Any]) -> None:
    try:
        want: bytes | type[Exception] = canonical_json(value)
    except MalformedError:
        want = MalformedError
    if want is MalformedError:
        with pytest.raises(MalformedError):
            vmap.value_bytes(value)
        with pytest.raises(MalformedError):
            vmap.value_hash(value)
        return
    assert vmap.value_bytes(value) == want
    assert vmap.value_hash(value) == vmap.value_hash_of(want) == hashlib.sha256(b"\x11" + want).digest()  # type: ignore[operator]


def test_the_proof_cache_serves_one_version_and_its_proofs_still_verify() -> None:
    nodes = Nodes()
    values: dict[str, dict[str, Any]] = {}
    roots = []
    for b in range(3):
        root, values = _grow(nodes, values, {f"reg:{b}-{i}": {"indexes": [i, b]} for i in range(40)})
        roots.append((root, dict(values)))
    reads: list[int] = []

    class Counting:
        def read_map_nodes(self, positions: Sequence[vmap.Position], version: int | None) -> dict[vmap.Position, bytes]:
            reads.append(len(positions))
            return nodes.read_map_nodes(positions, version)

    cache = statusmap.ProofNodeCache(Counting(), max_depth=3)
    for version in (1, 3, 2, 3):
        root, at = roots[version - 1]
        for key in [*at, "reg:absent", "reg:0-0"]:
            siblings, leaf = vmap.prove(cache, key, version)
            assert (siblings, leaf) == vmap.prove(nodes, key, version)
            vmap.verify_map_proof(root, key, at.get(key), siblings, leaf)
    assert cache._at[0] == 3
    asked = sum(reads)
    vmap.prove(cache, "reg:0-0", 3)
    assert sum(reads) - asked < asked / len(reads)  # the upper levels came from the cache
