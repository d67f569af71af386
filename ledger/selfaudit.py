"""The running server's own audit: what the log signed, re-verified against what it stores.

Each round (`SelfAudit.run_once`, every `interval` seconds in a thread while `regledger serve` runs):

1. **The newest range.** Every checkpoint published since the last round is stored (the chain of
   stored checkpoints has no gap), opens under the log key and says its size; the tree is grown
   from the last verified checkpoint (its root recomputed from the stored tiles) with the leaf
   hashes recomputed from the stored leaves, and each new
   checkpoint's root and the range's stored tiles must be what that growth gives.  The first
   round starts from the latest checkpoint, recomputed from its tiles.
2. **A steady random sample of older data**, against the latest signed checkpoint:
   - `entries` entries: the leaf's hash is the stored one and the level-0 tile's, and an inclusion
     proof built from the stored tiles leads to the signed root;
   - `tiles` level-0 tiles: every hash is its leaf's, and walking up, each full tile hashes to the hash
     the tile above keeps for it, up to the right edge that step 1 checked;
   - `checkpoints` stored checkpoints: signature, size, and root recomputed from the stored tiles;
   - with a status map (ledger.statusmap), each sampled entry's map keys: a status proof from the stored
     map verifies against the latest signed map root and holds the entry (its index, or the alias it set).
   In step 1, each new checkpoint's map root is recomputed from the previous one's stored map and the
   range's leaves, as the integrator computed it.

A discrepancy counts in `ledger.audit_failures` and halts the ledger (`Ledger.halt`: nothing more
is signed, appends are refused, /readyz answers 503).  The cost of a round is O(new leaves)
hashing plus O(samples x log n) reads (docs/performance.md).  Cosignature rows and the state cache
are left to `regledger audit`.
"""

from __future__ import annotations

import logging
import random
import threading

from .checkpoint import Checkpoint
from .errors import IntegrityError, LedgerError, MapProofError, NotFoundError
from .hashes import HASH_SIZE, Hash
from .integrity import (
    check_tile,
    checked_leaf_hashes,
    opened_checkpoint,
    proved_leaf_hash,
    read_stored_tiles,
    tile_at,
    verified_growth,
    verified_tree,
)
from .sequencer import Ledger
from .statusmap import grow_map, map_updates
from .tiles import TILE_WIDTH, CachingTileReader, TileHashReader, TileReader, full_tile_root
from .vmap import map_root_of

__all__ = ["SelfAudit"]

log = logging.getLogger("regledger.selfaudit")


