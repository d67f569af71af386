"""The registration workflow (申请 → 受理 → 形式审核 → 公示 → 异议 → 赋码) as a pure fold.

`step(state, entry, signer, ctx)` takes a registration's current state (None before it is
applied for), one ledger entry about it, the key that signed it and a context for looking at
other registrations, and returns the new state or raises WorkflowError naming the current state
and the steps allowed from it.  Every state is plain JSON, so it can be cached, compared and
rebuilt from the entries alone.  `step` makes the checks every step shares (the kind, the states it
may be taken from, the signer's role and scope, the statement's time); what each kind of step then
does is one handler in HANDLERS, taking a `Step`.

Clocks run on China's working days in China time (UTC+8), from the date of the statement's own
signed time, which must be within MAX_SKEW of the log's sequencing time.  Each statement that
starts a clock carries its computed due date, and the fold checks it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from regledger.ledger.entry import Entry
from regledger.ledger.errors import ConflictError, MalformedError
from regledger.ledger.store import KeyRecord

from .codes import code_prefix, make_code, make_query_code, parse_code
from .fields import KIND_CODE_TYPE, validate_fields
from .regions import RegionTable
from .workdays import CALENDAR_FIRST_DAY, Calendar, CalendarError, Deadlines

__all__ = [
    "HANDLERS",
    "KINDS",
    "MAX_SKEW",
    "TERMINAL",
    "NotPermittedError",
    "Step",
    "StepNotAllowedError",
    "StepPayloadError",
    "WorkflowConfig",
    "WorkflowContext",
    "WorkflowError",
    "allowed_steps",
    "china_date",
    "open_objections",
    "region_prefix",
    "step",
]

CHINA = timezone(timedelta(hours=8))
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_SKEW = timedelta(minutes=10)

SUBMITTED = "SUBMITTED"
SUPPLEMENT_REQUIRED = "SUPPLEMENT_REQUIRED"
NOT_ACCEPTED = "NOT_ACCEPTED"
FORMAL_REVIEW = "FORMAL_REVIEW"
REVIEW_REJECTED = "REVIEW_REJECTED"
PUBLICITY = "PUBLICITY"
OBJECTION_UNDER_REVIEW = "OBJECTION_UNDER_REVIEW"
OBJECTION_UPHELD = "OBJECTION_UPHELD"
REVIEWED = "REVIEWED"
CODED = "CODED"
CANCELLED = "CANCELLED"
REVOKED = "REVOKED"
TERMINAL = (NOT_ACCEPTED, REVIEW_REJECTED, OBJECTION_UPHELD, CANCELLED, REVOKED)

#: statement kind -> (role that may take it, states it may be taken from)
KINDS: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "registration.apply": ("registrant", (None,)),
    "registration.change": ("registrant", (CODED,)),
    "registration.correction": ("registrant", (CODED,)),
    "registration.cancel": ("registrant", (CODED,)),
    "registration.supplement": ("registrar", (SUBMITTED,)),
    "registration.resubmit": ("registrant", (SUPPLEMENT_REQUIRED,)),
    "registration.refuse": ("registrar", (SUBMITTED,)),
    "registration.accept": ("registrar", (SUBMITTED,)),
    "registration.reject": ("registrar", (FORMAL_REVIEW,)),
    "registration.publish": ("registrar", (FORMAL_REVIEW,)),
    "registration.object": ("*", (PUBLICITY,)),
    "registration.objection_received": ("intake", (PUBLICITY,)),
    "registration.decide": ("registrar", (OBJECTION_UNDER_REVIEW, PUBLICITY)),
    "registration.code": ("registrar", (PUBLICITY, REVIEWED)),
    "registration.revoke": (
        "authority",
        (CODED, SUBMITTED, SUPPLEMENT_REQUIRED, FORMAL_REVIEW, PUBLICITY, OBJECTION_UNDER_REVIEW, REVIEWED),
    ),
    "registration.code_assigned": ("platform", (CODED, CANCELLED, REVOKED)),
}
REG_TYPES = {
    "registration.apply": "initial",
    "registration.change": "change",
    "registration.correction": "correction",
    "registration.cancel": "cancellation",
}


class WorkflowError(MalformedError):
    """A step that the workflow refuses; says what state the registration is in and what may follow.

    Raised as one of its kinds, each of which says what the refusal is: NotPermittedError (the key
    may not take the step), StepNotAllowedError (not in this state, or not at this time) and
    StepPayloadError (the payload breaks a workflow rule).
    """

    def __init__(self, message: str, *, state: str | None, field: str = "") -> None:
        allowed = ", ".join(allowed_steps(state)) or "none (the registration is closed)"
        super().__init__(
            f"{message} (current state: {state or 'not applied for'}; allowed steps: {allowed})", field=field
        )
        self.state = state


class NotPermittedError(WorkflowError):
    """The signing key may not take this step: the wrong role, or outside its institution or region."""

    def __init__(self, message: str, *, state: str | None) -> None:
        super().__init__(message, state=state, field="/key")


class StepNotAllowedError(WorkflowError):
    """The step is not allowed in the registration's current state (field /kind) or at this time (/time)."""


