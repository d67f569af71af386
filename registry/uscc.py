"""统一社会信用代码 (Unified Social Credit Code, GB 32100-2015): structure and both check characters.

Layout (18 characters, positions counted from 1)::

    1     登记管理部门代码   registration authority        } checked together against
    2     机构类别代码       entity category               } REGISTRATION_CATEGORIES
    3-8   登记管理机关行政区划码 (GB/T 2260, digits only)
    9-17  主体标识码 = 组织机构代码 (GB 11714); position 17 is its own check character
    18    校验码            check character over positions 1-17

Character set: ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (31 characters, values 0-30; no I O S V Z).
Check character: S = sum(value(c_i) * 3^(i-1) mod 31, i = 1..17); C18 = CHARSET[(31 - S mod 31) mod 31].
Because 31 is prime and every weight is non-zero mod 31, any single-character substitution is caught.

The embedded GB 11714 check on positions 9-17 uses the alphabet 0-9, A-Z (A=10 .. Z=35), weights
3,7,9,10,5,8,4,2 over positions 9-16 and C = 11 - (S mod 11), written 'X' for 10 and '0' for 11.

Positions 1-2 are checked against a configurable table (domain.md §8, current practice, not the 2015
standard's original 1/5/9/Y list).  Pass ``categories=`` to `validate_uscc` to use a deployment's own.
The registration-authority region in positions 3-8 is only checked for digits here; checking it against
the GB/T 2260 table is `registry.regions`' job, since an old code may carry a since-retired region.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType

from regledger.ledger.errors import MalformedError

__all__ = [
    "CHARSET",
    "REGISTRATION_CATEGORIES",
    "USCC_LENGTH",
    "USCC_WEIGHTS",
    "org_code_check_char",
    "uscc_check_char",
    "validate_uscc",
]

#: The 31 characters a USCC may use, in value order (A=10 … Y=30).
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
USCC_LENGTH = 18
#: Weights for positions 1..17: 3^(i-1) mod 31.
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_VALUE = {c: i for i, c in enumerate(_ORG_ALPHABET)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CHARSET_DESCRIPTION = "0-9 or A-H J-N P Q R T U W X Y (no I, O, S, V, Z)"

#: Positions 1-2: registration authority + entity category (domain.md §8, third-party enum of current
#: practice).  Replace or extend per deployment via `validate_uscc(..., categories=...)`.
REGISTRATION_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "11": "机构编制: 机关",
        "12": "机构编制: 事业单位",
        "13": "机构编制: 编办直管群众团体",
        "19": "机构编制: 其他",
        "21": "外交: 外国常驻新闻机构",
        "29": "外交: 其他",
        "31": "司法行政: 律师执业机构",
        "36": "司法行政: 商事调解组织",
        "39": "司法行政: 其他",
        "41": "文化: 外国在华文化中心",
        "49": "文化: 其他",
        "51": "民政: 社会团体",
        "52": "民政: 民办非企业单位",
        "53": "民政: 基金会",
        "54": "民政: 村民委员会",
        "55": "民政: 居民委员会",
        "59": "民政: 其他",
        "61": "旅游",
        "62": "旅游",
        "69": "旅游: 其他",
        "71": "宗教: 宗教活动场所",
        "72": "宗教: 宗教院校",
        "79": "宗教: 其他",
        "81": "工会: 基层工会",
        "82": "工会: 非法人工会组织",
        "89": "工会: 其他",
        "91": "工商/市场监管: 企业",
        "92": "工商/市场监管: 个体工商户",
        "93": "工商/市场监管: 农民专业合作社",
        "99": "工商/市场监管: 其他",
        "A1": "中央军委改革和编制办公室",
        "A9": "中央军委改革和编制办公室: 其他",
        "G1": "公安: 境外非政府组织代表机构",
        "G9": "公安: 其他",
        "J1": "住建: 业主大会",
        "J9": "住建: 其他",
        "N1": "农业农村: 集体经济组织",
        "N2": "农业农村",
        "N3": "农业农村",
        "N9": "农业农村: 其他",
        "Q1": "侨联",
        "Q2": "侨联",
        "Q3": "侨联",
        "Q9": "侨联: 其他",
        "Y1": "其他",
    }
)


def _describe(c: str) -> str:
    hint = " (letters must be upper case)" if c.upper() in _VALUE and c not in _VALUE else ""
    return f"{c!r}{hint}"


def uscc_check_char(first17: str) -> str:
    """The 18th character for the 17 characters given (which must be in CHARSET)."""
    if not isinstance(first17, str) or len(first17) != 17:
        raise MalformedError(
            f"need exactly 17 characters to compute a USCC check character, "
            f"got {len(first17) if isinstance(first17, str) else type(first17).__name__}"
        )
    total = 0
    for pos, (c, w) in enumerate(zip(first17, USCC_WEIGHTS, strict=False), start=1):
        if c not in _VALUE:
            raise MalformedError(
                f"character {_describe(c)} at position {pos} is not allowed; expected {_CHARSET_DESCRIPTION}"
            )
        total += _VALUE[c] * w
    return CHARSET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    """The GB 11714 organisation-code check character for the 8 characters given (positions 9-16)."""
    if not isinstance(body8, str) or len(body8) != 8 or any(c not in _ORG_VALUE for c in body8):
        raise MalformedError(
            f"need 8 characters from 0-9, A-Z to compute an organisation-code check character, got {body8!r}"
        )
    c = 11 - sum(_ORG_VALUE[ch] * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=False)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def validate_uscc(code: str, *, field: str = "/uscc", categories: Collection[str] | None = None) -> str:
    """Return `code` if it is a well-formed USCC; otherwise raise MalformedError naming `field`.

    Checks, in order: type, length 18, character set, digits in positions 3-8, positions 1-2 against
    `categories` (default REGISTRATION_CATEGORIES), the GB 11714 check on positions 9-17, and finally
    the check character in position 18.  No normalisation: lower case and spaces are rejected.
    """
    if not isinstance(code, str):
        raise MalformedError(
            f"a unified social credit code must be a string of 18 characters, got {type(code).__name__}", field=field
        )
    if len(code) != USCC_LENGTH:
        raise MalformedError(f"a unified social credit code has 18 characters, got {len(code)}", field=field)
    for pos, c in enumerate(code, start=1):
        if 3 <= pos <= 8:
            if c not in "0123456789":
                raise MalformedError(
                    f"character {_describe(c)} at position {pos} is not allowed; positions 3-8 "
                    f"(registration authority's GB/T 2260 region code) must be digits 0-9",
                    field=field,
                )
        elif c not in _VALUE:
            raise MalformedError(
                f"character {_describe(c)} at position {pos} is not allowed; expected {_CHARSET_DESCRIPTION}",
                field=field,
            )
    table = REGISTRATION_CATEGORIES if categories is None else categories
    if code[:2] not in table:
        raise MalformedError(
            f"registration authority and category code {code[:2]!r} (positions 1-2) is not "
            f"in the configured table; expected one of {', '.join(sorted(table))}",
            field=field,
        )
    org_expected = org_code_check_char(code[8:16])
    if code[16] != org_expected:
        raise MalformedError(
            f"organisation code (positions 9-17) check character is {code[16]}, expected {org_expected} (GB 11714)",
            field=field,
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise MalformedError(f"check character is {code[17]}, expected {expected}", field=field)
    return code
