"""The FastAPI application around one Ledger."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from regledger.ledger.integrator import Duty, IntegratorRole
from regledger.ledger.publish import PublishWorker
from regledger.ledger.selfaudit import SelfAudit
from regledger.ledger.sequencer import Ledger

from . import pages
from .intake import ObjectionIntake
from .objection_read import ReadNonces
from .problems import PROBLEM_RESPONSES, BodyLimit, install_problem_handlers
from .ratelimit import RateLimiter
from .routes import calendar, drafts, health, log, objections, proofs, registrations, statements, sync
from .settings import Settings

__all__ = ["DOCS_ASSETS", "create_app"]

#: /docs loads Swagger UI from here (the files fastapi-offline ships), never from a CDN, so it works on a
#: network with no way out (政务外网).  /redoc is off: ReDoc's bundle fetches its logo from cdn.redoc.ly.
DOCS_ASSETS = "/docs-assets"

logger = logging.getLogger("regledger.api")


def create_app(
    ledger: Ledger,
    settings: Settings | None = None,
    *,
    sync_worker: Any = None,
    publisher: PublishWorker | None = None,
    intake: ObjectionIntake | None = None,
    replica: Ledger | None = None,
) -> FastAPI:
    """`sync_worker` (a sync.worker.SyncWorker) runs the cascade in the background while serving;
    `publisher` keeps a directory equal to /log/ (`serve --publish DIR`), woken after each integration;
    the integrator, the publisher, the cascade and the self-audit run only while this process holds the
    integrator lock (ledger.integrator: one process of `serve --workers N` does);
    `replica` (serve --read-db URL): the same log on a read replica, read for tiles and proofs of the checkpoints
    it holds (api.deps.reads_at);
    `intake` takes objections from the public (regledger.home.HomeIntake; without it they answer 503)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        role = None
        if settings.run_integrator:
            duties: list[Callable[[], Duty]] = []
            if settings.self_audit_interval > 0:
                duties.append(lambda: SelfAudit(ledger, interval=settings.self_audit_interval))
            if sync_worker is not None:
                duties.append(lambda: sync_worker)
            role = IntegratorRole(
                ledger,
                batch_size=settings.integrate_batch,
                delay=settings.integrate_delay,
                publisher=publisher,
                on_integrated=publisher.wake if publisher else None,
                duties=duties,
            )
            role.loop.run_once()  # a lone server holds the lock before its first request
            role.start()
        elif publisher is not None:  # serve --read-only --publish: keep the directory equal to what is stored
            publisher.start()
        app.state.integrator = role
        logger.info("serving %s", ledger.origin)
        try:
            yield
        finally:
            if role is not None:
                role.stop()  # the duties, a last checkpoint, then the publisher; the lock released
            elif publisher is not None:
                publisher.stop()

    app = FastAPIOffline(
        title="regledger",
        version="0.1.0",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        redoc_url=None,
        description="A verifiable registration ledger for public data resources (公共数据资源登记). "
        "Errors are RFC 9457 problem details with the offending `field`.",
    )
    app.state.ledger = ledger
    app.state.replica = replica
    app.state.sync_worker = sync_worker
    app.state.publisher = publisher
    app.state.integrator = None  # the IntegratorRole, while the app runs with one (ledger.integrator)
    app.state.settings = settings
    app.state.metrics = health.Metrics(ledger)
    app.state.rate_limiter = RateLimiter(settings.rate_per_minute)
    app.state.objection_limiter = RateLimiter(settings.objections_per_minute)
    app.state.intake = intake
    app.state.read_nonces = ReadNonces(settings.max_skew_seconds)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, timeout=settings.body_timeout)
    install_problem_handlers(app)
    for r in (
        health.router,
        log.router,
        proofs.router,
        registrations.router,
        statements.router,
        objections.router,
        drafts.router,
        sync.router,
        calendar.router,
    ):
        app.include_router(r, responses=PROBLEM_RESPONSES)
    _document_statements(app)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app


def _document_statements(app: FastAPI) -> None:
    """POST /v1/statements reads its body as bytes (it must be canonical JSON, not re-encoded), so FastAPI
    cannot describe it: the OpenAPI document gets the statement schemas (registry.statement_schemas) here."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            body, components = drafts.statements_request_body()
            doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
            doc["paths"]["/v1/statements"]["post"]["requestBody"] = body
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
