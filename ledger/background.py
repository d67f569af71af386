"""One background loop for the server's periodic work (integration, the sync cascade).

A step that fails never stops the loop.  Each failure is counted; a failure unlike the previous
one is logged once (with its cause), repeats are not; the component reports an error to the
ledger's Health (so `/readyz` answers 503; a loop built with level="warning" is listed there
but leaves it 200) until a step succeeds again, which clears it and logs
the recovery.  While failing, the loop waits twice as long after each failure, up to
`max_backoff`, so a full disk costs a few log lines and retries, not a flood.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .health import Health, Level

__all__ = ["BackgroundLoop"]


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        *,
        interval: float,
        health: Health,
        component: str,
        logger: logging.Logger,
        max_backoff: float = 30.0,
        level: Level = "error",
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.health = health
        self.component = component
        self.log = logger
        self.max_backoff = max_backoff
        self.level = level  # what a failure reports: "warning" for work that does not stop writes (publishing)
        self.wake = threading.Event()  # set to run the next step now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.failures = 0  # every failed step since start
        self.last_error: str | None = None  # the current failure, None while steps succeed
        self.last_run_at: float | None = None
        self._backoff = 0.0

    def run_once(self) -> bool:
        """One step; True if it succeeded.  Never raises (except for KeyboardInterrupt and the like)."""
        try:
            self.step()
        except Exception as exc:
            self._failed(exc)
            return False
        finally:
            self.runs += 1
            self.last_run_at = time.time()
        if self.last_error is not None:
            self.log.warning(
                "%s works again after %s", self.name, self.last_error, extra={"event": f"{self.component}.recovered"}
            )
        self.last_error = None
        self._backoff = 0.0
        self.health.clear(self.component)
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            self.log.error(
                "%s failed: %s",
                self.name,
                message,
                exc_info=exc,
                extra={"event": f"{self.component}.failed", "count": self.failures},
            )
        self.last_error = message
        self.health.report(self.component, self.level, message)
        self._backoff = min(self.max_backoff, max(self.interval, self._backoff * 2 or 0.5))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self.wake.wait(self._backoff or self.interval)
            self.wake.clear()

    def start(self) -> BackgroundLoop:
        """Start the loop's thread; a stopped loop may be started again (the integrator's companions are,
        each time this process becomes the integrator: ledger.integrator)."""
        self._stop.clear()
        self.wake.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread:
            self._thread.join(timeout=timeout)
