"""RFC 9162 Merkle math, proofs and C2SP tile paths, checked against outside sources.

Where each check comes from:

(a) the published transparency-dev/merkle JSON vectors (tests/vectors/merkle/{inclusion,consistency}.json);
(b) the RFC 6962 test tree and proofs (tests/vectors/merkle/rfc6962.json, also quoted in formats.md);
(c) every proof of every tree of up to 64 leaves, against a reference written straight from the
    RFC 9162 section 2.1 recursion (PATH / SUBPROOF) in formats.md, plus mutations;
(d) pymerkle 7.0.0 as an independent implementation (test-only oracle; 1-based indexes);
(e) regledger's documented empty-tree / equal-size policy (formats.md section A);
(f) tile and entry-bundle paths, entry bundles, new_tiles, and TileHashReader.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InclusionProof, InmemoryTree
from pymerkle import verify_consistency as pm_verify_consistency
from pymerkle import verify_inclusion as pm_verify_inclusion

from regledger.ledger import merkle
from regledger.ledger.errors import (
    InconsistencyError,
    MalformedError,
    RootMismatchError,
    VerificationError,
)
from regledger.ledger.hashes import EMPTY_ROOT, leaf_hash, node_hash
from regledger.ledger.proof import root_from_inclusion_proof, verify_consistency, verify_inclusion
from regledger.ledger.tiles import (
    TILE_WIDTH,
    Tile,
    TileHashReader,
    decode_entry_bundle,
    encode_entry_bundle,
    entry_bundle_path,
    new_tiles,
    parse_tile_path,
    read_tile_data,
    tiles_for_size,
)

VECTORS = Path(__file__).parent / "vectors" / "merkle"


# --------------------------------------------------------------------------- helpers


class FlatHashReader:
    """The stored-hash file of Go's tlog, in memory: the simplest possible HashReader."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def append(self, leaf: bytes) -> None:
        self.hashes.extend(merkle.stored_hashes_for_leaf(self.size, leaf, self))
        self.size += 1
        assert len(self.hashes) == merkle.stored_hash_count(self.size)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _b64_list(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def _k(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _flip(proof: Sequence[bytes], j: int, byte: int, bit: int) -> list[bytes]:
    out = list(proof)
    h = bytearray(out[j])
    h[byte] ^= 1 << bit
    out[j] = bytes(h)
    return out


def _expect(exc: type[Exception], fn, *args) -> None:
    """pytest.raises for hot loops (it costs more than the verification itself)."""
    try:
        fn(*args)
    except exc:
        return
    except Exception as other:
        raise AssertionError(f"{fn.__name__}{args!r} raised {other!r}, not {exc.__name__}") from other
    raise AssertionError(f"{fn.__name__}{args!r} did not raise {exc.__name__}")


def _raises(fn, *args) -> bool:
    try:
        fn(*args)
    except VerificationError:
        return True
    return False


# Reference algorithms written directly from the RFC 9162 section 2.1 definitions quoted in
# formats.md.  They are recursive, slow and share no code with ledger.merkle / ledger.proof.


class RefTree:
    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves  # leaf hashes
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[lo]
        k = _k(n)
        return node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]) with m relative to lo."""
        n = hi - lo
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _k(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]


def ref_inclusion_ok(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Recompute the root by the PATH recursion: proof[-1] is the top sibling."""
    if not 0 <= index < size:
        return False
    rest = list(proof)

    def up(m: int, n: int) -> bytes | None:
        if n == 1:
            return leaf
        if not rest:
            return None
        sib = rest.pop()
        k = _k(n)
        if m < k:
            below = up(m, k)
            return None if below is None else node_hash(below, sib)
        below = up(m - k, n - k)
        return None if below is None else node_hash(sib, below)

    got = up(index, size)
    return got is not None and not rest and got == root


