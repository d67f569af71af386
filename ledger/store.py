"""The one narrow storage interface, and an in-memory implementation of it.

Contracts every implementation keeps (the tests hold MemoryStore and SQLStore to them):
- `sequence` runs `build` under the log's single writer lock and stores what it returns
  atomically: all of the batch or none of it.  Indexes are gapless and never reused.
- entries and checkpoints are written once and never changed; a tile only ever grows by
  appending hashes (a partial tile is the prefix of every wider version of it).
- `publish` is a compare-and-swap: it stores tiles, the checkpoint and its status-map rows
  (ledger.statusmap.MapRows, at version `size`) and moves the published size from `old_size`
  to `size` in one transaction, or raises ConflictError and stores nothing.
- map node and value rows are versioned by the checkpoint size that wrote them and never
  rewritten; the map at size S reads, for each position or key, its latest row <= S.
- `integrator_lock` gives the lock that elects the one integrator among the processes serving the
  store (ledger.integrator.IntegratorRole); the compare-and-swap above keeps the log correct even
  if two processes integrate at once, the lock keeps them from wasting work racing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .entry import GENESIS_PREV, Entry
from .errors import ConflictError, IntegrityError, NotFoundError
from .hashes import Hash
from .statusmap import MapRows, VersionedMap
from .tiles import Tile
from .vmap import Position

__all__ = [
    "IntegratorLock",
    "KeyRecord",
    "KeyView",
    "LedgerStore",
    "MemoryStore",
    "SequenceHead",
    "SequencedBatch",
    "StateQuery",
    "SubjectState",
    "state_matches",
    "check_tile_growth",
    "ThreadIntegratorLock",
]


@dataclass(frozen=True)
class KeyRecord:
    """A statement key as the ledger knows it (a projection of key.register / key.revoke)."""

    key_id: str
    public_key: bytes
    name: str
    role: str
    scope: Mapping[str, Any]
    registered_at: int  # index of the key.register entry
    revoked_at: int | None = None  # index of the key.revoke entry

    def valid_at(self, index: int) -> bool:
        """Valid for statements sequenced after its registration and before its revocation."""
        return self.registered_at < index and (self.revoked_at is None or index < self.revoked_at)


@dataclass(frozen=True)
class SubjectState:
    """The current state of one subject (e.g. a registration), as a policy folds it from entries.

    A cache for queries: rebuildable from the entries alone (`regledger reindex`) and compared
    with that rebuild by `audit`.  The named columns are indexed copies of parts of `state`.
    """

    subject: str
    state: Mapping[str, Any]
    updated_at: int
    kind: str = ""
    status: str = ""
    code: str = ""
    region: str = ""
    institution: str = ""
    name: str = ""


@dataclass(frozen=True)
class StateQuery:
    """Filters for `find_states`; empty strings match anything; `text` searches name and code."""

    kind: str = ""
    status: str = ""
    region_prefix: str = ""
    institution: str = ""
    text: str = ""
    after: str = ""  # cursor: subjects sorting after this one
    limit: int = 50


@dataclass(frozen=True)
class SequenceHead:
    size: int
    last_hash: Hash


@dataclass
class SequencedBatch:
    entries: list[Entry]
    new_keys: list[KeyRecord] = field(default_factory=list)
    revocations: list[tuple[str, int]] = field(default_factory=list)  # (key_id, revoked_at)
    states: dict[str, SubjectState] = field(default_factory=dict)  # subject -> new state


class KeyView(Protocol):
    """What `build` may read inside the writer lock."""

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, KeyRecord]: ...
    def get_states(self, subjects: Iterable[str]) -> dict[str, SubjectState]: ...


class IntegratorLock(Protocol):
    """A lock held by at most one process (or, for a one-process store, one holder) at a time.

    It is released when its holder dies: a crashed integrator never blocks the next one."""

    def try_acquire(self) -> bool:
        """Take it if free (never waits); True if this holder has it now."""

    def held(self) -> bool:
        """True while this holder still has it (PostgreSQL: the session holding it still answers)."""

    def release(self) -> None: ...


class ThreadIntegratorLock:
    """The IntegratorLock of a store only one process uses (MemoryStore, SQLite in memory): handles made
    on the same `lock` exclude each other."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


