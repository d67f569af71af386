"""Write the published log as a static C2SP tlog-tiles tree any web server can serve."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from regledger.ledger.hashes import HASH_SIZE
from regledger.ledger.sequencer import Ledger
from regledger.ledger.tiles import encode_entry_bundle, entry_bundle_path, tiles_for_size

__all__ = ["export_log"]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export_log(ledger: Ledger, out: Path, *, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Export tiles and entry bundles for the latest checkpoint, then the checkpoint itself.

    The checkpoint is written last, so a reader never sees a checkpoint whose tiles are not
    there yet.  Full tiles already present are left alone (they are immutable).  Returns
    (tree size, files written).
    """
    size, note = ledger.checkpoint()
    tiles = tiles_for_size(size)
    written = 0
    for i, t in enumerate(tiles):
        path = out / t.path()
        if not (t.full and path.exists()):
            data = ledger.tiles.read_tiles([t])[0][: t.width * HASH_SIZE]
            _write(path, data)
            written += 1
        if t.level == 0:
            bundle = out / entry_bundle_path(t.n, t.width)
            if not (t.full and bundle.exists()):
                start = t.n * 256
                _write(bundle, encode_entry_bundle(ledger.entries(start, start + t.width)))
                written += 1
        if progress and (i % 64 == 0 or i == len(tiles) - 1):
            progress(i + 1, len(tiles))
    _write(out / "checkpoint", note)
    return size, written + 1
