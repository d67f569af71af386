"""Write the published log as a static C2SP tlog-tiles tree any web server can serve (ledger.publish)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from regledger.ledger.publish import Publisher
from regledger.ledger.sequencer import Ledger

__all__ = ["export_log"]


def export_log(ledger: Ledger, out: Path, *, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Write every tile and entry bundle of the latest checkpoint not already there, then the checkpoint.

    One `Publisher` round that rewrites the partial tiles too; full tiles already present are left alone
    (they are immutable).  Returns (tree size, files written).
    """
    publisher = Publisher(ledger, out, key=False)  # its layout stays tiles and checkpoint only
    written = publisher.publish(rewrite_partials=True, progress=progress)
    assert publisher.size is not None
    return publisher.size, written
