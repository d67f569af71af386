"""RFC 9162 proof verification (sections 2.1.3.2 and 2.1.4.2) over plain values.

Verifiers return None on success and raise on failure; they never return a bool.

Policy at the edges (documented in docs/formats.md):
- an inclusion proof needs index < size;
- a consistency proof from size 0 is the empty proof and proves nothing but is accepted
  (the tlog-witness rule), provided the old root is the empty-tree hash;
- between equal sizes the proof must be empty and the roots equal.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InconsistencyError, RootMismatchError, VerificationError
from .hashes import EMPTY_ROOT, HASH_SIZE, Hash, node_hash

__all__ = ["root_from_inclusion_proof", "verify_consistency", "verify_inclusion"]


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
            raise VerificationError(f"{what}[{i}] is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> Hash:
    """The root that `proof` implies for `leaf` at `index` in a tree of `size` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise VerificationError(f"index {index} is beyond tree size {size}")
    _check_hashes("leaf hash", [leaf])
    _check_hashes("proof", proof)
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise VerificationError(
                f"inclusion proof has {len(proof)} hashes, too many for index {index} in size {size}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"inclusion proof has {len(proof)} hashes, too few for index {index} in size {size}")
    return Hash(r)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise unless `proof` shows `leaf` at `index` in the tree of `size` with `root`."""
    calculated = root_from_inclusion_proof(index, size, leaf, proof)
    if calculated != root:
        raise RootMismatchError(
            "inclusion proof does not lead to the root", expected=bytes(root), calculated=calculated
        )


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise unless `proof` shows the tree (second, second_root) extends (first, first_root)."""
    if not 0 <= first <= second:
        raise VerificationError(f"sizes {first} -> {second} are not in order")
    _check_hashes("root", [first_root, second_root])
    _check_hashes("proof", proof)

    def inconsistent(why: str) -> InconsistencyError:
        return InconsistencyError(
            f"trees {first} and {second} are not consistent: {why}",
            smaller=(first, bytes(first_root)),
            larger=(second, bytes(second_root)),
            proof=[bytes(p) for p in proof],
        )

    if first == 0:
        if proof:
            raise inconsistent("a proof from size 0 must be empty")
        if first_root != EMPTY_ROOT:
            raise inconsistent("a size-0 tree must have the empty-tree root")
        if second == 0 and second_root != EMPTY_ROOT:
            raise inconsistent("equal sizes with different roots")
        return
    if first == second:
        if proof:
            raise inconsistent("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise inconsistent("equal sizes with different roots")
        return
    if not proof:
        raise inconsistent("empty proof")
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two
        path.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise inconsistent("proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise inconsistent("proof too short")
    if fr != first_root:
        raise inconsistent(f"proof leads to old root {fr.hex()}")
    if sr != second_root:
        raise inconsistent(f"proof leads to new root {sr.hex()}")
