"""Re-verify everything a ledger has stored, row by row, and report the first discrepancy.

Recomputes: every leaf hash, the hash chain, each statement's signature under the key rules
of `ledger.keyring`, every tile (full and partial, all levels), every checkpoint's signature
and root, the checkpoint chain (none deleted, the latest present), the key projection, the
sequence head and (given the hook) the status map: every signed map root and stored map row.
Memory stays O(log n) plus one chunk, plus the rebuilt status map when it is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .cosignature import add_cosignatures, parse_cosigner_vkey, verify_cosigned
from .entry import GENESIS_PREV, Entry
from .errors import IntegrityError, LedgerError, MapProofError, UnknownKeyError
from .fold import fold_entry
from .hashes import HASH_SIZE, Hash, leaf_hash
from .integrity import check_leaf_hash, check_tile, opened_checkpoint
from .merkle import CompactRange
from .note import Verifier
from .policy import StateMap, StatementPolicy, policy_step
from .statusmap import MapRebuild, StatusMapHook, compare_map_rows
from .store import KeyRecord, LedgerStore, SequenceHead, SubjectState
from .tiles import TILE_WIDTH, Tile, full_tile_root, tiles_for_size

__all__ = ["AuditFailure", "AuditReport", "DerivedDamage", "audit", "repair"]

CHUNK = 2000


#: what audit raises: the damaged row (`where`) and what is wrong with it (`what`)
AuditFailure = IntegrityError


@dataclass(frozen=True)
class AuditReport:
    entries: int
    tiles: int
    checkpoints: int
    keys: int
    published_size: int
    root: Hash
    cosignatures: int = 0
    map_rows: int = 0  # status-map node and value rows compared with the map rebuilt from the log


@dataclass
class DerivedDamage:
    """Rows that can be recomputed from the leaves, found wrong by `audit(..., derived=...)`: what they should be."""

    tiles: dict[tuple[int, int], bytes | None] = field(default_factory=dict)  # (level, n) -> data; None: delete
    leaf_hashes: dict[int, bytes] = field(default_factory=dict)  # index -> SHA-256(0x00 || leaf)
    head_hash: bytes | None = None  # the sequence head's last leaf hash

    def __bool__(self) -> bool:
        return bool(self.tiles or self.leaf_hashes or self.head_hash is not None)

    def rows(self) -> list[str]:
        return (
            [f"entry {i} leaf hash" for i in sorted(self.leaf_hashes)]
            + [f"tile {level}/{n}" + (" (delete)" if d is None else "") for (level, n), d in sorted(self.tiles.items())]
            + (["sequence head"] if self.head_hash is not None else [])
        )


class _TileChecker:
    """Rebuilds tiles from leaf hashes and compares each with the stored one as it completes.

    With `derived`, a wrong or missing tile is recorded there instead of raised."""

    def __init__(self, store: LedgerStore, derived: DerivedDamage | None = None) -> None:
        self.store = store
        self.derived = derived
        self.partial: list[list[bytes]] = []
        self.count: list[int] = []
        self.checked = 0

    def push(self, level: int, h: bytes) -> None:
        while len(self.partial) <= level:
            self.partial.append([])
            self.count.append(0)
        self.partial[level].append(h)
        if len(self.partial[level]) == TILE_WIDTH:
            hashes = self.partial[level]
            self._compare(Tile(level, self.count[level]), b"".join(hashes), exact=False)
            self.partial[level] = []
            self.count[level] += 1
            self.push(level + 1, full_tile_root(b"".join(hashes)))

    def finish(self) -> None:
        for level, hashes in enumerate(self.partial):
            if hashes:
                self._compare(Tile(level, self.count[level], len(hashes)), b"".join(hashes), exact=True)

    def _compare(self, tile: Tile, expected: bytes, *, exact: bool) -> None:
        try:
            self._check(tile, expected, exact=exact)
        except AuditFailure:
            if self.derived is None:
                raise
            self.derived.tiles[(tile.level, tile.n)] = expected
        self.checked += 1

    def _check(self, tile: Tile, expected: bytes, *, exact: bool) -> None:
        try:
            stored = self.store.read_tiles([tile])[0]
        except LedgerError as exc:
            raise AuditFailure(f"tile {tile.path()}", f"missing ({exc})") from None
        if exact and len(stored) != len(expected):
            raise AuditFailure(f"tile {tile.path()}", f"stored width {len(stored) // HASH_SIZE}, expected {tile.width}")
        check_tile(tile, stored, expected)


class _EntryWalk:
    """The leaves in index order: each one's hash, envelope, chain link and fold (ledger.fold), and the
    tree they build, checked against each signed checkpoint as its size is reached."""

    def __init__(
        self,
        store: LedgerStore,
        checkpoints: list[tuple[int, bytes]],
        published: int,
        *,
        origin: str,
        verifier: Verifier,
        policy: StatementPolicy | None,
        derived: DerivedDamage | None,
        status_map: StatusMapHook | None = None,
    ) -> None:
        self.store, self.published, self.origin, self.verifier = store, published, origin, verifier
        self.policy, self.derived = policy, derived
        self.pending = iter(checkpoints)
        self.next_cp = next(self.pending, None)
        self.tiles = _TileChecker(store, derived)
        self.compact = CompactRange()
        self.keys: dict[str, KeyRecord] = {}
        self.states = StateMap(lambda subjects: {})
        self.prev: Hash = GENESIS_PREV
        self.seen_cps = 0
        self.map = None if status_map is None else MapRebuild(status_map)

    def run(self, size: int, progress: Callable[[int, int], None] | None) -> None:
        self.checkpoints_at(0)
        for start in range(0, size, CHUNK):
            end = min(start + CHUNK, size)
            try:
                rows = self.store.read_entries(start, end)
            except LedgerError as exc:
                raise AuditFailure(f"entries {start}..{end - 1}", str(exc)) from None
            for offset, (leaf, stored_hash) in enumerate(rows):
                self.entry(start + offset, leaf, stored_hash)
            if progress:
                progress(end, size)

    def checkpoints_at(self, size: int) -> None:
        while self.next_cp is not None and self.next_cp[0] == size:
            cp = opened_checkpoint(size, self.next_cp[1], origin=self.origin, verifier=self.verifier)
            if cp.root != self.compact.root():
                raise AuditFailure(
                    f"checkpoint {size}", f"root {cp.root.hex()} differs from recomputed {self.compact.root().hex()}"
                )
            if self.map is not None:
                try:
                    self.map.checkpoint(cp)
                except MapProofError as exc:
                    raise AuditFailure(f"checkpoint {size}", f"its map line: {exc}") from None
            self.seen_cps += 1
            self.next_cp = next(self.pending, None)

    def entry(self, i: int, leaf: bytes, stored_hash: bytes) -> None:
        where = f"entry {i}"
        if self.derived is None:
            lh = check_leaf_hash(i, leaf, stored_hash)
        else:
            lh = leaf_hash(leaf)
            if lh != stored_hash:
                self.derived.leaf_hashes[i] = lh
        try:
            e = Entry.from_leaf(leaf)
        except LedgerError as exc:
            raise AuditFailure(where, f"not a valid entry: {exc}") from None
        if e.index != i:
            raise AuditFailure(where, f"envelope says index {e.index}")
        if e.prev != self.prev:
            raise AuditFailure(where, f"chain broken: prev {e.prev.hex()}, previous leaf hash {self.prev.hex()}")
        try:
            fold_entry(i, e.statement, self.keys, apply=policy_step(self.policy, e, self.states))
        except LedgerError as exc:
            raise AuditFailure(where, f"statement not acceptable: {exc}") from None
        self.prev = lh
        if i < self.published:
            if self.map is not None:
                self.map.entry(leaf)
            self.tiles.push(0, lh)
            self.compact.push(lh)
            self.checkpoints_at(i + 1)


def audit(
    store: LedgerStore,
    *,
    origin: str,
    verifier: Verifier,
    policy: StatementPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
    derived: DerivedDamage | None = None,
    pinned_cosigners: Mapping[str, bytes] | None = None,
    status_map: StatusMapHook | None = None,
) -> AuditReport:
    """Raise AuditFailure at the first discrepancy; return counts when everything checks.

    `pinned_cosigners` (name -> Ed25519 public key, e.g. the parent platform's) are the keys a
    cosignature by that name must verify under; every other cosignature row must verify under the
    key it names.

    With `status_map` (the ledger's hook), the status map is rebuilt from the leaves alone: each signed
    map root must be the rebuilt map's, and every stored map node and value row the rebuilt one.

    With `derived`, damage to rows recomputable from the leaves (tiles, stored leaf hashes, the head's
    last hash) is collected there instead of raised: everything else, the leaves included (their chain,
    signatures and the root of every signed checkpoint), must still check (`regledger repair`).
    """
    head = store.head()
    latest = store.latest_checkpoint()  # IntegrityError if the latest is not stored
    published = latest[0] if latest else 0
    checkpoints = list(store.iter_checkpoints())
    _check_chain(store.checkpoint_chain(), published)
    walk = _EntryWalk(
        store,
        checkpoints,
        published,
        origin=origin,
        verifier=verifier,
        policy=policy,
        derived=derived,
        status_map=status_map,
    )
    walk.run(head.size, progress)
    if derived is not None and published < head.size:
        _check_last_leaf_pinned(head, walk.prev, derived)
    if head.last_hash != walk.prev:
        if derived is None:
            raise AuditFailure("sequence head", "last hash does not match the last entry")
        derived.head_hash = walk.prev
    if published > head.size:
        raise AuditFailure(f"checkpoint {published}", f"published beyond the {head.size} sequenced entries")
    if walk.next_cp is not None:
        raise AuditFailure(f"checkpoint {walk.next_cp[0]}", "no checkpoint of this size can exist here")
    walk.tiles.finish()
    stored_tiles = _check_stored_tiles(store, published, derived)
    _check_keys(store, walk.keys)
    _check_states(store, walk.states.snapshot())
    cosignatures = _check_cosignatures(store, dict(checkpoints), origin, verifier, pinned_cosigners or {})
    map_rows = 0
    if walk.map is not None:
        map_rows = compare_map_rows(store.iter_map_nodes(), walk.map.rows.iter_map_nodes(), "map node")
        map_rows += compare_map_rows(store.iter_map_values(), walk.map.rows.iter_map_values(), "map value")
    return AuditReport(
        head.size, stored_tiles, walk.seen_cps, len(walk.keys), published, walk.compact.root(), cosignatures, map_rows
    )


def _check_stored_tiles(store: LedgerStore, published: int, derived: DerivedDamage | None) -> int:
    """Every stored tile is one a tree of the published size has, of its width; returns how many are stored."""
    expected_tiles = {(t.level, t.n): t.width for t in tiles_for_size(published)}
    stored_tiles = 0
    for level, n, data in store.iter_tiles():
        stored_tiles += 1
        width = expected_tiles.get((level, n))
        if derived is not None and width is None:
            derived.tiles[(level, n)] = None
        elif derived is not None and (level, n) in derived.tiles:
            continue  # rebuilt by repair
        elif width is None or len(data) != width * HASH_SIZE:
            raise AuditFailure(
                f"tile {Tile(level, n, max(1, min(TILE_WIDTH, len(data) // HASH_SIZE))).path()}",
                f"stored {len(data)} bytes, but a tree of size {published} has "
                f"{'no such tile' if width is None else f'{width} hashes there'}",
            )
    if stored_tiles != len(expected_tiles) and derived is None:
        raise AuditFailure("tiles", f"{stored_tiles} stored, {len(expected_tiles)} expected")
    return stored_tiles


def _check_keys(store: LedgerStore, keys: Mapping[str, KeyRecord]) -> None:
    stored_keys = {k.key_id: k for k in store.all_keys()}
    for key_id in sorted(set(stored_keys) | set(keys)):
        if stored_keys.get(key_id) != keys.get(key_id):
            raise AuditFailure(f"key {key_id}", "the key table does not match the ledger's key entries")


def _check_states(store: LedgerStore, expected_states: Mapping[str, SubjectState]) -> None:
    stored_count = 0
    for st in store.iter_states():
        stored_count += 1
        if expected_states.get(st.subject) != st:
            raise AuditFailure(
                f"state {st.subject}",
                "the state cache differs from the fold of the entries (run `regledger reindex` to rebuild it)",
            )
    if stored_count != len(expected_states):
        missing = sorted(set(expected_states) - {st.subject for st in store.iter_states()})
        raise AuditFailure(f"state {missing[0] if missing else '?'}", "missing from the state cache")


def _check_last_leaf_pinned(head: SequenceHead, recomputed: Hash, derived: DerivedDamage) -> None:
    """Before repair rewrites a leaf hash past the last signed checkpoint: the leaf is the one sequenced.

    Up to the last signed checkpoint its root pins the leaves; after it, each leaf is pinned by the
    next one's `prev` (the chain check), so the whole tail is pinned once the last leaf is.  Nothing
    signed pins that one: its hash is recorded twice, as its stored leaf hash and as the sequence
    head's last hash.  If SHA-256(0x00 || leaf) is neither, the leaf changed after it was sequenced
    (its receipt names the old hash), and rebuilding either record from it would forge evidence.
    """
    last = head.size - 1
    if last in derived.leaf_hashes and head.last_hash != recomputed:
        raise AuditFailure(
            f"entry {last}",
            "the leaf hashes to neither its stored leaf hash nor the sequence "
            "head's last hash: it changed after it was sequenced, and no signed checkpoint "
            "pins it (not repairable: restore the entry from a backup)",
            index=last,
        )


def _check_chain(chain: list[tuple[int, int | None]], published: int) -> None:
    """Each stored checkpoint names the one it replaced: that one must be stored too (none deleted)."""
    sizes = {size for size, _ in chain}
    for size, prev in chain:
        if prev is not None and prev not in sizes:
            raise AuditFailure(f"checkpoint {prev}", f"missing: checkpoint {size} was published after it")
        if prev is None and size != chain[0][0]:
            raise AuditFailure(f"checkpoint {size}", "does not name the checkpoint it replaced")
    if chain and chain[-1][0] != published:
        raise AuditFailure(f"checkpoint {chain[-1][0]}", f"stored, but the published size is {published}")


def _check_cosignatures(
    store: LedgerStore, notes: Mapping[int, bytes], origin: str, verifier: Verifier, pinned: Mapping[str, bytes]
) -> int:
    """Each stored cosignature on this log's checkpoints verifies over the stored checkpoint."""
    count = 0
    for size, vkey, line in store.iter_cosignatures(origin):
        where = f"cosignature {size} by {vkey.split('+', 1)[0]}"
        if size not in notes:
            raise AuditFailure(where, f"on checkpoint {size}, which is not stored")
        try:
            cosigner = parse_cosigner_vkey(vkey)
            if cosigner.name in pinned and cosigner.public != pinned[cosigner.name]:
                raise UnknownKeyError(f"{cosigner.name}'s key is not the pinned one")
            verify_cosigned(add_cosignatures(notes[size], [line]), verifier, [cosigner])
        except LedgerError as exc:
            raise AuditFailure(where, f"does not verify: {exc}") from None
        count += 1
    return count


def repair(
    store: LedgerStore,
    *,
    origin: str,
    verifier: Verifier,
    policy: StatementPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[DerivedDamage, AuditReport]:
    """Rebuild tiles, stored leaf hashes and the head's last hash from the leaves, then audit again.

    Refuses (raises AuditFailure, writes nothing) unless everything else checks: the leaves chain,
    their signatures verify and they reproduce the root of every signed checkpoint, and the last
    leaf, which no checkpoint pins yet, still hashes to its stored leaf hash or to the head's last
    hash; so what is rewritten is exactly what the log signed or sequenced.  Run it with the server
    stopped.
    """
    damage = DerivedDamage()
    audit(store, origin=origin, verifier=verifier, policy=policy, progress=progress, derived=damage)
    if damage:
        store.rewrite_derived(damage.tiles, damage.leaf_hashes, damage.head_hash)
    return damage, audit(store, origin=origin, verifier=verifier, policy=policy)