def ref_consistency_ok(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Recompute both roots by the SUBPROOF recursion (0 < first < second only)."""
    if not 0 < first < second:
        return False
    rest = list(proof)

    def sub(m: int, n: int, b: bool) -> tuple[bytes, bytes] | None:
        if m == n:
            if b:
                return first_root, first_root
            if not rest:
                return None
            h = rest.pop()
            return h, h
        if not rest:
            return None
        sib = rest.pop()
        k = _k(n)
        if m <= k:
            below = sub(m, k, b)
            return None if below is None else (below[0], node_hash(below[1], sib))
        below = sub(m - k, n - k, False)
        return None if below is None else (node_hash(sib, below[0]), node_hash(sib, below[1]))

    got = sub(first, second, True)
    return got is not None and not rest and got == (first_root, second_root)


# --------------------------------------------------------------------------- (a) published vectors


def _load_cases(name: str) -> list[dict]:
    doc = json.loads((VECTORS / name).read_text())
    assert "transparency-dev/merkle" in doc["source"]
    assert doc["count"] == len(doc["cases"])
    return doc["cases"]


INCLUSION_CASES = _load_cases("inclusion.json")
CONSISTENCY_CASES = _load_cases("consistency.json")


def _case_id(case: dict) -> str:
    return case["path"].removeprefix("testdata/")


def _want_err(case: dict) -> bool:
    return case.get("regledger", {}).get("wantErr", case["wantErr"])


def test_vector_files_cover_enough_published_cases() -> None:
    files = {c["path"] for c in INCLUSION_CASES + CONSISTENCY_CASES}
    assert len(files) == len(INCLUSION_CASES) + len(CONSISTENCY_CASES) >= 40
    assert sum(not c["wantErr"] for c in INCLUSION_CASES + CONSISTENCY_CASES) >= 8  # happy paths
    for case in INCLUSION_CASES + CONSISTENCY_CASES:
        assert {"desc", "wantErr", "path", "commit"} <= set(case)


def test_only_documented_policy_differences_override_upstream() -> None:
    """regledger disagrees with upstream in exactly these cases, each for a documented policy."""
    overridden = {
        c["desc"]: c["regledger"]["why"]
        for c in INCLUSION_CASES + CONSISTENCY_CASES
        if "regledger" in c and c["regledger"]["wantErr"] != c["wantErr"]
    }
    assert set(overridden) == {"sizes are equal (one) and proof is empty", "sizes are equal (zero) and proof is empty"}
    assert all(why.startswith("policy:") for why in overridden.values())


@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_case_id)
def test_inclusion_vector(case: dict) -> None:
    index = case["leafIdx"] if "leafIdx" in case else case["leafIndex"]
    args = (index, case["treeSize"], _b64(case["leafHash"]), _b64_list(case["proof"]), _b64(case["root"]))
    if _want_err(case):
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        assert verify_inclusion(*args) is None


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_case_id)
def test_consistency_vector(case: dict) -> None:
    args = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _b64_list(case["proof"]))
    if _want_err(case):
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        assert verify_consistency(*args) is None


# --------------------------------------------------------------------------- (b) RFC 6962 tree


RFC = json.loads((VECTORS / "rfc6962.json").read_text())
RFC_LEAVES = [bytes.fromhex(h) for h in RFC["leaves"]]


@pytest.fixture(scope="module")
def rfc_tree() -> FlatHashReader:
    r = FlatHashReader()
    for d in RFC_LEAVES:
        r.append(leaf_hash(d))
    return r


def test_rfc6962_hasher_basics() -> None:
    h = RFC["hasher"]
    assert EMPTY_ROOT.hex() == h["empty"] == hashlib.sha256(b"").hexdigest()
    assert leaf_hash(h["leaf"]["data"].encode()).hex() == h["leaf"]["hash"]
    assert node_hash(h["node"]["left"].encode(), h["node"]["right"].encode()).hex() == h["node"]["hash"]


def test_rfc6962_roots_by_size(rfc_tree: FlatHashReader) -> None:
    assert len(RFC["roots"]) == 9
    for size, want in enumerate(RFC["roots"]):
        assert merkle.tree_hash(size, rfc_tree).hex() == want, size


def test_rfc6962_stored_node_hashes(rfc_tree: FlatHashReader) -> None:
    for level, row in enumerate(RFC["node_hashes"]):
        for n, want in enumerate(row):
            got = rfc_tree.hashes[merkle.stored_hash_index(level, n)]
            assert got.hex() == want, (level, n)
            assert merkle.split_stored_hash_index(merkle.stored_hash_index(level, n)) == (level, n)


@pytest.mark.parametrize("vec", RFC["inclusion"], ids=lambda v: f"{v['index']}-in-{v['size']}")
def test_rfc6962_inclusion_proofs(rfc_tree: FlatHashReader, vec: dict) -> None:
    proof = merkle.prove_inclusion(vec["size"], vec["index"], rfc_tree)
    assert [p.hex() for p in proof] == vec["proof"]
    root = bytes.fromhex(RFC["roots"][vec["size"]])
    verify_inclusion(vec["index"], vec["size"], leaf_hash(RFC_LEAVES[vec["index"]]), proof, root)


@pytest.mark.parametrize("vec", RFC["consistency"], ids=lambda v: f"{v['first']}-to-{v['second']}")
def test_rfc6962_consistency_proofs(rfc_tree: FlatHashReader, vec: dict) -> None:
    proof = merkle.prove_consistency(vec["first"], vec["second"], rfc_tree)
    assert [p.hex() for p in proof] == vec["proof"]
    verify_consistency(
        vec["first"],
        vec["second"],
        bytes.fromhex(RFC["roots"][vec["first"]]),
        bytes.fromhex(RFC["roots"][vec["second"]]),
        proof,
    )


def test_formats_md_quoted_proofs_are_the_published_ones() -> None:
    """formats.md abbreviates two proofs; they must be these vectors (guards against drift)."""
    incl = next(v for v in RFC["inclusion"] if (v["index"], v["size"]) == (0, 8))["proof"]
    assert [(p[:8], p[-4:]) for p in incl] == [("96a296d2", "cfc7"), ("5f083f0a", "031e"), ("6b47aaf2", "f6e4")]
    cons = next(v for v in RFC["consistency"] if (v["first"], v["second"]) == (6, 8))["proof"]
    assert [(p[:8], p[-4:]) for p in cons] == [("0ebc5d34", "ef6a"), ("ca854ea1", "0ae0"), ("d37ee418", "14b7")]


# --------------------------------------------------------------------------- (c) exhaustive small trees

MAX_N = 64
# Up to this size every byte of every proof gets one flipped bit (as do the proofs of the first,
# middle and last leaf / old size of every larger tree); above it, the other proofs get two
# flipped bytes per hash, so that the whole run stays around ten seconds.
FULL_FLIP_N = 16


@pytest.fixture(scope="module")
def small() -> tuple[FlatHashReader, list[bytes], list[bytes], RefTree]:
    reader = FlatHashReader()
    leaves = []
    for i in range(MAX_N):
        lh = leaf_hash(hashlib.sha256(b"regledger test leaf %d" % i).digest()[: i % 40])
        leaves.append(lh)
        reader.append(lh)
    ref = RefTree(leaves)
    roots = [merkle.tree_hash(n, reader) for n in range(MAX_N + 1)]
    return reader, leaves, roots, ref


def _flip_plan(proof_len: int, full: bool, salt: int) -> list[tuple[int, int, int]]:
    """(hash, byte, bit) triples to flip: every byte (one bit per byte, rotating) when `full`,
    otherwise two bytes of every hash, including its first and last byte in rotation."""
    if full:
        return [(j, b, (b + j + salt) % 8) for j in range(proof_len) for b in range(32)]
    return [(j, b, (b + salt) % 8) for j in range(proof_len) for b in {(salt + j) % 32, 31 - (salt + 3 * j) % 32}]


def _other_sizes(n: int, floor: int) -> set[int]:
    return {
        s
        for s in (n - 2, n - 1, n + 1, n + 2, 2 * n, n // 2, n ^ 1, n ^ 2, n ^ 4, n ^ 8, 1 << n.bit_length(), MAX_N + 3)
        if s > floor and s != n
    }


def test_small_tree_roots_match_reference(small) -> None:
    reader, leaves, roots, ref = small
    for n in range(MAX_N + 1):
        assert roots[n] == ref.mth(0, n), n
    assert roots[0] == EMPTY_ROOT


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_every_inclusion_proof(small, n: int) -> None:
    reader, leaves, roots, ref = small
    root = roots[n]
    for i in range(n):
        leaf = leaves[i]
        proof = merkle.prove_inclusion(n, i, reader)
        assert proof == ref.path(i, 0, n), (i, n)
        assert verify_inclusion(i, n, leaf, proof, root) is None
        assert root_from_inclusion_proof(i, n, leaf, proof) == root

        # One flipped bit anywhere in the proof (and in the leaf and root) is always caught.
        full = n <= FULL_FLIP_N or i in (0, n // 2, n - 1)
        for j, b, bit in _flip_plan(len(proof), full, i):
            _expect(RootMismatchError, verify_inclusion, i, n, leaf, _flip(proof, j, b, bit), root)
        for b in (0, 13, 31):
            _expect(RootMismatchError, verify_inclusion, i, n, _flip([leaf], 0, b, b % 8)[0], proof, root)
            _expect(RootMismatchError, verify_inclusion, i, n, leaf, proof, _flip([root], 0, b, 7 - b % 8)[0])

        # Another index in the same tree: the path shape differs, so it must fail.
        others = (
            range(n) if n <= FULL_FLIP_N else {0, n - 1, i - 1, i + 1, *(i ^ (1 << b) for b in range(n.bit_length()))}
        )
        for j in others:
            if j != i and 0 <= j < n:
                _expect(VerificationError, verify_inclusion, j, n, leaf, proof, root)
        for j in (n, n + 1, -1, 2**64 - 1):
            _expect(VerificationError, verify_inclusion, j, n, leaf, proof, root)

        # Another size: rejected unless RFC 9162 itself cannot tell the sizes apart (the proof
        # then has the same shape, e.g. leaf 0 in sizes 5..8); ours must agree with the reference.
        for s in _other_sizes(n, i):
            assert _raises(verify_inclusion, i, s, leaf, proof, root) == (
                not ref_inclusion_ok(i, s, leaf, proof, root)
            ), (i, n, s)
        for s in (0, i, -1):
            _expect(VerificationError, verify_inclusion, i, s, leaf, proof, root)

        # Truncated, extended, reordered proofs.
        bad = [proof + [root], proof + [leaf], [leaf] + proof, proof + proof[-1:]]
        if proof:
            bad += [proof[:-1], proof[1:], proof[:-1] + [bytes(32)]]
        if len(proof) > 1:
            bad += [proof[::-1], proof[1:] + proof[:1]]
        for p in (p for p in bad if p != proof):
            _expect(VerificationError, verify_inclusion, i, n, leaf, p, root)
            assert not ref_inclusion_ok(i, n, leaf, p, root)


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_every_consistency_proof(small, n: int) -> None:
    reader, leaves, roots, ref = small
    second = roots[n]
    assert merkle.prove_consistency(0, n, reader) == []
    assert merkle.prove_consistency(n, n, reader) == []
    verify_consistency(0, n, EMPTY_ROOT, second, [])
    verify_consistency(n, n, second, second, [])
    for m in range(1, n):
        first = roots[m]
        proof = merkle.prove_consistency(m, n, reader)
        assert proof == ref.subproof(m, 0, n, True), (m, n)
        assert ref_consistency_ok(m, n, first, second, proof)
        assert verify_consistency(m, n, first, second, proof) is None

        full = n <= FULL_FLIP_N or m in (1, n // 2, n - 1)
        for j, b, bit in _flip_plan(len(proof), full, m):
            _expect(InconsistencyError, verify_consistency, m, n, first, second, _flip(proof, j, b, bit))
        for b in (0, 17, 31):
            _expect(InconsistencyError, verify_consistency, m, n, _flip([first], 0, b, b % 8)[0], second, proof)
            _expect(InconsistencyError, verify_consistency, m, n, first, _flip([second], 0, b, 7 - b % 8)[0], proof)
        _expect(InconsistencyError, verify_consistency, m, n, second, first, proof)

        # Wrong old or new size: ours must agree with the reference recursion, and a size
        # outside 0 < m < n must always fail with this non-empty proof.
        for s in _other_sizes(m, 0):
            if s < n:
                assert _raises(verify_consistency, s, n, first, second, proof) == (
                    not ref_consistency_ok(s, n, first, second, proof)
                ), (m, n, s)
        for s in _other_sizes(n, m):
            assert _raises(verify_consistency, m, s, first, second, proof) == (
                not ref_consistency_ok(m, s, first, second, proof)
            ), (m, n, s)
        for a, b in ((0, n), (n, n), (m, m), (n, m), (m + n, n), (-1, n), (m, -1)):
            _expect(VerificationError, verify_consistency, a, b, first, second, proof)

        bad = [
            [],
            proof + [second],
            proof + [first],
            [first] + proof,
            [second] + proof,
            proof + proof[-1:],
            proof[:1] + proof,
            proof[:-1],
            proof[1:],
            proof[:-1] + [bytes(32)],
        ]
        if len(proof) > 1:
            bad += [proof[::-1], proof[1:] + proof[:1]]
        for p in (p for p in bad if p != proof):
            _expect(InconsistencyError, verify_consistency, m, n, first, second, p)
            assert not ref_consistency_ok(m, n, first, second, p)


def test_wrong_size_acceptance_is_exactly_the_rfc_ambiguity(small) -> None:
    """An RFC 9162 inclusion proof does not encode the tree size: the same hashes prove leaf i
    for every size whose path has the same shape (e.g. leaf 0 in sizes 5..8).  Only the
    checkpoint binds size and root together.  So: with the proof and root of tree n, a claim
    for size s is accepted exactly when the reference recursion accepts it, and in every such
    case the root handed in is not the real root of size s (a checkpoint check catches it)."""
    reader, leaves, roots, ref = small
    accepted = total = 0
    for n in range(1, 33):
        for i in range(n):
            proof = merkle.prove_inclusion(n, i, reader)
            for s in range(i + 1, 33):
                if s == n:
                    continue
                total += 1
                ok = not _raises(verify_inclusion, i, s, leaves[i], proof, roots[n])
                assert ok == ref_inclusion_ok(i, s, leaves[i], proof, roots[n]), (i, n, s)
                if ok:
                    accepted += 1
                    assert len(ref.path(i, 0, s)) == len(proof) and roots[s] != roots[n]
                    with pytest.raises(RootMismatchError):
                        verify_inclusion(i, s, leaves[i], proof, roots[s])
    assert 0 < accepted < total


# --------------------------------------------------------------------------- (d) pymerkle oracle

ORACLE_SIZE = 5000


@pytest.fixture(scope="module")
def oracle() -> tuple[InmemoryTree, FlatHashReader, list[bytes]]:
    """One pymerkle tree and one of ours, grown together; roots compared at every size."""
    rng = random.Random(20240827)
    pm = InmemoryTree()  # sha256, RFC 9162 prefixes (security=True) by default
    ours = FlatHashReader()
    roots = [merkle.tree_hash(0, ours)]
    assert roots[0] == pm.get_root(0) == EMPTY_ROOT
    for _ in range(ORACLE_SIZE):
        data = rng.randbytes(rng.randrange(0, 64))
        pm.append_entry(data)
        ours.append(leaf_hash(data))
        root = merkle.tree_hash(ours.size, ours)
        assert root == pm.get_root(), f"root differs at size {ours.size}"
        roots.append(root)
    return pm, ours, roots


def test_pymerkle_roots_at_every_size(oracle) -> None:
    assert pymerkle.__version__ == "7.0.0"  # the pinned oracle (pyproject [test] extra)
    pm, ours, roots = oracle
    assert len(roots) == ORACLE_SIZE + 1
    rng = random.Random(7)
    for size in rng.sample(range(ORACLE_SIZE + 1), 200) + [0, 1, 2, 255, 256, 257, 4096, ORACLE_SIZE]:
        assert pm.get_root(size) == roots[size]


def test_pymerkle_inclusion_proofs(oracle) -> None:
    pm, ours, roots = oracle
    rng = random.Random(99)
    pairs = [(0, 1), (0, ORACLE_SIZE), (ORACLE_SIZE - 1, ORACLE_SIZE), (4095, 4096), (4096, 4097)]
    for _ in range(400):
        size = rng.randrange(1, ORACLE_SIZE + 1)
        pairs.append((rng.randrange(size), size))
    for index, size in pairs:
        leaf = ours.hashes[merkle.stored_hash_index(0, index)]
        proof = merkle.prove_inclusion(size, index, ours)
        verify_inclusion(index, size, leaf, proof, pm.get_root(size))

        theirs = pm.prove_inclusion(index + 1, size)
        # pymerkle's path is [leaf hash] + the RFC 9162 path, leaf side first.
        assert theirs.path[0] == leaf
        assert theirs.path[1:] == proof, (index, size)
        # pymerkle's own verifier accepts our path wrapped in its proof object.
        wrapped = InclusionProof("sha256", True, size, index + 1, theirs.rule, [leaf, *proof])
        pm_verify_inclusion(leaf, roots[size], wrapped, index=index + 1, size=size)


def test_pymerkle_consistency_proofs(oracle) -> None:
    """pymerkle's consistency path has another layout (its base is leaf `first`, not the RFC
    SUBPROOF), so its verifier cannot take ours.  Instead: our proofs verify against pymerkle's
    roots, pymerkle's proofs verify against our roots, pymerkle's "prior state" hashes (the
    perfect subtrees of the old tree) all occur in our proof, and every hash of our proof is
    pymerkle's hash of the RFC 9162 SUBPROOF range it stands for."""
    pm, ours, roots = oracle
    rng = random.Random(1234)
    pairs = [(1, 2), (1, ORACLE_SIZE), (ORACLE_SIZE - 1, ORACLE_SIZE), (4096, ORACLE_SIZE), (2047, 4097)]
    for _ in range(300):
        second = rng.randrange(2, ORACLE_SIZE + 1)
        pairs.append((rng.randrange(1, second), second))
    for first, second in pairs:
        proof = merkle.prove_consistency(first, second, ours)
        verify_consistency(first, second, pm.get_root(first), pm.get_root(second), proof)

        theirs = pm.prove_consistency(first, second)
        pm_verify_consistency(roots[first], roots[second], theirs, prior_size=first, later_size=second)

        prior_parts = [h for mask, h in zip(theirs.subset, theirs.path, strict=True) if mask]
        known = set(proof) | ({roots[first]} if first & (first - 1) == 0 else set())
        assert set(prior_parts) <= known, (first, second)

        assert proof == [pm._get_root(lo, hi) for lo, hi in _subproof_ranges(first, 0, second, True)]


