"""Drafts and statement schemas: what a clerk's client needs to build a statement the server will take.

`POST /v1/drafts` answers the complete unsigned statement for what the clerk decided (kind, subject,
payload): due dates on the ledger's calendar, the next code, the server's time and a fresh nonce.
When it names the signing key, the draft is checked exactly as the signed statement would be, and
refused with the same problem; nothing is written.  The clerk signs it with their own key (the
server never holds it) and posts it to /v1/statements.
"""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, RootModel

from regledger.ledger.entry import Statement
from regledger.ledger.errors import NotFoundError
from regledger.registry.calendar import stored_calendar
from regledger.registry.client import draft_payload
from regledger.registry.statement_schemas import STATEMENT_KINDS, statement_schema, statement_schemas

from ..deps import LedgerDep
from ..kinds import ALLOWED_KINDS
from ..problems import Problem

router = APIRouter(prefix="/v1", tags=["writes"])
_UNSIGNED = base64.b64encode(bytes(64)).decode()


class DraftRequest(BaseModel):
    kind: str = Field(
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        description="the statement kind, e.g. registration.accept (GET /v1/schemas lists them)",
    )
    subject: str = Field(min_length=1, max_length=256, description="the registration id (or, for key.*, the key id)")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="what the clerk decides; due dates and a first code are filled in"
    )
    key: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{32}$",
        description="the id of the key that will sign: the draft is then checked as its statement",
    )


class DraftResult(BaseModel):
    statement: dict[str, Any] = Field(
        description="the statement to sign, without `sig` (and without `key` unless the request named it)"
    )
    warnings: list[str] = Field(description="what the server changed or could not check")


@router.post(
    "/drafts",
    response_model=DraftResult,
    summary="Prepare the unsigned statement the server would accept (writes nothing)",
    responses={
        403: {"description": "the named key may not take this step"},
        409: {"description": "the step is not allowed in the registration's state now"},
    },
)
def draft(body: DraftRequest, ledger: LedgerDep) -> DraftResult:
    if not body.kind.startswith(ALLOWED_KINDS):
        raise Problem(422, "Invalid input", "drafts are for registration.* and key.* statements", field="/kind")
    time = ledger.clock()
    payload, warnings = dict(body.payload), list[str]()
    if body.kind.startswith("registration."):
        payload, warnings = draft_payload(
            ledger.store, body.kind, body.subject, body.payload, time=time, calendar=stored_calendar(ledger.store)
        )
    doc: dict[str, Any] = {
        "kind": body.kind,
        "subject": body.subject,
        "payload": payload,
        "time": time,
        "nonce": secrets.token_hex(16),
    }
    if body.key is None:
        warnings.append("not checked against a key: name the signing key in `key` to have the draft checked")
    else:
        doc["key"] = body.key
        ledger.check_unsigned([Statement.from_json({**doc, "sig": _UNSIGNED})])
    return DraftResult(statement=doc, warnings=warnings)


class StatementSchemas(RootModel[dict[str, Any]]):
    """`{"$schema", "kinds": {kind: its JSON Schema}, "$defs": the definitions they share}`."""


class JsonSchemaDocument(RootModel[dict[str, Any]]):
    """A JSON Schema (draft 2020-12) of one statement kind, with `x-signer-role` and `x-from-states`."""


@router.get(
    "/schemas",
    response_model=StatementSchemas,
    summary="The JSON Schema of every statement kind, with who signs it and when",
)
def schemas() -> dict[str, Any]:
    kinds, defs = statement_schemas()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "kinds": kinds, "$defs": defs}


@router.get("/schemas/{kind}", response_model=JsonSchemaDocument, summary="The JSON Schema of one statement kind")
def schema(kind: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    if kind not in STATEMENT_KINDS:
        raise Problem(404, "Not found", f"no statement kind {kind}; GET /v1/schemas lists them", field="/kind")
    return statement_schema(kind)


def statements_request_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI request body of POST /v1/statements (a oneOf discriminated by kind) and the components
    it refers to."""
    kinds, defs = statement_schemas("#/components/schemas/{model}")
    components = {**defs, **{f"Statement_{k}": s for k, s in kinds.items()}}
    body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [{"$ref": f"#/components/schemas/Statement_{k}"} for k in kinds],
                    "discriminator": {
                        "propertyName": "kind",
                        "mapping": {k: f"#/components/schemas/Statement_{k}" for k in kinds},
                    },
                }
            }
        },
    }
    return body, components


class KeyPublic(BaseModel):
    key_id: str
    name: str
    role: str
    scope: dict[str, Any]
    public_key: str = Field(description="base64 of the raw Ed25519 public key")
    registered_at: int = Field(description="index of its key.register entry")
    revoked_at: int | None = Field(description="index of its key.revoke entry, once revoked")


@router.get(
    "/keys/{name_or_id:path}",
    response_model=KeyPublic,
    tags=["keys"],
    summary="A registered statement key, by its id or its name (what `regledger key revoke` looks up); a name may "
    "hold `/` (`admin@regledger.example.gov.cn/demo`), sent as is or as %2F",
)
def key(name_or_id: Annotated[str, Path(max_length=128)], ledger: LedgerDep) -> KeyPublic:
    rec = ledger.store.get_keys([name_or_id]).get(name_or_id)
    if rec is None:
        rec = next((k for k in ledger.store.all_keys() if k.name == name_or_id), None)
    if rec is None:
        raise NotFoundError(f"no key named {name_or_id} or with that id")
    return KeyPublic(
        key_id=rec.key_id,
        name=rec.name,
        role=rec.role,
        scope=dict(rec.scope),
        public_key=base64.b64encode(rec.public_key).decode(),
        registered_at=rec.registered_at,
        revoked_at=rec.revoked_at,
    )
