"""Files an administrator hands to a command (a calendar notice, a region table): read strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regledger.ledger.entry import parse_json
from regledger.ledger.errors import MalformedError

__all__ = ["read_json_object"]


def read_json_object(path: str, expected: str, *, field: str = "FILE") -> dict[str, Any]:
    """The JSON object in `path`, parsed as strictly as a statement (what it holds is signed next);
    MalformedError naming `field` if it cannot be read, is not JSON, or is not an object."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise MalformedError(f"cannot read {path}: {exc.strerror}", field=field) from None
    data = parse_json(raw, field=field)
    if not isinstance(data, dict):
        raise MalformedError(f"expected an object {expected}", field=field)
    return data