def _subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int]]:
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi)]
    k = _k(n)
    if m <= k:
        return _subproof_ranges(m, lo, lo + k, b) + [(lo + k, hi)]
    return _subproof_ranges(m - k, lo + k, hi, False) + [(lo, lo + k)]


# --------------------------------------------------------------------------- (e) empty tree and edges


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.tree_hash(0, FlatHashReader()) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == RFC["roots"][0]


def test_consistency_from_size_zero(rfc_tree: FlatHashReader) -> None:
    """Policy (tlog-witness): from size 0 only the empty proof, and only with the empty root."""
    for n in range(0, 9):
        root = merkle.tree_hash(n, rfc_tree)
        assert merkle.prove_consistency(0, n, rfc_tree) == []
        assert verify_consistency(0, n, EMPTY_ROOT, root, []) is None
        with pytest.raises(InconsistencyError):
            verify_consistency(0, n, EMPTY_ROOT, root, [EMPTY_ROOT])
        with pytest.raises(InconsistencyError):
            verify_consistency(0, n, bytes(32), root, [])
        if n:
            with pytest.raises(InconsistencyError):
                verify_consistency(0, n, root, root, [])
    with pytest.raises(InconsistencyError):
        verify_consistency(0, 0, bytes(32), bytes(32), [])


