"""Objections from anyone (异议): POST /v1/registrations/{id}/objections, without a key (api/intake.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..deps import LedgerDep, SettingsDep
from ..intake import lodge, parse_objection
from ..objection_read import MATCHES_LOG, READ_OBJECTION, read_objection
from ..ratelimit import client_address

router = APIRouter(prefix="/v1", tags=["objections"])


class ObjectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the objection (at most REGLEDGER_OBJECTION_MAX_CHARS characters)")
    contact: str | None = Field(
        default=None, description="how the registrars may reach the objector (optional; never in the log)"
    )
    attachment_sha256: str | None = Field(
        default=None, description="SHA-256 (hex) of a supporting document the objector keeps (optional)"
    )


class ObjectionReceipt(BaseModel):
    registration: str = Field(description="the registration's id")
    index: int = Field(description="the log index of the registration.objection_received entry")
    time: str = Field(description="when the log sequenced it (RFC 3339 UTC)")
    document_sha256: str = Field(description="SHA-256 of `document` (RFC 8785), as the entry holds it")
    document: dict[str, Any] = Field(
        description="the objection document as kept for the registrars (with a random salt): keep it to prove "
        "what was lodged; the log holds only its hash"
    )
    receipt: str = Field(description="the log's signed receipt for the entry (a signed note)")


@router.post(
    "/registrations/{id_or_code}/objections",
    response_model=ObjectionReceipt,
    status_code=202,
    summary="Lodge an objection to a registration in publicity (公示异议), without a key",
    responses={
        409: {"description": "the registration is not in publicity (or its publicity period has ended)"},
        429: {"description": "too many objections from this address"},
        503: {"description": "this server does not take objections"},
    },
)
async def lodge_objection(
    id_or_code: Annotated[str, Path(max_length=100)],
    body: ObjectionRequest,
    request: Request,
    ledger: LedgerDep,
    settings: SettingsDep,
) -> ObjectionReceipt:
    objection = parse_objection(body.model_dump(exclude_none=True), settings)
    lodged = await run_in_threadpool(
        lodge,
        ledger,
        request.app.state.intake,
        id_or_code,
        objection,
        client=client_address(request, settings),
        limiter=request.app.state.objection_limiter,
        settings=settings,
    )
    return ObjectionReceipt(**asdict(lodged))


class ObjectionDocument(BaseModel):
    registration: str = Field(description="the registration's id")
    index: int = Field(description="the log index of the registration.objection_received entry")
    document_sha256: str = Field(description="the entry's document_sha256, which the kept document hashes to")
    document: dict[str, Any] = Field(
        description="the objection document (text, contact, attachment_sha256, received_at, salt): personal data"
    )
    check: str = Field(description=f"`{MATCHES_LOG}`: the document was checked against the log's entry")


@router.post(
    "/registrations/{id_or_code}/objections/{index}/document",
    response_model=ObjectionDocument,
    summary="A registrar of the registration's region reads a lodged objection's document (a signed read request)",
    description=f"The body is a `{READ_OBJECTION}` statement signed by a registrar key serving the registration's "
    'region, with `payload` `{"objection": index}`, a fresh `nonce` and the current `time`; it is checked, never '
    "sequenced.  The kept document is shown only if its SHA-256 is the entry's `document_sha256`.",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}},
    responses={
        401: {"description": "no signed read request, or a bad signature"},
        403: {"description": "the key is not a valid registrar key of the registration's region"},
        404: {"description": "no such objection to this registration, or its document is not kept here"},
        409: {"description": "the kept document does not match the log (refused), or the request was used already"},
    },
)
async def objection_document(
    id_or_code: Annotated[str, Path(max_length=100)],
    index: Annotated[int, Path(ge=0)],
    request: Request,
    response: Response,
    ledger: LedgerDep,
    settings: SettingsDep,
) -> ObjectionDocument:
    body = await request.body()
    shown = await run_in_threadpool(
        read_objection,
        ledger,
        request.app.state.intake,
        id_or_code,
        index,
        body,
        nonces=request.app.state.read_nonces,
        settings=settings,
    )
    response.headers["Cache-Control"] = "no-store"
    return ObjectionDocument(**asdict(shown))
