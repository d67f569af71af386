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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .entry import canonical_json
from .errors import IntegrityError
from .hashes import Hash
from .vmap import MapNodeReader, MapUpdate, Position, apply_updates, build_map, key_hash, update_map, value_hash

__all__ = ["MapReader", "MapRows", "StatusMapHook", "grow_map", "map_updates", "rebuild_values"]

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


def grow_map(
    store: MapReader,
    read_entries: Callable[[int, int], list[tuple[bytes, bytes]]],
    hook: StatusMapHook,
    *,
    base_size: int | None,
    base_root: Hash | None,
    size: int,
) -> tuple[Hash, MapRows]:
    """The map root for the checkpoint of `size` and the rows to store with it.

    `base_size`/`base_root`: the last checkpoint and its signed map root (None: no map there, so the map is
    built over the whole log)."""
    if base_size is None or base_root is None:
        values = rebuild_values(hook, _leaves(read_entries, 0, size))
        root, nodes = build_map((key_hash(k), value_hash(v)) for k, v in values.items())
        return root, MapRows(nodes, {k: canonical_json(v) for k, v in values.items()})
    updates = list(map_updates(hook, _leaves(read_entries, base_size, size)))
    keys = sorted({u.key for u in updates})
    stored = store.read_map_values(keys, base_size)
    current = {k: json.loads(v) for k, v in stored.items()}
    changed = {k: v for k, v in apply_updates(current, updates).items() if current.get(k) != v}
    change = update_map(
        store,
        {key_hash(k): value_hash(v) for k, v in changed.items()},
        version=base_size,
        expected_root=base_root,
    )
    for k in changed:
        had = change.before[key_hash(k)]
        if had != (value_hash(current[k]) if k in current else None):
            raise IntegrityError(f"map value {k}", f"the stored value is not the one map checkpoint {base_size} holds")
    return change.root, MapRows(change.writes, {k: canonical_json(v) for k, v in changed.items()})
