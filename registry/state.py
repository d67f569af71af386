"""The register's subject states, their keys and typed views: the one module that spells a registry subject key.

    reg:<id>            a registration (Registration; built by registry.workflow, stored by registry.policy)
    code:<code>         the registration that holds a uniform code (codes are never reused)
    query:<query code>  the registration a 查询码 was given to (written with its code, at the first coding)
    seq:<prefix>        the last sequence number given under a code prefix (registry.codes.code_prefix)

A registration that came through the cascade is kept under its log's mirror, `@<origin>:reg:<id>`
(sync.state.mirror_subject); `origin` picks that namespace here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from regledger.ledger.entry import utc_now
from regledger.ledger.records import StateRecord
from regledger.ledger.store import LedgerStore, SubjectState
from regledger.sync.state import namespace_prefix

from .codes import CODE_PREFIX, code_prefix, is_query_code, make_code
from .fields import KIND_CODE_TYPE
from .workflow import china_date

__all__ = [
    "CODE_KEY_PREFIX",
    "HistoryStep",
    "QUERY_PREFIX",
    "REG_PREFIX",
    "SEQ_PREFIX",
    "Registration",
    "code_key",
    "code_prefix",
    "code_state",
    "find_registration",
    "is_registration_key",
    "last_seq",
    "lookup_key",
    "mint_code",
    "next_code",
    "query_key",
    "query_state",
    "registration_by_code",
    "registration_id",
    "registration_key",
    "registration_state",
    "sequence_key",
    "sequence_state",
]

REG_PREFIX = "reg:"
CODE_KEY_PREFIX = "code:"
SEQ_PREFIX = "seq:"
QUERY_PREFIX = "query:"

Lookup = Callable[[str], SubjectState | None]


def registration_key(registration: str, origin: str | None = None) -> str:
    return f"{namespace_prefix(origin)}{REG_PREFIX}{registration}"


def code_key(code: str, origin: str | None = None) -> str:
    return f"{namespace_prefix(origin)}{CODE_KEY_PREFIX}{code}"


def query_key(query_code: str, origin: str | None = None) -> str:
    """The alias row that finds a registration by its 查询码."""
    return f"{namespace_prefix(origin)}{QUERY_PREFIX}{query_code}"


def sequence_key(prefix: str) -> str:
    return f"{SEQ_PREFIX}{prefix}"


def is_registration_key(subject: str, origin: str | None = None) -> bool:
    return subject.startswith(registration_key("", origin))


def registration_id(subject: str, origin: str | None = None) -> str:
    """The id in a registration's key (`reg:<id>`, or `@<origin>:reg:<id>` with `origin`)."""
    return subject.removeprefix(registration_key("", origin))


@dataclass(frozen=True)
class HistoryStep(StateRecord):
    """One step in a registration's history: the entry's index, kind, time and signing key id, then what the
    step recorded (due dates, reasons, codes; `cascade_index` on a mirrored registration)."""

    index: int | None = None
    kind: str | None = None
    time: str | None = None
    by: str | None = None

    @property
    def details(self) -> dict[str, Any]:
        """What the step recorded besides where, when and by whom."""
        return {k: v for k, v in self.to_state().items() if k not in ("index", "kind", "time", "by")}


@dataclass(frozen=True)
class Registration(StateRecord):
    """A registration's state as registry.workflow builds it; members absent or of another type read as the
    defaults (and are kept verbatim, see StateRecord)."""

    registration: str = ""
    subject_kind: str = ""
    region: str = ""
    status: str = ""
    reg_type: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    pending: Mapping[str, Any] | None = None
    code: str | None = None
    query_code: str | None = None
    official_code: str | None = None
    supplements: int = 0
    accept_due: str | None = None
    review_due: str | None = None
    publicity_start: str | None = None
    publicity_end: str | None = None
    late_application: bool = False
    history: list[Any] = field(default_factory=list)
    updated_at: int = 0
    origin: str | None = None  # set on a mirrored registration: the log it was made in

    @property
    def steps(self) -> list[HistoryStep]:
        """The history's steps, skipping any member that is not one."""
        return [HistoryStep.from_state(h) for h in self.history if isinstance(h, Mapping)]

    @property
    def holder(self) -> Mapping[str, Any]:
        h = self.fields.get("holder")
        return h if isinstance(h, Mapping) else {}

    @property
    def name(self) -> str:
        n = self.fields.get("name")
        return n if isinstance(n, str) else ""


