"""How `regledger serve` runs the app under uvicorn, with every client-controlled wait bounded.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) and the size of a request
head (`h11_max_incomplete_event_size`), but not the *time* a client may take to send its request
line and headers: a client trickling one byte a second holds its connection for ever, and a few
hundred of them exhaust the server.  GuardedH11Protocol closes a connection whose request head is
not complete within `Settings.header_timeout` seconds of the connection opening or the previous
response ending.  The body has its own deadline (`Settings.body_timeout`, in api.problems.BodyLimit).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings

__all__ = ["GuardedH11Protocol", "uvicorn_config"]


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # uvicorn starts a new cycle once a request head is complete
            self._head_arrived()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if self.cycle is cycle and not self.transport.is_closing():  # (a pipelined head may be in already)
            self._await_head()  # the next request (or the rest of an unread body) gets the same bound

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request head took over %s s", self.header_timeout)
            self.transport.close()


def uvicorn_config(app: Any, *, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn configuration for `app` (made by api.create_app), with the limits of its Settings."""
    settings: Settings = app.state.settings
    protocol = functools.partial(GuardedH11Protocol, header_timeout=settings.header_timeout)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_timeout,
        h11_max_incomplete_event_size=settings.max_head_bytes,
        # uvicorn would take X-Forwarded-For from 127.0.0.1 by default: which proxies are trusted is
        # REGLEDGER_TRUSTED_PROXIES' decision alone (api.ratelimit.client_address)
        proxy_headers=False,
        **kwargs,
    )