class StepPayloadError(WorkflowError):
    """The payload breaks a workflow rule (a due date, a missing reason); invalid input like any MalformedError."""


def allowed_steps(state: str | None) -> list[str]:
    return [k for k, (_, froms) in KINDS.items() if state in froms]


@dataclass(frozen=True)
class WorkflowConfig:
    deadlines: Deadlines = field(default_factory=Deadlines)
    #: whether a change/correction/cancellation goes through publicity again (domain.md 5.1: unverified)
    publicity: Mapping[str, bool] = field(
        default_factory=lambda: {"initial": True, "change": True, "correction": False, "cancellation": False}
    )


class WorkflowContext(Protocol):
    def registration_by_code(self, code: str) -> Mapping[str, Any] | None: ...
    def last_seq(self, prefix: str) -> int: ...
    def calendar(self) -> Calendar:
        """The official calendar in force at the step's index (the package's years under the ledger's)."""

    def region_table(self) -> RegionTable: ...


def china_date(t: str) -> date:
    return datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(CHINA).date()


def _parse_time(t: str) -> datetime:
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


def _due(s: Step, name: str, working_days: int) -> str:
    """The due date `name` the statement carries, checked: `working_days` after the statement's date."""
    expected = s.calendar.add_working_days(s.today, working_days)
    got = s.payload.get(name)
    if got != expected.isoformat():
        raise StepPayloadError(
            f"{name} must be {expected.isoformat()} (working days counted from the statement's "
            f"date in China time), not {got!r}",
            state=s.status,
            field=f"/payload/{name}",
        )
    return got


def _reason(s: Step, name: str = "reason") -> str:
    r = s.payload.get(name)
    if not isinstance(r, str) or not r.strip():
        raise StepPayloadError("a reason is required", state=s.status, field=f"/payload/{name}")
    return r


def region_prefix(region: str) -> str:
    """The region-code prefix a registrar or authority key serving `region` acts in: a province (xx0000) its
    first two digits, a city (xxxx00) its first four, a county all six."""
    return region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region


def _in_scope(signer: KeyRecord, role: str, reg: Mapping[str, Any], state: str | None) -> None:
    scope = signer.scope
    if role == "registrant":
        inst = scope.get("institution")
        holder = reg["fields"]["holder"]["uscc"]
        agent = reg["fields"].get("agent", {}).get("uscc")
        if not isinstance(inst, str) or inst not in (holder, agent):  # a key with no institution acts for none
            raise NotPermittedError(
                f"key {signer.key_id} acts for institution {inst}, not for the registrant {holder}", state=state
            )
    elif role in ("registrar", "authority"):
        region = str(scope.get("region", ""))
        prefix = region_prefix(region)
        if not region or not reg["region"].startswith(prefix):
            raise NotPermittedError(
                f"key {signer.key_id} serves region {region or '(none)'}, not {reg['region']}", state=state
            )