def test_size_zero_to_zero_needs_the_empty_root_on_both_sides() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(InconsistencyError):
        verify_consistency(0, 0, EMPTY_ROOT, bytes(32), [])


def test_equal_sizes_need_empty_proof_and_equal_roots(rfc_tree: FlatHashReader) -> None:
    for n in range(1, 9):
        root = merkle.tree_hash(n, rfc_tree)
        assert verify_consistency(n, n, root, root, []) is None
        with pytest.raises(InconsistencyError):
            verify_consistency(n, n, root, merkle.tree_hash(n - 1, rfc_tree), [])
        with pytest.raises(InconsistencyError):
            verify_consistency(n, n, root, root, [root])


def test_bad_sizes_and_hash_lengths_are_verification_errors(rfc_tree: FlatHashReader) -> None:
    r8 = merkle.tree_hash(8, rfc_tree)
    r4 = merkle.tree_hash(4, rfc_tree)
    leaf = leaf_hash(b"")
    for first, second in ((5, 4), (1, 0), (-1, 4), (4, -1)):
        with pytest.raises(VerificationError):
            verify_consistency(first, second, r4, r8, [])
    for index, size in ((0, 0), (8, 8), (-1, 8), (9, 8)):
        with pytest.raises(VerificationError):
            verify_inclusion(index, size, leaf, [], r8)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33, "not bytes", None):
        with pytest.raises(VerificationError):
            verify_inclusion(0, 2, leaf, [bad], r8)
        with pytest.raises(VerificationError):
            verify_inclusion(0, 1, bad, [], r8)
        with pytest.raises(VerificationError):
            verify_consistency(4, 8, r4, r8, [bad])
        with pytest.raises(VerificationError):
            verify_consistency(4, 8, bad, r8, [bytes(32)])
        with pytest.raises(VerificationError):
            verify_consistency(4, 4, bad, bad, [])


