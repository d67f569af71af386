"""Pull a child's log into this instance's ledger, verifying everything before anything is stored.

1. The child's checkpoint: signature by the pinned key, then parse (open_checkpoint).
2. Same size as last time: same root or it is a fork.  Larger: a consistency proof from the last
   accepted checkpoint, computed from the child's tiles and checked against both signed roots;
   a failure is a fork (recorded with both notes as evidence, then ForkError).
3. The new entries from entry bundles: strict parse, index, chain link, signature by a key valid
   in the child's own keyring at that index; their hashes must rebuild the checkpoint's root.
4. Only then are they appended, as `sync.entries` statements, a transaction at a time; the cursor
   (a subject state) moves in the same transaction, so a crash anywhere neither loses nor repeats.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from keys.ed25519 import verify_ed25519
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.entry import Entry, sign_statement
from ledger.errors import ForkError, LedgerError, NotFoundError, RootMismatchError, SyncError, VerificationError
from ledger.hashes import EMPTY_ROOT, Hash
from ledger.keyring import apply_change, key_change, signing_key
from ledger.merkle import CompactRange, prove_consistency
from ledger.proof import verify_consistency
from ledger.sequencer import Ledger
from ledger.store import KeyRecord, StateQuery
from ledger.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle

from .fetch import Fetcher
from .policy import child_state_subject, key_from_state, mirror_subject, verifier_for

__all__ = ["PullResult", "pull_child"]

log = logging.getLogger("regledger.sync")

#: the leaves of one sync.entries statement: kept under this many bytes so the parent's leaf,
#: wrapped again by its own parent, still fits a tlog-tiles entry (65,535 bytes).
BATCH_BYTES = 56_000
STATEMENTS_PER_APPEND = 32


@dataclass
class PullResult:
    origin: str
    old_size: int
    new_size: int
    entries: int = 0
    requests: int = 0
    seconds: float = 0.0
    checkpoint: bytes = b""


def _verify_run(args: tuple[dict[str, KeyRecord], int, list[bytes]]) -> tuple[list[bytes], list[Any], str | None]:
    """Check one run of consecutive leaves; returns their hashes, the key changes they make, and the
    first refusal (returned, not raised: a run checked against keys that an earlier run in the same
    window changes is checked again, and only a refusal reached in order counts).

    Runs in worker processes: strict parse, index, chain within the run, signature by a key valid
    at that index (keys registered or revoked inside the run are applied in order).
    """
    try:
        return (*_verify_run_strict(*args), None)
    except VerificationError as exc:
        return [], [], str(exc)


def _verify_run_strict(keys: dict[str, KeyRecord], start: int, leaves: list[bytes]) -> tuple[list[bytes], list[Any]]:
    keys = dict(keys)
    hashes: list[bytes] = []
    changes: list[Any] = []
    prev: bytes | None = None
    for i, leaf in enumerate(leaves):
        try:
            e = Entry.from_leaf(leaf)
        except LedgerError as exc:
            raise VerificationError(f"entry {start + i}: {exc}") from None
        if e.index != start + i:
            raise VerificationError(f"entry {start + i}: it says index {e.index}")
        if prev is not None and e.prev != prev:
            raise VerificationError(f"entry {start + i}: does not chain to entry {start + i - 1}")
        if i == 0:
            hashes.append(e.prev)  # the caller checks the link to the run before
        st = e.statement
        try:
            signer = signing_key(e.index, st, keys)
            verify_ed25519(signer.public_key, st.signed_message(), st.sig)
        except LedgerError as exc:
            raise VerificationError(f"entry {start + i}: {exc}") from None
        change = key_change(e.index, st, signer, keys)
        if change is not None:
            apply_change(keys, e.index, change)
            changes.append((e.index, change))
        prev = e.leaf_hash
        hashes.append(prev)
    return hashes, changes


class _Spool:
    """Verified leaves wait here (a temp file) until the whole range has matched the root."""

    def __init__(self, directory: str | None = None) -> None:
        self.f = tempfile.TemporaryFile(dir=directory)
        self.lengths: list[int] = []

    def add(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.f.write(leaf)
            self.lengths.append(len(leaf))

    def __iter__(self) -> Iterator[bytes]:
        self.f.seek(0)
        for n in self.lengths:
            yield self.f.read(n)

    def close(self) -> None:
        self.f.close()


def _load_keys(ledger: Ledger, origin: str) -> dict[str, KeyRecord]:
    """The child's keyring as this instance has folded it so far (a child has few keys)."""
    prefix = mirror_subject(origin, "key:")
    out: dict[str, KeyRecord] = {}
    after = prefix
    while True:
        page = ledger.store.find_states(StateQuery(kind="key", after=after, limit=1000))
        mine = [st for st in page if st.subject.startswith(prefix)]
        out.update((r.key_id, r) for r in map(key_from_state, mine))
        if len(page) < 1000 or len(mine) < len(page):
            return out
        after = page[-1].subject


