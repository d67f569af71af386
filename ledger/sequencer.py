"""The log: sequence verified statements, integrate them into the tree, publish checkpoints.

Order of work (durability first, sunlight-style):
1. `append` verifies each statement's signature outside the lock, then under the store's
   writer lock checks each key is valid at the index it gets, chains and stores the entries.
2. `integrate` first checks the stored data it builds on (ledger.integrity): the sequence head
   is not behind the published size, the last signed checkpoint verifies and its root is
   recomputed from the stored tiles, and each new leaf's stored hash is SHA-256(0x00 || leaf),
   its `index` its place and its `prev` the hash of the leaf before.  Then it computes the new
   tiles and root, signs a checkpoint and publishes tiles + checkpoint in one compare-and-swap.
   A checkpoint is visible only once everything it covers is committed; a lost race stores
   nothing and is retried.
3. A failed check (IntegrityError) halts the ledger: it signs nothing more and refuses appends
   until the process is restarted after repair; `health` reports it, so /readyz answers 503.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from .background import BackgroundLoop
from .checkpoint import Checkpoint, Receipt, check_origin, open_checkpoint, sign_checkpoint, sign_receipt
from .entry import GENESIS_PREV, Entry, Statement, StatementSigner, utc_now
from .errors import ConflictError, IntegrityError, InvalidSignatureError, LedgerError, MapProofError, NotFoundError
from .fold import fold_entry, signature_holds, unknown_key_at
from .hashes import Hash
from .health import Health
from .integrity import TreeGrowth, opened_checkpoint, verified_growth
from .keyring import registered_public_key
from .merkle import prove_consistency, prove_inclusion, stored_hash_index, tree_hash
from .note import Signer, Verifier
from .policy import StateMap, StatementPolicy
from .statusmap import NodeCache, ProofNodeCache, StatusMapHook, entry_updates, grow_map
from .store import KeyRecord, KeyView, LedgerStore, SequencedBatch, SequenceHead
from .tiles import CachingTileReader, SubtreeCache, TileHashReader
from .vmap import MapUpdate, key_hash, map_line, map_root_of, prove, status_proof_document, verify_map_proof

__all__ = ["Appended", "BatchIntegrator", "Ledger"]

log = logging.getLogger("regledger.ledger")
integrator_log = logging.getLogger("regledger.integrator")


@dataclass(frozen=True)
class Appended:
    entry: Entry
    receipt: bytes | None  # signed note, see ledger.checkpoint.Receipt


class LogSigner(Signer, StatementSigner, Protocol):
    """The log's own key: signs notes (checkpoints, receipts) and, as a platform key, statements (sync.*)."""

    @property
    def public(self) -> bytes: ...


