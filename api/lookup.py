"""Finding registrations, for the JSON API (api/routes/registrations.py) and the HTML pages (api/pages.py).

One place for the lookup by id or code and for cursor paging, so the list pages page exactly as
GET /v1/registrations does, and neither imports the other.
"""

from __future__ import annotations

import re
from dataclasses import replace

from regledger.ledger.errors import MalformedError, NotFoundError
from regledger.ledger.store import StateQuery, SubjectState
from regledger.registry.policy import registration_subject

__all__ = ["REGISTRATION_ID", "find", "namespace", "page", "page_start"]

#: the characters of a registration id or code (registry.policy.check_registration_id; \w is Unicode)
REGISTRATION_ID = re.compile(r"[\w.\-]{1,100}")


def namespace(ledger, origin: str | None) -> str:
    return "" if not origin or origin == ledger.origin else f"@{origin}:"


def find(ledger, id_or_code: str, origin: str | None = None) -> SubjectState:
    ns = namespace(ledger, origin)
    key = id_or_code
    if key.startswith("PDR-"):
        alias = ledger.store.get_states([f"{ns}code:{key}"]).get(f"{ns}code:{key}")
        if alias is not None:
            key = alias.state["registration"]
    subject = ns + registration_subject(key)
    st = ledger.store.get_states([subject]).get(subject)
    if st is None:
        raise NotFoundError(f"no registration {id_or_code}" + (f" from {origin}" if ns else ""))
    return st


def page_start(ledger, cursor: str | None, prefix: str = "reg:") -> str:
    """Where a page of registrations starts: after the one the cursor names (a `next_cursor` given out
    before, so a registration that exists), or at the beginning; MalformedError (`/cursor`) otherwise."""
    if not cursor:
        return prefix
    if not REGISTRATION_ID.fullmatch(cursor) or not ledger.store.get_states([prefix + cursor]):
        raise MalformedError("must be a next_cursor given out by an earlier page (a registration id)", field="/cursor")
    return prefix + cursor


def page(
    ledger, query: StateQuery, cursor: str | None, limit: int, prefix: str = "reg:"
) -> tuple[list[SubjectState], str | None]:
    """Up to `limit` registrations matching `query` after the `cursor`, and the cursor of the next page
    (None on the last): the registration id of the last one shown."""
    found = ledger.store.find_states(replace(query, after=page_start(ledger, cursor, prefix), limit=limit + 1))
    items = [st for st in found if st.subject.startswith(prefix)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].subject[len(prefix) :] if more and items else None)
