"""Finding registrations, for the JSON API (api/routes/registrations.py) and the HTML pages (api/pages.py).

One place for the lookup by id, code or 查询码 and for cursor paging, so the list pages page exactly as
GET /v1/registrations does, and neither imports the other.  The keys are registry.state's.
"""

from __future__ import annotations

import re
from dataclasses import replace

from regledger.ledger.errors import MalformedError, NotFoundError
from regledger.ledger.store import StateQuery, SubjectState
from regledger.registry.state import find_registration, is_registration_key, registration_id, registration_key

__all__ = ["REGISTRATION_ID", "find", "mirror", "page", "page_start"]

#: the characters of a registration id or code (registry.policy.check_registration_id; \w is Unicode)
REGISTRATION_ID = re.compile(r"[\w.\-]{1,100}")


def mirror(ledger, origin: str | None) -> str | None:
    """The mirror an `origin` query names: None for this log's own registrations."""
    return None if not origin or origin == ledger.origin else origin


def find(ledger, id_or_code: str, origin: str | None = None) -> SubjectState:
    """A registration by id, uniform code or 查询码, of this log or (`origin`) of a descendant's; NotFoundError
    if none."""
    m = mirror(ledger, origin)
    st = find_registration(ledger.store, id_or_code, m)
    if st is None:
        raise NotFoundError(f"no registration {id_or_code}" + (f" from {origin}" if m else ""))
    return st


def page_start(ledger, cursor: str | None, origin: str | None = None) -> str:
    """Where a page of registrations (of this log, or of the mirror of `origin`) starts: after the one the
    cursor names (a `next_cursor` given out before, so a registration that exists), or at the beginning;
    MalformedError (`/cursor`) otherwise."""
    if not cursor:
        return registration_key("", origin)
    if not REGISTRATION_ID.fullmatch(cursor) or ledger.store.get_state(registration_key(cursor, origin)) is None:
        raise MalformedError("must be a next_cursor given out by an earlier page (a registration id)", field="/cursor")
    return registration_key(cursor, origin)


def page(
    ledger, query: StateQuery, cursor: str | None, limit: int, origin: str | None = None
) -> tuple[list[SubjectState], str | None]:
    """Up to `limit` registrations (of this log, or of the mirror of `origin`) matching `query` after the
    `cursor`, and the cursor of the next page (None on the last): the registration id of the last one shown."""
    m = mirror(ledger, origin)
    found = ledger.store.find_states(replace(query, after=page_start(ledger, cursor, m), limit=limit + 1))
    items = [st for st in found if is_registration_key(st.subject, m)]
    more = len(items) > limit
    items = items[:limit]
    return items, (registration_id(items[-1].subject, m) if more and items else None)
