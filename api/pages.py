"""Public HTML pages (公示/公开页面): server-rendered with Jinja2, readable without JavaScript.

Only the "verify / 验证" button on a registration's page needs JavaScript (static/verify.js): it
fetches `/v1/registrations/{id}/history` and checks, in the browser alone, the checkpoint's
signed-note signature and each step's RFC 9162 inclusion proof against the signed root.

Every page is left out of the OpenAPI schema (they are HTML, not API), escapes every value
(autoescape is on for every template) and answers a bad query with a 4xx HTML page, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from regledger.ledger.entry import canonical_json
from regledger.ledger.errors import LedgerError, MalformedError, NotFoundError
from regledger.ledger.store import StateQuery, SubjectState
from regledger.registry.codes import is_query_code
from regledger.registry.disclosure import PUBLIC_LISTS
from regledger.registry.state import Registration, registration_id
from regledger.registry.workflow import CHINA

from .deps import LedgerDep, SettingsDep
from .display import Names, field_changes
from .intake import lodge, parse_objection
from .lookup import REGISTRATION_ID, find, page
from .problems import Problem, status_of
from .ratelimit import client_address

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "router"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every template, whatever its name: all data is escaped
    undefined=jinja2.ChainableUndefined,  # a missing field renders empty instead of failing
    trim_blocks=True,
    lstrip_blocks=True,
)

#: headers on every page: no inline script or style may run, only our own files
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: list page -> (status, 中文, English)
LISTS: dict[str, tuple[str, str, str]] = {
    "publicity": (PUBLIC_LISTS["publicity"], "公示中", "In publicity"),
    "registered": (PUBLIC_LISTS["registered"], "已登记", "Registered"),
    "cancelled": (PUBLIC_LISTS["cancelled"], "已注销", "Cancelled"),
    "revoked": (PUBLIC_LISTS["revoked"], "已撤销", "Revoked"),
}

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "SUBMITTED": ("已申请", "Submitted"),
    "SUPPLEMENT_REQUIRED": ("待补正", "Supplement required"),
    "NOT_ACCEPTED": ("不予受理", "Not accepted"),
    "FORMAL_REVIEW": ("形式审核中", "In formal review"),
    "REVIEW_REJECTED": ("审核未通过", "Review rejected"),
    "PUBLICITY": ("公示中", "In publicity"),
    "OBJECTION_UNDER_REVIEW": ("异议处理中", "Objection under review"),
    "OBJECTION_UPHELD": ("异议成立", "Objection upheld"),
    "REVIEWED": ("已审核", "Reviewed"),
    "CODED": ("已登记", "Registered"),
    "CANCELLED": ("已注销", "Cancelled"),
    "REVOKED": ("已撤销", "Revoked"),
}

KIND_LABELS: dict[str, tuple[str, str]] = {
    "resource": ("数据资源", "Data resource"),
    "product": ("数据产品", "Data product"),
    "institution": ("运营机构", "Operating institution"),
}

STEP_LABELS: dict[str, tuple[str, str]] = {
    "registration.apply": ("申请", "Application"),
    "registration.change": ("变更申请", "Change"),
    "registration.correction": ("更正申请", "Correction"),
    "registration.cancel": ("注销申请", "Cancellation"),
    "registration.supplement": ("补正通知", "Supplement requested"),
    "registration.resubmit": ("补正后重新提交", "Resubmitted"),
    "registration.refuse": ("不予受理", "Refused"),
    "registration.accept": ("受理", "Accepted"),
    "registration.reject": ("审核不通过", "Rejected in review"),
    "registration.publish": ("公示", "Published for publicity"),
    "registration.object": ("异议", "Objection"),
    "registration.objection_received": ("收到公众异议", "Objection received from the public"),
    "registration.decide": ("异议处理决定", "Objection decided"),
    "registration.code": ("赋码 / 办结", "Coded / completed"),
    "registration.revoke": ("撤销", "Revoked"),
    "registration.code_assigned": ("国家编码", "National code assigned"),
}

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "name": ("名称", "Name"),
    "summary": ("内容简介", "Summary"),
    "holder": ("登记主体", "Registrant"),
    "agent": ("代理机构", "Agent"),
    "region": ("行政区划", "Region"),
    "data_type": ("数据类型", "Data type"),
    "data_format": ("数据格式", "Data format"),
    "records": ("数据量（条）", "Records"),
    "update_frequency": ("更新频率", "Update frequency"),
    "source": ("数据来源", "Source"),
    "source_codes": ("来源登记编码", "Source registration codes"),
    "classification": ("分类分级", "Classification"),
    "industry_code": ("行业代码", "Industry code"),
    "storage": ("存储", "Storage"),
    "supply_mode": ("供给方式", "Supply mode"),
    "access_method": ("访问方式", "Access method"),
    "in_authorised_scope": ("在授权范围内", "In authorised scope"),
    "operation_started": ("开始运营日期", "Operation started"),
    "data_items": ("数据项", "Data items"),
    "documents": ("附件", "Documents"),
    "commitment_sha256": ("承诺书摘要 (SHA-256)", "Commitment (SHA-256)"),
    # inside the particulars
    "uscc": ("统一社会信用代码", "USCC"),
    "category": ("类别", "Category"),
    "security_level": ("安全级别", "Security level"),
    "location": ("位置", "Location"),
    "method": ("方式", "Method"),
    # in the history's step details
    "reason": ("理由", "Reason"),
    "items": ("补正材料", "Items to supply"),
    "objector": ("异议人", "Objector"),
    "upheld": ("异议成立", "Upheld"),
    "late": ("逾期", "Late"),
    "accept_due": ("受理期限", "Acceptance due"),
    "review_due": ("审核期限", "Review due"),
    "publicity_start": ("公示开始", "Publicity starts"),
    "publicity_end": ("公示结束", "Publicity ends"),
    "code": ("登记编码", "Registration code"),
    "query_code": ("查询码", "Query code"),
    "official_code": ("国家登记编码", "National code"),
}

#: signer roles (ledger/keyring.py ROLES) -> (中文, English)
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "administrator"),
    "registrar": ("登记机构", "registrar"),
    "registrant": ("登记主体", "registrant"),
    "authority": ("主管部门", "authority"),
    "platform": ("登记平台", "platform"),
    "intake": ("异议受理", "objection intake"),
}

#: field -> enum value -> (中文, English), for values stored in English
VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "access_method": {
        "open": ("开放平台", "open platform"),
        "authorized_operation": ("授权运营", "authorised operation"),
        "apply": ("用数申请", "apply to the holder"),
    },
}

REG_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "initial": ("首次登记", "Initial registration"),
    "change": ("变更登记", "Change"),
    "correction": ("更正登记", "Correction"),
    "cancellation": ("注销登记", "Cancellation"),
}

#: labels the desk's forms add to FIELD_LABELS (members the public pages show as they are)
DESK_EXTRA_LABELS: dict[str, tuple[str, str]] = {
    "volume_bytes": ("数据体量（字节）", "Volume (bytes)"),
    "time_range": ("时间范围", "Time range"),
    "start": ("开始日期", "Start"),
    "end": ("结束日期", "End"),
    "open_url": ("开放平台地址", "Open data URL"),
    "contact": ("联系方式", "Contact"),
    "authority_letter_sha256": ("授权委托书摘要 (SHA-256)", "Letter of authority (SHA-256)"),
    "form": ("产品形态", "Form"),
    "scenarios": ("应用场景（每行一个）", "Scenarios (one a line)"),
    "public_welfare": ("公益（免费）", "Public welfare (free)"),
    "price_cap_ref": ("上限收费标准依据", "Price cap reference"),
    "price": ("具体收费标准（元）", "Price (yuan)"),
    "delivery": ("交付方式", "Delivery"),
    "operator_uscc": ("运营机构统一社会信用代码", "Operator USCC"),
    "authorisation": ("授权依据", "Authorisation"),
    "agreement_id": ("授权运营协议编号", "Agreement id"),
    "valid_from": ("有效期自", "Valid from"),
    "valid_to": ("有效期至", "Valid to"),
    "scope": ("授权范围", "Scope"),
    "role": ("机构角色", "Role"),
    "subject_kind": ("登记对象类型", "Subject kind"),
    "objection": ("所处理的异议（日志序号）", "Objection decided (log index)"),
    "public_key": ("公钥", "Public key"),
    "institution": ("所代表的机构（统一社会信用代码）", "Institution (USCC)"),
}

_REGION_RE = re.compile(r"[0-9]{1,6}")
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class PageError(Exception):
    def __init__(self, status: int, zh: str, en: str, detail: str = "") -> None:
        super().__init__(detail or en)
        self.status, self.zh, self.en, self.detail = status, zh, en, detail


def _render(request: Request, template: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
    context.update(
        request=request,
        lists=LISTS,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        step_labels=STEP_LABELS,
        field_labels=FIELD_LABELS,
        reg_type_labels=REG_TYPE_LABELS,
        role_labels=ROLE_LABELS,
        value_labels=VALUE_LABELS,
    )
    context.setdefault("names", None)
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=http_status, headers=SECURITY_HEADERS)


def _error(request: Request, err: PageError) -> HTMLResponse:
    return _render(request, "error.html", err.status, error=err)


def china_time(value: Any) -> str:
    """An RFC 3339 UTC time as China time (UTC+8), e.g. '2026-03-21 09:00:19'; anything else unchanged."""
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if t.tzinfo is None:
        return value
    return t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def ordered_fields(fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Known particulars in the order of FIELD_LABELS (name, summary, registrant first), then any others."""
    rank = {k: i for i, k in enumerate(FIELD_LABELS)}
    return sorted(fields.items(), key=lambda kv: (rank.get(kv[0], len(rank)), str(kv[0])))


