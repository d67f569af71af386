"""Keep a directory equal to what `/log/` serves, so any static web server, CDN or object-store sync serves the log.

The layout is C2SP tlog-tiles (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`) plus
`key`, the log's verifier key.  One `Publisher.publish()` round brings the directory from the size it
holds to the latest checkpoint, in an order a reader can never catch half-done:

1. the tiles and entry bundles that changed (`new_tiles(old, new)`): a full one is written once and never
   again (its bytes are fixed forever), a partial one under its own `.p/<W>` path;
2. every file is written to a temporary name, fsynced and renamed; their directories are fsynced;
3. only then the checkpoint (with the cosignatures `/log/checkpoint` adds), by the same atomic rename.

A partial tile or bundle no longer part of the checkpoint is superseded, not wrong: a reader that fetched the
previous checkpoint a moment ago may still ask for it.  It is deleted `grace` seconds after it was superseded.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .background import BackgroundLoop
from .checkpoint import open_checkpoint
from .cosignature import add_cosignatures
from .errors import LedgerError, OperatorError
from .hashes import HASH_SIZE
from .sequencer import Ledger
from .tiles import TILE_WIDTH, Tile, encode_entry_bundle, entry_bundle_path, new_tiles, tiles_for_size

__all__ = ["PublishWorker", "Publisher", "served_checkpoint"]

#: tiles read from the store per query while publishing (a first pass over a large log reads many)
READ_CHUNK = 64

log = logging.getLogger("regledger.publish")


def served_checkpoint(ledger: Ledger) -> tuple[int, bytes]:
    """The latest checkpoint as `/log/checkpoint` serves it: with the cosignatures of the parents that verified it."""
    size, note = ledger.checkpoint()
    lines = [line for _, line in ledger.store.cosignatures(ledger.origin, size)]
    return size, add_cosignatures(note, lines) if lines else note


def _partial_paths(size: int) -> set[str]:
    """The partial tiles and bundles a reader of the checkpoint of `size` fetches (at most two per level)."""
    out = set()
    for t in tiles_for_size(size):
        if not t.full:
            out.add(t.path())
            if t.level == 0:
                out.add(entry_bundle_path(t.n, t.width))
    return out


class Publisher:
    """Brings `out` up to the ledger's latest checkpoint each time `publish()` runs (see the module docstring).

    Not thread-safe: one publisher per directory, run by one thread (the serve loop or `log publish`).
    """

    def __init__(
        self,
        ledger: Ledger,
        out: Path,
        *,
        grace: float = 60.0,
        key: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`key`: also write `key`, the log's verifier key as /log/key serves it (`log export` does not)."""
        self.ledger = ledger
        self.write_key = key
        self.out = Path(out)
        self.grace = grace
        self.clock = clock
        self.size: int | None = None  # the size whose tiles `out` holds; None until the first round reads it
        self._note: bytes | None = None  # the checkpoint file's bytes
        self._key: str | None = None
        self._superseded: deque[tuple[float, int]] = deque()  # (when, size): partials kept for late readers
        self._unknown_until = 0.0  # partials left by an earlier run are kept until then
        self._pdirs: set[Path] = set()  # `.p` directories that may hold superseded partials
        self.rounds = 0
        self.files_written = 0
        self.files_deleted = 0

    # -- one round ----------------------------------------------------------------------------------

    def publish(self, *, rewrite_partials: bool = False, progress: Callable[[int, int], None] | None = None) -> int:
        """Publish the latest checkpoint; returns the files written.  `rewrite_partials` (`log export`) also
        writes every tile the directory should hold, not only those changed since its checkpoint."""
        size, note = served_checkpoint(self.ledger)
        if self._note is not None and not (self.out / "checkpoint").exists():
            self.size = None  # the directory was emptied or replaced: publish it all again
        if self.size is None:
            self.open()
        old = self.size
        assert old is not None
        if size < old:
            raise OperatorError(
                f"{self.out} holds a checkpoint of size {old}, beyond this ledger's {size}", problem="publish-dir"
            )
        written = self._write_tiles(tiles_for_size(size) if rewrite_partials else new_tiles(old, size), progress)
        key = self.ledger.verifier().vkey() + "\n"
        if self.write_key and key != self._key:
            self._write_file("key", key.encode())
            self._key = key
            written += 1
        if note != self._note or written:
            self._write_file("checkpoint", note)  # last: everything it covers is on disk
            self._note = note
            written += 1
        if size != old:
            self._superseded.append((self.clock(), old))
            self.size = size
        self._prune()
        self.rounds += 1
        self.files_written += written
        return written

    def open(self) -> None:
        """Read what `out` holds: nothing, or a checkpoint of this log whose tiles are all there.

        Raises OperatorError for anything else (another log's directory, or one ahead of this database), so that
        `serve --publish` stops at its start rather than overwrite it."""
        size, _ = self.ledger.checkpoint()
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "checkpoint"
        held, note = 0, None
        if path.exists():
            data = path.read_bytes()
            try:
                cp, _ = open_checkpoint(data, self.ledger.origin, self.ledger.verifier())
                if cp.size > size:
                    raise OperatorError(f"its size {cp.size} is beyond this ledger's {size}", problem="publish-dir")
                if self.ledger.tree_hash(cp.size) != cp.root:
                    raise OperatorError(f"its root at size {cp.size} is not this ledger's", problem="publish-dir")
            except LedgerError as exc:
                raise OperatorError(
                    f"{self.out} holds a checkpoint that is not this ledger's to extend ({exc}); "
                    "publish into an empty directory",
                    problem="publish-dir",
                ) from exc
            held, note = cp.size, data
            self._unknown_until = path.stat().st_mtime + self.grace
        key = self.out / "key"
        self._key = key.read_text() if key.exists() else None
        self._pdirs = {Path(d) for d, _, _ in os.walk(self.out / "tile") if d.endswith(".p")}
        self.size, self._note = held, note  # only now: a refused directory stays refused on every retry

    # -- writing --------------------------------------------------------------------------------------

    def _write_tiles(self, tiles: Sequence[Tile], progress: Callable[[int, int], None] | None) -> int:
        todo = [
            t
            for t in tiles
            if not (
                t.full and (self.out / t.path()).exists() and (t.level or (self.out / entry_bundle_path(t.n)).exists())
            )
        ]
        written = 0
        dirs: set[Path] = set()
        for i in range(0, len(todo), READ_CHUNK):
            chunk = todo[i : i + READ_CHUNK]
            for t, data in zip(chunk, self.ledger.store.read_tiles(chunk), strict=True):
                written += self._write_tile(t.path(), data[: t.width * HASH_SIZE], t.full, dirs)
            level0 = [t for t in chunk if t.level == 0]
            if level0:
                first, last = level0[0].n * TILE_WIDTH, level0[-1].n * TILE_WIDTH + level0[-1].width
                leaves = self.ledger.entries(first, last)
                for t in level0:
                    start = t.n * TILE_WIDTH - first
                    written += self._write_tile(
                        entry_bundle_path(t.n, t.width),
                        encode_entry_bundle(leaves[start : start + t.width]),
                        t.full,
                        dirs,
                    )
            if progress:
                progress(min(len(todo), i + READ_CHUNK), len(todo))
        self._fsync_dirs(dirs)
        return written

    def _write_tile(self, rel: str, data: bytes, full: bool, dirs: set[Path]) -> int:
        path = self.out / rel
        if full and path.exists():
            return 0  # written once, never again
        self._write_file(rel, data, sync_dir=False)
        dirs.add(path.parent)
        if not full:
            self._pdirs.add(path.parent)
        return 1

    def _write_file(self, rel: str, data: bytes, *, sync_dir: bool = True) -> None:
        """Write `rel` so that a reader sees the old bytes or the new ones, and a crash leaves no torn file."""
        path = self.out / rel
        new_dirs = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._fsync_dirs({d.parent for d in new_dirs} | ({path.parent} if sync_dir else set()))

    @staticmethod
    def _fsync_dirs(dirs: Iterable[Path]) -> None:
        """Make renames and new directory entries durable before the checkpoint that needs them is written."""
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- superseded partials ---------------------------------------------------------------------------

    def _prune(self) -> None:
        """Delete partial tiles and bundles superseded more than `grace` seconds ago."""
        now = self.clock()
        while self._superseded and now - self._superseded[0][0] >= self.grace:
            self._superseded.popleft()
        if now < self._unknown_until or not self._pdirs:
            return  # an earlier run's partials: a reader of its checkpoint may still be fetching them
        assert self.size is not None
        keep = _partial_paths(self.size).union(*(_partial_paths(s) for _, s in self._superseded))
        for d in sorted(self._pdirs):
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                self._pdirs.discard(d)
                continue
            for name in names:
                if (d / name).relative_to(self.out).as_posix() not in keep:
                    (d / name).unlink(missing_ok=True)
                    self.files_deleted += 1
            if not os.listdir(d):
                d.rmdir()
                self._pdirs.discard(d)


class PublishWorker:
    """Runs a Publisher in the background while serving: woken after each integration, and every `interval`
    seconds anyway (a parent's cosignature changes the checkpoint file without a new size).

    A failure (disk full, directory gone) never stops writes: it is logged once, reported on `/readyz` as a
    "publish" warning, and retried with backoff until a round succeeds.
    """

    def __init__(self, publisher: Publisher, *, interval: float = 1.0) -> None:
        self.publisher = publisher
        self.loop = BackgroundLoop(
            "regledger-publisher",
            publisher.publish,
            interval=interval,
            health=publisher.ledger.health,
            component="publish",
            logger=log,
            max_backoff=30.0,
            level="warning",
        )

    def wake(self) -> None:
        """Publish now (called after each integration)."""
        self.loop.wake.set()

    def start(self) -> PublishWorker:
        self.loop.start()
        return self

    def stop(self) -> None:
        """Stop, after a last round: the directory holds the final checkpoint when the server exits."""
        self.loop.stop(timeout=None)
        self.loop.run_once()
