"""The register as a ledger policy: which statements about registrations may be sequenced.

Subject states kept (all rebuildable from the entries):
    registrations, code and 查询码 aliases, sequence counters (their keys and views: registry.state)
    calendar:<year>     the official calendar's notice in force for a year (registry.calendar)
    regions             the ledger's amendments to the GB/T 2260 table (registry.reference)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from regledger.ledger.entry import Entry
from regledger.ledger.errors import MalformedError
from regledger.ledger.keyring import KEY_REGISTER, ROLES
from regledger.ledger.policy import StateMap
from regledger.ledger.store import KeyRecord

from .calendar import CALENDAR_KIND, apply_calendar_statement, calendar_subject, ledger_calendar
from .cascade import CascadeRules
from .codes import CODE_PREFIX, is_query_code, parse_code
from .key_scope import validate_key_scope
from .reference import REGIONS_LOAD, REGIONS_SUBJECT, apply_regions_load, table_in_force
from .regions import RegionTable
from .state import (
    code_key,
    code_state,
    last_seq,
    query_state,
    registration_by_code,
    registration_key,
    registration_state,
    sequence_state,
)
from .workdays import Calendar
from .workflow import KINDS, WorkflowConfig, china_date, step

__all__ = ["RegistryPolicy", "check_registration_id"]


def check_registration_id(registration: str) -> str:
    """`registration` if it can be a registration id; MalformedError (/subject) if not.

    Ids and codes share the lookup routes (GET /v1/registrations/{id or code}), so an id may not
    look like a uniform code (the whole PDR- prefix is the codes') or like a query code.
    """
    if len(registration) > 100 or not registration.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise MalformedError("a registration id is up to 100 letters, digits, '-', '_' or '.'", field="/subject")
    if registration.startswith(f"{CODE_PREFIX}-"):
        raise MalformedError(f"ids starting with {CODE_PREFIX}- are uniform codes; choose another id", field="/subject")
    if not is_query_code(registration):
        return registration
    raise MalformedError(f"{registration} is a well-formed query code (查询码); choose another id", field="/subject")


def _check_key_registration(entry: Entry, states: StateMap) -> None:
    """The register's rules for a key's role and scope (the ledger's keyring checks the rest)."""
    p = entry.statement.payload
    role, scope = p.get("role"), p.get("scope", {})
    if role in ROLES and isinstance(scope, dict):
        validate_key_scope(
            str(role), scope, china_date(entry.statement.time), table_in_force(states.get(REGIONS_SUBJECT))
        )


class _Context:
    def __init__(self, states: StateMap) -> None:
        self.states = states

    def registration_by_code(self, code: str) -> Mapping[str, Any] | None:
        reg = registration_by_code(self.states.get, code)
        return None if reg is None else reg.state

    def last_seq(self, prefix: str) -> int:
        return last_seq(self.states.get, prefix)

    def calendar(self) -> Calendar:
        return ledger_calendar(self.states.get)

    def region_table(self) -> RegionTable:
        return table_in_force(self.states.get(REGIONS_SUBJECT))


class RegistryPolicy(CascadeRules):
    def __init__(self, config: WorkflowConfig | None = None) -> None:
        self.config = config or WorkflowConfig()

    def subjects(self, entry: Entry) -> Iterable[str]:
        st = entry.statement
        if st.kind == CALENDAR_KIND:
            # ASCII digits only: str.isdigit() also takes '²⁰²⁷', which int() refuses
            return [calendar_subject(int(st.subject))] if re.fullmatch(r"[0-9]{4}", st.subject) else []
        if st.kind in (REGIONS_LOAD, KEY_REGISTER):
            return [REGIONS_SUBJECT]
        if st.kind not in KINDS:
            return []
        year = china_date(st.time).year  # the calendar years a step's clocks usually need
        wanted = [registration_key(st.subject), calendar_subject(year), calendar_subject(year + 1)]
        fields = st.payload.get("fields")
        if isinstance(fields, dict):  # only steps that carry fields check region codes (the table may be large)
            wanted.append(REGIONS_SUBJECT)
            if isinstance(fields.get("source_codes"), list):
                wanted += [code_key(c) for c in fields["source_codes"] if isinstance(c, str)]
        return wanted

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        st = entry.statement
        if st.kind == CALENDAR_KIND:
            apply_calendar_statement(entry, signer, states)
            return
        if st.kind == REGIONS_LOAD:
            apply_regions_load(entry, signer, states)
            return
        if st.kind == KEY_REGISTER:
            _check_key_registration(entry, states)
        if not st.kind.startswith("registration."):
            return
        check_registration_id(st.subject)
        subject = registration_key(st.subject)
        current = states.get(subject)
        new = step(current.state if current else None, entry, signer, _Context(states), self.config)
        states.put(registration_state(new, entry.index))
        if new["code"] and (current is None or not current.state.get("code")):
            code = new["code"]
            if states.get(code_key(code)) is not None:
                raise MalformedError(f"code {code} is already taken", field="/payload/code")
            states.put(code_state(code, st.subject, entry.index))
            states.put(query_state(new["query_code"], st.subject, entry.index))
            parsed = parse_code(code)
            states.put(sequence_state(parsed.prefix, parsed.seq, entry.index))
