"""API limits and behaviour; every number here is a documented refusal, never a 500."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    max_body_bytes: int = 128 * 1024
    max_page: int = 200
    default_page: int = 50
    #: statements per key per minute (token bucket, per server process)
    rate_per_minute: int = 600
    #: a signed request's `time` must be this close to the server's clock
    max_skew_seconds: int = 300
    #: seconds a client may take to send a request's line and headers (then the connection is closed)
    header_timeout: float = 10.0
    #: seconds a client may take to send a request's body, from the request's start (then 408)
    body_timeout: float = 30.0
    #: seconds an idle keep-alive connection stays open
    keep_alive_timeout: int = 5
    #: bytes of request line and headers
    max_head_bytes: int = 16 * 1024
    integrate_batch: int = 256
    integrate_delay: float = 0.5
    run_integrator: bool = True
    #: seconds between rounds of the background self-audit (ledger.selfaudit); 0 = off
    self_audit_interval: float = 5.0
