"""The cascade's subject states, their keys and typed views: the one module that spells a sync subject key.

sync:<child>            a child (Child): pinned vkey and URL, cursor, last verified checkpoint, ok | forked
parent                  the parent platform (Parent): origin, vkey, URL, statement key id
route:<origin>          the instance a descendant log hangs under (Route)
relay:<origin>:<reg>    an official code on its way down to <origin>'s registration <reg> (Relay)
key:<key id>            a mirrored log's statement key (only inside a mirror; this log's own keys are the store's)
@<origin>:<subject>     <subject> as <origin>'s own ledger holds it (a mirror)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regledger.ledger.records import StateRecord
from regledger.ledger.store import SubjectState

__all__ = [
    "CHILD_PREFIX",
    "PARENT_SUBJECT",
    "RELAY_PREFIX",
    "ROUTE_PREFIX",
    "Child",
    "Parent",
    "Relay",
    "Route",
    "child_key",
    "is_mirrored",
    "key_subject",
    "mirror_subject",
    "namespace_prefix",
    "relay_key",
    "route_key",
    "route_origin",
    "route_state",
]

CHILD_PREFIX = "sync:"
PARENT_SUBJECT = "parent"
ROUTE_PREFIX = "route:"
RELAY_PREFIX = "relay:"
KEY_PREFIX = "key:"
_MIRROR = "@"


def child_key(origin: str) -> str:
    return f"{CHILD_PREFIX}{origin}"


def route_key(origin: str) -> str:
    return f"{ROUTE_PREFIX}{origin}"


def relay_key(origin: str, registration: str) -> str:
    return f"{RELAY_PREFIX}{origin}:{registration}"


def key_subject(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}"


def namespace_prefix(origin: str | None) -> str:
    """What `origin`'s subjects start with here: `@<origin>:` (or nothing for this log's own, origin None)."""
    return "" if origin is None else f"{_MIRROR}{origin}:"


def mirror_subject(origin: str, subject: str) -> str:
    return namespace_prefix(origin) + subject


def is_mirrored(subject: str) -> bool:
    """True for a subject of another log's mirror (`@<origin>:…`), false for this log's own."""
    return subject.startswith(_MIRROR)


def route_origin(subject: str) -> str:
    """The descendant origin a `route:` subject is about."""
    return subject.removeprefix(ROUTE_PREFIX)


@dataclass(frozen=True)
class PinnedLog(StateRecord):
    """A log this instance follows or answers to, pinned by its key and reached at a URL."""

    origin: str = ""
    vkey: str = ""
    url: str = ""


@dataclass(frozen=True)
class Child(PinnedLog):
    """A child log as its parent pins and follows it (`sync:<origin>`)."""

    state: str = ""
    size: int = 0
    last_hash: str = ""
    range: list[Any] = field(default_factory=list)
    verified_size: int = 0
    checkpoint: str | None = None
    added_at: int = 0
    verified_at: int | None = None
    forked_at: int | None = None
    evidence: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Parent(PinnedLog):
    """The parent platform, pinned once (`parent`); `key` is its statement key id here."""

    key: str = ""


@dataclass(frozen=True)
class Route(StateRecord):
    """Which instance a descendant log hangs under (`route:<origin>`)."""

    parent: str = ""


@dataclass(frozen=True)
class Relay(StateRecord):
    """An official code on its way down (`relay:<origin>:<registration>`)."""

    origin: str = ""
    registration: str = ""
    official_code: str = ""
    hops: list[str] = field(default_factory=list)


def route_state(origin: str, parent: str, index: int) -> SubjectState:
    return SubjectState(route_key(origin), Route(parent).to_state(), index, kind="route")
