"""The cascade's endpoints: children push here, parents hand cosignatures down, anyone reads status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from regledger.ledger.checkpoint import parse_checkpoint_text
from regledger.ledger.entry import Statement
from regledger.ledger.errors import NotFoundError
from regledger.ledger.note import open_note
from regledger.sync.cascade import accept_cosignatures
from regledger.sync.manage import parent, sync_status
from regledger.sync.policy import verifier_for
from regledger.sync.state import child_key

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
    return SyncStatus(origin=ledger.origin, parent=parent(ledger),
                      children=[ChildStatus(**c) for c in sync_status(ledger)],
                      worker=worker.describe() if worker else None)


@router.post("/notify", response_model=Notified, status_code=202,
             summary="A child announces a new checkpoint (body: the signed note); this instance then pulls",
             openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}},
                                            "required": True}})
async def notify(request: Request, ledger: LedgerDep) -> Notified:
    body = await request.body()
    return await run_in_threadpool(_notify, request, body, ledger)


def _notify(request: Request, body: bytes, ledger: Any) -> Notified:
    origin = body.split(b"\n", 1)[0].decode("utf-8", "replace")
    st = ledger.store.get_state(child_key(origin))
    if st is None:
        raise NotFoundError(f"{origin!r} is not a child of {ledger.origin}")
    verifier = verifier_for(st.state["vkey"])
    cp = parse_checkpoint_text(open_note(body, [verifier]).text)  # only the child's own key counts
    worker = getattr(request.app.state, "sync_worker", None)
    if worker is not None and cp.size > st.state["verified_size"]:
        worker.notify()
    return Notified(origin=origin, size=cp.size, verified_size=st.state["verified_size"],
                    pulling=worker is not None and cp.size > st.state["verified_size"])


@router.post("/cosignatures", response_model=Stored,
             summary="The parent hands down cosignatures (a signed sync.cosignatures statement)")
async def cosignatures(request: Request, ledger: LedgerDep) -> Stored:
    body = await request.body()
    st = Statement.from_bytes(body)
    if st.kind != "sync.cosignatures":
        raise Problem(422, "Invalid input", "expected a sync.cosignatures statement", field="/kind")
    return Stored(stored=await run_in_threadpool(accept_cosignatures, ledger, st))
