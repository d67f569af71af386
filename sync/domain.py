"""What the cascade asks of the register it carries, as a hook: sync/ never imports registry/.

The register (registry.policy.RegistryPolicy) is both the domain's statement policy, which
SyncPolicy applies to mirrored entries, and this: where a registration is kept (its key is
registry.state's), how an official code is numbered, and which reference-data entries a child
lacks.  The wiring (regledger.home, the CLI) hands it to SyncPolicy and Cascade.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from regledger.ledger.policy import StatementPolicy
from regledger.ledger.store import LedgerStore, SubjectState

__all__ = ["CascadeDomain", "Lookup"]

#: a subject's state by its key, or None (a StateMap's, a Namespace's or a store's `get`)
Lookup = Callable[[str], SubjectState | None]


class CascadeDomain(StatementPolicy, Protocol):
    def registration_key(self, registration: str, origin: str | None = None) -> str:
        """The subject key of a registration: this log's own, or (with `origin`) in that log's mirror here."""

    def awaiting_official_code(self, st: SubjectState) -> tuple[str, str] | None:
        """(origin, registration id) if `st` is a descendant's coded registration, mirrored here, that has
        no official code yet; None for any other state."""

    def next_official_code(self, registration: SubjectState, get: Lookup) -> str:
        """The official code to mint now for a coded registration, given the states here (sequence counters)."""

    def official_code_states(
        self, get: Lookup, code: str, registration: str, origin: str, index: int, *, field: str
    ) -> list[SubjectState]:
        """The states that record official code `code`, minted here (entry `index`) for `origin`'s
        `registration`: MalformedError (at `field`) unless it is the next in its sequence, ConflictError if
        it is taken."""

    def reference_entries_due(
        self, store: LedgerStore, mirrored: Callable[[list[str]], Mapping[str, SubjectState | None]]
    ) -> list[int]:
        """Indexes, in log order, of the reference-data entries in force here that a child's mirror
        (`mirrored`: subject -> the child's state) lacks."""