@dataclass
class Step:
    """One statement being folded into a registration: what it acts on, and the state and history event
    its handler builds (`new` starts as a copy of the current state, `event` as the common members)."""

    kind: str
    subject: str
    role: str
    status: str | None
    payload: Mapping[str, Any]
    today: date
    signer: KeyRecord
    ctx: WorkflowContext
    config: WorkflowConfig
    calendar: Calendar
    new: dict[str, Any]
    event: dict[str, Any]

    @property
    def deadlines(self) -> Deadlines:
        return self.config.deadlines


Handler = Callable[[Step], None]


def step(
    state: Mapping[str, Any] | None,
    entry: Entry,
    signer: KeyRecord,
    ctx: WorkflowContext,
    config: WorkflowConfig = WorkflowConfig(),
) -> dict[str, Any]:
    """The registration's state after `entry`; raises WorkflowError or MalformedError to refuse it.

    The checks every step shares are made here; what the step itself does is its handler's (HANDLERS).
    """
    st = entry.statement
    kind = st.kind
    if kind not in KINDS:
        raise MalformedError(f"unknown registration step {kind}", field="/kind")
    role, froms = KINDS[kind]
    status = state["status"] if state else None
    if status not in froms:
        raise StepNotAllowedError(f"{kind} is not allowed now", state=status, field="/kind")
    if role != "*" and signer.role != role:
        raise NotPermittedError(f"{kind} must be signed by a {role} key, not a {signer.role} key", state=status)
    if abs(_parse_time(st.time) - _parse_time(entry.time)) > MAX_SKEW:
        raise MalformedError(
            f"statement time {st.time} is more than {MAX_SKEW} from the log's time {entry.time}", field="/time"
        )
    s = Step(
        kind=kind,
        subject=st.subject,
        role=role,
        status=status,
        payload=st.payload,
        today=china_date(st.time),
        signer=signer,
        ctx=ctx,
        config=config,
        calendar=ctx.calendar(),
        new=dict(state) if state else {},
        event={"index": entry.index, "kind": kind, "time": entry.time, "by": signer.key_id},
    )
    if state is not None and role != "*":  # an application's scope is checked on the registration it makes
        _in_scope(signer, role, s.new, status)
    history = list(s.new.get("history", []))
    HANDLERS[kind](s)
    history.append(s.event)
    s.new["history"] = history
    s.new["updated_at"] = entry.index
    return s.new


def _apply(s: Step) -> None:
    subject_kind = s.payload.get("subject_kind")
    fields = validate_fields(str(subject_kind), s.payload.get("fields"), field="/payload/fields")
    _check_links(subject_kind, fields, s.today, s.ctx)
    s.new = {
        "registration": s.subject,
        "subject_kind": subject_kind,
        "region": fields["region"],
        "fields": fields,
        "pending": None,
        "code": None,
        "query_code": None,
        "official_code": None,
        "reg_type": "initial",
        "supplements": 0,
    }
    _in_scope(s.signer, s.role, s.new, s.status)
    _operation_started(s)
    s.new["status"] = SUBMITTED
    s.new["accept_due"] = s.event["accept_due"] = _due(s, "accept_due", s.deadlines.accept)


def _operation_started(s: Step) -> None:
    """An application may say when the resource went into operation: due 20 working days after, or late."""
    started = s.payload.get("operation_started")
    if started is None:
        return
    try:
        started_d = date.fromisoformat(started)
    except (TypeError, ValueError):
        raise MalformedError("must be an ISO date", field="/payload/operation_started") from None
    if started_d > s.today:
        raise MalformedError("cannot be after the application date", field="/payload/operation_started")
    try:
        limit = s.calendar.add_working_days(started_d, s.deadlines.first_registration)
    except CalendarError as exc:
        if exc.year < CALENDAR_FIRST_DAY.year < s.today.year:
            # a resource older than every official calendar: its 20 working days ended early in
            # CALENDAR_FIRST_DAY's year at the latest, long before today; late, with no exact due date
            s.new["late_application"] = True
        else:
            raise CalendarError(exc.year, exc.message, field="/payload/operation_started") from None
    else:
        s.event["first_registration_due"] = limit.isoformat()
        s.new["late_application"] = s.today > limit