def lookup(table: Mapping[str, Any], key: Any) -> Any:
    """table[key] for a string key, else None (state values may be of any JSON type)."""
    return table.get(key) if isinstance(key, str) else None


_env.filters["china_time"] = china_time
_env.globals["lookup"] = lookup
_env.globals["ordered_fields"] = ordered_fields


def _checkpoint(ledger) -> dict[str, Any]:
    try:
        size, note = ledger.checkpoint()
    except LedgerError:
        return {"size": None, "root": "", "origin": ledger.origin, "note": ""}
    text = note.decode("utf-8", "replace")
    lines = text.split("\n")
    return {"size": size, "origin": lines[0] if lines else "", "root": lines[2] if len(lines) > 2 else "", "note": text}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ledger: LedgerDep) -> HTMLResponse:
    return _render(request, "home.html", checkpoint=_checkpoint(ledger), vkey=ledger.verifier().vkey())


def _list_page(request: Request, ledger, settings, name: str) -> Response:
    status, zh, en = LISTS[name]
    qp = request.query_params
    kind, region, text, cursor = (qp.get(k, "").strip() for k in ("kind", "region", "q", "cursor"))
    limit_raw = qp.get("limit", "").strip()
    form = {"kind": kind, "region": region, "q": text}
    if is_query_code(text):  # a 查询码 in the search box opens the registration it was given to
        try:
            by_query_code = find(ledger, text)
        except NotFoundError:
            pass
        else:
            return RedirectResponse(f"/registrations/{quote(by_query_code.state['registration'])}", status_code=303)
    try:
        if kind and kind not in KIND_LABELS:
            raise PageError(422, "类型无效", "Unknown kind", f"kind must be one of {', '.join(KIND_LABELS)}")
        if region and not _REGION_RE.fullmatch(region):
            raise PageError(422, "行政区划代码无效", "Bad region code", "region is 1 to 6 digits (a code prefix)")
        if len(text) > 100:
            raise PageError(422, "检索词过长", "Search text too long", "search text is at most 100 characters")
        limit = PAGE_SIZE
        if limit_raw:
            if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= min(MAX_PAGE_SIZE, settings.max_page):
                raise PageError(
                    422, "每页条数无效", "Bad page size", f"limit is 1 to {min(MAX_PAGE_SIZE, settings.max_page)}"
                )
            limit = int(limit_raw)
        try:
            found, next_cursor = page(ledger, StateQuery(kind, status, region, "", text), cursor, limit)
        except MalformedError:
            raise PageError(
                422, "翻页游标无效", "Bad page cursor", "cursor must be a registration id taken from a 'next page' link"
            ) from None
        items = [_row(st) for st in found]
    except PageError as err:
        return _render(
            request,
            "list.html",
            err.status,
            name=name,
            title=(zh, en),
            items=[],
            error=err,
            form=form,
            next_url=None,
            first_url=None,
        )
    keep = {k: v for k, v in (("kind", kind), ("region", region), ("q", text), ("limit", limit_raw)) if v}
    next_url = _url(request.url.path, {**keep, "cursor": next_cursor}) if next_cursor else None
    first_url = _url(request.url.path, keep) if cursor else None
    return _render(
        request,
        "list.html",
        name=name,
        title=(zh, en),
        items=items,
        error=None,
        form=form,
        next_url=next_url,
        first_url=first_url,
        names=Names(ledger.store),
    )


