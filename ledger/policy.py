"""The hook through which a domain (the register) decides what statements may be sequenced.

A policy sees each entry as the sequencer builds it, inside the writer lock, together with the
signer's key record and the current subject states; it raises a LedgerError to refuse the
statement (the whole batch is then refused) or updates states.  Because it is a pure fold over
entries, `replay` can rebuild every state from the log alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from .entry import Entry
from .errors import ConflictError, MalformedError
from .fold import fold_entry
from .store import KeyRecord, SubjectState

__all__ = [
    "CompositePolicy",
    "ReplayError",
    "ReplayGuard",
    "StateMap",
    "StatementPolicy",
    "nonce_subject",
    "nonce_used_at",
    "policy_step",
    "replay",
]


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


def policy_step(policy: StatementPolicy | None, entry: Entry, states: StateMap) -> Callable[[KeyRecord], None] | None:
    """The fold's policy step for `entry` (ledger.fold.fold_entry's `apply`), None without a policy."""
    if policy is None:
        return None
    return lambda signer: policy.apply(entry, signer, states)


def replay(
    policy: StatementPolicy, leaves: Iterator[bytes], *, upto_time: str | None = None
) -> dict[str, SubjectState]:
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
        fold_entry(e.index, e.statement, keys, apply=policy_step(policy, e, states))
    return states.snapshot()


class CompositePolicy:
    """Several policies in order; each may refuse, each keeps its own states."""

    def __init__(self, *policies: StatementPolicy) -> None:
        self.policies = policies

    def subjects(self, entry: Entry) -> Iterable[str]:
        return [s for p in self.policies for s in p.subjects(entry)]

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        for p in self.policies:
            p.apply(entry, signer, states)


def nonce_subject(key: str, nonce: str) -> str:
    """The state that records which entry a key's nonce went into."""
    return f"nonce:{key}:{nonce}"


def nonce_used_at(
    get_states: Callable[[Iterable[str]], Mapping[str, SubjectState]], key: str, nonce: str
) -> int | None:
    """The index of the entry that used `key`'s `nonce`, or None while it is unused."""
    subject = nonce_subject(key, nonce)
    used = get_states([subject]).get(subject)
    return None if used is None else int(used.state["index"])


class ReplayGuard:
    """A statement carrying a `nonce` may be sequenced once per key: a captured request replays nothing.

    The used nonces are subject states (`nonce:<key>:<nonce>`, holding the index of the entry that
    used it), so they survive restarts, are shared by every process on the database, and are rebuilt
    by replay like everything else.
    """

    def subjects(self, entry: Entry) -> Iterable[str]:
        nonce = entry.statement.extra.get("nonce")
        return [nonce_subject(entry.statement.key, nonce)] if isinstance(nonce, str) else []

    def apply(self, entry: Entry, signer: KeyRecord, states: StateMap) -> None:
        nonce = entry.statement.extra.get("nonce")
        if nonce is None:
            return
        if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64 or not nonce.isascii() or not nonce.isalnum():
            raise MalformedError("must be 16-64 ASCII letters and digits", field="/nonce")
        subject = nonce_subject(entry.statement.key, nonce)
        used = states.get(subject)
        if used is not None:
            raise ReplayError(entry.statement.key, nonce, int(used.state["index"]))
        states.put(SubjectState(subject, {"index": entry.index}, entry.index, kind="nonce"))


class ReplayError(ConflictError):
    """A statement reuses a nonce its key already used; `index` is the entry that used it."""

    def __init__(self, key: str, nonce: str, index: int) -> None:
        super().__init__(f"nonce {nonce} was already used by key {key} in entry {index}: a replayed request")
        self.index = index
