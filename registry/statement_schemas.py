"""A JSON Schema for each statement kind a clerk or an administrator sends, built from the code that checks it.

The application fields come from the pydantic models that validate them (registry.fields); who may sign a
step and in which states from the workflow's KINDS table; key roles and scopes from the keyring and
key_scope; the statement envelope from ledger.entry's rules.  What a step's handler checks on its own
(a reason, `upheld`, the items of a supplement request) is listed in STEP_MEMBERS beside them: tests
post generated statements to a server and require the schema and the server to refuse the same ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from regledger.ledger.keyring import KEY_REGISTER, KEY_REVOKE, ROLES

from .client import DUE_DATES
from .fields import SUBJECT_KINDS
from .key_scope import SCOPE_MEMBERS
from .workflow import KINDS

__all__ = ["KIND_LABELS", "STATEMENT_KINDS", "STEP_MEMBERS", "statement_schema", "statement_schemas"]

#: statement kind -> its name in the measures (shown in the schema's title)
KIND_LABELS: dict[str, str] = {
    "registration.apply": "登记申请",
    "registration.change": "变更登记",
    "registration.correction": "更正登记",
    "registration.cancel": "注销登记",
    "registration.supplement": "一次性告知补正",
    "registration.resubmit": "补正后重新提交",
    "registration.refuse": "不予受理",
    "registration.accept": "受理",
    "registration.reject": "形式审核不通过",
    "registration.publish": "形式审核通过并公示",
    "registration.object": "公示异议",
    "registration.objection_received": "收到公众异议（本平台受理密钥签署）",
    "registration.decide": "异议处理决定",
    "registration.code": "赋码（登记完成）",
    "registration.revoke": "撤销登记",
    "registration.code_assigned": "上级平台赋予的统一编码",
    KEY_REGISTER: "登记密钥",
    KEY_REVOKE: "吊销密钥",
}
STATEMENT_KINDS = tuple(KIND_LABELS)

_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_REASON = {**_TEXT, "description": "why (required, not blank)"}

#: what each step's handler (registry.workflow.HANDLERS) reads from the payload: (member, schema, required)
STEP_MEMBERS: dict[str, list[tuple[str, dict[str, Any], bool]]] = {
    "registration.apply": [
        (
            "operation_started",
            {**_DATE, "description": "when the resource went into operation (not after the application's date)"},
            False,
        )
    ],
    "registration.change": [("reason", _REASON, True), ("fields", {"$fields": True}, True)],
    "registration.correction": [("reason", _REASON, True), ("fields", {"$fields": True}, True)],
    "registration.cancel": [("reason", _REASON, True)],
    "registration.supplement": [
        (
            "items",
            {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1},
                "description": "every item to supplement, at once (一次性告知)",
            },
            True,
        )
    ],
    "registration.resubmit": [("fields", {"$fields": True}, False)],
    "registration.refuse": [("reason", _REASON, True)],
    "registration.accept": [],
    "registration.reject": [("reason", _REASON, True)],
    "registration.publish": [],
    "registration.object": [
        ("reason", _REASON, True),
        ("objector", {"description": "who objects (text; anything else is ignored)"}, False),
    ],
    "registration.objection_received": [
        (
            "document_sha256",
            {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 (hex) of the objection document kept outside the log (never its text)",
            },
            True,
        )
    ],
    "registration.decide": [
        ("upheld", {"type": "boolean", "description": "true: objection upheld; false: dismissed"}, True),
        ("reason", _REASON, True),
        (
            "objection",
            {
                "type": "integer",
                "minimum": 0,
                "description": "the log index of the objection this decides (its registration.objection_received "
                "or registration.object entry); required while the registration is in publicity",
            },
            False,
        ),
    ],
    "registration.code": [
        (
            "code",
            {
                "type": "string",
                "pattern": "^PDR-",
                "description": "the next code in the "
                "series (a first coding) or the registration's own code; a draft fills it in",
            },
            True,
        )
    ],
    "registration.revoke": [("reason", _REASON, True)],
    "registration.code_assigned": [("official_code", {"type": "string", "minLength": 1, "maxLength": 64}, True)],
}


def _fields_schemas(ref: str) -> dict[str, dict[str, Any]]:
    """subject kind -> the JSON Schema of its fields, as its pydantic model validates them."""
    return {kind: TypeAdapter(model).json_schema(ref_template=ref) for kind, model in SUBJECT_KINDS.items()}


def _payload(kind: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    any_fields = {
        "anyOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in SUBJECT_KINDS.values()],
        "description": "the registration's fields, as for its subject kind (registration.apply)",
    }
    props: dict[str, Any] = {}
    required: list[str] = []
    if kind == "registration.apply":
        props["subject_kind"] = {
            "enum": list(SUBJECT_KINDS),
            "description": "resource 公共数据资源, product 数据产品和服务, institution 机构",
        }
        props["fields"] = {"description": "the record (domain.md section 6); its schema depends on subject_kind"}
        required += ["subject_kind", "fields"]
    for name, schema, req in STEP_MEMBERS[kind]:
        props[name] = any_fields if schema.get("$fields") else schema
        if req:
            required.append(name)
    due = DUE_DATES.get(kind)
    if due is not None:
        props[due] = {
            **_DATE,
            "description": "computed on the ledger's working-day calendar from the statement's "
            "date (China time); POST /v1/drafts fills it in",
        }
        required.append(due)
    out: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if kind == "registration.apply":  # the fields' schema is chosen by subject_kind
        out["allOf"] = [
            {
                "if": {"properties": {"subject_kind": {"const": k}}, "required": ["subject_kind"]},
                "then": {"properties": {"fields": {"$ref": f"#/$defs/{SUBJECT_KINDS[k].__name__}"}}},
            }
            for k in SUBJECT_KINDS
        ]
    return out


def _key_payload(kind: str) -> dict[str, Any]:
    if kind == KEY_REVOKE:
        return {
            "type": "object",
            "properties": {"reason": _REASON},
            "required": ["reason"],
            "additionalProperties": False,
        }
    scope = {
        "type": "object",
        "description": "what the key acts for, by role: "
        + "; ".join(f"{r}: {', '.join(m) or 'nothing'}" for r, m in SCOPE_MEMBERS.items()),
        "properties": {
            "institution": {
                "type": "string",
                "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$",
                "description": "USCC (a registrant key)",
            },
            "region": {
                "type": "string",
                "pattern": "^[0-9]{6}$",
                "description": "GB/T 2260 code (a registrar or authority key)",
            },
            "parent": {"const": True},
        },
        "additionalProperties": False,
    }
    by_role = [
        {
            "if": {"properties": {"role": {"const": role}}, "required": ["role"]},
            "then": {"required": ["scope"], "properties": {"scope": {"required": list(members)}}},
        }
        for role, members in SCOPE_MEMBERS.items()
        if role != "platform" and members
    ]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["public_key", "name", "role"],
        "properties": {
            "public_key": {
                "type": "string",
                "pattern": "^[A-Za-z0-9+/]{43}=$",
                "description": "base64 of the 32-byte Ed25519 key",
            },
            "name": {"type": "string", "pattern": r"^[^\s+]{1,128}$"},
            "role": {"enum": list(ROLES)},
            "scope": scope,
        },
        "allOf": by_role,
    }


def _signers(kind: str) -> tuple[str, list[str | None]]:
    if kind in KINDS:
        role, froms = KINDS[kind]
        return ("any registered key" if role == "*" else role), list(froms)
    return "admin", []


def _envelope(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    role, froms = _signers(kind)
    subject = (
        {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "the key's id"}
        if kind.startswith("key.")
        else {
            "type": "string",
            "pattern": r"^[\w.\-]{1,100}$",
            "description": "the registration id: the applicant "
            "chooses it in registration.apply (not PDR-… and not a 查询码); later steps name it",
        }
    )
    return {
        "title": f"{kind} ({KIND_LABELS[kind]})",
        "description": f"signed by: {role}"
        + (f"; allowed in states: {', '.join(s or '(not applied for)' for s in froms)}" if froms else ""),
        "x-signer-role": role,
        "x-from-states": froms,
        "type": "object",
        "required": ["kind", "subject", "payload", "time", "key", "sig", "nonce"],
        "properties": {
            "kind": {"const": kind},
            "subject": subject,
            "payload": payload,
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 UTC, within the server's allowed skew of its clock",
            },
            "key": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "the signing key's id"},
            "sig": {
                "type": "string",
                "description": "base64 Ed25519 signature over the RFC 8785 statement without sig",
            },
            "nonce": {"type": "string", "pattern": "^[A-Za-z0-9]{16,64}$", "description": "once per key"},
        },
    }


def statement_schemas(ref_template: str = "#/$defs/{model}") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(kind -> the statement's schema, the shared definitions its `$ref`s point at under `ref_template`)."""
    fields = _fields_schemas(ref_template)
    defs: dict[str, Any] = {}
    for kind, schema in fields.items():
        defs.update(schema.pop("$defs", {}))
        defs[SUBJECT_KINDS[kind].__name__] = schema
    out = {}
    for kind in STATEMENT_KINDS:
        payload = _key_payload(kind) if kind.startswith("key.") else _payload(kind, fields)
        out[kind] = _envelope(kind, payload)
    prefix = ref_template.split("{", 1)[0]
    if prefix != "#/$defs/":  # our own refs were written for $defs
        out = _retarget(out, prefix)
    return out, defs


def _retarget(value: Any, prefix: str) -> Any:
    if isinstance(value, dict):
        return {
            k: (v.replace("#/$defs/", prefix) if k == "$ref" and isinstance(v, str) else _retarget(v, prefix))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_retarget(v, prefix) for v in value]
    return value


def statement_schema(kind: str) -> dict[str, Any]:
    """One kind's standalone JSON Schema (draft 2020-12), with the definitions it uses."""
    schemas, defs = statement_schemas()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/v1/schemas/{kind}",
        **schemas[kind],
        "$defs": defs,
    }
