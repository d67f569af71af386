"""The hook through which a domain (the register) decides what statements may be sequenced.

A policy sees each entry as the sequencer builds it, inside the writer lock, together with the
signer's key record and the current subject states; it raises a LedgerError to refuse the
statement (the whole batch is then refused) or updates states.  Because it is a pure fold over
entries, `replay` can rebuild every state from the log alone.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping, Protocol

from keys.ed25519 import verify_ed25519

from .entry import Entry
from .keyring import apply_change, key_change, signing_key
from .store import KeyRecord, SubjectState

__all__ = ["StateMap", "StatementPolicy", "replay"]


class StateMap:
    """Subject states as seen while sequencing: reads fall through to `load`, writes are kept."""

    def __init__(self, load: Callable[[Iterable[str]], Mapping[str, SubjectState]]) -> None:
        self._load = load
        self._cache: dict[str, SubjectState | None] = {}
        self.changed: dict[str, SubjectState] = {}

    def prefetch(self, subjects: Iterable[str]) -> None:
        wanted = [s for s in subjects if s not in self._cache]
        if wanted:
            found = self._load(wanted)
            for s in wanted:
                self._cache[s] = found.get(s)

    def get(self, subject: str) -> SubjectState | None:
        self.prefetch([subject])
        return self._cache[subject]

    def put(self, state: SubjectState) -> None:
        self._cache[state.subject] = state
        self.changed[state.subject] = state

    def snapshot(self) -> dict[str, SubjectState]:
        return {k: v for k, v in self._cache.items() if v is not None}


class StatementPolicy(Protocol):
    def subjects(self, entry: Entry) -> Iterable[str]:
        """States the policy will read for this entry (prefetched in one query)."""

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        """Raise a LedgerError to refuse; otherwise `states.put` whatever changes."""


def replay(policy: StatementPolicy, leaves: Iterator[bytes], *, upto_time: str | None = None) -> dict[str, SubjectState]:
    """Fold entries (leaf bytes, in index order) into subject states, from nothing.

    Entries are trusted to be the ledger's own (audit checks signatures separately), but the
    key rules and signatures are applied again so the fold sees exactly what the sequencer saw.
    With `upto_time`, stops before the first entry sequenced after that time.
    """
    keys: dict[str, KeyRecord] = {}
    states = StateMap(lambda subjects: {})
    for leaf in leaves:
        e = Entry.from_leaf(leaf)
        if upto_time is not None and e.time > upto_time:
            break
        signer = signing_key(e.index, e.statement, keys)
        verify_ed25519(signer.public_key, e.statement.signed_message(), e.statement.sig)
        apply_change(keys, e.index, key_change(e.index, e.statement, signer, keys))
        policy.apply(e, signer, states)
    return states.snapshot()