def _row(st: SubjectState) -> dict[str, Any]:
    """A registration as a list page shows it, tolerant of states with missing fields (the typed view reads
    them as empty): a page shows what there is instead of failing."""
    reg = Registration.from_state(st.state)
    return {
        "registration": registration_id(st.subject),
        "code": st.code or reg.code,
        "name": st.name or reg.name,
        "kind": st.kind or reg.subject_kind,
        "region": st.region or reg.region,
        "institution": st.institution,
        "institution_name": reg.holder.get("name") or "",
        "status": st.status or reg.status,
    }


def _url(path: str, params: Mapping[str, str]) -> str:
    return path + ("?" + urlencode(params) if params else "")


@router.get("/publicity", response_class=HTMLResponse)
def publicity(request: Request, ledger: LedgerDep, settings: SettingsDep) -> Response:
    return _list_page(request, ledger, settings, "publicity")


@router.get("/registered", response_class=HTMLResponse)
def registered(request: Request, ledger: LedgerDep, settings: SettingsDep) -> Response:
    return _list_page(request, ledger, settings, "registered")


@router.get("/cancelled", response_class=HTMLResponse)
def cancelled(request: Request, ledger: LedgerDep, settings: SettingsDep) -> Response:
    return _list_page(request, ledger, settings, "cancelled")


