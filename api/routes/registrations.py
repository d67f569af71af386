"""Registrations: search with cursor paging, one registration, its history with proofs, certificates."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query

from regledger.keys.vkey import parse_vkey
from regledger.ledger.entry import parse_json, utc_now
from regledger.ledger.errors import LedgerError
from regledger.ledger.store import StateQuery, SubjectState
from regledger.ledger.tlogproof import format_tlog_proof, verify_tlog_proof
from regledger.registry.certificate import build_certificate, status_proofs, verify_certificate
from regledger.registry.disclosure import overdue, registrar_work
from regledger.registry.workdays import iso_date
from regledger.registry.workflow import china_date

from ..deps import LedgerDep, SettingsDep
from ..lookup import REGISTRATION_ID, find, mirror, page
from ..problems import Problem
from ..schemas import (
    CertificateDocument,
    OverdueItem,
    RegistrationHistory,
    RegistrationPage,
    RegistrationState,
    RegistrationSummary,
    StatusProofs,
    VerifyRequest,
    VerifyResult,
    WorkList,
)

router = APIRouter(prefix="/v1", tags=["registrations"])


def summary(st: SubjectState) -> RegistrationSummary:
    s = st.state
    return RegistrationSummary(
        registration=s["registration"],
        code=s.get("code"),
        query_code=s.get("query_code"),
        official_code=s.get("official_code"),
        status=st.status,
        kind=st.kind,
        region=st.region,
        institution=st.institution,
        name=st.name,
        updated_at=st.updated_at,
    )


OriginQuery = Annotated[
    str | None,
    Query(
        max_length=255,
        description=("the log a registration was made in, when it came here through the cascade (default: this log)"),
    ),
]


@router.get("/registrations", response_model=RegistrationPage, summary="Search registrations")
def search(
    ledger: LedgerDep,
    settings: SettingsDep,
    kind: Annotated[str | None, Query(pattern="^(resource|product|institution)$")] = None,
    status: Annotated[str | None, Query(pattern="^[A-Z_]{1,32}$")] = None,
    region: Annotated[str | None, Query(pattern="^[0-9]{1,6}$", description="region code prefix")] = None,
    institution: Annotated[str | None, Query(max_length=18)] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in name or code")] = None,
    cursor: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    origin: OriginQuery = None,
) -> RegistrationPage:
    n = limit or settings.default_page
    if n > settings.max_page:
        raise Problem(422, "Invalid input", f"limit is at most {settings.max_page}", field="/limit")
    items, next_cursor = page(
        ledger, StateQuery(kind or "", status or "", region or "", institution or "", q or ""), cursor, n, origin
    )
    return RegistrationPage(items=[summary(st) for st in items], next_cursor=next_cursor)


@router.get(
    "/registrations/{id_or_code}",
    response_model=RegistrationState,
    summary="A registration's current state (by id, uniform code or 查询码)",
)
def registration(id_or_code: str, ledger: LedgerDep, origin: OriginQuery = None) -> Mapping[str, Any]:
    return find(ledger, id_or_code, origin).state


@router.get(
    "/registrations/{id_or_code}/history",
    response_model=RegistrationHistory,
    summary="Each step as a signed entry with its inclusion proof",
)
def history(id_or_code: str, ledger: LedgerDep, origin: OriginQuery = None) -> dict[str, Any]:
    """For a registration from another log, each step is this log's sync.entries entry that carries it
    (nested once per level of the cascade), with its proof in this log's tree."""
    st = find(ledger, id_or_code, origin)
    size, note = ledger.checkpoint()
    steps = []
    for h in st.state["history"]:
        i = h.get("cascade_index", h["index"]) if mirror(ledger, origin) else h["index"]
        leaf = ledger.entries(i, i + 1)[0]
        item: dict[str, Any] = {"index": i, "leaf": base64.b64encode(leaf).decode(), "entry": parse_json(leaf)}
        if i < size:
            item["proof"] = format_tlog_proof(i, ledger.inclusion_proof(i, size), note)
        steps.append(item)
    return {
        "registration": st.state["registration"],
        "checkpoint": note.decode(),
        "size": size,
        "steps": steps,
        "vkey": ledger.verifier().vkey(),
    }