def test_provers_reject_bad_arguments(rfc_tree: FlatHashReader) -> None:
    with pytest.raises(ValueError):
        merkle.tree_hash(-1, rfc_tree)
    for size, index in ((0, 0), (8, 8), (8, -1)):
        with pytest.raises(ValueError):
            merkle.prove_inclusion(size, index, rfc_tree)
    for first, second in ((5, 4), (-1, 4)):
        with pytest.raises(ValueError):
            merkle.prove_consistency(first, second, rfc_tree)


def test_stored_hash_index_round_trips() -> None:
    seen = set()
    for index in range(merkle.stored_hash_count(4096)):
        level, n = merkle.split_stored_hash_index(index)
        assert merkle.stored_hash_index(level, n) == index
        seen.add((level, n))
    assert len(seen) == merkle.stored_hash_count(4096) == 2 * 4096 - 1
    assert [merkle.stored_hash_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]


# --------------------------------------------------------------------------- (f) tiles


@settings(max_examples=300, deadline=None)
@given(level=st.integers(0, 63), n=st.integers(0, 2**48), width=st.integers(1, TILE_WIDTH))
def test_tile_path_round_trip(level: int, n: int, width: int) -> None:
    tile = Tile(level, n, width)
    path = tile.path()
    assert parse_tile_path(path) == (tile, False)
    assert path.startswith(f"tile/{level}/")
    assert path.endswith("" if width == TILE_WIDTH else f".p/{width}")
    groups = path.split(".p/")[0].split("/")[2:]
    assert all(len(g) == 4 and g[0] == "x" for g in groups[:-1]) and len(groups[-1]) == 3
    assert int("".join(g.lstrip("x") for g in groups)) == n


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 2**40), width=st.integers(1, TILE_WIDTH))
def test_entry_bundle_path_round_trip(n: int, width: int) -> None:
    path = entry_bundle_path(n, width)
    assert path.startswith("tile/entries/")
    assert parse_tile_path(path) == (Tile(0, n, width), True)