@router.get("/revoked", response_class=HTMLResponse)
def revoked(request: Request, ledger: LedgerDep, settings: SettingsDep) -> Response:
    return _list_page(request, ledger, settings, "revoked")


@router.get("/registrations/{id_or_code}", response_class=HTMLResponse)
def registration_page(id_or_code: str, request: Request, ledger: LedgerDep) -> HTMLResponse:
    if not REGISTRATION_ID.fullmatch(id_or_code):
        return _error(
            request,
            PageError(
                400,
                "登记编号无效",
                "Bad registration id",
                "an id or code is up to 100 letters, digits, '-', '_' or '.'",
            ),
        )
    try:
        st = find(ledger, id_or_code)
    except NotFoundError:
        return _error(request, PageError(404, "未找到该登记", "No such registration", f"no registration {id_or_code}"))
    reg = Registration.from_state(st.state)
    history = reg.steps
    cp = _checkpoint(ledger)
    signer_ids = sorted({h.by for h in history if h.by is not None})
    try:
        keys = ledger.store.get_keys(signer_ids) if signer_ids else {}
    except LedgerError:
        keys = {}
    changes = field_changes(ledger.store, [h.to_state() for h in history])
    steps = []
    for h in history:
        key = keys.get(h.by) if h.by is not None else None
        steps.append(
            {
                "index": h.index,
                "kind": h.kind,
                "time": h.time,
                "by": h.by,
                "signer": key.name if key else "",
                "role": key.role if key else "",
                "in_checkpoint": h.index is not None and cp["size"] is not None and h.index < cp["size"],
                "details": h.details,
                "changes": changes.get(h.index) if h.index is not None else None,
            }
        )
    return _render(
        request,
        "registration.html",
        reg=reg,
        reg_id=reg.registration or registration_id(st.subject),
        fields=reg.fields,
        status=st.status or reg.status,
        kind=st.kind or reg.subject_kind,
        region=st.region or reg.region,
        steps=steps,
        checkpoint=cp,
        vkey=ledger.verifier().vkey(),
        names=Names(ledger.store),
        step_indexes=",".join(str(h.index) for h in history if h.index is not None),
        map_key=st.subject,
        objection_limits=request.app.state.settings,
    )


