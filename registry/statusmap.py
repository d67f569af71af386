"""The register's status-map hook: which map keys (ledger.vmap) each entry touches.

    reg:<id>             every entry of the registration appends its log index (its `history` indexes)
    code:<code>          set at the registration.code step that carries the code -> {"registration": "reg:<id>"}
    query:<query code>   likewise; the query code follows from code and id (registry.workflow.query_code_for)

With `origin` (a mirrored child entry, via sync.statusmap) the same keys in that log's mirror,
`@<origin>:…`, with the child's own indexes.  An official code minted here for a descendant's
registration is an alias to that registration's mirror key.  A pure function of the entry: the register's
fold (registry.policy) writes the same rows into the state cache, and tests/test_statusmap.py checks the
two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regledger.ledger.vmap import MapUpdate

from .state import code_key, query_key, registration_key
from .workflow import query_code_for

__all__ = ["RegistryStatusMap"]


class RegistryStatusMap:
    def map_updates(self, index: int, statement: Mapping[str, Any], origin: str | None = None) -> list[MapUpdate]:
        kind = statement.get("kind")
        if not isinstance(kind, str) or not kind.startswith("registration."):
            return []
        registration = statement["subject"]
        reg = registration_key(registration, origin)
        out = [MapUpdate(reg, append=index)]
        if kind == "registration.code":
            code = statement["payload"].get("code")
            if isinstance(code, str):
                alias = {"registration": reg}
                out.append(MapUpdate(code_key(code, origin), value=alias))
                out.append(MapUpdate(query_key(query_code_for(code, registration), origin), value=alias))
        return out

    def official_code_update(self, code: str, registration: str, origin: str, namespace: str | None) -> MapUpdate:
        """`code:<code>` (in `namespace`'s mirror, or this log's own) -> `origin`'s registration, as mirrored here."""
        return MapUpdate(code_key(code, namespace), value={"registration": registration_key(registration, origin)})
