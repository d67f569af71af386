"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from regledger.ledger.entry import utc_now
from regledger.ledger.sequencer import Ledger
from regledger.registry.calendar import calendar_coverage, stored_calendar
from regledger.registry.workflow import china_date
from regledger.sync.manage import sync_status

from ..deps import LedgerDep

router = APIRouter(tags=["operations"])
log = logging.getLogger("regledger.api")


def china_today() -> date:
    return china_date(utc_now())


def check_calendar(ledger: Ledger) -> int:
    """Days left in the official calendar; reports a `calendar` warning from WARN_DAYS before its end."""
    left, warning = calendar_coverage(stored_calendar(ledger.store), china_today())
    if warning is None:
        ledger.health.clear("calendar")
    elif ledger.health.report("calendar", "warning", warning):
        log.warning("calendar: %s", warning)
    return left


class LedgerCounters:
    """Exports the ledger's own counters (plain ints: ledger/ does not import prometheus)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "regledger_audit_failures",
            "discrepancies the background self-audit found (alert on > 0: the ledger stopped signing)",
            value=self.ledger.audit_failures,
        )
        yield CounterMetricFamily(
            "regledger_integration_refusals",
            "integrations refused because the stored data did not back the last checkpoint (alert on > 0)",
            value=self.ledger.integration_refusals,
        )


class Metrics:
    def __init__(self, ledger: Ledger) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LedgerCounters(ledger))
        self.appends = Counter("regledger_appends", "statements sequenced through the API", registry=self.registry)
        self.integration_lag = Gauge(
            "regledger_integration_lag_entries", "entries sequenced but not yet in a checkpoint", registry=self.registry
        )
        self.tree_size = Gauge("regledger_tree_size", "size of the latest checkpoint", registry=self.registry)
        self.sync_forked = Gauge(
            "regledger_sync_forked_children",
            "children refused because they showed inconsistent checkpoints (alert on > 0)",
            registry=self.registry,
        )
        self.calendar_days_left = Gauge(
            "regledger_calendar_days_left",
            "days until the official holiday calendar in force ends (warn at 60)",
            registry=self.registry,
        )
        self.sync_verified = Gauge(
            "regledger_sync_verified_size",
            "size of the last checkpoint accepted per child",
            ["origin"],
            registry=self.registry,
        )
        self.background_failures = Gauge(
            "regledger_background_failures",
            "failed steps of a background loop since start (integrator-lock, integrator, sync, publish)",
            ["component"],
            registry=self.registry,
        )
        self.integrator = Gauge(
            "regledger_integrator",
            "1 if this process holds the integrator lock (with serve --workers N, one process does; "
            "each scrape is answered by one of them, named by `pid`)",
            ["pid"],
            registry=self.registry,
        )
        self.proof_seconds = Histogram(
            "regledger_proof_seconds",
            "time to compute an inclusion proof",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1),
        )


@router.get("/healthz", response_class=PlainTextResponse, summary="200 once the server is up")
def healthz() -> str:
    return "ok\n"


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    summary="200 when the database answers, a checkpoint exists and no component reports an error",
    responses={503: {"description": "not ready: each line names a component and what is wrong"}},
)
def readyz(ledger: LedgerDep) -> Response:
    size, _ = ledger.checkpoint()
    check_calendar(ledger)
    conditions = ledger.health.conditions()
    lines = [f"{c.level}: {c.component}: {c.message}" for c in conditions]
    if not ledger.health.ready:
        return PlainTextResponse("not ready\n" + "\n".join(lines) + "\n", status_code=503)
    return PlainTextResponse("\n".join([f"ready: tree size {size}", *lines]) + "\n")


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(request: Request, ledger: LedgerDep) -> Response:
    m: Metrics = request.app.state.metrics
    size = ledger.checkpoint()[0]
    m.tree_size.set(size)
    m.integration_lag.set(ledger.store.head().size - size)
    m.calendar_days_left.set(check_calendar(ledger))
    role = request.app.state.integrator
    m.integrator.clear()
    m.integrator.labels(str(os.getpid())).set(1 if role is not None and role.holds else 0)
    for loop in (
        getattr(role, "loop", None),
        getattr(getattr(role, "integrator", None), "loop", None),
        getattr(request.app.state.sync_worker, "loop", None),
        getattr(request.app.state.publisher, "loop", None),
    ):
        if loop is not None:
            m.background_failures.labels(loop.component).set(loop.failures)
    children = sync_status(ledger)
    m.sync_forked.set(sum(c["state"] != "ok" for c in children))
    for c in children:
        m.sync_verified.labels(c["origin"]).set(c["verified_size"])
    started = time.perf_counter()
    if size:
        ledger.inclusion_proof(size - 1, size)
        m.proof_seconds.observe(time.perf_counter() - started)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
