"""The cascade in the background of `regledger serve`: a round every `interval` seconds, or at once
when a child pushes.  Errors never stop the loop; they are logged, counted and shown by status."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .cascade import Cascade, RoundReport

__all__ = ["SyncWorker"]

log = logging.getLogger("regledger.sync")


class SyncWorker:
    def __init__(self, cascade: Cascade, *, interval: float = 5.0,
                 on_round: Callable[[RoundReport], None] | None = None) -> None:
        self.cascade = cascade
        self.interval = interval
        self.on_round = on_round
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last: RoundReport | None = None
        self.last_error: str | None = None
        self.last_round_at: float | None = None

    def notify(self) -> None:
        """A child said it has a new checkpoint: run a round now."""
        self.wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = self.cascade.run_round()
                self.last_error = None
                if self.on_round:
                    self.on_round(self.last)
            except Exception as exc:  # keep going; the next round may succeed
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("sync round failed")
            self.rounds += 1
            self.last_round_at = time.time()
            self.wake.wait(self.interval)
            self.wake.clear()

    def start(self) -> "SyncWorker":
        self._thread = threading.Thread(target=self._loop, name="regledger-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread:
            self._thread.join(timeout=30)

    def describe(self) -> dict[str, Any]:
        last = self.last
        return {"rounds": self.rounds, "last_round_at": self.last_round_at, "last_error": self.last_error,
                "last_errors": last.errors if last else [],
                "last_warnings": last.warnings if last else [], "forks": last.forks if last else []}