@pytest.mark.parametrize(
    "path, tile",
    [
        ("tile/0/000", Tile(0, 0)),
        ("tile/0/001.p/255", Tile(0, 1, 255)),
        ("tile/0/x001/234", Tile(0, 1234)),  # C2SP: 1234 -> x001/234 (canonical, so accepted)
        ("tile/2/x001/x234/067.p/8", Tile(2, 1234067, 8)),
        ("tile/entries/x001/234.p/1", Tile(0, 1234, 1)),
    ],
)
def test_canonical_tile_paths(path: str, tile: Tile) -> None:
    assert parse_tile_path(path)[0] == tile
    assert (entry_bundle_path(tile.n, tile.width) if "entries" in path else tile.path()) == path


NON_CANONICAL = [
    "tile/0/1234",  # more than 3 digits in a group
    "tile/0/x000/234",  # leading zero group
    "tile/0/x001/x234",  # last group must not carry the x
    "tile/0/001/234",  # non-last group without the x
    "tile/0/x1/234",  # short group
    "tile/0/01",  # short group
    "tile/0/000.p/256",  # a full tile is not a partial one
    "tile/0/000.p/0",  # empty partial tile
    "tile/0/000.p/007",  # leading zeros in the width
    "tile/0/000.p/",  # missing width
    "tile/0/000.p/1000",
    "tile/00/000",  # leading zero in the level
    "tile/01/000",
    "tile/-1/000",
    "tile/0/-01",
    "tile/0/000/",  # trailing slash
    "/tile/0/000",  # leading slash
    "tile/0/000\n",  # trailing newline ($ in a regex matches before it)
    "tile/0/000.p/5\n",
    "tile/0/\u0660\u0660\u0660",  # non-ASCII digits
    "tile/0/000.P/5",
    "tile/entries/000.p/256",
    "tile/entries/1234",
    "tile/data/000",
    "tile/8/0/000",  # Go sumdb layout (with tile height)
    "tile/0",
    "tile/",
    "",
]