def record_fork(ledger: Ledger, origin: str, accepted: bytes, conflicting: bytes, reason: str) -> ForkError:
    """Keep both signed checkpoints in the ledger (the child is refused from now on) and say so."""
    st = sign_statement(ledger.log_signer, kind="sync.fork", subject=origin, payload={  # type: ignore[arg-type]
        "accepted": accepted.decode(), "conflicting": conflicting.decode(), "reason": reason})
    ledger.append(st)
    log.error("fork: %s: %s", origin, reason, extra={"event": "fork", "origin": origin})
    return ForkError(f"{reason}; both checkpoints are kept as evidence and the child is refused until an "
                     "operator resolves it", origin=origin, accepted=accepted, conflicting=conflicting)


def pull_child(ledger: Ledger, fetcher: Fetcher, origin: str, *, executor: Executor | None = None,
               progress: Callable[[int, int], None] | None = None, run_size: int = TILE_WIDTH,
               spool_dir: str | None = None) -> PullResult:
    """Bring `origin`'s entries up to its latest checkpoint; raises ForkError, VerificationError, SyncError."""
    t0 = time.monotonic()
    state = ledger.store.get_states([child_state_subject(origin)]).get(child_state_subject(origin))
    if state is None:
        raise NotFoundError(f"{origin} is not a child of {ledger.origin}; `regledger sync add-child` first")
    c = state.state
    if c["state"] != "ok":
        raise ForkError(f"{origin} is forked (since entry {c.get('forked_at')}); nothing is pulled from it",
                        origin=origin, accepted=c["evidence"]["accepted"].encode(),
                        conflicting=c["evidence"]["conflicting"].encode())
    verifier = verifier_for(c["vkey"])
    note = fetcher.checkpoint()
    cp: Checkpoint = open_checkpoint(note, origin, verifier)[0]
    old = c["verified_size"]
    accepted = c["checkpoint"].encode() if c["checkpoint"] else None
    old_root = open_checkpoint(accepted, origin, verifier)[0].root if accepted else EMPTY_ROOT
    result = PullResult(origin, old, old, checkpoint=note)
    if cp.size < old:
        log.warning("%s serves checkpoint %d, older than the %d accepted; nothing to do", origin, cp.size, old)
        return result
    if cp.size == old:
        if accepted is not None and cp.root != old_root:
            raise record_fork(ledger, origin, accepted, note, f"two checkpoints of size {old} with different roots")
        result.requests = getattr(fetcher, "requests", 0)
        return result
    if old > 0:
        try:
            proof = prove_consistency(old, cp.size, TileHashReader(cp.size, fetcher))
            verify_consistency(old, cp.size, old_root, cp.root, proof)
        except (VerificationError, NotFoundError) as exc:
            assert accepted is not None
            raise record_fork(ledger, origin, accepted, note,
                              f"checkpoint {cp.size} is not consistent with the accepted checkpoint {old}: "
                              f"{exc}") from None
    # Entries the cursor already holds (a crash between statements of an earlier pull) are skipped.
    start = c["size"]
    rng = CompactRange.from_json(start, c["range"])
    prev = Hash(bytes.fromhex(c["last_hash"]))
    spool = _Spool(spool_dir)
    try:
        keys = _load_keys(ledger, origin)
        runs = _runs(fetcher, start, cp.size, run_size)
        done = start
        window: list[tuple[int, list[bytes]]] = []
        for run in runs:
            window.append(run)
            if len(window) >= (8 if executor else 1):
                keys, prev, done = _check_window(ledger, origin, window, keys, prev, rng, spool, executor, done)
                window = []
                if progress:
                    progress(done - start, cp.size - start)
        if window:
            keys, prev, done = _check_window(ledger, origin, window, keys, prev, rng, spool, executor, done)
            if progress:
                progress(done - start, cp.size - start)
        if rng.root() != cp.root:
            raise RootMismatchError(f"{origin}: entries 0..{cp.size - 1} do not hash to the root of its "
                                    f"checkpoint {cp.size}", expected=cp.root, calculated=rng.root())
        result.entries = _append(ledger, origin, note.decode(), start, spool)
    except VerificationError as exc:  # refused: name the child (the message already names the index)
        if type(exc) is VerificationError and not str(exc).startswith(origin):
            raise VerificationError(f"{origin}: {exc}") from None
        raise
    finally:
        spool.close()
    result.new_size = cp.size
    result.requests = getattr(fetcher, "requests", 0)
    result.seconds = time.monotonic() - t0
    return result


