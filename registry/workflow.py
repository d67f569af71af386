"""The registration workflow (申请 → 受理 → 形式审核 → 公示 → 异议 → 赋码) as a pure fold.

`step(state, entry, signer, ctx)` takes a registration's current state (None before it is
applied for), one ledger entry about it, the key that signed it and a context for looking at
other registrations, and returns the new state or raises WorkflowError naming the current state
and the steps allowed from it.  Every state is plain JSON, so it can be cached, compared and
rebuilt from the entries alone.

Clocks run on China's working days in China time (UTC+8), from the date of the statement's own
signed time, which must be within MAX_SKEW of the log's sequencing time.  Each statement that
starts a clock carries its computed due date, and the fold checks it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Protocol

from ledger.entry import Entry
from ledger.errors import ConflictError, MalformedError
from ledger.store import KeyRecord

from .codes import make_code, make_query_code, parse_code
from .fields import KIND_CODE_TYPE, validate_fields
from .regions import RegionTable
from .workdays import CALENDAR_FIRST_DAY, Calendar, CalendarError, Deadlines

__all__ = [
    "KINDS",
    "MAX_SKEW",
    "TERMINAL",
    "WorkflowConfig",
    "WorkflowContext",
    "WorkflowError",
    "allowed_steps",
    "china_date",
    "step",
]

CHINA = timezone(timedelta(hours=8))
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
    "registration.decide": ("registrar", (OBJECTION_UNDER_REVIEW,)),
    "registration.code": ("registrar", (PUBLICITY, REVIEWED)),
    "registration.revoke": ("authority", (CODED, SUBMITTED, SUPPLEMENT_REQUIRED, FORMAL_REVIEW, PUBLICITY,
                                          OBJECTION_UNDER_REVIEW, REVIEWED)),
    "registration.code_assigned": ("platform", (CODED, CANCELLED, REVOKED)),
}
REG_TYPES = {"registration.apply": "initial", "registration.change": "change",
             "registration.correction": "correction", "registration.cancel": "cancellation"}


class WorkflowError(MalformedError):
    """A step that the workflow does not allow now; says what state it is in and what may follow."""

    def __init__(self, message: str, *, state: str | None, field: str = "") -> None:
        allowed = ", ".join(allowed_steps(state)) or "none (the registration is closed)"
        super().__init__(f"{message} (current state: {state or 'not applied for'}; allowed steps: {allowed})",
                         field=field)
        self.state = state


def allowed_steps(state: str | None) -> list[str]:
    return [k for k, (_, froms) in KINDS.items() if state in froms]


@dataclass(frozen=True)
class WorkflowConfig:
    deadlines: Deadlines = field(default_factory=Deadlines)
    #: whether a change/correction/cancellation goes through publicity again (domain.md 5.1: unverified)
    publicity: Mapping[str, bool] = field(default_factory=lambda: {
        "initial": True, "change": True, "correction": False, "cancellation": False})


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


def _due(payload: Mapping[str, Any], name: str, expected: date, state: str | None) -> str:
    got = payload.get(name)
    if got != expected.isoformat():
        raise WorkflowError(f"{name} must be {expected.isoformat()} (working days counted from the statement's "
                            f"date in China time), not {got!r}", state=state, field=f"/payload/{name}")
    return got


def _reason(payload: Mapping[str, Any], state: str | None, name: str = "reason") -> str:
    r = payload.get(name)
    if not isinstance(r, str) or not r.strip():
        raise WorkflowError("a reason is required", state=state, field=f"/payload/{name}")
    return r


def _in_scope(signer: KeyRecord, role: str, reg: Mapping[str, Any], state: str | None) -> None:
    scope = signer.scope
    if role == "registrant":
        inst = scope.get("institution")
        holder = reg["fields"]["holder"]["uscc"]
        agent = reg["fields"].get("agent", {}).get("uscc")
        if not isinstance(inst, str) or inst not in (holder, agent):  # a key with no institution acts for none
            raise WorkflowError(f"key {signer.key_id} acts for institution {inst}, not for the registrant {holder}",
                                state=state, field="/key")
    elif role in ("registrar", "authority"):
        region = str(scope.get("region", ""))
        prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region
        if not region or not reg["region"].startswith(prefix):
            raise WorkflowError(f"key {signer.key_id} serves region {region or '(none)'}, not {reg['region']}",
                                state=state, field="/key")


def step(state: Mapping[str, Any] | None, entry: Entry, signer: KeyRecord, ctx: WorkflowContext,
         config: WorkflowConfig = WorkflowConfig()) -> dict[str, Any]:
    """The registration's state after `entry`; raises WorkflowError or MalformedError to refuse it."""
    st = entry.statement
    kind = st.kind
    if kind not in KINDS:
        raise MalformedError(f"unknown registration step {kind}", field="/kind")
    role, froms = KINDS[kind]
    status = state["status"] if state else None
    if status not in froms:
        raise WorkflowError(f"{kind} is not allowed now", state=status, field="/kind")
    if role != "*" and signer.role != role:
        raise WorkflowError(f"{kind} must be signed by a {role} key, not a {signer.role} key", state=status,
                            field="/key")
    if abs(_parse_time(st.time) - _parse_time(entry.time)) > MAX_SKEW:
        raise MalformedError(f"statement time {st.time} is more than {MAX_SKEW} from the log's time {entry.time}",
                             field="/time")
    today = china_date(st.time)
    p = st.payload
    dl = config.deadlines
    cal = ctx.calendar()
    new: dict[str, Any] = dict(state) if state else {}
    hist = list(new.get("history", []))
    event: dict[str, Any] = {"index": entry.index, "kind": kind, "time": entry.time, "by": signer.key_id}

    if kind == "registration.apply":
        subject_kind = p.get("subject_kind")
        fields = validate_fields(str(subject_kind), p.get("fields"), field="/payload/fields")
        _check_links(subject_kind, fields, today, ctx)
        new = {"registration": st.subject, "subject_kind": subject_kind, "region": fields["region"],
               "fields": fields, "pending": None, "code": None, "query_code": None, "official_code": None,
               "reg_type": "initial", "supplements": 0}
        _in_scope(signer, role, new, status)
        started = p.get("operation_started")
        if started is not None:
            try:
                started_d = date.fromisoformat(started)
            except (TypeError, ValueError):
                raise MalformedError("must be an ISO date", field="/payload/operation_started") from None
            if started_d > today:
                raise MalformedError("cannot be after the application date", field="/payload/operation_started")
            try:
                limit = cal.add_working_days(started_d, dl.first_registration)
            except CalendarError as exc:
                if exc.year < CALENDAR_FIRST_DAY.year < today.year:
                    # a resource older than every official calendar: its 20 working days ended early in
                    # CALENDAR_FIRST_DAY's year at the latest, long before today; late, with no exact due date
                    new["late_application"] = True
                else:
                    raise CalendarError(exc.year, exc.message, field="/payload/operation_started") from None
            else:
                event["first_registration_due"] = limit.isoformat()
                new["late_application"] = today > limit
        new["status"] = SUBMITTED
        new["accept_due"] = event["accept_due"] = _due(p, "accept_due", cal.add_working_days(today, dl.accept), status)
    else:
        if role != "*":
            _in_scope(signer, role, new, status)
        if kind in ("registration.change", "registration.correction", "registration.cancel"):
            new["reg_type"] = REG_TYPES[kind]
            event["reason"] = _reason(p, status)
            if kind == "registration.cancel":
                new["pending"] = None
            else:
                fields = validate_fields(new["subject_kind"], p.get("fields"), field="/payload/fields")
                _same_registrant(new, fields)
                _check_links(new["subject_kind"], fields, today, ctx)
                new["pending"] = fields
            new["supplements"] = 0
            new["status"] = SUBMITTED
            new["accept_due"] = event["accept_due"] = _due(p, "accept_due", cal.add_working_days(today, dl.accept),
                                                           status)
        elif kind == "registration.supplement":
            if new.get("supplements", 0) >= 1:
                raise WorkflowError("supplements were already requested once for this application (一次性告知)",
                                    state=status, field="/kind")
            items = p.get("items")
            if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
                raise MalformedError("list every item to supplement, at once", field="/payload/items")
            event["items"] = items
            new["supplements"] = 1
            new["status"] = SUPPLEMENT_REQUIRED
            new["accept_due"] = None
        elif kind == "registration.resubmit":
            if "fields" in p:
                fields = validate_fields(new["subject_kind"], p["fields"], field="/payload/fields")
                _same_registrant(new, fields)
                _check_links(new["subject_kind"], fields, today, ctx)
                if new["reg_type"] == "initial":
                    new["fields"], new["region"] = fields, fields["region"]
                else:
                    new["pending"] = fields
            new["status"] = SUBMITTED
            new["accept_due"] = event["accept_due"] = _due(p, "accept_due", cal.add_working_days(today, dl.accept),
                                                           status)
        elif kind in ("registration.refuse", "registration.reject"):
            event["reason"] = _reason(p, status)
            new["pending"] = None
            new["accept_due"] = new["review_due"] = None
            if new.get("code"):
                new["status"] = CODED  # a refused change leaves the registration as it was
            else:
                new["status"] = NOT_ACCEPTED if kind == "registration.refuse" else REVIEW_REJECTED
        elif kind == "registration.accept":
            event["late"] = today > date.fromisoformat(new["accept_due"])
            new["status"] = FORMAL_REVIEW
            new["accept_due"] = None
            new["review_due"] = event["review_due"] = _due(p, "review_due",
                                                           cal.add_working_days(today, dl.formal_review), status)
        elif kind == "registration.publish":
            new["review_due"] = None
            if config.publicity.get(new["reg_type"], True):
                new["status"] = PUBLICITY
                new["publicity_start"] = event["publicity_start"] = today.isoformat()
                new["publicity_end"] = event["publicity_end"] = _due(
                    p, "publicity_end", cal.add_working_days(today, dl.publicity), status)
            else:
                new["status"] = REVIEWED
        elif kind == "registration.object":
            if today > date.fromisoformat(new["publicity_end"]):
                raise WorkflowError(f"the publicity period ended on {new['publicity_end']}; objections are closed",
                                    state=status, field="/time")
            event["reason"] = _reason(p, status)
            if isinstance(p.get("objector"), str):
                event["objector"] = p["objector"]
            new["status"] = OBJECTION_UNDER_REVIEW
        elif kind == "registration.decide":
            upheld = p.get("upheld")
            if not isinstance(upheld, bool):
                raise MalformedError("must be true (objection upheld) or false (dismissed)", field="/payload/upheld")
            event["upheld"] = upheld
            event["reason"] = _reason(p, status)
            if upheld:
                new["pending"] = None
                new["publicity_start"] = new["publicity_end"] = None
                new["status"] = CODED if new.get("code") else OBJECTION_UPHELD
            else:
                new["status"] = PUBLICITY
        elif kind == "registration.code":
            if status == PUBLICITY and today <= date.fromisoformat(new["publicity_end"]):
                raise WorkflowError(f"the publicity period runs until {new['publicity_end']}; code after it ends",
                                    state=status, field="/time")
            if new["reg_type"] == "initial":
                type_ = KIND_CODE_TYPE[new["subject_kind"]]
                prefix = f"PDR-{type_}-{new['region']}-{today.year}"
                expected = make_code(type_, new["region"], today.year, ctx.last_seq(prefix) + 1)
                if p.get("code") != expected:
                    raise MalformedError(f"the next code here is {expected}, not {p.get('code')!r}",
                                         field="/payload/code")
                new["code"] = event["code"] = expected
                new["query_code"] = event["query_code"] = query_code_for(expected, new["registration"])
            elif p.get("code") != new["code"]:
                raise MalformedError(f"must be the registration's code {new['code']}", field="/payload/code")
            if new["reg_type"] == "cancellation":
                new["status"] = CANCELLED
            else:
                if new.get("pending"):
                    new["fields"] = new["pending"]
                new["status"] = CODED
            new["pending"] = None
            new["publicity_start"] = new["publicity_end"] = None
        elif kind == "registration.revoke":
            event["reason"] = _reason(p, status)
            new["status"] = REVOKED
            new["pending"] = None
            new["accept_due"] = new["review_due"] = new["publicity_start"] = new["publicity_end"] = None
        elif kind == "registration.code_assigned":
            if not new.get("code"):
                raise WorkflowError("only a registration that was coded here can receive an official code",
                                    state=status, field="/kind")
            official = p.get("official_code")
            if not isinstance(official, str) or not 1 <= len(official) <= 64:
                raise MalformedError("the parent platform's code: 1-64 characters", field="/payload/official_code")
            if new.get("official_code") == official:
                raise ConflictError(f"the registration already has official code {official}")
            new["official_code"] = event["official_code"] = official
    hist.append(event)
    new["history"] = hist
    new["updated_at"] = entry.index
    return new


def _same_registrant(reg: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """A registration stays with its registrant and its locality (属地原则); moving either is a new one."""
    if fields["holder"]["uscc"] != reg["fields"]["holder"]["uscc"]:
        raise MalformedError("the registrant cannot change; register anew under the other institution",
                             field="/payload/fields/holder/uscc")
    if fields["region"] != reg["region"]:
        raise MalformedError(f"the region cannot change from {reg['region']}; register anew in the other locality",
                             field="/payload/fields/region")


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

