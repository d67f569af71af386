"""The integrator: the one process of a deployment that integrates and signs.

`regledger serve --workers N` runs N processes on one database; all of them take writes (sequencing
is serialised by the store's writer lock) and serve reads (from the database: a checkpoint another
process signed is seen at the next read).  Integration is one role among them: IntegratorRole holds
the store's integrator lock (`LedgerStore.integrator_lock`: a flock next to a SQLite file, a
PostgreSQL advisory lock) and, while it holds it, runs the BatchIntegrator and the duties that go
with signing (the publish worker, the self-audit, the sync cascade).  Every other process tries the
lock every `retry` seconds, so when the holder dies (its lock goes with it) another takes over
within about `retry` seconds, first integrating whatever the dead one left.

The lock is for one signer at a time, not for correctness: a checkpoint is published by a
compare-and-swap on the published size (ledger.store), so two integrators racing would store one
checkpoint per size and waste work, never fork the log.  Work that must be done once per
integration (a verifiable map, say) belongs in this role.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol

from .background import BackgroundLoop
from .errors import LedgerError
from .sequencer import BatchIntegrator, Ledger
from .store import IntegratorLock

__all__ = ["Duty", "IntegratorRole"]

log = logging.getLogger("regledger.integrator")


class Duty(Protocol):
    """Background work only the integrator does (PublishWorker, SyncWorker, SelfAudit)."""

    def start(self) -> object: ...
    def stop(self) -> None: ...


class IntegratorRole:
    """Takes the integrator lock when it is free and integrates while holding it.

    `publisher` (woken after each integration, stopped after the integrator's last checkpoint) and
    `duties` (factories: each call returns a Duty to start now; stopped before the integrator) run only
    while this process holds the lock.  `start` tries at once, then every `retry` seconds.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 256,
        delay: float = 0.5,
        publisher: Duty | None = None,
        on_integrated: Callable[[], None] | None = None,
        duties: Sequence[Callable[[], Duty]] = (),
        lock: IntegratorLock | None = None,
        retry: float = 1.0,
    ) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.delay = delay
        self.publisher = publisher
        self.on_integrated = on_integrated
        self.duties = duties
        self.lock = lock if lock is not None else ledger.store.integrator_lock()
        self.integrator: BatchIntegrator | None = None  # while this process holds the lock
        self.terms = 0  # how many times this process took the lock
        self._running: list[Duty] = []
        self.loop = BackgroundLoop(
            "regledger-integrator-lock",
            self._step,
            interval=retry,
            health=ledger.health,
            component="integrator-lock",
            logger=log,
            max_backoff=5.0,
        )

    @property
    def holds(self) -> bool:
        return self.integrator is not None

    def _step(self) -> None:
        if self.integrator is not None:
            if not self.lock.held():
                log.error(
                    "lost the integrator lock (its database session ended); stopped integrating",
                    extra={"event": "integrator.lost"},
                )
                self._resign(final=False)
            return
        if not self.lock.try_acquire():
            return
        self.terms += 1
        log.info("this process (pid %d) is the integrator", os.getpid(), extra={"event": "integrator.elected"})
        try:
            self.ledger.integrate()  # what a previous holder sequenced and left unsigned
        except LedgerError as exc:  # halted (integrity) or the database is away: the integrator reports and retries
            log.warning("could not integrate on taking the lock: %s", exc, extra={"event": "integrator.catch_up"})
        if self.publisher is not None:
            self.publisher.start()
        self.integrator = BatchIntegrator(
            self.ledger, batch_size=self.batch_size, delay=self.delay, on_integrated=self.on_integrated
        ).start()
        self._running = []
        for make in self.duties:
            duty = make()
            duty.start()
            self._running.append(duty)

    def _resign(self, *, final: bool) -> None:
        for duty in reversed(self._running):
            duty.stop()
        self._running = []
        integrator, self.integrator = self.integrator, None
        if integrator is not None:
            if final:
                integrator.stop()  # with a last checkpoint over everything sequenced
            else:
                integrator.loop.stop(timeout=None)  # another process may already integrate
        if self.publisher is not None and integrator is not None:
            self.publisher.stop()
        self.lock.release()

    def start(self) -> IntegratorRole:
        self.loop.start()
        return self

    def stop(self) -> None:
        """Stop trying; if holding the lock, stop the duties, sign a last checkpoint and release it."""
        self.loop.stop(timeout=None)
        if self.integrator is not None:
            self._resign(final=True)
        else:
            self.lock.release()