def _runs(fetcher: Fetcher, start: int, end: int, run_size: int) -> Iterator[tuple[int, list[bytes]]]:
    """(first index, leaves) for start..end-1, one entry bundle (or part of one) at a time."""
    n = start // TILE_WIDTH
    while n * TILE_WIDTH < end:
        width = min(TILE_WIDTH, end - n * TILE_WIDTH)
        leaves = decode_entry_bundle(fetcher.entry_bundle(n, width))
        if len(leaves) != width:
            raise SyncError(f"entry bundle {n} has {len(leaves)} entries, not {width}")
        first = max(start, n * TILE_WIDTH)
        leaves = leaves[first - n * TILE_WIDTH:]
        for i in range(0, len(leaves), run_size):
            yield first + i, leaves[i: i + run_size]
        n += 1


def _check_window(ledger: Ledger, origin: str, window: list[tuple[int, list[bytes]]],
                  keys: dict[str, KeyRecord], prev: Hash, rng: CompactRange, spool: _Spool,
                  executor: Executor | None, done: int) -> tuple[dict[str, KeyRecord], Hash, int]:
    pending = list(window)
    while pending:
        jobs = [(keys, s, leaves) for s, leaves in pending]
        results = list(executor.map(_verify_run, jobs)) if executor else [_verify_run(j) for j in jobs]
        redo_from = None
        for k, ((s, leaves), (hashes, changes, error)) in enumerate(zip(pending, results)):
            if error is not None:
                raise VerificationError(error)
            if hashes[0] != prev:
                raise VerificationError(f"entry {s} of {origin} does not chain to entry {s - 1}")
            for h in hashes[1:]:
                rng.push(Hash(h))
            prev = Hash(hashes[-1])
            spool.add(leaves)
            done = s + len(leaves)
            if changes:  # later runs were checked against keys that have changed since: check again
                keys = dict(keys)
                for index, change in changes:
                    apply_change(keys, index, change)
                redo_from = k + 1
                break
        pending = pending[redo_from:] if redo_from is not None else []
    return keys, prev, done


def _append(ledger: Ledger, origin: str, note: str, start: int, spool: _Spool) -> int:
    """Append the verified leaves as sync.entries statements, STATEMENTS_PER_APPEND per transaction."""
    statements = []
    batch: list[Any] = []
    size = 0
    index = start
    first = start
    total = 0

    def flush_batch() -> None:
        nonlocal batch, size, first
        if batch:
            statements.append(sign_statement(ledger.log_signer, kind="sync.entries", subject=origin,  # type: ignore[arg-type]
                                             payload={"checkpoint": note, "start": first, "entries": batch}))
        batch, size, first = [], 0, index

    for leaf in spool:
        if batch and size + len(leaf) > BATCH_BYTES:
            flush_batch()
        batch.append(json.loads(leaf))  # parsed strictly by the workers already
        size += len(leaf) + 1
        index += 1
        if len(statements) >= STATEMENTS_PER_APPEND:
            total += _append_statements(ledger, statements)
            statements = []
    flush_batch()
    total += _append_statements(ledger, statements)
    return total


def _append_statements(ledger: Ledger, statements: list[Any]) -> int:
    if not statements:
        return 0
    ledger.append_batch(statements, receipts=False)
    return sum(len(st.payload["entries"]) for st in statements)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
