"""GB/T 4754-2017 industry codes (国民经济行业分类): the record schema's `industry_code`.

A code is a section letter (门类, A–T), optionally followed by a division (大类, 2 digits), a group
(中类, 3 digits) or a class (小类, 4 digits): ``L``, ``L72``, ``I651``, ``I6510``.  The digits must
extend a division of that section.  ``registry/data/gbt4754.json`` lists the 20 sections and 97
divisions with their names (source and version in that file and in docs/registry.md); a group or
class is shown under its division's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from regledger.ledger.errors import MalformedError

__all__ = ["CODE_PATTERN", "Industry", "IndustryTable", "default_industries"]

#: a section letter, optionally 2-4 digits (the form; the sections and classes are checked against the table)
CODE_PATTERN = r"([A-Z])([0-9]{2}(?:[0-9]{1,2})?)?"
_CODE_RE = re.compile(CODE_PATTERN)


@dataclass(frozen=True, slots=True)
class Industry:
    """What an industry code denotes: its section and, when the code has digits, its division."""

    code: str
    section: str
    section_name: str
    division: str | None = None
    division_name: str | None = None

    @property
    def name(self) -> str:
        """The most specific name the table has (the division's, else the section's)."""
        return self.division_name or self.section_name


class IndustryTable:
    def __init__(
        self, sections: dict[str, str], divisions: dict[str, tuple[str, str]], *, version: str, source: str
    ) -> None:
        self._sections = sections
        self._divisions = divisions  # "72" -> ("L", "商务服务业")
        self.version = version
        self.source = source

    @classmethod
    def from_dict(cls, data: Any) -> IndustryTable:
        sections: dict[str, str] = {}
        divisions: dict[str, tuple[str, str]] = {}
        for s in data["sections"]:
            sections[s["code"]] = s["name"]
            for d in s["divisions"]:
                divisions[d["code"]] = (s["code"], d["name"])
        return cls(sections, divisions, version=data["version"], source=data["source"])

    def __len__(self) -> int:
        return len(self._sections) + len(self._divisions)

    def validate(self, code: Any, *, field: str = "/industry_code") -> Industry:
        """The industry `code` denotes; MalformedError naming `field` if it is not a GB/T 4754-2017 code."""
        m = _CODE_RE.fullmatch(code) if isinstance(code, str) else None
        if m is None:
            raise MalformedError(
                f"an industry code is a GB/T 4754-2017 section letter A-T, optionally followed by "
                f"2-4 digits (e.g. L72, I6510), got {code!r}",
                field=field,
            )
        letter, digits = m.group(1), m.group(2)
        if letter not in self._sections:
            raise MalformedError(f"unknown industry section {letter}: GB/T 4754-2017 has sections A-T", field=field)
        if digits is None:
            return Industry(code, letter, self._sections[letter])
        division = self._divisions.get(digits[:2])
        if division is None or division[0] != letter:
            where = f"belongs to section {division[0]}" if division else "is not a division of GB/T 4754-2017"
            raise MalformedError(
                f"industry division {digits[:2]} {where}, not to section {letter} ({self._sections[letter]})",
                field=field,
            )
        return Industry(code, letter, self._sections[letter], digits[:2], division[1])

    def name(self, code: Any) -> str:
        """The code's name, or '' if it is not valid (for display: never fails)."""
        try:
            return self.validate(code).name
        except MalformedError:
            return ""


@lru_cache(maxsize=1)
def default_industries() -> IndustryTable:
    """The shipped GB/T 4754-2017 table, loaded once."""
    text = resources.files(__package__).joinpath("data", "gbt4754.json").read_text(encoding="utf-8")
    return IndustryTable.from_dict(json.loads(text))
