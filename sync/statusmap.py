"""The cascade's status-map hook: a parent's map covers the registrations it mirrors.

A `sync.entries` entry carries a child's leaves verbatim; each touches, in the child's mirror
(`@<child>:…`), the keys the register says it touches, with the child's own indexes (recursively: a
child's sync.entries carries its own children's).  A `sync.code` minted here (its path starts at a child,
not at this log) adds the official code's alias.  sync/ never imports registry/: the register's part
comes in as `domain` (registry.statusmap.RegistryStatusMap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from regledger.ledger.vmap import MapUpdate

__all__ = ["CascadeStatusMap", "DomainStatusMap"]


class DomainStatusMap(Protocol):
    def map_updates(self, index: int, statement: Mapping[str, Any], origin: str | None = None) -> list[MapUpdate]:
        """The keys entry `index` touches, in `origin`'s mirror (None: this log's own)."""

    def official_code_update(self, code: str, registration: str, origin: str, namespace: str | None) -> MapUpdate:
        """The alias an official code minted for `origin`'s `registration` becomes (in `namespace`'s mirror)."""


class CascadeStatusMap:
    """ledger.statusmap.StatusMapHook for an instance of the cascade (`origin`: its own log)."""

    def __init__(self, origin: str, domain: DomainStatusMap) -> None:
        self.origin = origin
        self.domain = domain

    def map_updates(self, index: int, statement: Mapping[str, Any]) -> list[MapUpdate]:
        return self._updates(self.origin, None, index, statement)

    def _updates(self, me: str, namespace: str | None, index: int, st: Mapping[str, Any]) -> list[MapUpdate]:
        kind = st.get("kind")
        if kind == "sync.entries":
            child = st["subject"]
            out: list[MapUpdate] = []
            for leaf in st["payload"]["entries"]:
                out += self._updates(child, child, leaf["index"], leaf["statement"])
            return out
        if kind == "sync.code":
            p = st["payload"]
            if p["path"][0] == me:  # relayed down from the parent: no alias here
                return []
            return [self.domain.official_code_update(p["official_code"], st["subject"], p["origin"], namespace)]
        return self.domain.map_updates(index, st, namespace)