@router.get(
    "/registrations/{id_or_code}/status-proof",
    response_model=StatusProofs,
    summary="Status proofs: the registration's whole history (or that it does not exist) as of a checkpoint",
)
def status_proof(
    id_or_code: str,
    ledger: LedgerDep,
    size: Annotated[
        int | None, Query(ge=1, le=2**62, description="a checkpointed tree size (default: the latest checkpoint)")
    ] = None,
    origin: OriginQuery = None,
) -> dict[str, Any]:
    """An id, code or 查询码 that does not exist gets a 200 with its non-existence proof (value null)."""
    if not REGISTRATION_ID.fullmatch(id_or_code):
        raise Problem(422, "Invalid input", "not a registration id, code or 查询码", field="/id")
    return {"proofs": status_proofs(ledger, id_or_code, size, mirror(ledger, origin))}


@router.get(
    "/registrations/{code}/certificate",
    response_model=CertificateDocument,
    summary="The registration's offline-verifiable certificate",
)
def certificate(code: str, ledger: LedgerDep) -> dict[str, Any]:
    st = find(ledger, code)
    if not st.state.get("code"):
        raise Problem(409, "Not coded", f"registration {st.state['registration']} has no code yet", field="/code")
    return build_certificate(ledger, st.state["code"])


@router.get("/overdue", response_model=list[OverdueItem], summary="Applications past their statutory due date")
def list_overdue(
    ledger: LedgerDep,
    on: Annotated[
        str | None, Query(max_length=10, description="a date, YYYY-MM-DD (default: today, China time)")
    ] = None,
) -> list[dict[str, Any]]:
    return overdue(ledger.store, iso_date(on, "/on") if on is not None else china_date(utc_now()))


@router.get(
    "/work/registrar",
    response_model=WorkList,
    summary="A registrar's work list for a region: to accept, in review, in publicity, objections to decide, to code",
)
def registrar_work_list(
    ledger: LedgerDep,
    region: Annotated[str, Query(pattern="^[0-9]{6}$", description="the region the registrar key serves (its scope)")],
    on: Annotated[
        str | None, Query(max_length=10, description="a date, YYYY-MM-DD (default: today, China time)")
    ] = None,
) -> WorkList:
    day = iso_date(on, "/on") if on is not None else china_date(ledger.clock())
    items = registrar_work(ledger.store, region, day)
    return WorkList.model_validate({"region": region, "on": day.isoformat(), "items": items})


@router.post("/verify", response_model=VerifyResult, summary="Check a certificate, or a tlog-proof and its leaf")
def verify(body: VerifyRequest, ledger: LedgerDep) -> VerifyResult:
    if (body.certificate is None) == (body.proof is None):
        raise Problem(422, "Invalid input", "send exactly one of certificate and proof", field="/certificate")
    vkey = body.key or ledger.verifier().vkey()
    if body.proof is not None:
        try:
            leaf = base64.b64decode(body.proof.leaf, validate=True)
        except ValueError:
            raise Problem(422, "Invalid input", "leaf must be standard base64", field="/proof/leaf") from None
        try:
            verifier = parse_vkey(vkey)
            proof, cp = verify_tlog_proof(body.proof.proof, leaf, origin=verifier.name, verifier=verifier)
        except LedgerError as exc:
            return VerifyResult(ok=False, detail=str(exc))
        return VerifyResult(
            ok=True,
            detail=f"entry {proof.index} is in the log's checkpoint of size {cp.size}",
            claims={"index": proof.index, "size": cp.size, "origin": cp.origin},
        )
    assert body.certificate is not None
    cert = body.certificate.model_dump()
    try:
        claims = verify_certificate(cert, vkey)
    except LedgerError as exc:
        return VerifyResult(ok=False, detail=str(exc))
    if claims["complete"]:
        detail = (
            f"complete history as of checkpoint {claims['checkpoint_size']} (time {claims['checkpoint_time']}, "
            f"its last entry's): status {claims['status']}, {claims['entries']} entries"
        )
    else:
        detail = (
            f"{claims['entries']} entries proven in checkpoint {claims['checkpoint_size']}; a v1 certificate "
            "cannot show that no later step exists"
        )
    return VerifyResult(ok=True, detail=detail, claims=claims)
