"""The register's answers to the cascade (sync.domain.CascadeDomain): where registrations are kept, how
official codes are numbered and which reference entries a child lacks.  RegistryPolicy carries them, so
the one object the wiring builds is both the domain's statement policy and this hook; the keys and
counters are registry.state's."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from regledger.ledger.entry import utc_now
from regledger.ledger.errors import ConflictError, MalformedError
from regledger.ledger.store import LedgerStore, SubjectState

from .codes import parse_code
from .reference import reference_entries_due
from .state import (
    Lookup,
    Registration,
    code_key,
    code_state,
    is_registration_key,
    last_seq,
    mint_code,
    registration_key,
    sequence_state,
)
from .workflow import china_date

__all__ = ["CascadeRules"]


class CascadeRules:
    def registration_key(self, registration: str, origin: str | None = None) -> str:
        return registration_key(registration, origin)

    def awaiting_official_code(self, st: SubjectState) -> tuple[str, str] | None:
        reg = Registration.from_state(st.state)
        if not reg.origin or reg.official_code or not is_registration_key(st.subject, reg.origin):
            return None
        return reg.origin, reg.registration

    def next_official_code(self, registration: SubjectState, get: Lookup) -> str:
        """Numbered under the registration's type and region and this year (China time)."""
        reg = Registration.from_state(registration.state)
        return mint_code(get, parse_code(reg.code or "").kind_type, reg.region, china_date(utc_now()).year)

    def official_code_states(
        self, get: Lookup, code: str, registration: str, origin: str, index: int, *, field: str
    ) -> list[SubjectState]:
        parsed = parse_code(code, field=field)
        expected = last_seq(get, parsed.prefix) + 1
        if parsed.seq != expected:
            raise MalformedError(f"the next official code under {parsed.prefix} has sequence {expected}", field=field)
        if get(code_key(code)) is not None:
            raise ConflictError(f"code {code} is already taken")
        return [sequence_state(parsed.prefix, expected, index), code_state(code, registration, index, origin=origin)]

    def reference_entries_due(
        self, store: LedgerStore, mirrored: Callable[[list[str]], Mapping[str, SubjectState | None]]
    ) -> list[int]:
        return reference_entries_due(store, mirrored)