@pytest.mark.parametrize("path", NON_CANONICAL)
def test_non_canonical_tile_paths_rejected(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(path)


def test_new_tiles_for_70000_matches_formats_md() -> None:
    tiles = new_tiles(0, 70000)
    assert tiles == tiles_for_size(70000)
    by_level: dict[int, list[Tile]] = {}
    for t in tiles:
        by_level.setdefault(t.level, []).append(t)
    assert sorted(by_level) == [0, 1, 2]
    full0 = [t for t in by_level[0] if t.full]
    assert full0 == [Tile(0, n) for n in range(273)]
    assert [t for t in by_level[0] if not t.full] == [Tile(0, 273, 112)]
    assert by_level[1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert by_level[2] == [Tile(2, 0, 1)]
    assert len(tiles) == 273 + 1 + 1 + 1 + 1


def test_new_tiles_growth() -> None:
    assert new_tiles(0, 0) == []
    assert new_tiles(5, 5) == []
    assert new_tiles(0, 1) == [Tile(0, 0, 1)]
    assert new_tiles(255, 256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert new_tiles(256, 257) == [Tile(0, 1, 1)]
    assert new_tiles(1, 2) == [Tile(0, 0, 2)]
    # Growing in steps writes the same final set of tiles as growing at once.
    final: dict[tuple[int, int], int] = {}
    size = 0
    rng = random.Random(5)
    while size < 70000:
        step = rng.choice([1, 7, 255, 256, 1000, 4099])
        for t in new_tiles(size, size + step):
            final[(t.level, t.n)] = max(final.get((t.level, t.n), 0), t.width)
        size += step
    assert {(t.level, t.n): t.width for t in tiles_for_size(size)} == final


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=40))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entry_bundle(data) == entries


def test_entry_bundle_limits_and_truncation() -> None:
    big = b"\xab" * 0xFFFF
    data = encode_entry_bundle([b"", big, b"x"])
    assert data[:4] == b"\x00\x00\xff\xff"
    assert decode_entry_bundle(data) == [b"", big, b"x"]
    with pytest.raises(MalformedError):
        encode_entry_bundle([b"\x00" * 0x10000])
    for cut in (1, 3, len(data) - 1):
        with pytest.raises(MalformedError):
            decode_entry_bundle(data[:cut])
    assert decode_entry_bundle(b"") == []


class DictTileReader:
    def __init__(self, tiles: dict[tuple[int, int], bytes]) -> None:
        self.tiles = tiles

    def read_tiles(self, tiles):
        return [self.tiles[(t.level, t.n)] for t in tiles]


def test_tile_hash_reader_agrees_with_flat_reader() -> None:
    flat = FlatHashReader()
    for i in range(1200):
        flat.append(leaf_hash(i.to_bytes(4, "big")))
    rng = random.Random(3)
    for size in (1, 2, 255, 256, 257, 511, 512, 513, 1000, 1200):
        stored = {(t.level, t.n): read_tile_data(t, flat) for t in tiles_for_size(size)}
        assert all(len(d) == t.width * 32 for t, d in zip(tiles_for_size(size), stored.values(), strict=True))
        tr = TileHashReader(size, DictTileReader(stored))
        assert merkle.tree_hash(size, tr) == merkle.tree_hash(size, flat)
        for _ in range(10):
            i = rng.randrange(size)
            assert merkle.prove_inclusion(size, i, tr) == merkle.prove_inclusion(size, i, flat)
            m = rng.randrange(size + 1)
            assert merkle.prove_consistency(m, size, tr) == merkle.prove_consistency(m, size, flat)
