"""Keeping the status map (ledger.vmap) beside the log: what the integrator signs, and what audit rebuilds.

Which map keys an entry touches is the domain's to say (a StatusMapHook, passed to Ledger like the
policy; the register's is registry.statusmap); this module only knows that a key's value is either
the list of log indexes appended to it or a value set outright (an alias).

The integrator re-derives the changes for entries [old, new) from the stored leaves themselves, reads
the current values and the map nodes at the last checkpoint (checked against its signed map root, node
by node: ledger.vmap.update_map), and hands the new rows to `publish`, which stores them with the
checkpoint in one transaction at version `new`.  A base checkpoint without a map line (signed before
the map existed, or by a ledger without the hook) makes the next checkpoint's map a build over the
whole log.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .checkpoint import Checkpoint
from .entry import Entry
from .errors import IntegrityError
from .hashes import Hash
from .vmap import (
    MapNodeReader,
    MapUpdate,
    Position,
    apply_updates,
    build_map,
    key_hash,
    map_root_of,
    update_map,
    value_bytes,
    value_hash_of,
)

__all__ = [
    "MapReader",
    "MapRebuild",
    "MapRows",
    "StatusMapHook",
    "NodeCache",
    "ProofNodeCache",
    "VersionedMap",
    "compare_map_rows",
    "entry_updates",
    "grow_map",
    "map_updates",
    "rebuild_values",
]

CHUNK = 2000


class StatusMapHook(Protocol):
    def map_updates(self, index: int, statement: Mapping[str, Any]) -> Iterable[MapUpdate]:
        """The map keys log entry `index` touches; `statement` is the entry's statement object as its leaf
        holds it (the leaf is the ledger's own, so it is not parsed strictly again)."""


@dataclass(frozen=True)
class MapRows:
    """What one checkpoint adds to the map, stored at version = its size: node contents by position and the
    canonical JSON of each changed key's value."""

    nodes: Mapping[Position, bytes]
    values: Mapping[str, bytes]


class MapReader(MapNodeReader, Protocol):
    def read_map_values(self, keys: Sequence[str], version: int | None) -> dict[str, bytes]:
        """Each key's value (canonical JSON) in its latest row at or before `version` (None: latest)."""


def map_updates(hook: StatusMapHook, leaves: Iterable[bytes]) -> Iterator[MapUpdate]:
    """The updates the leaves make, in log order."""
    loads = json.loads
    for leaf in leaves:
        obj = loads(leaf)
        yield from hook.map_updates(obj["index"], obj["statement"])


def _leaves(read: Callable[[int, int], list[tuple[bytes, bytes]]], start: int, end: int) -> Iterator[bytes]:
    for lo in range(start, end, CHUNK):
        for leaf, _ in read(lo, min(end, lo + CHUNK)):
            yield leaf


def rebuild_values(hook: StatusMapHook, leaves: Iterable[bytes]) -> dict[str, Mapping[str, Any]]:
    """Every key's value after the leaves, from nothing."""
    return apply_updates({}, map_updates(hook, leaves))


def entry_updates(hook: StatusMapHook, e: Entry) -> Iterable[MapUpdate]:
    """The updates of an entry already parsed (the integrator's, checked by ledger.integrity)."""
    st = e.statement
    return hook.map_updates(e.index, {"kind": st.kind, "subject": st.subject, "payload": st.payload})


def grow_map(
    store: MapReader,
    read_entries: Callable[[int, int], list[tuple[bytes, bytes]]],
    hook: StatusMapHook,
    *,
    base_size: int | None,
    base_root: Hash | None,
    size: int,
    updates: list[MapUpdate] | None = None,
    nodes: MapNodeReader | None = None,
) -> tuple[Hash, MapRows]:
    """The map root for the checkpoint of `size` and the rows to store with it.

    `base_size`/`base_root`: the last checkpoint and its signed map root (None: no map there, so the map is
    built over the whole log).  `updates`: those of entries [base_size, size) if the caller derived them
    from the entries it checked (else they are read here); `nodes`: where to read map nodes (a cache in
    front of `store`; whatever it serves is checked against `base_root`)."""
    if base_size is None or base_root is None:
        raw = _value_rows(rebuild_values(hook, _leaves(read_entries, 0, size)))
        root, built = build_map((key_hash(k), value_hash_of(v)) for k, v in raw.items())
        return root, MapRows(built, raw)
    if updates is None:
        updates = list(map_updates(hook, _leaves(read_entries, base_size, size)))
    keys = sorted({u.key for u in updates})
    stored = store.read_map_values(keys, base_size)
    current = {k: json.loads(v) for k, v in stored.items()}
    changed = _value_rows({k: v for k, v in apply_updates(current, updates).items() if current.get(k) != v})
    hashes = {k: key_hash(k) for k in changed}
    change = update_map(
        store if nodes is None else nodes,
        {hashes[k]: value_hash_of(v) for k, v in changed.items()},
        version=base_size,
        expected_root=base_root,
    )
    for k in changed:
        had = change.before[hashes[k]]
        if had != (value_hash_of(stored[k]) if k in stored else None):
            raise IntegrityError(f"map value {k}", f"the stored value is not the one map checkpoint {base_size} holds")
    return change.root, MapRows(change.writes, changed)


def _value_rows(values: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    """Each value's canonical bytes (what is stored and hashed), computed once."""
    return {k: value_bytes(v) for k, v in values.items()}


_Rows = tuple[list[int], list[bytes]]  # (versions ascending, contents)


class VersionedMap:
    """Map node and value rows in memory, versioned and append-only as the stores keep them (MemoryStore's
    and audit's rebuild)."""

    def __init__(self) -> None:
        self.nodes: dict[Position, _Rows] = {}
        self.values: dict[str, _Rows] = {}

    def add(self, version: int, rows: MapRows) -> None:
        for table, new in ((self.nodes, rows.nodes), (self.values, rows.values)):
            for at, content in new.items():
                versions, contents = table.setdefault(at, ([], []))  # type: ignore[arg-type]
                if versions and versions[-1] >= version:
                    raise AssertionError("map rows are never rewritten")
                versions.append(version)
                contents.append(content)

    @staticmethod
    def _latest(rows: _Rows | None, version: int | None) -> bytes | None:
        if rows is None:
            return None
        i = len(rows[0]) if version is None else bisect_right(rows[0], version)
        return rows[1][i - 1] if i else None

    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        found = {p: self._latest(self.nodes.get(p), version) for p in positions}
        return {p: c for p, c in found.items() if c is not None}

    def read_map_values(self, keys: Sequence[str], version: int | None) -> dict[str, bytes]:
        found = {k: self._latest(self.values.get(k), version) for k in keys}
        return {k: v for k, v in found.items() if v is not None}

    def iter_map_nodes(self) -> Iterator[tuple[int, Position, bytes]]:
        yield from sorted((v, p, c) for p, (vs, cs) in self.nodes.items() for v, c in zip(vs, cs, strict=True))

    def iter_map_values(self) -> Iterator[tuple[int, str, bytes]]:
        yield from sorted((v, k, c) for k, (vs, cs) in self.values.items() for v, c in zip(vs, cs, strict=True))


class MapRebuild:
    """The map rebuilt from the log alone, checkpoint by checkpoint, as the integrator built it: `entry` for
    each leaf in order, `checkpoint` at each signed checkpoint (in the order they were published); the rows
    land in `rows` at the same versions, for comparing with the stored ones."""

    def __init__(self, hook: StatusMapHook) -> None:
        self.hook = hook
        self.rows = VersionedMap()
        self.values: dict[str, Mapping[str, Any]] = {}
        self.pending: list[MapUpdate] = []
        self.base: tuple[int, Hash] | None = None  # the previous checkpoint, if it has a map: (size, root)

    def entry(self, leaf: bytes) -> None:
        obj = json.loads(leaf)
        self.pending.extend(self.hook.map_updates(obj["index"], obj["statement"]))

    def checkpoint(self, cp: Checkpoint) -> None:
        """Raise IntegrityError (naming the checkpoint) unless its map line is the rebuilt map's root."""
        changed = {k: v for k, v in apply_updates(self.values, self.pending).items() if self.values.get(k) != v}
        self.values.update(changed)
        self.pending = []
        signed = map_root_of(cp)
        base, self.base = self.base, None
        if signed is None:
            return
        if base is None:
            raw = _value_rows(self.values)
            root, nodes = build_map((key_hash(k), value_hash_of(v)) for k, v in raw.items())
            rows = MapRows(nodes, raw)
        else:
            raw = _value_rows(changed)
            change = update_map(
                self.rows,
                {key_hash(k): value_hash_of(v) for k, v in raw.items()},
                version=base[0],
                expected_root=base[1],
            )
            root, rows = change.root, MapRows(change.writes, raw)
        if root != signed:
            raise IntegrityError(
                f"checkpoint {cp.size}",
                f"map root {signed.hex()} differs from the map rebuilt from the log {root.hex()}",
            )
        self.rows.add(cp.size, rows)
        self.base = (cp.size, root)


def compare_map_rows(
    stored: Iterable[tuple[int, Any, bytes]], rebuilt: Iterable[tuple[int, Any, bytes]], what: str
) -> int:
    """Raise IntegrityError at the first stored row (node or value) that differs from, lacks or adds to the
    rebuilt rows; returns how many rows were compared."""
    rebuilt_it = iter(rebuilt)
    n = 0
    for row in stored:
        want = next(rebuilt_it, None)
        if want is not None and row == want:
            n += 1
            continue
        first = row if want is None or row[:2] < want[:2] else want
        where = f"{what} {_name(first[1])} at {first[0]}"
        if want is not None and row[:2] == want[:2]:
            raise IntegrityError(where, "stored content differs from the map rebuilt from the log")
        raise IntegrityError(where, "stored but not in the map rebuilt from the log" if first is row else "missing")
    extra = next(rebuilt_it, None)
    if extra is not None:
        raise IntegrityError(f"{what} {_name(extra[1])} at {extra[0]}", "missing")
    return n


def _name(at: Any) -> str:
    return f"{at[0]}/{at[1].hex() or '-'}" if isinstance(at, tuple) else str(at)


class NodeCache:
    """The integrator's cache of the latest map nodes down to `max_depth` (the levels every update reads),
    for one map version: a read at another version empties it, `published` moves it to the next.  What it
    serves is checked like what the store serves (ledger.vmap.update_map checks every node it reads against
    the signed root), so it saves reads but is never trusted."""

    def __init__(self, store: MapNodeReader, max_depth: int = 16) -> None:
        self.store = store
        self.max_depth = max_depth
        self.version: int | None = None
        self.nodes: dict[Position, bytes] = {}  # b"": known to be absent

    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        if version is None or version != self.version:
            self.nodes.clear()
            self.version = version
        if version is None:
            return self.store.read_map_nodes(positions, version)
        return _read_through(self.nodes, self.store, positions, version, self.max_depth)

    def published(self, base: int, version: int, writes: Mapping[Position, bytes]) -> None:
        """The map of `version` was stored: `base`'s plus `writes`."""
        if self.version != base:
            self.nodes.clear()
        for p, c in writes.items():
            if p[0] <= self.max_depth:
                self.nodes[p] = c
        self.version = version

    def clear(self) -> None:
        self.nodes.clear()
        self.version = None


class ProofNodeCache:
    """The map's upper levels (depth <= `max_depth`) for serving proofs, for the one version last asked for:
    at most 2**(max_depth+1) - 1 positions (8,191 and ~1.6 MiB at the default 12).  Each version gets its own
    dict, swapped in whole, so concurrent readers of two versions never mix rows; what it serves goes into a
    proof that Ledger.status_proof checks against the signed map root before serving it."""

    def __init__(self, store: MapNodeReader, max_depth: int = 12) -> None:
        self.store = store
        self.max_depth = max_depth
        self._at: tuple[int, dict[Position, bytes]] = (-1, {})  # (version, contents; b"": known absent)

    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        if version is None:
            return self.store.read_map_nodes(positions, version)
        at = self._at
        if at[0] != version:
            at = self._at = (version, {})
        return _read_through(at[1], self.store, positions, version, self.max_depth)


def _read_through(
    nodes: dict[Position, bytes], store: MapNodeReader, positions: Sequence[Position], version: int, max_depth: int
) -> dict[Position, bytes]:
    """`positions` from `nodes` (b"": known absent), the rest from `store`, remembering those down to `max_depth`."""
    out: dict[Position, bytes] = {}
    missing = []
    for p in positions:
        c = nodes.get(p)
        if c is None:
            missing.append(p)
        elif c:
            out[p] = c
    if missing:
        found = store.read_map_nodes(missing, version)
        out.update(found)
        for p in missing:
            if p[0] <= max_depth:
                nodes[p] = found.get(p, b"")
    return out
