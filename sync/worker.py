"""The cascade in the background of `regledger serve`: a round every `interval` seconds, or at once
when a child pushes.  Runs on the same BackgroundLoop as the integrator: errors never stop it; they
are logged once, counted, reported as the "sync" condition of `ledger.health`, and shown by status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from regledger.ledger.background import BackgroundLoop

from .cascade import Cascade, RoundReport

__all__ = ["SyncWorker"]

log = logging.getLogger("regledger.sync")


class SyncWorker:
    def __init__(
        self, cascade: Cascade, *, interval: float = 5.0, on_round: Callable[[RoundReport], None] | None = None
    ) -> None:
        self.cascade = cascade
        self.on_round = on_round
        self.last: RoundReport | None = None
        self.loop = BackgroundLoop(
            "regledger-sync", self._round, interval=interval, health=cascade.ledger.health, component="sync", logger=log
        )

    def _round(self) -> None:
        self.last = self.cascade.run_round()
        if self.on_round:
            self.on_round(self.last)

    def notify(self) -> None:
        """A child said it has a new checkpoint: run a round now."""
        self.loop.wake.set()

    def start(self) -> SyncWorker:
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop(timeout=30)

    def describe(self) -> dict[str, Any]:
        last = self.last
        return {
            "rounds": self.loop.runs,
            "last_round_at": self.loop.last_run_at,
            "last_error": self.loop.last_error,
            "failures": self.loop.failures,
            "last_errors": last.errors if last else [],
            "last_warnings": last.warnings if last else [],
            "forks": last.forks if last else [],
        }
