"""The FastAPI application around one Ledger."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from ledger.sequencer import BatchIntegrator, Ledger

from . import pages
from .problems import PROBLEM_RESPONSES, BodyLimit, install_problem_handlers
from .routes import health, log, proofs, registrations, statements, sync
from .settings import Settings

__all__ = ["create_app"]

logger = logging.getLogger("regledger.api")


def create_app(ledger: Ledger, settings: Settings | None = None, *, sync_worker: Any = None) -> FastAPI:
    """`sync_worker` (a sync.worker.SyncWorker) runs the cascade in the background while serving."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        integrator = None
        if settings.run_integrator:
            integrator = BatchIntegrator(ledger, batch_size=settings.integrate_batch,
                                         delay=settings.integrate_delay).start()
            app.state.integrator = integrator
        logger.info("serving %s", ledger.origin)
        if sync_worker is not None:
            sync_worker.start()
        try:
            yield
        finally:
            if sync_worker is not None:
                sync_worker.stop()
            if integrator is not None:
                integrator.stop()

    app = FastAPI(title="regledger", version="0.1.0", lifespan=lifespan,
                  description="A verifiable registration ledger for public data resources (公共数据资源登记). "
                              "Errors are RFC 9457 problem details with the offending `field`.")
    app.state.ledger = ledger
    app.state.sync_worker = sync_worker
    app.state.integrator = None  # the BatchIntegrator, while the app runs with one
    app.state.settings = settings
    app.state.metrics = health.Metrics()
    app.state.rate_limiter = statements.RateLimiter(settings.rate_per_minute)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, timeout=settings.body_timeout)
    install_problem_handlers(app)
    for r in (health.router, log.router, proofs.router, registrations.router, statements.router, sync.router):
        app.include_router(r, responses=PROBLEM_RESPONSES)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app
