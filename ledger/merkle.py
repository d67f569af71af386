"""The Merkle log as pure functions over a HashReader (a port of Go's golang.org/x/mod/sumdb/tlog).

Every node of the tree that covers a complete, aligned run of 2**level leaves has a *stored
hash index*: the position it would take in a flat file to which each record's leaf hash is
written, followed by the hashes of the subtrees that record completes.  Storage never needs
to be that flat file: `ledger.tiles.TileHashReader` answers the same reads from C2SP tiles.

Bad arguments raise ValueError; broken index arithmetic raises AssertionError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .hashes import EMPTY_ROOT, Hash, node_hash

__all__ = [
    "CompactRange",
    "HashReader",
    "prove_consistency",
    "prove_inclusion",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes_for_leaf",
    "tree_hash",
]


class HashReader(Protocol):
    """Returns the stored hashes at the given stored hash indexes, in that order."""

    def read_hashes(self, indexes: Sequence[int]) -> list[Hash]: ...


def _maxpow2(n: int) -> tuple[int, int]:
    """Largest power of two strictly less than n (n >= 2), with its log2."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


def stored_hash_index(level: int, n: int) -> int:
    """Stored hash index of the n-th hash at the given level (level 0 = leaf hashes).

    Go's loop form: n = 2n+1 `level` times, then sum n + n/2 + n/4 + ...; that sum is
    2n - popcount(n), which makes this O(1).
    """
    n = ((n + 1) << level) - 1
    return 2 * n - n.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Inverse of stored_hash_index: (level, n)."""
    n = index // 2
    index_n = stored_hash_index(0, n)
    assert index_n <= index, "bad math in split_stored_hash_index"
    while True:
        m = n + 1
        x = index_n + 1 + ((m & -m).bit_length() - 1)
        if x > index:
            break
        n += 1
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of n records stores."""
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def stored_hashes_for_leaf(n: int, leaf: Hash, reader: HashReader) -> list[Hash]:
    """The hashes to store when record n (with this leaf hash) is added to a tree of size n."""
    hashes = [leaf]
    m = ((n + 1) & -(n + 1)).bit_length() - 1  # trailing zeros of n+1
    indexes = [0] * m
    for i in range(m):
        indexes[m - 1 - i] = stored_hash_index(i, (n >> i) - 1)
    old = _read(reader, indexes)
    h = leaf
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


def _read(reader: HashReader, indexes: list[int]) -> list[Hash]:
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise AssertionError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def _sub_tree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        k = 1 << level
        assert lo & (k - 1) == 0, "bad math in _sub_tree_index"
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _sub_tree_hash(lo: int, hi: int, hashes: list[Hash], pos: int) -> tuple[Hash, int]:
    """MTH(D[lo:hi]) from the complete subtrees listed by _sub_tree_index, starting at pos."""
    num = 0
    while lo < hi:
        k = 1 << ((hi - lo).bit_length() - 1)
        assert lo & (k - 1) == 0, "bad math in _sub_tree_hash"
        num += 1
        lo += k
    assert len(hashes) - pos >= num, "bad index math in _sub_tree_hash"
    h = hashes[pos + num - 1]
    for i in range(num - 2, -1, -1):
        h = node_hash(hashes[pos + i], h)
    return h, pos + num


def tree_hash(n: int, reader: HashReader) -> Hash:
    """MTH(D[0:n]); the empty tree hashes to SHA-256("")."""
    if n < 0:
        raise ValueError(f"negative tree size {n}")
    if n == 0:
        return EMPTY_ROOT
    indexes = _sub_tree_index(0, n, [])
    hashes = _read(reader, indexes)
    h, pos = _sub_tree_hash(0, n, hashes, 0)
    assert pos == len(hashes), "bad index math in tree_hash"
    return h


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    assert lo <= n < hi, "bad math in _leaf_proof_index"
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[Hash], pos: int) -> tuple[list[Hash], int]:
    assert lo <= n < hi, "bad math in _leaf_proof"
    if lo + 1 == hi:
        return [], pos
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        p, pos = _leaf_proof(lo, lo + k, n, hashes, pos)
        th, pos = _sub_tree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _sub_tree_hash(lo, lo + k, hashes, pos)
        p, pos = _leaf_proof(lo + k, hi, n, hashes, pos)
    p.append(th)
    return p, pos


def prove_inclusion(size: int, index: int, reader: HashReader) -> list[Hash]:
    """RFC 9162 PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    indexes = _leaf_proof_index(0, size, index, [])
    hashes = _read(reader, indexes)
    p, pos = _leaf_proof(0, size, index, hashes, 0)
    assert pos == len(hashes), "bad index math in prove_inclusion"
    return p


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    assert lo < n <= hi, "bad math in _tree_proof_index"
    if n == hi:
        if lo == 0:
            return need
        return _sub_tree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[Hash], pos: int) -> tuple[list[Hash], int]:
    assert lo < n <= hi, "bad math in _tree_proof"
    if n == hi:
        if lo == 0:
            return [], pos
        th, pos = _sub_tree_hash(lo, hi, hashes, pos)
        return [th], pos
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        p, pos = _tree_proof(lo, lo + k, n, hashes, pos)
        th, pos = _sub_tree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _sub_tree_hash(lo, lo + k, hashes, pos)
        p, pos = _tree_proof(lo + k, hi, n, hashes, pos)
    p.append(th)
    return p, pos


def prove_consistency(first: int, second: int, reader: HashReader) -> list[Hash]:
    """RFC 9162 PROOF(first, D[0:second]); from size 0, or between equal sizes, it is empty."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    indexes = _tree_proof_index(0, second, first, [])
    hashes = _read(reader, indexes)
    p, pos = _tree_proof(0, second, first, hashes, 0)
    assert pos == len(hashes), "bad index math in prove_consistency"
    return p


class CompactRange:
    """The roots of the perfect subtrees covering leaves 0..n-1: MTH(D[0:n]) in O(log n) memory.

    Extending it leaf by leaf from a verified size and comparing the root with a later signed
    checkpoint proves the later tree extends the earlier one (a consistency check without a proof).
    """

    def __init__(self, size: int = 0, stack: list[tuple[int, Hash]] | None = None) -> None:
        self.size = size
        self.stack: list[tuple[int, Hash]] = list(stack or [])
        if sum(1 << h for h, _ in self.stack) != size:
            raise ValueError("compact range heights do not add up to its size")

    def push(self, h: Hash) -> None:
        self.push_subtree(0, h)

    def push_subtree(self, height: int, h: Hash) -> None:
        """Append a perfect subtree of 2**height leaves with root `h` (the size must be a multiple of it)."""
        if self.size % (1 << height):
            raise ValueError(f"a subtree of height {height} cannot start at leaf {self.size}")
        self.size += 1 << height
        while self.stack and self.stack[-1][0] == height:
            h = node_hash(self.stack.pop()[1], h)
            height += 1
        self.stack.append((height, h))

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.stack)

    def root(self) -> Hash:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            h = node_hash(left, h)
        return h

    def to_json(self) -> list[list[int | str]]:
        return [[height, h.hex()] for height, h in self.stack]

    @classmethod
    def from_json(cls, size: int, value: list[Any]) -> CompactRange:
        return cls(size, [(int(height), Hash(bytes.fromhex(h))) for height, h in value])
