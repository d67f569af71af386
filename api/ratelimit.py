"""Per-client rate limits: signed statements per key (POST /v1/statements), objections per address."""

from __future__ import annotations

import ipaddress
import threading
import time

from starlette.requests import Request

from .problems import Problem
from .settings import Settings, proxy_networks

__all__ = ["RateLimiter", "client_address"]


def client_address(request: Request, settings: Settings) -> str:
    """The address a request is charged to: its peer's, or, when the peer is a trusted reverse proxy
    (REGLEDGER_TRUSTED_PROXIES), the nearest address in X-Forwarded-For that is not one (read right to left:
    what a client sends itself is further left, and cannot pass for a proxy's word)."""
    peer = request.client.host if request.client else ""
    networks = proxy_networks(settings.trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not _address(hop):
            return peer  # a malformed hop: what is left of it is not to be trusted
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def _address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


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
