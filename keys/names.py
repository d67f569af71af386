"""Key names of C2SP signed notes: checked where keys are made (keys/) and where notes are signed (ledger.note)."""

from __future__ import annotations

import re

from .errors import MalformedError

__all__ = ["check_key_name"]

_BAD_NAME = re.compile(r"[\s+\x00-\x1f\x7f]")


def check_key_name(name: str) -> None:
    if not name or _BAD_NAME.search(name):
        raise MalformedError(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")
