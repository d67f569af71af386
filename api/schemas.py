"""Response models: the shapes outside verifiers rely on (field names are contracts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AppendResult",
    "CalendarYearPublic",
    "CheckpointPublic",
    "ConsistencyProof",
    "EntryPublic",
    "InclusionProof",
    "RegistrationPage",
    "RegistrationSummary",
    "CertificateDocument",
    "HistoryStep",
    "OverdueItem",
    "ProofToVerify",
    "RegistrationHistory",
    "RegistrationState",
    "VerifyRequest",
    "VerifyResult",
]


class EntryPublic(BaseModel):
    index: int
    leaf: str = Field(description="standard base64 of the entry bytes (the Merkle leaf)")
    entry: dict[str, Any] = Field(description="the entry, parsed")


class InclusionProof(BaseModel):
    index: int
    size: int
    leaf_hash: str = Field(description="base64 of SHA-256(0x00 || leaf)")
    hashes: list[str] = Field(description="RFC 9162 inclusion proof, leaf side first, base64")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64")


class CheckpointPublic(BaseModel):
    origin: str
    size: int
    root: str
    note: str = Field(description="the signed C2SP checkpoint, verbatim")


class AppendResult(BaseModel):
    index: int
    leaf_hash: str
    time: str
    receipt: str = Field(description="a signed note by the log key: regledger receipt/v1")
    state: dict[str, Any] | None = Field(default=None, description="the registration's state after this step")


class RegistrationSummary(BaseModel):
    registration: str
    code: str | None
    query_code: str | None = None
    official_code: str | None = None
    status: str
    kind: str
    region: str
    institution: str
    name: str
    updated_at: int


class RegistrationPage(BaseModel):
    items: list[RegistrationSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class VerifyResult(BaseModel):
    ok: bool
    detail: str
    claims: dict[str, Any] | None = None


class RegistrationState(BaseModel):
    """A registration's current state, folded from its entries (see docs/registry.md)."""

    model_config = ConfigDict(extra="allow")
    registration: str
    subject_kind: str
    status: str
    region: str
    fields: dict[str, Any]
    code: str | None = None
    query_code: str | None = None
    official_code: str | None = None
    reg_type: str
    history: list[dict[str, Any]]
    updated_at: int


class HistoryStep(BaseModel):
    index: int
    leaf: str = Field(description="standard base64 of the entry bytes")
    entry: dict[str, Any]
    proof: str | None = Field(default=None, description="C2SP tlog-proof against `checkpoint`; absent if newer")


class RegistrationHistory(BaseModel):
    registration: str
    checkpoint: str
    size: int
    steps: list[HistoryStep]
    vkey: str


class StatusProofDocument(BaseModel):
    """A regledger-status-proof/v1 document (docs/formats.md, "Status map")."""

    format: str
    origin: str
    checkpoint: str
    key: str
    value: dict[str, Any] | None
    siblings: str
    leaf: dict[str, str] | None


class StatusProofs(BaseModel):
    """For a lookup by code or 查询码: the alias's proof, then the registration's (one proof by id, or for an
    alias the map does not hold); every proof against the same checkpoint."""

    proofs: list[StatusProofDocument]


class CertificateDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: str
    origin: str
    registration: str
    claims: dict[str, Any]
    checkpoint: str
    entries: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    calendar: list[dict[str, Any]] = Field(
        default_factory=list,
        description=("the calendar.year entries (with proofs) the replay needs to recompute due dates"),
    )


class CalendarYearPublic(BaseModel):
    """A year's official calendar in force here, and where it comes from."""

    year: int
    holidays: list[str] = Field(description="public holidays, ISO dates")
    workdays: list[str] = Field(description="make-up working days (调休上班), Saturdays and Sundays, ISO dates")
    source: str = Field(description="the package and version, or the notice the ledger statement cites")
    from_: str = Field(alias="from", description="`package` (chinese-calendar) or `ledger` (a calendar.year entry)")
    index: int | None = Field(description="the calendar.year entry in force (null: the package)")
    replaced: list[int] = Field(description="earlier calendar.year entries for the year, replaced by this one")


class OverdueItem(BaseModel):
    registration: str
    status: str
    due: str
    name: str
    region: str
    days_late: int


class OpenObjection(BaseModel):
    index: int = Field(description="log index of the objection entry (what registration.decide cites)")
    kind: str = Field(description="registration.objection_received (lodged by the public) or registration.object")
    time: str
    document_sha256: str | None = Field(description="SHA-256 of the kept objection document (lodged ones)")


class WorkItem(BaseModel):
    registration: str
    name: str
    kind: str
    region: str
    status: str
    task: str = Field(description="accept, review, publicity, decide or code")
    due: str | None = Field(description="accept_due, review_due or publicity_end (YYYY-MM-DD), if the task has one")
    overdue: bool = Field(description="acceptance or review past its due date")
    days_late: int
    objections: list[OpenObjection] = Field(description="objections no decision has cited yet")


class WorkList(BaseModel):
    region: str
    on: str = Field(description="the date the list is for (China time)")
    items: list[WorkItem] = Field(description="overdue first, then by due date")


class ProofToVerify(BaseModel):
    proof: str = Field(description="a C2SP tlog-proof (index, inclusion hashes, signed checkpoint)")
    leaf: str = Field(description="standard base64 of the entry bytes the proof is about")


class VerifyRequest(BaseModel):
    """Send either a certificate or a proof with its leaf."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["certificate"]}, {"required": ["proof"]}]})

    certificate: CertificateDocument | None = None
    proof: ProofToVerify | None = None
    key: str | None = Field(default=None, description="the log's verifier key; default: this server's")
