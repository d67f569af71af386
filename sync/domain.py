"""What the cascade asks of the register it carries, as a hook: sync/ never imports registry/.

The register (registry.policy.RegistryPolicy) is both the domain's statement policy, which
SyncPolicy applies to mirrored entries, and this: how an official code is numbered, and which
reference-data entries a child lacks.  The wiring (regledger.home, the CLI) hands it to SyncPolicy
and Cascade.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from regledger.ledger.policy import StatementPolicy
from regledger.ledger.store import LedgerStore, SubjectState

__all__ = ["CascadeDomain"]


class CascadeDomain(StatementPolicy, Protocol):
    def official_code_sequence(self, code: str, *, field: str) -> tuple[str, int]:
        """(prefix, sequence number) of an official code: codes under one prefix are numbered 1, 2, …;
        MalformedError (at `field`) if `code` is not an official code."""

    def next_official_code(self, registration: Mapping[str, Any], last_sequence: Callable[[str], int]) -> str:
        """The official code to mint now for a coded registration (its state), given the last sequence
        number used under a prefix."""

    def reference_entries_due(
        self, store: LedgerStore, mirrored: Callable[[list[str]], Mapping[str, SubjectState | None]]
    ) -> list[int]:
        """Indexes, in log order, of the reference-data entries in force here that a child's mirror
        (`mirrored`: subject -> the child's state) lacks."""