class LedgerStore(Protocol):
    def sequence(self, build: Callable[[SequenceHead, KeyView], SequencedBatch]) -> SequencedBatch: ...
    def head(self) -> SequenceHead: ...
    def get_keys(self, key_ids: Iterable[str]) -> dict[str, KeyRecord]: ...
    def all_keys(self) -> list[KeyRecord]: ...
    def read_entries(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        """(leaf, stored leaf hash) for indexes start..end-1; NotFoundError past the head."""

    def read_leaf_hashes(self, start: int, end: int) -> list[Hash]: ...
    def index_of_leaf_hash(self, leaf_hash: bytes) -> int | None: ...
    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]: ...
    def publish(
        self, old_size: int | None, tiles: Mapping[Tile, bytes], size: int, note: bytes, map_rows: MapRows | None = None
    ) -> None: ...
    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        """Each position's content in its latest row at or before `version` (None: the latest); absent ones
        left out."""

    def read_map_values(self, keys: Sequence[str], version: int | None) -> dict[str, bytes]:
        """Each map key's value (canonical JSON) in its latest row at or before `version`."""

    def iter_map_nodes(self) -> Iterator[tuple[int, Position, bytes]]:
        """(version, position, content) of every stored map node row, by version then position."""

    def iter_map_values(self) -> Iterator[tuple[int, str, bytes]]:
        """(version, key, value) of every stored map value row, by version then key."""

    def latest_checkpoint(self) -> tuple[int, bytes] | None: ...
    def checkpoint(self, size: int) -> bytes: ...
    def iter_tiles(self) -> Iterator[tuple[int, int, bytes]]: ...
    def iter_checkpoints(self) -> Iterator[tuple[int, bytes]]: ...
    def checkpoint_chain(self, after: int = -1) -> list[tuple[int, int | None]]:
        """(size, the size it replaced as the latest; None for the first) for each stored checkpoint
        larger than `after`, by size."""

    def rewrite_derived(
        self, tiles: Mapping[tuple[int, int], bytes | None], leaf_hashes: Mapping[int, bytes], head_hash: bytes | None
    ) -> None:
        """Repair only (ledger.audit.repair): overwrite tiles (None deletes one), stored leaf hashes and the
        head's last hash in one transaction, past the grow-only rule."""

    def get_states(self, subjects: Iterable[str]) -> dict[str, SubjectState]: ...
    def get_state(self, subject: str) -> SubjectState | None:
        """One subject's state, or None: the common case of get_states."""

    def find_states(self, query: StateQuery) -> list[SubjectState]: ...
    def iter_states(self) -> Iterator[SubjectState]: ...
    def replace_states(self, states: Iterable[SubjectState]) -> int:
        """Replace the whole state cache in one transaction (reindex); returns the count."""

    def add_cosignatures(self, rows: Iterable[tuple[str, int, str, str]]) -> int:
        """Store (origin, size, cosigner vkey, signature line) rows not yet stored; returns how many were new."""

    def cosignatures(self, origin: str, size: int) -> list[tuple[str, str]]:
        """(cosigner vkey, line) for one checkpoint."""

    def latest_cosignatures(self) -> list[tuple[str, int, str, str]]:
        """Per origin and cosigner, the row of the largest size."""

    def iter_cosignatures(self, origin: str) -> Iterator[tuple[int, str, str]]:
        """(size, cosigner vkey, line) of every cosignature on `origin`'s checkpoints, by size."""

    def integrator_lock(self) -> IntegratorLock:
        """A new handle on the lock that elects the integrator (each call: another would-be holder)."""

    def close(self) -> None: ...


def state_matches(st: SubjectState, q: StateQuery) -> bool:
    return (
        (not q.kind or st.kind == q.kind)
        and (not q.status or st.status == q.status)
        and st.region.startswith(q.region_prefix)
        and (not q.institution or st.institution == q.institution)
        and (not q.text or q.text in st.name or q.text in st.code)
    )