@router.get("/desk", response_class=HTMLResponse)
def desk(request: Request) -> HTMLResponse:
    """The registration desk (登记工作台): static HTML and api/static/desk.js, which keeps the clerk's key in the
    browser (WebCrypto, IndexedDB), prepares every step with POST /v1/drafts, signs it there and posts it to
    /v1/statements.  The labels its forms use come with the page as a JSON data block (not a script)."""
    labels = {
        "fields": {**FIELD_LABELS, **DESK_EXTRA_LABELS},
        "steps": {
            **STEP_LABELS,
            "key.register": ("登记密钥", "Register a key"),
            "key.revoke": ("吊销密钥", "Revoke a key"),
        },
        "status": STATUS_LABELS,
        "kinds": KIND_LABELS,
        "roles": ROLE_LABELS,
        "values": VALUE_LABELS,
    }
    return _render(request, "desk.html", labels_json=canonical_json(labels).decode())


#: HTTP status of a refused objection -> (中文, English) heading of the page that says why
OBJECTION_REFUSALS: dict[int, tuple[str, str]] = {
    404: ("未找到该登记", "No such registration"),
    409: ("现在不能提出异议", "Objections are not taken now"),
    422: ("异议内容有误", "The objection is not valid"),
    429: ("提交过于频繁", "Too many objections"),
}


@router.post("/registrations/{id_or_code}/objections", response_class=HTMLResponse)
async def objection_form(id_or_code: str, request: Request, ledger: LedgerDep, settings: SettingsDep) -> HTMLResponse:
    """The publicity page's form (提出异议), without JavaScript: the same handling as
    POST /v1/registrations/{id}/objections, answered with a receipt page (202) or a page saying why not."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    try:
        if not REGISTRATION_ID.fullmatch(id_or_code):
            raise NotFoundError(f"no registration {id_or_code}")
        lodged = await run_in_threadpool(
            lodge,
            ledger,
            request.app.state.intake,
            id_or_code,
            parse_objection(form, settings),
            client=client_address(request, settings),
            limiter=request.app.state.objection_limiter,
            settings=settings,
        )
    except (Problem, LedgerError) as exc:
        if isinstance(exc, Problem):
            status, detail, field = exc.status, exc.detail, exc.field
        else:
            status, detail, field = status_of(exc)[0], str(exc), None  # a MalformedError's text names its field
        zh, en = OBJECTION_REFUSALS.get(status, ("未能受理异议", "The objection was not taken"))
        response = _error(request, PageError(status, zh, en, f"{field}: {detail}" if field else detail))
        if isinstance(exc, Problem) and exc.headers:
            response.headers.update(exc.headers)
        return response
    document = canonical_json(lodged.document).decode()  # the exact bytes whose SHA-256 the log holds
    return _render(request, "objection_receipt.html", 202, lodged=lodged, document_json=document)