def _amended_fields(s: Step, raw: Any) -> dict[str, Any]:
    """New fields for the registration: valid, the same registrant and locality, live links."""
    fields = validate_fields(s.new["subject_kind"], raw, field="/payload/fields")
    _same_registrant(s.new, fields)
    _check_links(s.new["subject_kind"], fields, s.today, s.ctx)
    return fields


def _reopen(s: Step) -> None:
    """A change, correction or cancellation of a coded registration: a new application of its type."""
    s.new["reg_type"] = REG_TYPES[s.kind]
    s.event["reason"] = _reason(s)
    s.new["pending"] = None if s.kind == "registration.cancel" else _amended_fields(s, s.payload.get("fields"))
    s.new["supplements"] = 0
    s.new["status"] = SUBMITTED
    s.new["accept_due"] = s.event["accept_due"] = _due(s, "accept_due", s.deadlines.accept)


def _supplement(s: Step) -> None:
    if s.new.get("supplements", 0) >= 1:
        raise StepNotAllowedError(
            "supplements were already requested once for this application (一次性告知)", state=s.status, field="/kind"
        )
    items = s.payload.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise MalformedError("list every item to supplement, at once", field="/payload/items")
    s.event["items"] = items
    s.new["supplements"] = 1
    s.new["status"] = SUPPLEMENT_REQUIRED
    s.new["accept_due"] = None


def _resubmit(s: Step) -> None:
    if "fields" in s.payload:
        fields = _amended_fields(s, s.payload["fields"])
        if s.new["reg_type"] == "initial":
            s.new["fields"], s.new["region"] = fields, fields["region"]
        else:
            s.new["pending"] = fields
    s.new["status"] = SUBMITTED
    s.new["accept_due"] = s.event["accept_due"] = _due(s, "accept_due", s.deadlines.accept)


def _refuse(s: Step) -> None:
    """Not accepted (受理) or rejected in formal review: the application ends; a coded registration stays."""
    s.event["reason"] = _reason(s)
    s.new["pending"] = None
    s.new["accept_due"] = s.new["review_due"] = None
    if s.new.get("code"):
        s.new["status"] = CODED  # a refused change leaves the registration as it was
    else:
        s.new["status"] = NOT_ACCEPTED if s.kind == "registration.refuse" else REVIEW_REJECTED


def _accept(s: Step) -> None:
    s.event["late"] = s.today > date.fromisoformat(s.new["accept_due"])
    s.new["status"] = FORMAL_REVIEW
    s.new["accept_due"] = None
    s.new["review_due"] = s.event["review_due"] = _due(s, "review_due", s.deadlines.formal_review)


def _publish(s: Step) -> None:
    s.new["review_due"] = None
    if s.config.publicity.get(s.new["reg_type"], True):
        s.new["status"] = PUBLICITY
        s.new["publicity_start"] = s.event["publicity_start"] = s.today.isoformat()
        s.new["publicity_end"] = s.event["publicity_end"] = _due(s, "publicity_end", s.deadlines.publicity)
    else:
        s.new["status"] = REVIEWED


def _publicity_open(s: Step) -> None:
    """Objections are taken until the publicity period's last day (China time), inclusive."""
    if s.today > date.fromisoformat(s.new["publicity_end"]):
        raise StepNotAllowedError(
            f"the publicity period ended on {s.new['publicity_end']}; objections are closed",
            state=s.status,
            field="/time",
        )


