"""What a running instance knows is wrong with itself: the reasons behind `/readyz`.

Components (integrity self-audit, background integrator, sync worker, calendar coverage, the
database) report here instead of each keeping its own flag; `/readyz` answers 503 while any
component reports an `error`, 200 with the `warning`s listed otherwise.  One instance per Ledger
(`Ledger.health`), shared by threads, so every method takes the lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

__all__ = ["Condition", "Health", "Level"]

Level = Literal["warning", "error"]


@dataclass(frozen=True)
class Condition:
    component: str
    level: Level
    message: str
    since: float  # time.time() when this condition was first reported


class Health:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[str, Condition] = {}

    def report(self, component: str, level: Level, message: str) -> bool:
        """Record `component`'s condition; True when it is new or changed (log it then, not every time)."""
        with self._lock:
            old = self._conditions.get(component)
            if old is not None and (old.level, old.message) == (level, message):
                return False
            since = old.since if old is not None else time.time()
            self._conditions[component] = Condition(component, level, message, since)
            return True

    def clear(self, component: str) -> bool:
        """`component` is fine again; True when it had reported something."""
        with self._lock:
            return self._conditions.pop(component, None) is not None

    def conditions(self) -> list[Condition]:
        with self._lock:
            return sorted(self._conditions.values(), key=lambda c: (c.level != "error", c.component))

    def errors(self) -> list[Condition]:
        return [c for c in self.conditions() if c.level == "error"]

    @property
    def ready(self) -> bool:
        return not self.errors()
