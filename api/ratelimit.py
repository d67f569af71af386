"""Per-client rate limits: signed statements per key (POST /v1/statements), objections per address."""

from __future__ import annotations

import threading
import time

from .problems import Problem

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket per client (a key id, an address): `rate` requests a minute, bursts up to the same number."""

    def __init__(self, rate_per_minute: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(rate_per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self.buckets[key] = (tokens - 1, now)
            return 0.0

    def charge(self, key: str, what: str) -> None:
        """Take one request for `key`, or refuse it: 429 with Retry-After, the detail saying `what` is over."""
        wait = self.take(key)
        if wait:
            raise Problem(429, "Too many requests", what, headers={"Retry-After": str(max(1, round(wait)))})
