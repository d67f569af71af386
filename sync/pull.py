"""Pull a child's log into this instance's ledger; nothing is stored before it is verified.

1. The child's checkpoint: signature by the pinned key, then parse (open_checkpoint).
2. Same size as last time: same root or it is a fork.  Larger: a consistency proof from the last
   accepted checkpoint, computed from the child's tiles and checked against both signed roots;
   a failure is a fork (recorded with both notes as evidence, then ForkError).
3. What the new entries must hash to: per full entry bundle its subtree root, else leaf hashes,
   read from the child's tiles and authenticated by rebuilding the signed root from them.
4. The entries, bundle by bundle: strict parse, index, chain link, signature by a key valid in the
   child's own keyring at that index (in worker processes, several bundles ahead), and the hashes
   from step 3.  Each verified bundle is appended at once, as `sync.entries` statements, a
   transaction at a time, while the workers check the next ones; the cursor (a subject state)
   moves in the same transaction, so a crash anywhere neither loses nor repeats an entry.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any

from regledger.ledger.checkpoint import Checkpoint, open_checkpoint
from regledger.ledger.entry import Entry, canonical_json, check_depth, sign_statement
from regledger.ledger.errors import (
    ConflictError,
    ForkError,
    LedgerError,
    NotFoundError,
    RootMismatchError,
    SyncError,
    VerificationError,
)
from regledger.ledger.fold import fold_entry
from regledger.ledger.hashes import EMPTY_ROOT, Hash, node_hash
from regledger.ledger.keyring import apply_change
from regledger.ledger.merkle import CompactRange, prove_consistency, stored_hash_index, tree_hash
from regledger.ledger.proof import verify_consistency
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import KeyRecord
from regledger.ledger.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle

from .fetch import Fetcher
from .manage import all_states
from .policy import PackedLeaves, key_from_state, verifier_for
from .state import child_key, key_subject, mirror_subject

__all__ = ["PullResult", "pull_child"]

log = logging.getLogger("regledger.sync")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
#: nesting a leaf gains inside a sync.entries entry (statement, payload, entries, the leaf itself)
WRAP_DEPTH = 4

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
            # wrapped in this instance's sync.entries, the leaf must still be within the depth limit
            check_depth({"payload": st.payload, **st.extra}, "/statement", 1 + WRAP_DEPTH)
        except LedgerError as exc:
            raise VerificationError(f"entry {start + i}: {exc}") from None
        change = fold_entry(e.index, st, keys, refused=partial(_refused_at, start + i)).change
        if change is not None:
            changes.append((e.index, change))
        prev = e.leaf_hash
        hashes.append(prev)
    return hashes, changes


def _refused_at(index: int, exc: LedgerError) -> VerificationError:
    return VerificationError(f"entry {index}: {exc}")


def _load_keys(ledger: Ledger, origin: str) -> dict[str, KeyRecord]:
    """The child's keyring as this instance has folded it so far (a child has few keys)."""
    prefix = mirror_subject(origin, key_subject(""))
    return {
        r.key_id: r
        for r in map(
            key_from_state,
            (st for st in all_states(ledger, "key", prefix=prefix) if _KEY_ID.fullmatch(st.subject[len(prefix) :])),
        )
    }  # not "@V:key:x:…" of another origin


def record_fork(ledger: Ledger, origin: str, accepted: bytes, conflicting: bytes, reason: str) -> ForkError:
    """Keep both signed checkpoints in the ledger (the child is refused from now on) and say so."""
    st = sign_statement(
        ledger.log_signer,
        kind="sync.fork",
        subject=origin,
        payload={
            "accepted": accepted.decode(),
            "conflicting": conflicting.decode(),
            "reason": reason,
        },
    )
    try:
        ledger.append(st)
    except ConflictError:
        pass  # another pull recorded this fork first; its evidence stands
    log.error("fork: %s: %s", origin, reason, extra={"event": "fork", "origin": origin})
    return ForkError(
        f"{reason}; both checkpoints are kept as evidence and the child is refused until an operator resolves it",
        origin=origin,
        accepted=accepted,
        conflicting=conflicting,
    )


