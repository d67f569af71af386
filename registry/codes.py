"""Our internal uniform registration code and the result query code (查询码).

NOT the official national code: no public standard for the 公共数据资源登记编码 exists (domain.md §12).
The official code is an opaque string that arrives later in a CODE_ASSIGNED entry from the parent
platform; this module only makes and checks the ledger's own provisional code.  See docs/codes.md.

Layout::

    PDR-{t}-{region}-{yyyy}-{seq}-{check}       e.g. PDR-1-520115-2025-00000042-A
        t       1 resource, 2 product/service, 3 open data, 4 institution
        region  GB/T 2260 code, 6 digits (format only; registry.regions checks it as of a date)
        yyyy    registration year, 4 digits
        seq     sequence number, 8 digits, 1..99999999 (assigned by the ledger, not here)
        check   one character of the USCC charset 0-9 A-H J-N P Q R T U W X Y

Check: the 19 digits t‖region‖yyyy‖seq are d_1..d_19; S = Σ d_i·(3^i mod 31); the check value is
(31 − S mod 31) mod 31, written with the USCC charset.  Equivalently Σ d_i·3^i + c·3^0 ≡ 0 (mod 31).
Because 31 is prime and 3 has order 30 mod 31, the 20 weights 3^0..3^19 are distinct and non-zero,
so every single substitution and every transposition of two different digits is detected.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from regledger.ledger.errors import MalformedError

from .uscc import CHARSET

__all__ = [
    "CODE_PREFIX",
    "KIND_TYPES",
    "QUERY_CODE_LENGTH",
    "ParsedCode",
    "check_query_code",
    "code_prefix",
    "code_check_char",
    "make_code",
    "is_query_code",
    "make_query_code",
    "parse_code",
]

CODE_PREFIX = "PDR"
#: Registration type digit → meaning.  1-3 follow the national catalogue's dataRegistType (domain.md §3.6).
KIND_TYPES: Mapping[int, str] = MappingProxyType(
    {
        1: "public data resource (公共数据资源)",
        2: "data product or service (公共数据产品和服务)",
        3: "open data resource (开放数据资源)",
        4: "institution (机构)",
    }
)
QUERY_CODE_LENGTH = 12
MAX_SEQ = 99_999_999

_VALUE = {c: i for i, c in enumerate(CHARSET)}
_LAYOUT = "PDR-t-rrrrrr-yyyy-ssssssss-c (t 1-4, region 6 digits, year 4 digits, sequence 8 digits, check)"
_DIGITS = re.compile(r"[0-9]+")
_QUERY_DOMAIN = b"regledger/query-code/v1\x00"
_WEIGHTS = tuple(pow(3, i, 31) for i in range(1, 20))  # 3^i mod 31 for i = 1..19


def _check_value(values: list[int]) -> int:
    """(31 − Σ v_i·3^i mod 31) mod 31, i counted from 1."""
    if len(values) > len(_WEIGHTS):
        raise ValueError("at most 19 values")
    total = sum(v * w for v, w in zip(values, _WEIGHTS, strict=False))
    return (31 - total % 31) % 31


def code_check_char(digits19: str) -> str:
    """The check character for the 19 digits t‖region‖yyyy‖seq."""
    if not isinstance(digits19, str) or len(digits19) != 19 or not _DIGITS.fullmatch(digits19):
        raise MalformedError(
            f"need the 19 digits type, region, year and sequence to compute a check character, got {digits19!r}"
        )
    return CHARSET[_check_value([ord(c) - 48 for c in digits19])]


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """A checked registration code, split into its parts."""

    code: str
    kind_type: int
    region: str
    year: int
    seq: int
    check: str

    @property
    def kind(self) -> str:
        return KIND_TYPES[self.kind_type]

    @property
    def prefix(self) -> str:
        return code_prefix(self.kind_type, self.region, self.year)


def _int_arg(value: object, name: str, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{what} must be an integer {lo}..{hi}, got {type(value).__name__}", field=f"/{name}")
    if not lo <= value <= hi:
        raise MalformedError(f"{what} must be {lo}..{hi}, got {value}", field=f"/{name}")
    return value


def code_prefix(kind_type: int, region: str, year: int) -> str:
    """`PDR-{t}-{region}-{yyyy}`: the codes that share one sequence counter (registry.state.sequence_key)."""
    return f"{CODE_PREFIX}-{kind_type}-{region}-{year:04d}"


def make_code(kind_type: int, region: str, year: int, seq: int) -> str:
    """Build `PDR-{t}-{region}-{yyyy}-{seq:08d}-{check}`; MalformedError if a part is out of range."""
    _int_arg(
        kind_type, "kind_type", 1, 4, "registration type (1 resource, 2 product/service, 3 open data, 4 institution)"
    )
    if not isinstance(region, str) or len(region) != 6 or not _DIGITS.fullmatch(region):
        raise MalformedError(f"region must be a 6-digit GB/T 2260 code, got {region!r}", field="/region")
    _int_arg(year, "year", 1000, 9999, "year")
    _int_arg(seq, "seq", 1, MAX_SEQ, "sequence number")
    digits = f"{kind_type}{region}{year:04d}{seq:08d}"
    return f"{code_prefix(kind_type, region, year)}-{seq:08d}-{code_check_char(digits)}"


def parse_code(code: str, *, field: str = "/code") -> ParsedCode:
    """Check and split a registration code; MalformedError naming `field` says what is wrong."""
    if not isinstance(code, str):
        raise MalformedError(f"a registration code must be a string {_LAYOUT}, got {type(code).__name__}", field=field)
    parts = code.split("-")
    if len(parts) != 6 or parts[0] != CODE_PREFIX:
        raise MalformedError(f"{code!r} does not have the layout {_LAYOUT}", field=field)
    _, t, region, year, seq, check = parts
    if len(t) != 1 or t not in "1234":
        raise MalformedError(
            f"registration type {t!r} is not one of 1 (resource), 2 (product/service), 3 (open data), 4 (institution)",
            field=field,
        )
    for part, n, what in ((region, 6, "region"), (year, 4, "year"), (seq, 8, "sequence number")):
        if len(part) != n or not _DIGITS.fullmatch(part):
            raise MalformedError(f"{what} {part!r} must be {n} digits 0-9", field=field)
    if year.startswith("0"):
        raise MalformedError(f"year {year} must be 1000..9999", field=field)
    if int(seq) == 0:
        raise MalformedError(f"sequence number {seq} must be 1..{MAX_SEQ}", field=field)
    if len(check) != 1 or check not in _VALUE:
        raise MalformedError(f"check character {check!r} must be one character of {CHARSET}", field=field)
    expected = code_check_char(t + region + year + seq)
    if check != expected:
        raise MalformedError(f"check character is {check}, expected {expected}", field=field)
    return ParsedCode(code=code, kind_type=int(t), region=region, year=int(year), seq=int(seq), check=check)


# -- 登记结果查询码 -------------------------------------------------------------------------------------


def make_query_code(seed: bytes) -> str:
    """A 12-character query code derived deterministically from `seed`.

    11 characters come from SHA-256("regledger/query-code/v1" 0x00 ‖ seed) read as a big-endian integer,
    reduced mod 31^11 and written in base 31 with the USCC charset (about 54 bits); the 12th is the
    check character over them (weights 3^i mod 31, i from 1, as in the registration code).  Anyone who
    knows the seed can compute the code: seed it with a secret if the code must not be guessable.
    """
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
    if not len(seed):
        raise MalformedError("the query-code seed is empty; expected at least one byte")
    n = int.from_bytes(hashlib.sha256(_QUERY_DOMAIN + bytes(seed)).digest(), "big") % 31**11
    values = []
    for _ in range(QUERY_CODE_LENGTH - 1):
        n, v = divmod(n, 31)
        values.append(v)
    values.reverse()
    return "".join(CHARSET[v] for v in values) + CHARSET[_check_value(values)]


def check_query_code(code: str, *, field: str = "/query_code") -> str:
    """Return `code` if it is a well-formed query code; otherwise MalformedError naming `field`."""
    if not isinstance(code, str):
        raise MalformedError(
            f"a query code must be a string of {QUERY_CODE_LENGTH} characters, got {type(code).__name__}", field=field
        )
    if len(code) != QUERY_CODE_LENGTH:
        raise MalformedError(f"a query code has {QUERY_CODE_LENGTH} characters, got {len(code)}", field=field)
    for pos, c in enumerate(code, start=1):
        if c not in _VALUE:
            hint = " (letters must be upper case)" if c.upper() in _VALUE else ""
            raise MalformedError(
                f"character {c!r}{hint} at position {pos} is not allowed; expected one of {CHARSET}", field=field
            )
    expected = CHARSET[_check_value([_VALUE[c] for c in code[:-1]])]
    if code[-1] != expected:
        raise MalformedError(f"check character is {code[-1]}, expected {expected}", field=field)
    return code


def is_query_code(text: str) -> bool:
    """Whether `text` is a well-formed query code (a registration id never is: policy.check_registration_id)."""
    try:
        check_query_code(text)
    except MalformedError:
        return False
    return True
