"""The cascade's endpoints: children push here, parents hand cosignatures down, anyone reads status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from regledger.ledger.entry import Statement
from regledger.sync.cascade import accept_cosignatures
from regledger.sync.manage import child_notice, parent, sync_status

from ..deps import LedgerDep
from ..problems import Problem

router = APIRouter(prefix="/v1/sync", tags=["sync (the cascade)"])


class ChildStatus(BaseModel):
    origin: str
    url: str
    verified_size: int = Field(description="size of the last checkpoint of the child accepted here")
    ingested_size: int
    state: str = Field(description="ok, or forked: the child showed two inconsistent checkpoints")
    checkpoint: str | None = None
    fork: dict[str, Any] | None = Field(None, description="both signed checkpoints, kept as evidence")
    forked_at: int | None = None


class SyncStatus(BaseModel):
    origin: str
    parent: dict[str, Any] | None
    children: list[ChildStatus]
    worker: dict[str, Any] | None


class Notified(BaseModel):
    origin: str
    size: int
    verified_size: int
    pulling: bool


class Stored(BaseModel):
    stored: int


@router.get("/status", response_model=SyncStatus, summary="This instance's parent and children, with fork alerts")
def status(request: Request, ledger: LedgerDep) -> SyncStatus:
    worker = getattr(request.app.state, "sync_worker", None)
    return SyncStatus(
        origin=ledger.origin,
        parent=parent(ledger),
        children=[ChildStatus(**c) for c in sync_status(ledger)],
        worker=worker.describe() if worker else None,
    )


@router.post(
    "/notify",
    response_model=Notified,
    status_code=202,
    summary="A child announces a new checkpoint (body: the signed note); this instance then pulls",
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}, "required": True}},
)
async def notify(request: Request, ledger: LedgerDep) -> Notified:
    body = await request.body()
    return await run_in_threadpool(_notify, request, body, ledger)


def _notify(request: Request, body: bytes, ledger: Any) -> Notified:
    notice = child_notice(ledger, body)
    worker = getattr(request.app.state, "sync_worker", None)
    if worker is not None and notice.news:
        worker.notify()
    return Notified(
        origin=notice.origin,
        size=notice.size,
        verified_size=notice.verified_size,
        pulling=worker is not None and notice.news,
    )


@router.post(
    "/cosignatures",
    response_model=Stored,
    summary="The parent hands down cosignatures (a signed sync.cosignatures statement)",
)
async def cosignatures(request: Request, ledger: LedgerDep) -> Stored:
    body = await request.body()
    st = Statement.from_bytes(body)
    if st.kind != "sync.cosignatures":
        raise Problem(422, "Invalid input", "expected a sync.cosignatures statement", field="/kind")
    return Stored(stored=await run_in_threadpool(accept_cosignatures, ledger, st))