def _object(s: Step) -> None:
    _publicity_open(s)
    s.event["reason"] = _reason(s)
    if isinstance(s.payload.get("objector"), str):
        s.event["objector"] = s.payload["objector"]
    s.new["status"] = OBJECTION_UNDER_REVIEW


def _objection_received(s: Step) -> None:
    """The instance's intake key records that the public lodged an objection (POST .../objections): only the
    SHA-256 of the kept objection document goes into the log, never its text or contact (personal data stays
    out of a public, permanent log); the registration stays in publicity until a registrar acts on it."""
    _publicity_open(s)
    digest = s.payload.get("document_sha256")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise MalformedError("the objection document's SHA-256: 64 lowercase hex", field="/payload/document_sha256")
    s.event["document_sha256"] = digest


def open_objections(state: Mapping[str, Any]) -> list[int]:
    """Log indexes of the objections to this registration that no `registration.decide` has cited yet: every
    objection the public lodged (registration.objection_received) and, while the registration is under review
    for it, the keyed registration.object that put it there."""
    history = state.get("history", [])
    cited = {h.get("objection") for h in history if h.get("kind") == "registration.decide"}
    received = [
        h["index"] for h in history if h.get("kind") == "registration.objection_received" and h["index"] not in cited
    ]
    if state.get("status") == OBJECTION_UNDER_REVIEW:
        keyed = [h["index"] for h in history if h.get("kind") == "registration.object"]
        if keyed and keyed[-1] not in cited:
            received.append(keyed[-1])
    return sorted(received)


def _cited_objection(s: Step) -> None:
    """`objection`: the log index of the objection a decision answers.  Optional while the registration is under
    review for a keyed objection; required in publicity, where it must name a lodged objection still open."""
    cited = s.payload.get("objection")
    if cited is None:
        if s.status == PUBLICITY:
            raise StepPayloadError(
                "in publicity, a decision cites the objection it answers: the log index of its "
                "registration.objection_received entry",
                state=s.status,
                field="/payload/objection",
            )
        return
    if isinstance(cited, bool) or not isinstance(cited, int) or cited not in open_objections(s.new):
        open_ = ", ".join(map(str, open_objections(s.new))) or "none"
        raise StepPayloadError(
            f"must be the log index of an objection to this registration not yet decided (open: {open_})",
            state=s.status,
            field="/payload/objection",
        )
    s.event["objection"] = cited


def _decide(s: Step) -> None:
    upheld = s.payload.get("upheld")
    if not isinstance(upheld, bool):
        raise MalformedError("must be true (objection upheld) or false (dismissed)", field="/payload/upheld")
    _cited_objection(s)
    s.event["upheld"] = upheld
    s.event["reason"] = _reason(s)
    if upheld:
        s.new["pending"] = None
        s.new["publicity_start"] = s.new["publicity_end"] = None
        s.new["status"] = CODED if s.new.get("code") else OBJECTION_UPHELD
    else:
        s.new["status"] = PUBLICITY


def _code(s: Step) -> None:
    new = s.new
    if s.status == PUBLICITY and s.today <= date.fromisoformat(new["publicity_end"]):
        raise StepNotAllowedError(
            f"the publicity period runs until {new['publicity_end']}; code after it ends", state=s.status, field="/time"
        )
    pending = open_objections(new) if s.status == PUBLICITY else []
    if pending:
        raise StepNotAllowedError(
            f"objections lodged in publicity are not decided yet (log indexes {', '.join(map(str, pending))}); "
            "registration.decide each one first",
            state=s.status,
            field="/kind",
        )
    if new["reg_type"] == "initial":
        _assign_code(s)
    elif s.payload.get("code") != new["code"]:
        raise MalformedError(f"must be the registration's code {new['code']}", field="/payload/code")
    if new["reg_type"] == "cancellation":
        new["status"] = CANCELLED
    else:
        if new.get("pending"):
            new["fields"] = new["pending"]
        new["status"] = CODED
    new["pending"] = None
    new["publicity_start"] = new["publicity_end"] = None