def pull_child(
    ledger: Ledger,
    fetcher: Fetcher,
    origin: str,
    *,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PullResult:
    """Bring `origin`'s entries up to its latest checkpoint; raises ForkError, VerificationError, SyncError."""
    t0 = time.monotonic()
    state = ledger.store.get_state(child_key(origin))
    if state is None:
        raise NotFoundError(f"{origin} is not a child of {ledger.origin}; `regledger sync add-child` first")
    c = state.state
    if c["state"] != "ok":
        raise ForkError(
            f"{origin} is forked (since entry {c.get('forked_at')}); nothing is pulled from it",
            origin=origin,
            accepted=c["evidence"]["accepted"].encode(),
            conflicting=c["evidence"]["conflicting"].encode(),
        )
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
        result.requests = fetcher.requests
        return result
    if old > 0:
        _check_consistency(ledger, fetcher, origin, old, old_root, accepted, cp, note)
    # Entries the cursor already holds (a crash between transactions of an earlier pull) are skipped.
    start = c["size"]
    rng = CompactRange.from_json(start, c["range"])
    prev = Hash(bytes.fromhex(c["last_hash"]))
    try:
        expected = _authenticated_hashes(fetcher, origin, cp, start, rng)
        appender = _Appender(ledger, origin, note.decode(), start)
        for s, leaves, hashes in _verified_runs(fetcher, origin, start, cp.size, _load_keys(ledger, origin), executor):
            if hashes[0] != prev:
                raise VerificationError(f"{origin}: entry {s} does not chain to entry {s - 1}")
            _check_against(expected, origin, s, hashes[1:])
            for h in hashes[1:]:
                rng.push(Hash(h))
            prev = Hash(hashes[-1])
            appender.add(leaves)  # verified: signatures, chain, and hashes the signed root authenticates
            if progress:
                progress(s + len(leaves) - start, cp.size - start)
        if rng.root() != cp.root:  # cannot happen after the checks above; kept as the last word
            raise RootMismatchError(
                f"{origin}: entries 0..{cp.size - 1} do not hash to the root of its checkpoint {cp.size}",
                expected=cp.root,
                calculated=rng.root(),
            )
        result.entries = appender.finish()
    except VerificationError as exc:  # refused: name the child (the message already names the index)
        if type(exc) is VerificationError and not str(exc).startswith(origin):
            raise VerificationError(f"{origin}: {exc}") from None
        raise
    result.new_size = cp.size
    result.requests = fetcher.requests
    result.seconds = time.monotonic() - t0
    return result


def _check_consistency(
    ledger: Ledger,
    fetcher: Fetcher,
    origin: str,
    old: int,
    old_root: Hash,
    accepted: bytes | None,
    cp: Checkpoint,
    note: bytes,
) -> None:
    """A fork only when the child's own data proves it: tiles that prove its new signed root, and an
    old tree in them that is not the one it signed before.  Tiles that prove nothing (corrupted in
    transit, a bad cache) are a refusal, and the cached tiles are dropped."""
    reader = TileHashReader(cp.size, fetcher)
    try:
        proof = prove_consistency(old, cp.size, reader)
    except (VerificationError, NotFoundError) as exc:  # no proof at all: the tiles prove nothing
        raise _unproven(fetcher, origin, cp, exc) from None
    try:
        verify_consistency(old, cp.size, old_root, cp.root, proof)
        return
    except (VerificationError, NotFoundError) as exc:
        first_error = exc
    try:
        claimed_old = tree_hash(old, reader)
        verify_consistency(old, cp.size, claimed_old, cp.root, proof)  # the proof does prove cp.root
    except (VerificationError, NotFoundError):
        raise _unproven(fetcher, origin, cp, first_error) from None
    assert accepted is not None and claimed_old != old_root
    raise record_fork(
        ledger,
        origin,
        accepted,
        note,
        f"checkpoint {cp.size} is not consistent with the accepted checkpoint {old}: its tree of "
        f"size {old} has root {claimed_old.hex()}, not the signed {old_root.hex()}",
    )


def _unproven(fetcher: Fetcher, origin: str, cp: Checkpoint, error: LedgerError) -> VerificationError:
    """The refusal of tiles that do not prove the child's own checkpoint; the cached tiles are dropped."""
    fetcher.forget()
    return VerificationError(
        f"{origin}: its tiles do not prove its own checkpoint {cp.size} ({error}); refused, not a fork"
    )


def _authenticated_hashes(
    fetcher: Fetcher, origin: str, cp: Checkpoint, start: int, rng: CompactRange
) -> dict[str, dict[int, Hash]]:
    """What the new entries must hash to, read from the child's tiles and authenticated first.

    For each full entry bundle in start..size the root of its 256 leaf hashes (a level-8 node, from
    a level-1 tile); for the entries before the first and after the last full bundle, their leaf
    hashes.  Appended to the compact range of the accepted tree they must rebuild the signed root,
    so each bundle can be checked, and stored, as soon as it is verified: no need to hold the whole
    range before anything is written.
    """
    end = cp.size
    first_full, last_full = -(-start // TILE_WIDTH), end // TILE_WIDTH
    if first_full >= last_full:
        head, full, tail = range(start, end), range(0), range(0)
    else:
        head, full, tail = (
            range(start, first_full * TILE_WIDTH),
            range(first_full, last_full),
            range(last_full * TILE_WIDTH, end),
        )
    indexes = (
        [stored_hash_index(0, i) for i in head]
        + [stored_hash_index(8, n) for n in full]
        + [stored_hash_index(0, i) for i in tail]
    )
    try:
        got = iter(TileHashReader(end, fetcher).read_hashes(indexes)) if indexes else iter(())
    except NotFoundError as exc:
        raise VerificationError(f"{origin}: a tile of its tree of size {end} is missing: {exc}") from None
    leaves = {i: next(got) for i in head}
    nodes = {n: next(got) for n in full}
    leaves.update({i: next(got) for i in tail})
    check = rng.copy()
    for i in head:
        check.push(leaves[i])
    for n in full:
        check.push_subtree(8, nodes[n])
    for i in tail:
        check.push(leaves[i])
    if check.root() != cp.root:
        raise RootMismatchError(
            f"{origin}: its tiles do not rebuild the root of its checkpoint {end}",
            expected=cp.root,
            calculated=check.root(),
        )
    return {"leaf": leaves, "node": nodes}


def _check_against(expected: dict[str, dict[int, Hash]], origin: str, start: int, hashes: Sequence[bytes]) -> None:
    n = start // TILE_WIDTH
    if start % TILE_WIDTH == 0 and len(hashes) == TILE_WIDTH and n in expected["node"]:
        level = list(hashes)
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        if level[0] != expected["node"][n]:
            raise VerificationError(
                f"{origin}: entries {start}..{start + TILE_WIDTH - 1} are not the ones its checkpoint commits to"
            )
        return
    for i, h in enumerate(hashes):
        if expected["leaf"].get(start + i) != h:
            raise VerificationError(f"{origin}: entry {start + i} is not the one its checkpoint commits to")


def _runs(fetcher: Fetcher, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
    """(first index, leaves) for start..end-1, one entry bundle (or the part of one that is new) at a time."""
    n = start // TILE_WIDTH
    while n * TILE_WIDTH < end:
        width = min(TILE_WIDTH, end - n * TILE_WIDTH)
        leaves = decode_entry_bundle(fetcher.entry_bundle(n, width))
        if len(leaves) != width:
            raise SyncError(f"entry bundle {n} has {len(leaves)} entries, not {width}")
        first = max(start, n * TILE_WIDTH)
        yield first, leaves[first - n * TILE_WIDTH :]
        n += 1


def _verified_runs(
    fetcher: Fetcher,
    origin: str,
    start: int,
    end: int,
    keys: dict[str, KeyRecord],
    executor: Executor | None,
    depth: int = 8,
) -> Iterator[tuple[int, list[bytes], list[bytes]]]:
    """Runs in order with their hashes (previous link first), checked by the workers `depth` runs ahead.

    A run that changes the keyring (key.register / key.revoke) invalidates the checks of the runs
    behind it, which were made with the keys before: those are checked again.
    """
    runs = _runs(fetcher, start, end)
    inflight: deque[tuple[int, list[bytes], Any]] = deque()
    state = {"keys": keys}

    def submit(s: int, leaves: list[bytes]) -> Any:
        job = (state["keys"], s, leaves)
        return executor.submit(_verify_run, job) if executor else _Done(_verify_run(job))

    def refill() -> None:
        while len(inflight) < (depth if executor else 1):
            nxt = next(runs, None)
            if nxt is None:
                return
            inflight.append((nxt[0], nxt[1], submit(*nxt)))

    refill()
    while inflight:
        s, leaves, fut = inflight.popleft()
        hashes, changes, error = fut.result()
        if error is not None:
            raise VerificationError(f"{origin}: {error}")
        if changes:
            state["keys"] = dict(state["keys"])
            for index, change in changes:
                apply_change(state["keys"], index, change)
            stale = list(inflight)
            inflight.clear()
            for s2, l2, f2 in stale:
                f2.cancel()
                inflight.append((s2, l2, submit(s2, l2)))
        yield s, leaves, hashes
        refill()


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value

    def cancel(self) -> None:
        pass


class _Appender:
    """Packs verified leaves into sync.entries statements and appends STATEMENTS_PER_APPEND per transaction."""

    def __init__(self, ledger: Ledger, origin: str, note: str, start: int) -> None:
        self.ledger, self.origin, self.note = ledger, origin, note
        self.batch: list[Any] = []
        self.bytes = 0
        self.first = self.next = start
        self.statements: list[Any] = []
        self.total = 0

    def add(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            if self.batch and self.bytes + len(leaf) > BATCH_BYTES:
                self._close()
            self.batch.append(leaf)
            self.bytes += len(leaf) + 1
            self.next += 1
        if len(self.statements) >= STATEMENTS_PER_APPEND:
            self._commit()

    def _close(self) -> None:
        # The leaves are canonical JSON (the workers parsed them strictly), so the payload's RFC 8785
        # bytes are assembled from them rather than serialised again: members in code-point order.
        entries = b",".join(self.batch)
        canonical = b"".join(
            [
                b'{"checkpoint":',
                canonical_json(self.note),
                b',"entries":[',
                entries,
                b'],"start":',
                str(self.first).encode(),
                b"}",
            ]
        )
        objects = json.loads(b"[" + entries + b"]")
        payload = {"checkpoint": self.note, "entries": PackedLeaves(objects, self.batch), "start": self.first}
        self.statements.append(
            sign_statement(
                self.ledger.log_signer,
                kind="sync.entries",
                subject=self.origin,
                payload=payload,
                canonical_payload=canonical,
            )
        )
        self.batch, self.bytes, self.first = [], 0, self.next

    def _commit(self) -> None:
        if self.statements:
            self.ledger.append_batch(self.statements, receipts=False)
            self.total += sum(len(st.payload["entries"]) for st in self.statements)
            self.statements = []

    def finish(self) -> int:
        if self.batch:
            self._close()
        self._commit()
        return self.total