class SelfAudit(threading.Thread):
    """`start()` runs a round at once, then one every `interval` seconds until `stop()`."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        interval: float = 5.0,
        entries: int = 8,
        tiles: int = 1,
        checkpoints: int = 2,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name="regledger-selfaudit", daemon=True)
        self.ledger = ledger
        self.store = ledger.store
        self.interval = interval
        self.entries = entries
        self.tiles = tiles
        self.checkpoints = checkpoints
        self.rng = rng or random.SystemRandom()
        self.verified: tuple[int, Hash] | None = None  # the last checkpoint re-verified: (size, root)
        self.sizes: list[int] = []  # stored checkpoint sizes, to sample from
        self.rounds = 0
        self._stopping = threading.Event()

    def run_once(self) -> None:
        """One round; a discrepancy halts the ledger (and ends the self-audit: nothing more is signed)."""
        if self.ledger.halted is not None:
            return
        try:
            self._round()
        except IntegrityError as exc:
            self.ledger.audit_failures += 1
            self.ledger.halt(exc)
        self.rounds += 1

    def _round(self) -> None:
        latest = self.store.latest_checkpoint()
        if latest is None:
            return
        size, note = latest
        cp = opened_checkpoint(size, note, origin=self.ledger.origin, verifier=self.ledger.verifier())
        if self.verified is None:
            self.sizes = [s for s, _ in self.store.checkpoint_chain()]
            reader = verified_tree(self.store, size, cp.root)
        elif self.verified[0] > size:
            raise IntegrityError(
                f"checkpoint {size}",
                f"published as the latest after checkpoint {self.verified[0]} was: the published size went backwards",
            )
        else:
            reader = TileHashReader(size, CachingTileReader(self.store, 64))  # the round's one tile cache
            if self.verified[0] < size:
                self._verify_range(*self.verified, cp, reader.tiles)
        self.verified = (size, cp.root)
        if size:
            for _ in range(self.entries):
                self._sample_entry(self.rng.randrange(size), size, cp.root, reader)
            for _ in range(self.tiles):
                self._sample_tile(self.rng.randrange((size + TILE_WIDTH - 1) // TILE_WIDTH), size, reader.tiles)
        for _ in range(self.checkpoints if self.sizes else 0):
            self._sample_checkpoint(self.rng.choice(self.sizes))

    # -- 1. the newest range --------------------------------------------------------------------------

    def _verify_range(self, old: int, old_root: Hash, latest: Checkpoint, tiles: TileReader) -> None:
        """From the verified checkpoint `old` up to `latest` (already opened), through every checkpoint
        published between them; the range's tiles are read through the round's cache `tiles`."""
        growth = verified_growth(self.store, old, old_root)
        map_base = self._map_root(self._opened_checkpoint(old)) if self.ledger.status_map is not None else None
        for size, prev in self.store.checkpoint_chain(after=old):
            if size > latest.size:
                break
            if prev != growth.size:
                raise IntegrityError(f"checkpoint {prev}", f"missing: checkpoint {size} was published after it")
            cp = latest if size == latest.size else self._opened_checkpoint(size)
            growth.grow_to(self.store, size)
            if growth.root() != cp.root:
                raise IntegrityError(
                    f"checkpoint {size}",
                    f"its root {cp.root.hex()} is not the root of the stored leaves {growth.root().hex()}",
                )
            if self.ledger.status_map is not None:
                map_base = self._check_map_growth(prev, map_base, cp)
            self.sizes.append(size)
        expected = growth.tiles()
        for tile, data in zip(expected, read_stored_tiles(tiles, list(expected)), strict=True):
            check_tile(tile, data, expected[tile])

    # -- 2. samples of older data ---------------------------------------------------------------------

    def _sample_entry(self, index: int, size: int, root: Hash, reader: TileHashReader) -> None:
        proved_leaf_hash(self.store, index, size, root, reader)
        if self.ledger.status_map is not None:
            self._sample_map(index, size)

    def _map_root(self, cp: Checkpoint) -> Hash | None:
        try:
            return map_root_of(cp)
        except MapProofError as exc:
            raise IntegrityError(f"checkpoint {cp.size}", f"its map line: {exc}") from None

    def _check_map_growth(self, prev: int, prev_root: Hash | None, cp: Checkpoint) -> Hash | None:
        """The map root `cp` signs, once recomputed from checkpoint `prev`'s stored map and the leaves between."""
        signed = self._map_root(cp)
        if signed is None or prev_root is None:
            return signed  # no map here, or the first one (built over the whole log): `regledger audit` checks it
        assert self.ledger.status_map is not None
        root, _ = grow_map(
            self.store,
            self.store.read_entries,
            self.ledger.status_map,
            base_size=prev,
            base_root=prev_root,
            size=cp.size,
        )
        if root != signed:
            raise IntegrityError(
                f"checkpoint {cp.size}", f"map root {signed.hex()} is not the map grown from checkpoint {prev}"
            )
        return signed

    def _sample_map(self, index: int, size: int) -> None:
        """Entry `index`'s map keys, as the latest checkpoint's map proves them, hold what the entry did."""
        assert self.ledger.status_map is not None
        try:
            if map_root_of(self._opened_checkpoint(size)) is None:
                return
        except MapProofError:
            return  # step 1 names it
        leaf = self.store.read_entries(index, index + 1)[0][0]  # its hash was proved just before
        for u in map_updates(self.ledger.status_map, [leaf]):
            try:
                value = self.ledger.status_proof(u.key, size)["value"]
            except NotFoundError:
                return
            held = value is not None and (u.append in value.get("indexes", []) if u.value is None else True)
            if not held:
                raise IntegrityError(f"map value {u.key}", f"the signed map at {size} does not hold entry {index}")

    def _sample_tile(self, n: int, size: int, tiles: TileReader) -> None:
        """Level-0 tile n against its leaves, then up through the full tiles to the right edge."""
        tile = tile_at(0, n, size)
        data = read_stored_tiles(tiles, [tile])[0][: tile.width * HASH_SIZE]
        start = n * TILE_WIDTH
        check_tile(tile, data, b"".join(checked_leaf_hashes(self.store, start, start + tile.width)))
        while tile.full:
            up = tile_at(tile.level + 1, tile.n // TILE_WIDTH, size)
            up_data = read_stored_tiles(tiles, [up])[0][: up.width * HASH_SIZE]
            check_tile(up, up_data, full_tile_root(data), first=tile.n % TILE_WIDTH)
            tile, data = up, up_data

    def _sample_checkpoint(self, size: int) -> None:
        verified_tree(self.store, size, self._opened_checkpoint(size).root)

    # -- reads: a row that should be there and is not is damage too ----------------------------------

    def _opened_checkpoint(self, size: int) -> Checkpoint:
        """The stored checkpoint of `size` (stored before: deleted is damage), once it opens and says its size."""
        try:
            note = self.store.checkpoint(size)
        except NotFoundError:
            raise IntegrityError(f"checkpoint {size}", "deleted: it was stored before") from None
        return opened_checkpoint(size, note, origin=self.ledger.origin, verifier=self.ledger.verifier())

    # -- the thread -----------------------------------------------------------------------------------

    def run(self) -> None:
        while True:  # the first round at once: it checks the tree the server starts from
            try:
                self.run_once()
            except LedgerError as exc:  # the database is busy or away: try again next round
                log.warning("self-audit round skipped: %s", exc, extra={"event": "selfaudit"})
            except Exception:  # keep serving; the next round tries again
                log.exception("self-audit round failed", extra={"event": "selfaudit"})
            if self._stopping.wait(self.interval):
                return

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join()