def registration_state(reg: Mapping[str, Any], index: int) -> SubjectState:
    """The stored state of a registration the workflow has just built (its indexed columns copied out)."""
    fields = reg["fields"]
    return SubjectState(
        registration_key(reg["registration"]),
        reg,
        index,
        kind=reg["subject_kind"],
        status=reg["status"],
        code=reg["code"] or "",
        region=reg["region"],
        institution=fields["holder"]["uscc"],
        name=fields["name"],
    )


def code_state(code: str, registration: str, index: int, origin: str | None = None) -> SubjectState:
    """`code:<code>`: the registration that holds it (and, for an official code, the log it is in)."""
    state = {"registration": registration} if origin is None else {"registration": registration, "origin": origin}
    return SubjectState(code_key(code), state, index, kind="code", code=code)


def query_state(query_code: str, registration: str, index: int) -> SubjectState:
    """`query:<query code>`: the registration the 查询码 was given to."""
    return SubjectState(query_key(query_code), {"registration": registration}, index, kind="query")


def sequence_state(prefix: str, last: int, index: int) -> SubjectState:
    return SubjectState(sequence_key(prefix), {"last": last}, index, kind="seq")


def last_seq(get: Lookup, prefix: str) -> int:
    """The last sequence number given under a code prefix (0 before the first)."""
    counter = get(sequence_key(prefix))
    return 0 if counter is None else int(counter.state["last"])


def mint_code(get: Lookup, kind_type: int, region: str, year: int) -> str:
    """The next code in sequence under `PDR-{kind_type}-{region}-{year}`."""
    return make_code(kind_type, region, year, last_seq(get, code_prefix(kind_type, region, year)) + 1)


def registration_by_code(get: Lookup, code: str, origin: str | None = None) -> SubjectState | None:
    """The registration holding a uniform code (through its `code:` alias), or None."""
    alias = get(code_key(code, origin))
    return None if alias is None else get(registration_key(alias.state["registration"], origin))


def find_registration(store: LedgerStore, id_or_code: str, origin: str | None = None) -> SubjectState | None:
    """A registration by its id, its uniform code (`PDR-…`) or its 查询码, in this log or (with `origin`) in its
    mirror (an id never looks like either: registry.policy.check_registration_id)."""
    key = id_or_code
    if key.startswith(f"{CODE_PREFIX}-"):
        alias = store.get_state(code_key(key, origin))
    elif is_query_code(key):
        alias = store.get_state(query_key(key, origin))
    else:
        alias = None
    if alias is not None:
        key = alias.state["registration"]
    return store.get_state(registration_key(key, origin))


def lookup_key(id_or_code: str, origin: str | None = None) -> str:
    """The subject (and status-map) key a lookup by id, uniform code or 查询码 starts from: the code's or
    query code's alias, else the registration itself (as find_registration reads them)."""
    if id_or_code.startswith(f"{CODE_PREFIX}-"):
        return code_key(id_or_code, origin)
    if is_query_code(id_or_code):
        return query_key(id_or_code, origin)
    return registration_key(id_or_code, origin)


def next_code(store: LedgerStore, registration: str, *, time: str | None = None) -> str:
    """The code the next `registration.code` step for a first registration must carry (its own, once coded)."""
    found = store.get_state(registration_key(registration))
    if found is None:
        raise LookupError(f"no registration {registration}")
    reg = Registration.from_state(found.state)
    if reg.code:
        return reg.code
    return mint_code(store.get_state, KIND_CODE_TYPE[reg.subject_kind], reg.region, china_date(time or utc_now()).year)