def _log_verifier(origin: str, log_signer: LogSigner) -> Verifier:
    from regledger.keys.ed25519 import Ed25519Verifier

    return Ed25519Verifier(origin, log_signer.public)


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        *,
        origin: str,
        log_signer: LogSigner,
        clock: Callable[[], str] = utc_now,
        policy: StatementPolicy | None = None,
        status_map: StatusMapHook | None = None,
    ) -> None:
        check_origin(origin)
        if log_signer.name != origin:
            raise ValueError(f"the log key must be named after the origin {origin!r}")
        self.store = store
        self.origin = origin
        self.log_signer = log_signer
        self._verifier = _log_verifier(origin, log_signer)
        self.clock = clock
        self.policy = policy
        self.status_map = status_map  # which map keys an entry touches (ledger.statusmap); None: no map
        self._map_nodes = NodeCache(store)  # the integrator's, for the map's upper levels
        self._proof_nodes = ProofNodeCache(store)  # status proofs', for the upper levels of one version
        self.tiles = CachingTileReader(store)
        self.subtrees = SubtreeCache()
        self._integrate_lock = threading.Lock()
        self._checkpointed: set[int] = set()
        self.health = Health()  # read by /readyz; see ledger.health
        self.halted: IntegrityError | None = None  # set by halt(); cleared only by a restart
        self.integration_refusals = 0  # integrations refused by the check before signing
        self.audit_failures = 0  # discrepancies found by the background self-audit (ledger.selfaudit)

    # -- integrity ----------------------------------------------------------------------

    def halt(self, exc: IntegrityError) -> None:
        """Sign nothing more and refuse appends until restarted after repair; /readyz answers 503."""
        if self.halted is None:
            self.halted = exc
        if self.health.report("integrity", "error", str(exc)):
            log.error(
                "integrity: %s; signing stopped until restart after `regledger audit` and `regledger repair`",
                exc,
                extra={"event": "integrity", "path": exc.where},
            )

    def _refuse_if_halted(self) -> None:
        h = self.halted
        if h is not None:
            raise IntegrityError(
                h.where,
                f"{h.what} (the ledger stopped signing and writing; restart it after "
                "`regledger audit` and `regledger repair`)",
                level=h.level,
                tile=h.tile,
                index=h.index,
            )

    # -- sequencing ---------------------------------------------------------------------

    def append(self, statement: Statement) -> Appended:
        return self.append_batch([statement])[0]

    def append_batch(
        self, statements: Sequence[Statement], *, receipts: bool = True, executor: Executor | None = None
    ) -> list[Appended]:
        """Sequence statements in order, all or none; raises on the first one refused."""
        if not statements:
            return []
        self._refuse_if_halted()
        verified = self._preverify(statements, executor)

        def build(head: SequenceHead, view: KeyView) -> SequencedBatch:
            return self._build(head, view, statements, verified)

        batch = self.store.sequence(build)
        return [Appended(e, self._receipt(e) if receipts else None) for e in batch.entries]

    def appended(self, index: int) -> Appended:
        """Entry `index` as `append` answered it: Ed25519 is deterministic, so the receipt has the same bytes.

        Refused once halted, as appends are: the receipt is signed with the log key, and a halted
        ledger signs nothing over data that failed its integrity check."""
        self._refuse_if_halted()
        e = self.entry(index)
        return Appended(e, self._receipt(e))

    def _receipt(self, e: Entry) -> bytes:
        return sign_receipt(Receipt(self.origin, e.index, e.leaf_hash, e.time), self.log_signer)

    def _preverify(self, statements: Sequence[Statement], executor: Executor | None) -> list[bytes | None]:
        """Check signatures before taking the lock; returns the public key each one verified with."""
        registered = {st.subject: st for st in statements if st.kind == "key.register"}
        known = self.store.get_keys({st.key for st in statements})
        pubs: list[bytes | None] = []
        for st in statements:
            rec = known.get(st.key)
            if rec is not None:
                pubs.append(rec.public_key)
            elif st.key in registered:
                pubs.append(registered_public_key(registered[st.key]))
            else:
                pubs.append(None)  # maybe registered concurrently; checked under the lock
        jobs = [(p, st.signed_message(), st.sig) for p, st in zip(pubs, statements, strict=True) if p is not None]
        results = (
            list(executor.map(signature_holds, jobs, chunksize=64)) if executor else list(map(signature_holds, jobs))
        )
        it = iter(results)
        out: list[bytes | None] = []
        for i, p in enumerate(pubs):
            if p is None:
                out.append(None)
            elif next(it):
                out.append(p)
            else:
                raise InvalidSignatureError(f"statement {i}: signature by key {statements[i].key} does not verify")
        return out

    def check_unsigned(self, statements: Sequence[Statement]) -> None:
        """Raise what appending `statements` now would raise, their signatures aside; writes nothing.

        For drafts: a client learns whether a statement would be taken before it signs it (a later
        append can still be refused, if another entry changes the state first)."""
        self._refuse_if_halted()
        self._build(self.store.head(), self.store, statements, [None] * len(statements), signed=False)

    def _build(
        self,
        head: SequenceHead,
        view: KeyView,
        statements: Sequence[Statement],
        verified: list[bytes | None],
        *,
        signed: bool = True,
    ) -> SequencedBatch:
        wanted = {st.key for st in statements} | {st.subject for st in statements if st.kind.startswith("key.")}
        keys: dict[str, KeyRecord] = view.get_keys(wanted)
        states = StateMap(view.get_states)
        batch = SequencedBatch([])
        index, prev = head.size, head.last_hash
        for i, st in enumerate(statements):
            position = i if len(statements) > 1 else None
            folded = fold_entry(
                index,
                st,
                keys,
                apply=partial(self._entry, index, prev, st, states, position),
                verified_with=verified[i],
                verify=signed,
                refused=unknown_key_at(f"statement {i}"),
            )
            if folded.change is not None:
                if folded.change[0] == "register":
                    batch.new_keys.append(keys[st.subject])
                else:
                    batch.revocations.append((st.subject, index))
            assert folded.applied is not None
            batch.entries.append(folded.applied)
            index, prev = index + 1, folded.applied.leaf_hash
        batch.states = states.changed
        return batch

    def _entry(
        self, index: int, prev: bytes, st: Statement, states: StateMap, position: int | None, signer: KeyRecord
    ) -> Entry:
        """The entry `st` becomes, once the policy accepts it (the fold's policy step); in a batch, a
        refusal names the statement's `position`."""
        e = Entry.build(index, prev, self.clock(), st)
        if self.policy is None:
            return e
        states.prefetch(self.policy.subjects(e))
        try:
            self.policy.apply(e, signer, states)  # before the key change, so a replayed request is refused as a replay
        except LedgerError as exc:
            if position is not None:
                exc.args = (f"statement {position}: {exc.args[0]}", *exc.args[1:])
            raise
        return e

    # -- integration --------------------------------------------------------------------

    def integrate(self, max_entries: int | None = None) -> int:
        """Integrate sequenced entries into the tree and publish a checkpoint; returns its size."""
        with self._integrate_lock:
            self._refuse_if_halted()
            for _ in range(20):
                try:
                    return self._integrate_once(max_entries)
                except ConflictError:
                    time.sleep(0.01)  # another process published; start again from its checkpoint
                except IntegrityError as exc:
                    self.integration_refusals += 1
                    self.halt(exc)
                    raise
            raise ConflictError("could not publish a checkpoint after 20 tries")

    def _integrate_once(self, max_entries: int | None) -> int:
        latest = self.store.latest_checkpoint()
        old = latest[0] if latest else 0
        sequenced = self.store.head().size
        if sequenced < old:
            raise IntegrityError("sequence head", f"size {sequenced} is behind the published checkpoint of size {old}")
        new = sequenced if max_entries is None else min(sequenced, old + max_entries)
        if latest is not None and new == old:
            return old
        base, growth = self._verified_base(latest)
        updates: list[MapUpdate] = []
        hook = self.status_map
        growth.grow_to(self.store, new, None if hook is None else lambda e: updates.extend(entry_updates(hook, e)))
        if growth.size != new:  # never sign a root under another size than the tree it is the root of
            raise IntegrityError(f"checkpoint {new}", f"the tree grown from {old} has {growth.size} leaves")
        extensions: tuple[str, ...] = ()
        map_rows = None
        if self.status_map is not None:
            map_root, map_rows = grow_map(
                self.store,
                self.store.read_entries,
                self.status_map,
                base_size=None if base is None else old,
                base_root=None if base is None else self._map_root(base, old),
                size=new,
                updates=updates,
                nodes=self._map_nodes,
            )
            extensions = (map_line(map_root),)
        note = sign_checkpoint(Checkpoint(self.origin, new, growth.root(), extensions), self.log_signer)
        try:
            self.store.publish(old if latest else None, growth.tiles(), new, note, map_rows)
        except BaseException:
            self._map_nodes.clear()
            raise
        if map_rows is not None:
            self._map_nodes.published(old, new, map_rows.nodes)
        return new

    @staticmethod
    def _map_root(cp: Checkpoint, size: int) -> Hash | None:
        try:
            return map_root_of(cp)
        except MapProofError as exc:
            raise IntegrityError(f"checkpoint {size}", f"its map line: {exc}") from None

    def _verified_base(self, latest: tuple[int, bytes] | None) -> tuple[Checkpoint | None, TreeGrowth]:
        """The last signed checkpoint and the stored tree the next one extends, once it reproduces its root."""
        if latest is None:
            return None, TreeGrowth(0, TileHashReader(0, self.tiles, self.subtrees), GENESIS_PREV)
        size, note = latest
        cp = opened_checkpoint(size, note, origin=self.origin, verifier=self.verifier())
        return cp, verified_growth(self.store, size, cp.root)

    # -- reading ------------------------------------------------------------------------

    def checkpoint(self) -> tuple[int, bytes]:
        latest = self.store.latest_checkpoint()
        if latest is None:
            raise NotFoundError("no checkpoint has been published yet")
        return latest

    def checkpoint_at(self, size: int) -> bytes:
        return self.store.checkpoint(size)

    def _require_checkpoint(self, size: int) -> None:
        """Proofs are served only for sizes the log signed; those never go away, so remember them."""
        if size in self._checkpointed:
            return
        self.store.checkpoint(size)  # raises NotFoundError unless a checkpoint of this size exists
        if len(self._checkpointed) > 100_000:
            self._checkpointed.clear()
        self._checkpointed.add(size)

    def holds_checkpoint(self, size: int) -> bool:
        """True if this ledger's store holds the checkpoint of `size` (remembered once seen); False if not, or
        if the store cannot be read now (a replica that lags or is down: read the primary instead)."""
        try:
            self._require_checkpoint(size)
        except LedgerError:
            return False
        return True

    def tree_hash(self, size: int) -> Hash:
        self._require_checkpoint(size)
        return tree_hash(size, TileHashReader(size, self.tiles, self.subtrees))

    def inclusion_proof(self, index: int, size: int) -> list[Hash]:
        """RFC 9162 inclusion proof of entry `index` in the checkpointed tree of `size`."""
        self._require_checkpoint(size)
        if not 0 <= index < size:
            raise NotFoundError(f"entry {index} is not in the tree of size {size}")
        return prove_inclusion(size, index, TileHashReader(size, self.tiles, self.subtrees))

    def leaf_hash_at(self, index: int, size: int) -> Hash:
        """The leaf hash of entry `index` as the checkpointed tree of `size` holds it (read from its tiles,
        which the proof just read: no entry row is needed)."""
        self._require_checkpoint(size)
        if not 0 <= index < size:
            raise NotFoundError(f"entry {index} is not in the tree of size {size}")
        return TileHashReader(size, self.tiles, self.subtrees).read_hashes([stored_hash_index(0, index)])[0]

    def consistency_proof(self, first: int, second: int) -> list[Hash]:
        self._require_checkpoint(first)
        self._require_checkpoint(second)
        if first > second:
            raise NotFoundError(f"size {first} is after size {second}")
        return prove_consistency(first, second, TileHashReader(second, self.tiles, self.subtrees))

    def status_proof(self, key: str, size: int | None = None) -> dict[str, Any]:
        """The status-proof document (ledger.vmap) of map key `key` at the checkpoint of `size` (None: the
        latest): its value, or its absence, proved against the map root that checkpoint signs.

        NotFoundError if there is no checkpoint of that size or it carries no map root.  The proof is
        checked before it is served: a damaged stored node is an IntegrityError naming it."""
        if size is None:
            size, note = self.checkpoint()
        else:
            note = self.store.checkpoint(size)
        cp = opened_checkpoint(size, note, origin=self.origin, verifier=self.verifier())
        root = self._map_root(cp, size)
        if root is None:
            raise NotFoundError(f"checkpoint {size} carries no status-map root (it was signed before the map)")
        siblings, leaf = prove(self._proof_nodes, key, size)
        raw = self.store.read_map_values([key], size).get(key)
        value = None if leaf is None or leaf[0] != key_hash(key) or raw is None else json.loads(raw)
        try:
            verify_map_proof(root, key, value, siblings, leaf)
        except MapProofError as exc:
            raise IntegrityError(f"status map at {size}", f"the stored map does not prove {key!r}: {exc}") from None
        return status_proof_document(self.origin, note, key, value, siblings, leaf)

    def entries(self, start: int, end: int) -> list[bytes]:
        return [leaf for leaf, _ in self.store.read_entries(start, end)]

    def iter_leaves(self, *, chunk: int = 2000, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
        """Every sequenced leaf in index order, read a chunk at a time (for replay and reindex)."""
        size = self.store.head().size
        for start in range(0, size, chunk):
            end = min(size, start + chunk)
            yield from self.entries(start, end)
            if progress:
                progress(end, size)

    def entry(self, index: int) -> Entry:
        return Entry.from_leaf(self.entries(index, index + 1)[0])

    def verifier(self) -> Verifier:
        return self._verifier

    def open_checkpoint(self, note: bytes) -> Checkpoint:
        return open_checkpoint(note, self.origin, self.verifier())[0]


class BatchIntegrator:
    """Integrates in the background: when `batch_size` entries wait, or the oldest has waited `delay`.

    Runs on a BackgroundLoop: a failure (the database full or gone) is logged once, counted, and
    reported as the "integrator" condition of `ledger.health` until an integration succeeds.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 256,
        delay: float = 0.5,
        poll: float = 0.02,
        on_integrated: Callable[[], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.on_integrated = on_integrated  # e.g. wake the publisher (ledger.publish.PublishWorker)
        self.batch_size = batch_size
        self.delay = delay
        self.integrations = 0
        self._since: float | None = None
        # retries back off to 5 s at most: a checkpoint is at most that late once the database is back
        self.loop = BackgroundLoop(
            "regledger-integrator",
            self._step,
            interval=poll,
            health=ledger.health,
            component="integrator",
            logger=integrator_log,
            max_backoff=5.0,
        )

    def run_once(self, pending_since: float | None) -> float | None:
        if self.ledger.halted is not None:
            return None  # nothing may be signed until a restart after repair (Ledger.halt)
        latest = self.ledger.store.latest_checkpoint()
        pending = self.ledger.store.head().size - (latest[0] if latest else 0)
        now = time.monotonic()
        if pending <= 0:
            return None
        since = pending_since if pending_since is not None else now
        if pending >= self.batch_size or now - since >= self.delay:
            self.ledger.integrate(self.batch_size)
            self.integrations += 1
            if self.on_integrated is not None:
                self.on_integrated()
            return None if pending <= self.batch_size else now
        return since

    def _step(self) -> None:
        self._since = self.run_once(self._since)

    def start(self) -> BatchIntegrator:
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop(timeout=None)
        if self.ledger.halted is not None:
            return  # the ledger halted and logged why: there is nothing to sign
        try:
            self.ledger.integrate()  # nothing sequenced is left out of the final checkpoint
        except LedgerError as exc:  # the database is gone: the next start integrates what is left
            integrator_log.warning(
                "could not integrate on stopping: %s", exc, exc_info=exc, extra={"event": "integrator.stop"}
            )
