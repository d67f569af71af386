"""The registration record schema (domain.md section 6), validated with typed models.

Validation failures become MalformedError with a JSON-pointer path to the offending field
(e.g. /payload/fields/holder/uscc), so an HTTP edge can report them as RFC 9457 problems.
USCC and region codes are checked here for form; region validity as of the event date and
links to other registrations are checked by the workflow, which knows the date and the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from regledger.ledger.errors import MalformedError

from .industries import CODE_PATTERN, default_industries
from .uscc import CHARSET, validate_uscc

__all__ = ["SUBJECT_KINDS", "InstitutionFields", "ProductFields", "ResourceFields", "validate_fields"]

Text = StrictStr
#: the forms the validators below check, for the JSON Schemas (registry.statement_schemas); the
#: validators check more (check characters, codes in force), with their own messages
_USCC_FORM = Field(json_schema_extra={"pattern": f"^[{CHARSET}]{{18}}$", "description": "统一社会信用代码 (USCC)"})
_REGION_FORM = Field(json_schema_extra={"pattern": "^[0-9]{6}$", "description": "GB/T 2260 region code"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _uscc(v: str) -> str:
    try:
        return validate_uscc(v, field="")
    except MalformedError as exc:
        raise ValueError(exc.message) from None


def _region(v: str) -> str:
    if not (len(v) == 6 and v.isascii() and v.isdigit()):
        raise ValueError("must be a 6-digit GB/T 2260 administrative division code")
    return v


def _industry(v: str) -> str:
    try:
        default_industries().validate(v, field="")
    except MalformedError as exc:
        raise ValueError(exc.message) from None
    return v


class Party(_Model):
    """A 登记主体 or other party: every party is keyed by its USCC."""

    name: Text = Field(min_length=1, max_length=200)
    uscc: Text = _USCC_FORM
    category: Literal["持有单位", "实施机构", "运营机构", "开发利用机构", "公用企业"]
    region: Text = _REGION_FORM
    contact: Text | None = Field(default=None, max_length=200)

    _v_uscc = field_validator("uscc")(classmethod(lambda cls, v: _uscc(v)))
    _v_region = field_validator("region")(classmethod(lambda cls, v: _region(v)))


class Agent(_Model):
    """委托代理: who registers on the registrant's behalf, with the letter of authority's hash."""

    name: Text = Field(min_length=1, max_length=200)
    uscc: Text = _USCC_FORM
    authority_letter_sha256: Text = Field(pattern=r"^[0-9a-f]{64}$")

    _v_uscc = field_validator("uscc")(classmethod(lambda cls, v: _uscc(v)))


class Storage(_Model):
    location: Text = Field(min_length=1, max_length=200)
    method: Text = Field(min_length=1, max_length=100)


class Classification(_Model):
    category: Text = Field(min_length=1, max_length=100)
    security_level: Literal["一般数据", "重要数据", "核心数据"]


def _iso_date(v: Any) -> Any:
    """Dates travel in JSON as ISO strings; strict mode would otherwise refuse them."""
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise ValueError("must be an ISO date such as 2025-01-31") from None
    return v


class TimeRange(_Model):
    start: date
    end: date | None = None

    _v_dates = field_validator("start", "end", mode="before")(classmethod(lambda cls, v: _iso_date(v)))

    @field_validator("end")
    @classmethod
    def _ordered(cls, v: date | None, info: Any) -> date | None:
        start = info.data.get("start")
        if v is not None and start is not None and v < start:
            raise ValueError("must not be before start")
        return v


class _Common(_Model):
    name: Text = Field(min_length=1, max_length=200)
    summary: Text = Field(min_length=1, max_length=2000, description="数据内容简介 (published during 公示)")
    holder: Party
    region: Text = _REGION_FORM
    agent: Agent | None = None
    commitment_sha256: Text = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the signed 登记承诺书")
    documents: list[Text] = Field(default_factory=list, max_length=20, description="SHA-256 of attached documents")

    _v_region = field_validator("region")(classmethod(lambda cls, v: _region(v)))


class ResourceFields(_Common):
    """公共数据资源 (catalogue type 1)."""

    data_type: Text = Field(min_length=1, max_length=50)
    data_format: Text = Field(min_length=1, max_length=50)
    source: Text = Field(min_length=1, max_length=200)
    records: StrictInt | None = Field(default=None, ge=0)
    volume_bytes: StrictInt | None = Field(default=None, ge=0)
    update_frequency: Literal["实时", "每日", "每周", "每月", "每季度", "每年", "不定期"]
    time_range: TimeRange | None = None
    data_items: list[Text] = Field(default_factory=list, max_length=500)
    classification: Classification
    industry_code: Text = Field(
        min_length=1,
        max_length=10,
        description="GB/T 4754-2017, e.g. L72 or I6510",
        json_schema_extra={"pattern": f"^{CODE_PATTERN}$"},
    )
    storage: Storage
    in_authorised_scope: StrictBool
    supply_mode: Literal["共享", "开放", "授权运营"]
    access_method: Literal["open", "authorized_operation", "apply"]
    open_url: Text | None = Field(default=None, max_length=500)

    _v_industry = field_validator("industry_code")(classmethod(lambda cls, v: _industry(v)))


class Authorisation(_Model):
    agreement_id: Text = Field(min_length=1, max_length=100)
    valid_from: date
    valid_to: date
    scope: Text = Field(min_length=1, max_length=500)

    _v_dates = field_validator("valid_from", "valid_to", mode="before")(classmethod(lambda cls, v: _iso_date(v)))

    @field_validator("valid_to")
    @classmethod
    def _ordered(cls, v: date, info: Any) -> date:
        start = info.data.get("valid_from")
        if start is not None and v < start:
            raise ValueError("must not be before valid_from")
        return v


class ProductFields(_Common):
    """数据产品和服务 (catalogue type 2), derived from registered resources."""

    form: Literal["数据集", "数据接口", "模型", "核验服务", "分析报告", "其他"]
    source_codes: list[Text] = Field(min_length=1, max_length=100, description="uniform codes of the resources used")
    scenarios: list[Text] = Field(min_length=1, max_length=20)
    public_welfare: StrictBool = Field(description="公共治理、公益事业: free of charge")
    price_cap_ref: Text | None = Field(default=None, max_length=200, description="上限收费标准 reference")
    price: Text | None = Field(default=None, pattern=r"^\d{1,12}(\.\d{1,2})?$", description="具体收费标准 in yuan")
    delivery: Text = Field(min_length=1, max_length=100)
    operator_uscc: Text = _USCC_FORM
    authorisation: Authorisation

    _v_op = field_validator("operator_uscc")(classmethod(lambda cls, v: _uscc(v)))


class InstitutionFields(_Model):
    """An institution in the programme: 运营机构, 开发利用机构, 实施机构 or 持有单位."""

    name: Text = Field(min_length=1, max_length=200)
    summary: Text = Field(min_length=1, max_length=2000)
    holder: Party  # the institution itself
    region: Text = _REGION_FORM
    role: Literal["运营机构", "开发利用机构", "实施机构", "持有单位"]
    authorisation: Authorisation | None = None
    commitment_sha256: Text = Field(pattern=r"^[0-9a-f]{64}$")
    agent: Agent | None = None

    _v_region = field_validator("region")(classmethod(lambda cls, v: _region(v)))


SUBJECT_KINDS: dict[str, type[_Model]] = {
    "resource": ResourceFields,
    "product": ProductFields,
    "institution": InstitutionFields,
}
#: catalogue type used in codes (domain.md 3.6 dataRegistType; 4 is ours for institutions)
KIND_CODE_TYPE = {"resource": 1, "product": 2, "institution": 4}


def validate_fields(kind: str, fields: Any, *, field: str) -> dict[str, Any]:
    """Validate `fields` for a subject kind; returns the JSON form or raises MalformedError(field path)."""
    model = SUBJECT_KINDS.get(kind)
    if model is None:
        raise MalformedError(
            f"must be one of {', '.join(SUBJECT_KINDS)}", field=field.rsplit("/", 1)[0] + "/subject_kind"
        )
    if not isinstance(fields, Mapping):
        raise MalformedError("must be an object", field=field)
    try:
        return model.model_validate(dict(fields)).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = field + "".join(f"/{p}" for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        raise MalformedError(msg, field=path) from None
