"""Checks that the stored data backs what the log signed, cheap enough to run before every signature.

Integration builds on two kinds of stored rows: the tiles of the last signed tree (only its right
edge: the partial tile of each level) and the leaves sequenced since.  Before it signs,
`verified_growth` recomputes the last checkpoint's root from those tiles (O(log n) reads) and
proves its last leaf's hash in it, and `chained_leaf_hashes` recomputes SHA-256(0x00 || leaf) of
every new leaf and reads its envelope: its `index` is its place and its `prev` the hash of the
leaf before (O(new leaves)).  A mismatch raises IntegrityError naming the row:
`raise_edge_damage` finds the damaged tile hash by recomputing each right-edge tile from the
level below (the leaves for level 0), which only the failure path pays for.  The background
self-audit (ledger.selfaudit) reuses the same pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from .checkpoint import Checkpoint, open_checkpoint
from .entry import GENESIS_PREV, Entry
from .errors import IntegrityError, LedgerError, NotFoundError, VerificationError
from .hashes import HASH_SIZE, Hash, leaf_hash
from .merkle import HashReader, prove_inclusion, stored_hash_count, stored_hash_index, stored_hashes_for_leaf, tree_hash
from .note import Verifier
from .proof import verify_inclusion
from .store import LedgerStore
from .tiles import (
    TILE_WIDTH,
    CachingTileReader,
    Tile,
    TileHashReader,
    TileReader,
    full_tile_root,
    new_tiles,
    read_tile_data,
    tiles_for_size,
)

__all__ = [
    "TreeGrowth",
    "chained_leaf_hashes",
    "check_leaf_hash",
    "check_tile",
    "checked_leaf_hashes",
    "opened_checkpoint",
    "proved_leaf_hash",
    "raise_edge_damage",
    "read_stored_tiles",
    "tile_at",
    "verified_growth",
    "verified_tree",
]

CHUNK = 256  # entries read at a time: a bound on memory too, as one entry (a sync.entries batch) may hold ~60 KB


class TreeGrowth:
    """Stored hashes of a tree grown from `size` leaves: older ones read from its tiles, new ones in memory.

    `last_hash` is the hash of its last leaf (GENESIS_PREV for none): the next leaf's `prev`.
    """

    def __init__(self, size: int, older: HashReader, last_hash: Hash) -> None:
        self.start = size
        self.size = size
        self.base = stored_hash_count(size)
        self.older = older
        self.last_hash = last_hash
        self.new: list[Hash] = []

    def read_hashes(self, indexes: Sequence[int]) -> list[Hash]:
        old = [i for i in indexes if i < self.base]
        from_tiles = iter(self.older.read_hashes(old)) if old else iter(())
        return [self.new[i - self.base] if i >= self.base else next(from_tiles) for i in indexes]

    def push(self, leaf: Hash) -> None:
        assert stored_hash_index(0, self.size) == self.base + len(self.new), "bad math in TreeGrowth.push"
        self.new.extend(stored_hashes_for_leaf(self.size, leaf, self))
        self.size += 1
        self.last_hash = leaf

    def grow_to(self, store: LedgerStore, size: int, seen: Callable[[Entry], None] | None = None) -> None:
        """Push the stored entries up to `size`, each leaf hash recomputed and checked and each leaf's
        index and prev checked, a chunk at a time (each entry handed to `seen`, once checked)."""
        for start in range(self.size, size, CHUNK):
            for lh in chained_leaf_hashes(store, start, min(size, start + CHUNK), self.last_hash, seen):
                self.push(lh)

    def root(self) -> Hash:
        """MTH of all the leaves grown to (`size`)."""
        return tree_hash(self.size, self)

    def tiles(self) -> dict[Tile, bytes]:
        """The tiles (all levels, full and partial) that growing from `start` to `size` writes."""
        return {t: read_tile_data(t, self) for t in new_tiles(self.start, self.size)}


def check_leaf_hash(index: int, leaf: bytes, stored: bytes) -> Hash:
    """SHA-256(0x00 || leaf), after checking the stored leaf hash is that."""
    lh = leaf_hash(leaf)
    if lh != stored:
        raise IntegrityError(
            f"entry {index}",
            f"stored leaf hash {bytes(stored).hex()} is not SHA-256(0x00||leaf) {lh.hex()}",
            index=index,
        )
    return lh


def checked_leaf_hashes(store: LedgerStore, start: int, end: int) -> list[Hash]:
    """The leaf hashes of entries start..end-1, recomputed from the stored leaves and compared with the stored ones."""
    rows = _stored_entries(store, start, end)
    return [check_leaf_hash(i, leaf, stored) for i, (leaf, stored) in enumerate(rows, start)]


def chained_leaf_hashes(
    store: LedgerStore, start: int, end: int, prev: Hash, seen: Callable[[Entry], None] | None = None
) -> list[Hash]:
    """`checked_leaf_hashes`, and each leaf says its own index and chains to the one before (`prev`: the
    hash of entry start-1), as `append` wrote it: a leaf rewritten with its leaf hash is not signed.
    `seen` is handed each entry once it checks (the integrator derives the status map's changes there)."""
    hashes = []
    for i, (leaf, stored) in enumerate(_stored_entries(store, start, end), start):
        lh = check_leaf_hash(i, leaf, stored)
        try:
            e = Entry.from_stored_leaf(leaf)
        except LedgerError as exc:
            raise IntegrityError(f"entry {i}", f"not a valid entry: {exc}", index=i) from None
        if e.index != i:
            raise IntegrityError(f"entry {i}", f"the leaf says index {e.index}", index=i)
        if e.prev != prev:
            raise IntegrityError(
                f"entry {i}", f"chain broken: prev {e.prev.hex()}, the hash of entry {i - 1} is {prev.hex()}", index=i
            )
        hashes.append(lh)
        prev = lh
        if seen is not None:
            seen(e)
    return hashes


def _stored_entries(store: LedgerStore, start: int, end: int) -> list[tuple[bytes, bytes]]:
    try:
        return store.read_entries(start, end)
    except NotFoundError as exc:
        raise IntegrityError(f"entries {start}..{end - 1}", f"sequenced but not stored: {exc}") from None


def opened_checkpoint(size: int, note: bytes, *, origin: str, verifier: Verifier) -> Checkpoint:
    """The stored checkpoint of `size`, once its signature, origin and size check."""
    try:
        cp, _ = open_checkpoint(note, origin, verifier)
    except LedgerError as exc:
        raise IntegrityError(f"checkpoint {size}", f"the stored note does not verify: {exc}") from None
    if cp.size != size:
        raise IntegrityError(f"checkpoint {size}", f"the stored note says size {cp.size}")
    return cp


def verified_tree(store: LedgerStore, size: int, root: Hash) -> TileHashReader:
    """A HashReader over the stored tiles of the tree of `size`, once they reproduce the signed `root`.

    The tiles are read fresh from the store (each once: the reader is new), not from a cache that
    may predate a change; a mismatch raises IntegrityError naming the damaged tile hash.
    """
    reader = TileHashReader(size, CachingTileReader(store, 64))
    try:
        calculated = tree_hash(size, reader)
    except NotFoundError:
        calculated = None
    if calculated != root:
        raise_edge_damage(store, size, root)
    return reader


def verified_growth(store: LedgerStore, size: int, root: Hash) -> TreeGrowth:
    """The signed tree of `size` to grow, once its stored tiles reproduce `root` (`verified_tree`) and
    prove the hash of its last leaf, which the next leaf must chain to."""
    reader = verified_tree(store, size, root)
    return TreeGrowth(size, reader, proved_leaf_hash(store, size - 1, size, root, reader) if size else GENESIS_PREV)


def proved_leaf_hash(store: LedgerStore, index: int, size: int, root: Hash, reader: TileHashReader) -> Hash:
    """SHA-256(0x00 || leaf) of entry `index`, once it is the stored leaf hash and the level-0 tile's,
    and an inclusion proof from the stored tiles (`reader`, whose tile reads serve both) leads from it
    to the signed `root` of `size`."""
    lh = checked_leaf_hashes(store, index, index + 1)[0]
    tile = tile_at(0, index // TILE_WIDTH, size)
    check_tile(tile, read_stored_tiles(reader.tiles, [tile])[0], lh, first=index % TILE_WIDTH)
    try:
        verify_inclusion(index, size, lh, prove_inclusion(size, index, reader), root)
    except (VerificationError, NotFoundError) as exc:
        raise IntegrityError(
            f"entry {index}",
            f"the stored tiles do not prove it in checkpoint {size} ({exc}); `regledger audit` names the tile",
            index=index,
        ) from None
    return lh


def read_stored_tiles(store: TileReader, tiles: list[Tile]) -> list[bytes]:
    """The stored data of `tiles` (from the store or a cache over it); a tile that should be there and
    is not is damage too."""
    try:
        return store.read_tiles(tiles)
    except NotFoundError as exc:
        raise IntegrityError("tiles", f"missing: {exc}") from None


def raise_edge_damage(store: LedgerStore, size: int, root: Hash) -> NoReturn:
    """Why the stored tiles of `size` do not hash to `root`: the first right-edge tile hash that
    disagrees with the level below (the leaves, for level 0), else the checkpoint itself."""
    for tile in (t for t in tiles_for_size(size) if not t.full):
        try:
            stored = store.read_tiles([tile])[0]
        except NotFoundError:
            raise IntegrityError(f"tile {tile.path()}", "missing", level=tile.level, tile=tile.n) from None
        check_tile(tile, stored, b"".join(_tile_hashes_from_below(store, tile)))
    raise IntegrityError(f"checkpoint {size}", f"its root {root.hex()} is not the root of the stored tree")


def check_tile(tile: Tile, stored: bytes, expected: bytes, *, first: int = 0) -> None:
    """The stored tile data holds the `expected` hashes from hash `first` on; else IntegrityError naming
    the first that differs."""
    at = first * HASH_SIZE
    if stored[at : at + len(expected)] == expected:
        return
    for i in range(0, len(expected), HASH_SIZE):
        got, want = stored[at + i : at + i + HASH_SIZE], expected[i : i + HASH_SIZE]
        if got != want:
            index = first + i // HASH_SIZE
            raise IntegrityError(
                f"tile {tile.path()} hash {index}",
                f"stored {got.hex() or 'nothing'}, recomputed {want.hex()}",
                level=tile.level,
                tile=tile.n,
                index=index,
            )


def tile_at(level: int, n: int, size: int) -> Tile:
    """Tile (level, n) as wide as it is in the tree of `size`."""
    return Tile(level, n, min(TILE_WIDTH, (size >> (8 * level)) - n * TILE_WIDTH))


def _tile_hashes_from_below(store: LedgerStore, tile: Tile) -> list[Hash]:
    start = tile.n * TILE_WIDTH
    if tile.level == 0:
        return [leaf_hash(leaf) for leaf, _ in _stored_entries(store, start, start + tile.width)]
    below = [Tile(tile.level - 1, start + i) for i in range(tile.width)]
    try:
        return [full_tile_root(data[: TILE_WIDTH * HASH_SIZE]) for data in store.read_tiles(below)]
    except NotFoundError as exc:
        raise IntegrityError(
            f"tile {tile.path()}", f"a tile below it is missing: {exc}", level=tile.level, tile=tile.n
        ) from None