def check_tile_growth(tile: Tile, old: bytes | None, new: bytes) -> bool:
    """True if `new` must be written; raises if it would rewrite stored hashes."""
    if old is None:
        return True
    if len(new) < len(old) or new[: len(old)] != old:
        raise AssertionError(f"refusing to rewrite stored hashes of {tile.path()}")
    return len(new) > len(old)


class MemoryStore:
    """LedgerStore in memory, for tests and tools; thread-safe, one process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.entries: list[tuple[bytes, bytes]] = []
        self.keys: dict[str, KeyRecord] = {}
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.checkpoints: dict[int, bytes] = {}
        self.previous: dict[int, int | None] = {}  # checkpoint size -> the size it replaced
        self.published: int | None = None
        self.states: dict[str, SubjectState] = {}
        self.cosigs: dict[tuple[str, int, str], str] = {}
        self.map = VersionedMap()  # the status map's rows (ledger.statusmap)
        self._integrator_lock = threading.Lock()

    def sequence(self, build: Callable[[SequenceHead, KeyView], SequencedBatch]) -> SequencedBatch:
        with self._lock:
            batch = build(self.head(), self)
            for i, e in enumerate(batch.entries):
                assert e.index == len(self.entries) + i, "entries must continue the log"
            for k in batch.new_keys:
                assert k.key_id not in self.keys, "key ids are registered once"
            self.entries.extend((e.leaf, e.leaf_hash) for e in batch.entries)
            for k in batch.new_keys:
                self.keys[k.key_id] = k
            self.states.update(batch.states)
            for key_id, at in batch.revocations:
                old = self.keys[key_id]
                self.keys[key_id] = KeyRecord(
                    old.key_id, old.public_key, old.name, old.role, old.scope, old.registered_at, at
                )
            return batch

    def head(self) -> SequenceHead:
        with self._lock:
            if not self.entries:
                return SequenceHead(0, GENESIS_PREV)
            return SequenceHead(len(self.entries), Hash(self.entries[-1][1]))

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, KeyRecord]:
        with self._lock:
            return {k: self.keys[k] for k in key_ids if k in self.keys}

    def all_keys(self) -> list[KeyRecord]:
        with self._lock:
            return sorted(self.keys.values(), key=lambda k: k.registered_at)

    def read_entries(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        with self._lock:
            if not 0 <= start <= end <= len(self.entries):
                raise NotFoundError(f"entries {start}..{end - 1} are not all sequenced")
            return list(self.entries[start:end])

    def read_leaf_hashes(self, start: int, end: int) -> list[Hash]:
        return [Hash(h) for _, h in self.read_entries(start, end)]

    def index_of_leaf_hash(self, leaf_hash: bytes) -> int | None:
        with self._lock:
            return next((i for i, (_, h) in enumerate(self.entries) if h == leaf_hash), None)

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        with self._lock:
            out = []
            for t in tiles:
                data = self.tiles.get((t.level, t.n))
                if data is None or len(data) < t.width * 32:
                    raise NotFoundError(f"{t.path()} is not stored")
                out.append(data)
            return out

    def publish(
        self, old_size: int | None, tiles: Mapping[Tile, bytes], size: int, note: bytes, map_rows: MapRows | None = None
    ) -> None:
        with self._lock:
            if self.published != old_size:
                raise ConflictError(f"published size is {self.published}, not {old_size}")
            writes = {t: d for t, d in tiles.items() if check_tile_growth(t, self.tiles.get((t.level, t.n)), d)}
            if size in self.checkpoints:
                raise AssertionError(f"checkpoint {size} is already stored")
            for t, d in writes.items():
                self.tiles[(t.level, t.n)] = d
            self.checkpoints[size] = note
            self.previous[size] = old_size
            self.published = size
            if map_rows is not None:
                self.map.add(size, map_rows)

    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        with self._lock:
            return self.map.read_map_nodes(positions, version)

    def read_map_values(self, keys: Sequence[str], version: int | None) -> dict[str, bytes]:
        with self._lock:
            return self.map.read_map_values(keys, version)

    def iter_map_nodes(self) -> Iterator[tuple[int, Position, bytes]]:
        with self._lock:
            rows = list(self.map.iter_map_nodes())
        yield from rows

    def iter_map_values(self) -> Iterator[tuple[int, str, bytes]]:
        with self._lock:
            rows = list(self.map.iter_map_values())
        yield from rows

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._lock:
            if self.published is None:
                return None
            if self.published not in self.checkpoints:
                raise IntegrityError(f"checkpoint {self.published}", "published as the latest, but not stored")
            return self.published, self.checkpoints[self.published]

    def checkpoint(self, size: int) -> bytes:
        with self._lock:
            if size not in self.checkpoints:
                raise NotFoundError(f"no checkpoint of size {size}")
            return self.checkpoints[size]

    def iter_tiles(self) -> Iterator[tuple[int, int, bytes]]:
        with self._lock:
            items = sorted(self.tiles.items())
        for (level, n), data in items:
            yield level, n, data

    def iter_checkpoints(self) -> Iterator[tuple[int, bytes]]:
        with self._lock:
            items = sorted(self.checkpoints.items())
        yield from items

    def rewrite_derived(
        self, tiles: Mapping[tuple[int, int], bytes | None], leaf_hashes: Mapping[int, bytes], head_hash: bytes | None
    ) -> None:
        with self._lock:
            for key, data in tiles.items():
                if data is None:
                    self.tiles.pop(key, None)
                else:
                    self.tiles[key] = data
            for i, h in leaf_hashes.items():
                self.entries[i] = (self.entries[i][0], h)
            # the head is derived from the entries here: nothing else to rewrite

    def checkpoint_chain(self, after: int = -1) -> list[tuple[int, int | None]]:
        with self._lock:
            return sorted((size, self.previous.get(size)) for size in self.checkpoints if size > after)

    def get_states(self, subjects: Iterable[str]) -> dict[str, SubjectState]:
        with self._lock:
            return {s: self.states[s] for s in subjects if s in self.states}

    def get_state(self, subject: str) -> SubjectState | None:
        with self._lock:
            return self.states.get(subject)

    def find_states(self, query: StateQuery) -> list[SubjectState]:
        with self._lock:
            hits = [
                st for subject, st in sorted(self.states.items()) if subject > query.after and state_matches(st, query)
            ]
        return hits[: query.limit]

    def iter_states(self) -> Iterator[SubjectState]:
        with self._lock:
            items = sorted(self.states.items())
        for _, st in items:
            yield st

    def replace_states(self, states: Iterable[SubjectState]) -> int:
        new = {st.subject: st for st in states}
        with self._lock:
            self.states = new
        return len(new)

    def add_cosignatures(self, rows: Iterable[tuple[str, int, str, str]]) -> int:
        with self._lock:
            new = 0
            for o, n, v, line in rows:
                if (o, n, v) not in self.cosigs:
                    self.cosigs[(o, n, v)] = line
                    new += 1
            return new

    def cosignatures(self, origin: str, size: int) -> list[tuple[str, str]]:
        with self._lock:
            return sorted((v, line) for (o, n, v), line in self.cosigs.items() if o == origin and n == size)

    def latest_cosignatures(self) -> list[tuple[str, int, str, str]]:
        with self._lock:
            latest: dict[tuple[str, str], tuple[str, int, str, str]] = {}
            for (o, n, v), line in self.cosigs.items():
                if (o, v) not in latest or latest[(o, v)][1] < n:
                    latest[(o, v)] = (o, n, v, line)
            return list(latest.values())

    def iter_cosignatures(self, origin: str) -> Iterator[tuple[int, str, str]]:
        with self._lock:
            rows = sorted((n, v, line) for (o, n, v), line in self.cosigs.items() if o == origin)
        yield from rows

    def integrator_lock(self) -> IntegratorLock:
        return ThreadIntegratorLock(self._integrator_lock)

    def close(self) -> None:
        pass
