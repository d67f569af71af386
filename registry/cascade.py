"""The register's answers to the cascade (sync.domain.CascadeDomain): how official codes are numbered
and which reference entries a child lacks.  RegistryPolicy carries them, so the one object the wiring
builds is both the domain's statement policy and this hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from regledger.ledger.entry import utc_now
from regledger.ledger.store import LedgerStore, SubjectState

from .codes import make_code, parse_code
from .reference import reference_entries_due
from .workflow import china_date

__all__ = ["CascadeRules"]


class CascadeRules:
    def official_code_sequence(self, code: str, *, field: str) -> tuple[str, int]:
        parsed = parse_code(code, field=field)
        return code.rsplit("-", 2)[0], parsed.seq

    def next_official_code(self, registration: Mapping[str, Any], last_sequence: Callable[[str], int]) -> str:
        """Numbered under the registration's type and region and this year (China time)."""
        parsed = parse_code(registration["code"])
        year = china_date(utc_now()).year
        prefix = f"PDR-{parsed.kind_type}-{registration['region']}-{year}"
        return make_code(parsed.kind_type, registration["region"], year, last_sequence(prefix) + 1)

    def reference_entries_due(
        self, store: LedgerStore, mirrored: Callable[[list[str]], Mapping[str, SubjectState | None]]
    ) -> list[int]:
        return reference_entries_due(store, mirrored)
