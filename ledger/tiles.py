"""C2SP tlog-tiles: tile coordinates, paths, and hash reads served from tiles.

A tile at level L, index N holds up to 256 hashes: the level-0 tiles hold leaf hashes, and
tile (L, N) holds MTH(D[(N*256+i)*256**L : (N*256+i+1)*256**L]) for i < W.  A tile of width W
is the first W hashes of the full tile, so only the widest version of each tile needs storing.
The math follows golang.org/x/mod/sumdb/tlog/tile.go with the tile height fixed at 8.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from .errors import MalformedError, NotFoundError
from .hashes import HASH_SIZE, Hash, node_hash
from .merkle import HashReader, split_stored_hash_index, stored_hash_index

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "CachingTileReader",
    "SubtreeCache",
    "Tile",
    "TileHashReader",
    "TileReader",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entry_bundle_path",
    "full_tile_root",
    "hash_from_tile",
    "new_tiles",
    "parse_tile_path",
    "read_tile_data",
    "tile_for_index",
    "tiles_for_size",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


@dataclass(frozen=True, order=True)
class Tile:
    """Tile coordinates: level L, index N, width W (1..256; 256 is a full tile)."""

    level: int
    n: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.level < 64 or self.n < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise MalformedError(f"invalid tile level={self.level} n={self.n} width={self.width}")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """`tile/<L>/<N>[.p/<W>]` relative to the log prefix."""
        return f"tile/{self.level}/{_encode_n(self.n)}{'' if self.full else f'.p/{self.width}'}"


def _encode_n(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def entry_bundle_path(n: int, width: int = TILE_WIDTH) -> str:
    """`tile/entries/<N>[.p/<W>]`: the bundle of entries (n*256 .. n*256+width-1)."""
    Tile(0, n, width)  # validates
    return f"tile/entries/{_encode_n(n)}{'' if width == TILE_WIDTH else f'.p/{width}'}"


def encode_entry_bundle(leaves: Sequence[bytes]) -> bytes:
    """C2SP entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for leaf in leaves:
        if len(leaf) > 0xFFFF:
            raise MalformedError(f"entry of {len(leaf)} bytes does not fit an entry bundle")
        out += len(leaf).to_bytes(2, "big") + leaf
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    leaves, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedError("entry bundle ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            raise MalformedError("entry bundle ends inside an entry")
        leaves.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return leaves


_PATH_RE = re.compile(r"^tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?$")


def parse_tile_path(path: str) -> tuple[Tile, bool]:
    """Parse a tile or entry-bundle path strictly; returns (tile, is_entry_bundle).

    Only the canonical spelling is accepted, so parse_tile_path(t.path()) round-trips and
    nothing else maps to the same tile.
    """
    m = _PATH_RE.match(path)
    if not m:
        raise MalformedError(f"not a tile path: {path!r}", field="path")
    level_s, n_s, w_s = m.groups()
    n = int("".join(g.lstrip("x") for g in n_s.split("/")))
    width = int(w_s) if w_s else TILE_WIDTH
    if w_s and width >= TILE_WIDTH:
        raise MalformedError(f"partial tile width must be below {TILE_WIDTH}: {path!r}", field="path")
    is_entries = level_s == "entries"
    tile = Tile(0 if is_entries else int(level_s), n, width)
    canonical = entry_bundle_path(n, width) if is_entries else tile.path()
    if canonical != path:
        raise MalformedError(f"not a canonical tile path: {path!r}", field="path")
    return tile, is_entries


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles (all levels, full and partial) that growing the tree old_size -> new_size writes."""
    tiles: list[Tile] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level) > 0:
        old_n = old_size >> (TILE_HEIGHT * level)
        new_n = new_size >> (TILE_HEIGHT * level)
        if old_n != new_n:
            for n in range(old_n >> TILE_HEIGHT, new_n >> TILE_HEIGHT):
                tiles.append(Tile(level, n))
            n = new_n >> TILE_HEIGHT
            w = new_n - (n << TILE_HEIGHT)
            if w > 0:
                tiles.append(Tile(level, n, w))
        level += 1
    return tiles


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile of a tree of this size, at its width for this size."""
    return new_tiles(0, size)


def tile_for_index(index: int) -> tuple[Tile, int, int]:
    """The narrowest tile holding stored hash `index`, and the byte range of its source hashes."""
    level, n = split_stored_hash_index(index)
    tile_level = level // TILE_HEIGHT
    level -= tile_level * TILE_HEIGHT
    tile_n = (n << level) >> TILE_HEIGHT
    n -= (tile_n << TILE_HEIGHT) >> level
    width = (n + 1) << level
    return Tile(tile_level, tile_n, width), (n << level) * HASH_SIZE, ((n + 1) << level) * HASH_SIZE


def _tile_hash(data: bytes) -> Hash:
    if len(data) == HASH_SIZE:
        return Hash(data)
    half = len(data) // 2
    return node_hash(_tile_hash(data[:half]), _tile_hash(data[half:]))


def full_tile_root(data: bytes) -> Hash:
    """MTH of the 256 hashes of a full tile: the hash the tile one level up keeps for it."""
    if len(data) != TILE_WIDTH * HASH_SIZE:
        raise MalformedError(f"a full tile has {TILE_WIDTH * HASH_SIZE} bytes, not {len(data)}")
    return _tile_hash(data)


def hash_from_tile(tile: Tile, data: bytes, index: int) -> Hash:
    """Stored hash `index`, computed from the tile data that covers it."""
    if len(data) < tile.width * HASH_SIZE:
        raise MalformedError(f"{len(data)} bytes are too short for {tile.path()}")
    t1, start, end = tile_for_index(index)
    if t1.level != tile.level or t1.n != tile.n or tile.width < t1.width:
        raise AssertionError(f"stored hash {index} is in {t1.path()}, not {tile.path()}")
    return _tile_hash(data[start:end])


def read_tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of `tile`, read hash by hash from a HashReader."""
    start = tile.n << TILE_HEIGHT
    level = TILE_HEIGHT * tile.level
    indexes = [stored_hash_index(level, start + i) for i in range(tile.width)]
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise AssertionError("hash reader returned the wrong number of hashes")
    return b"".join(hashes)


class TileReader(Protocol):
    """Returns tile data for each tile asked for; data may be a wider version of the tile.

    Raises NotFoundError if a tile (at least that wide) is not stored.
    """

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]: ...


def _tile_levels(data: bytes) -> list[bytes]:
    """levels[h] = the hashes of the complete runs of 2**h hashes in the tile, concatenated.

    The hot loop of a cold proof: RFC 9162 node hashing inlined (see hashes.node_hash).  Each level
    is kept as one bytes object (level 0 is `data` itself, shared with the tile cache): 2 objects'
    worth of memory per tile instead of 511, so a full SubtreeCache stays small.
    """
    sha = hashlib.sha256
    level = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
    levels = [data]
    while len(level) > 1:
        level = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        levels.append(b"".join(level))
    return levels


class SubtreeCache:
    """Memoises the subtree hashes inside tiles, so a proof reads hashes instead of rehashing.

    Valid for the same reason tiles can be cached: a tile only grows, and a subtree hash,
    once complete, never changes.  Bounded: at most `capacity` tiles, about 16 KiB each
    (the tile's hashes and the 255 above them), so 4096 tiles hold about 64 MiB.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._cache: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()

    def levels(self, tile: Tile, data: bytes) -> list[bytes]:
        key = (tile.level, tile.n)
        levels = self._cache.get(key)
        if levels is None or len(levels[0]) < len(data):
            levels = _tile_levels(data)
            self._cache[key] = levels
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return levels

    def hash(self, tile: Tile, data: bytes, height: int, pos: int) -> Hash:
        """The hash of the pos-th complete run of 2**height hashes in the tile."""
        level = self.levels(tile, data)[height]
        return cast(Hash, level[pos * HASH_SIZE : (pos + 1) * HASH_SIZE])


class TileHashReader:
    """A merkle.HashReader over a TileReader.

    It trusts the tiles it reads: use it over the ledger's own store (whose contents `audit`
    checks), not over tiles fetched from someone else.
    """

    def __init__(self, size: int, tiles: TileReader, subtrees: SubtreeCache | None = None) -> None:
        self.size = size
        self.tiles = tiles
        self.subtrees = subtrees if subtrees is not None else SubtreeCache(64)

    def read_hashes(self, indexes: Sequence[int]) -> list[Hash]:
        located = [tile_for_index(i) for i in indexes]
        wanted: dict[tuple[int, int], Tile] = {}
        for t, _, _ in located:
            key = (t.level, t.n)
            if key not in wanted or wanted[key].width < t.width:
                wanted[key] = t
        order = list(wanted)
        datas = self.tiles.read_tiles([wanted[k] for k in order])
        by_key = dict(zip(order, datas, strict=True))
        out: list[Hash] = []
        for index, (t, start, end) in zip(indexes, located, strict=True):
            data = by_key[(t.level, t.n)]
            if len(data) < end:
                raise NotFoundError(f"stored hash {index} is not in the stored {t.path()}")
            height = ((end - start) // HASH_SIZE).bit_length() - 1
            out.append(self.subtrees.hash(t, data, height, (start // HASH_SIZE) >> height))
        return out


class CachingTileReader:
    """Keeps recently read tiles in memory.

    Stored tiles only ever grow by appending, so a cached version answers every request for
    a width it covers, whether or not the tile was full when read.
    """

    def __init__(self, inner: TileReader, capacity: int = 4096) -> None:
        self.inner = inner
        self.capacity = capacity
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out: list[bytes | None] = []
        missing: list[Tile] = []
        for t in tiles:
            data = self._cache.get((t.level, t.n))
            if data is not None and len(data) >= t.width * HASH_SIZE:
                self._cache.move_to_end((t.level, t.n))
            else:
                data = None
                missing.append(t)
            out.append(data)
        if missing:
            fetched = dict(zip(missing, self.inner.read_tiles(missing), strict=True))
            for i, t in enumerate(tiles):
                if out[i] is None:
                    data = fetched[t]
                    out[i] = data
                    self._cache[(t.level, t.n)] = data
                    if len(self._cache) > self.capacity:
                        self._cache.popitem(last=False)
        return [d for d in out if d is not None]
