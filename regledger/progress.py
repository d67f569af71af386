"""Progress on long work, on stderr: a live line on a terminal, the final count otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["progress"]


def progress(label: str) -> Callable[[int, int], None]:
    start = time.monotonic()
    interactive = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        if interactive or done >= total:
            rate = done / max(time.monotonic() - start, 1e-9)
            end = "\n" if done >= total else "\r"
            print(f"  {label}: {done}/{total} ({rate:,.0f}/s)", end=end, file=sys.stderr, flush=True)

    return show