def _assign_code(s: Step) -> None:
    """A first coding: the statement must carry the next code in its type, region and year."""
    new = s.new
    type_ = KIND_CODE_TYPE[new["subject_kind"]]
    prefix = code_prefix(type_, new["region"], s.today.year)
    expected = make_code(type_, new["region"], s.today.year, s.ctx.last_seq(prefix) + 1)
    if s.payload.get("code") != expected:
        raise MalformedError(f"the next code here is {expected}, not {s.payload.get('code')!r}", field="/payload/code")
    new["code"] = s.event["code"] = expected
    new["query_code"] = s.event["query_code"] = query_code_for(expected, new["registration"])


def _revoke(s: Step) -> None:
    s.event["reason"] = _reason(s)
    s.new["status"] = REVOKED
    s.new["pending"] = None
    s.new["accept_due"] = s.new["review_due"] = s.new["publicity_start"] = s.new["publicity_end"] = None


def _code_assigned(s: Step) -> None:
    if not s.new.get("code"):
        raise StepNotAllowedError(
            "only a registration that was coded here can receive an official code", state=s.status, field="/kind"
        )
    official = s.payload.get("official_code")
    if not isinstance(official, str) or not 1 <= len(official) <= 64:
        raise MalformedError("the parent platform's code: 1-64 characters", field="/payload/official_code")
    if s.new.get("official_code") == official:
        raise ConflictError(f"the registration already has official code {official}")
    s.new["official_code"] = s.event["official_code"] = official


#: statement kind -> what the step does (after the checks in `step`); one per kind of KINDS
HANDLERS: dict[str, Handler] = {
    "registration.apply": _apply,
    "registration.change": _reopen,
    "registration.correction": _reopen,
    "registration.cancel": _reopen,
    "registration.supplement": _supplement,
    "registration.resubmit": _resubmit,
    "registration.refuse": _refuse,
    "registration.accept": _accept,
    "registration.reject": _refuse,
    "registration.publish": _publish,
    "registration.object": _object,
    "registration.objection_received": _objection_received,
    "registration.decide": _decide,
    "registration.code": _code,
    "registration.revoke": _revoke,
    "registration.code_assigned": _code_assigned,
}


def _same_registrant(reg: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """A registration stays with its registrant and its locality (属地原则); moving either is a new one."""
    if fields["holder"]["uscc"] != reg["fields"]["holder"]["uscc"]:
        raise MalformedError(
            "the registrant cannot change; register anew under the other institution",
            field="/payload/fields/holder/uscc",
        )
    if fields["region"] != reg["region"]:
        raise MalformedError(
            f"the region cannot change from {reg['region']}; register anew in the other locality",
            field="/payload/fields/region",
        )


def query_code_for(code: str, registration: str) -> str:
    return make_query_code(hashlib.sha256(f"{code}\n{registration}".encode()).digest())


def _check_links(subject_kind: Any, fields: Mapping[str, Any], today: date, ctx: WorkflowContext) -> None:
    """Cross-record rules: region codes valid on the date (in the table in force at this entry); products cite
    live, coded resources."""
    table = ctx.region_table()
    table.validate(fields["region"], today, field="/payload/fields/region")
    table.validate(fields["holder"]["region"], today, field="/payload/fields/holder/region")
    if subject_kind != "product":
        return
    for i, code in enumerate(fields["source_codes"]):
        path = f"/payload/fields/source_codes/{i}"
        parsed = parse_code(code, field=path)
        if parsed.kind_type != 1:
            raise MalformedError("must be the code of a public data resource (type 1)", field=path)
        reg = ctx.registration_by_code(code)
        if reg is None:
            raise MalformedError(f"no registered resource has code {code}", field=path)
        if reg["status"] in (CANCELLED, REVOKED):
            raise MalformedError(f"resource {code} is {reg['status'].lower()}", field=path)
