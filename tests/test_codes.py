"""Registration codes and query codes: round trips, malformed layouts, and an exhaustive error-detection proof."""

from __future__ import annotations

import random

import pytest

from regledger.ledger.errors import MalformedError
from regledger.registry.codes import (
    KIND_TYPES,
    ParsedCode,
    check_query_code,
    code_check_char,
    make_code,
    make_query_code,
    parse_code,
)
from regledger.registry.uscc import CHARSET

DIGITS = "0123456789"


def _random_codes(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        make_code(
            rng.randint(1, 4), f"{rng.randint(0, 999_999):06d}", rng.randint(1000, 9999), rng.randint(1, 99_999_999)
        )
        for _ in range(n)
    ]


CODES = _random_codes(500, seed=20250301)


def _rejected(code: str) -> bool:
    try:
        parse_code(code)
    except MalformedError:
        return True
    return False


def _query_rejected(code: str, reason: str = "") -> bool:
    try:
        check_query_code(code)
    except MalformedError as exc:
        return reason in exc.message
    return False


def _body(code: str) -> str:
    """The 19 digits of a well-formed code (type, region, year, sequence)."""
    return code[4] + code[6:12] + code[13:17] + code[18:26]


def _with_body(code: str, body: str) -> str:
    return f"PDR-{body[0]}-{body[1:7]}-{body[7:11]}-{body[11:19]}-{code[-1]}"


# -- shape and round trips -----------------------------------------------------------------------


def test_layout_example():
    code = make_code(1, "520115", 2025, 42)
    assert code.startswith("PDR-1-520115-2025-00000042-") and len(code) == 28
    assert code[-1] == code_check_char("1520115202500000042")


def test_round_trips():
    rng = random.Random(7)
    for _ in range(500):
        t, region, year, seq = (
            rng.randint(1, 4),
            f"{rng.randint(0, 999_999):06d}",
            rng.randint(1000, 9999),
            rng.randint(1, 99_999_999),
        )
        code = make_code(t, region, year, seq)
        parsed = parse_code(code)
        assert parsed == ParsedCode(code=code, kind_type=t, region=region, year=year, seq=seq, check=code[-1])
        assert make_code(parsed.kind_type, parsed.region, parsed.year, parsed.seq) == code
        assert parsed.kind == KIND_TYPES[t]


def test_check_value_makes_the_weighted_sum_zero_mod_31():
    for code in CODES[:100]:
        body = _body(code)
        total = sum(int(d) * pow(3, i, 31) for i, d in enumerate(body, start=1)) + CHARSET.index(code[-1])
        assert total % 31 == 0


def test_every_kind_type_and_the_extremes():
    for t in (1, 2, 3, 4):
        assert parse_code(make_code(t, "000000", 1000, 1)).kind_type == t
    assert parse_code(make_code(2, "999999", 9999, 99_999_999)).seq == 99_999_999


@pytest.mark.parametrize(
    ("args", "field", "reason"),
    [
        ((0, "520115", 2025, 1), "/kind_type", "registration type"),
        ((5, "520115", 2025, 1), "/kind_type", "must be 1..4, got 5"),
        ((True, "520115", 2025, 1), "/kind_type", "must be an integer"),
        ((1, "52011", 2025, 1), "/region", "6-digit"),
        ((1, "52011x", 2025, 1), "/region", "6-digit"),
        ((1, 520115, 2025, 1), "/region", "6-digit"),
        ((1, "520115", 999, 1), "/year", "must be 1000..9999"),
        ((1, "520115", 10000, 1), "/year", "must be 1000..9999"),
        ((1, "520115", 2025, 0), "/seq", "must be 1..99999999, got 0"),
        ((1, "520115", 2025, 100_000_000), "/seq", "must be 1..99999999"),
        ((1, "520115", 2025, "1"), "/seq", "must be an integer"),
    ],
)
def test_make_code_rejects_bad_parts(args, field, reason):
    with pytest.raises(MalformedError) as info:
        make_code(*args)
    assert info.value.field == field and reason in info.value.message


GOOD = make_code(1, "520115", 2025, 42)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (GOOD.lower(), "does not have the layout"),
        (GOOD[:-2], "does not have the layout"),
        (GOOD + "X", "must be one character of"),
        ("PDR1-520115-2025-00000042-" + GOOD[-1], "does not have the layout"),
        ("XDR" + GOOD[3:], "does not have the layout"),
        (" " + GOOD, "does not have the layout"),
        (GOOD.replace("-", "_"), "does not have the layout"),
        ("PDR-5" + GOOD[5:], "registration type '5' is not one of"),
        ("PDR-0" + GOOD[5:], "registration type '0' is not one of"),
        ("PDR-12" + GOOD[5:], "registration type '12'"),
        (GOOD.replace("520115", "52011"), "region '52011' must be 6 digits"),
        (GOOD.replace("520115", "52O115"), "region '52O115' must be 6 digits"),
        (GOOD.replace("520115", "５２０１１５"), "region '５２０１１５' must be 6 digits"),
        (GOOD.replace("-2025-", "-225-"), "year '225' must be 4 digits"),
        (GOOD.replace("-2025-", "-0025-"), "year 0025 must be 1000..9999"),
        (GOOD.replace("00000042", "0000042"), "sequence number '0000042' must be 8 digits"),
        (GOOD.replace("00000042", "00000000"), "sequence number 00000000 must be 1..99999999"),
        (GOOD[:-1] + "I", "check character 'I' must be one character of"),
        (GOOD[:-1] + "", "check character '' must be one character"),
        (12345, "must be a string"),
    ],
)
def test_malformed_layouts_are_rejected(code, reason):
    with pytest.raises(MalformedError) as info:
        parse_code(code, field="/registration/code")  # type: ignore[arg-type]
    assert reason in info.value.message, info.value.message
    assert info.value.field == "/registration/code"


def test_wrong_check_character_names_both():
    other = CHARSET[(CHARSET.index(GOOD[-1]) + 1) % 31]
    with pytest.raises(MalformedError, match=f"check character is {other}, expected {GOOD[-1]}"):
        parse_code(GOOD[:-1] + other)


# -- the exhaustive proof -----------------------------------------------------------------------


def test_every_single_digit_substitution_is_detected():
    """500 codes × 19 digit positions × 9 other digits: all rejected, and by the check character itself."""
    tried = 0
    for code in CODES:
        body, check = _body(code), code[-1]
        for i in range(19):
            for d in DIGITS:
                if d == body[i]:
                    continue
                bad_body = body[:i] + d + body[i + 1 :]
                assert code_check_char(bad_body) != check, (code, i, d)
                assert _rejected(_with_body(code, bad_body)), (code, i, d)
                tried += 1
    assert tried == 500 * 19 * 9


def test_every_check_character_substitution_is_detected():
    for code in CODES:
        for c in CHARSET:
            if c != code[-1]:
                assert _rejected(code[:-1] + c)


def test_every_adjacent_transposition_of_different_digits_is_detected():
    """Adjacent in the 19-digit body (so also across the hyphens), then check ↔ last sequence digit."""
    tried = 0
    for code in CODES:
        body, check = _body(code), code[-1]
        for i in range(18):
            if body[i] == body[i + 1]:
                continue
            swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
            assert code_check_char(swapped) != check, (code, i)
            assert _rejected(_with_body(code, swapped)), (code, i)
            tried += 1
        if check != body[-1]:
            # The check character trades places with its neighbour, the last sequence digit.
            assert _rejected(code[:25] + check + "-" + code[25])
            tried += 1
    assert tried > 500 * 15


def test_every_adjacent_transposition_in_the_printed_string_is_detected():
    """Swapping any two neighbouring distinct characters of the printed code (hyphens included)."""
    for code in CODES:
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                assert _rejected(code[:i] + code[i + 1] + code[i] + code[i + 2 :]), (code, i)


def test_even_distant_transpositions_are_detected():
    """Stronger than required: 3 has order 30 mod 31, so all 20 weights 3^0..3^19 differ."""
    weights = [pow(3, i, 31) for i in range(20)]
    assert len(set(weights)) == 20 and 0 not in weights
    for code in CODES[:100]:
        seq = _body(code) + code[-1]  # the check character last, weight 3^0 in effect
        for i in range(20):
            for j in range(i + 1, 20):
                if seq[i] == seq[j]:
                    continue
                s = list(seq)
                s[i], s[j] = s[j], s[i]
                if not all(c in DIGITS for c in s[:19]):
                    continue  # a letter moved into the digit body: a layout error, caught above
                assert code_check_char("".join(s[:19])) != s[19], (code, i, j)


# -- query codes -------------------------------------------------------------------------------------


def test_query_code_is_deterministic_and_checked():
    a = make_query_code(b"entry:42")
    assert a == make_query_code(b"entry:42")
    assert len(a) == 12 and all(c in CHARSET for c in a)
    assert check_query_code(a, field="/q") == a
    assert make_query_code(bytearray(b"entry:42")) == a
    assert make_query_code(b"entry:43") != a


def test_query_codes_spread_over_the_charset():
    codes = {make_query_code(i.to_bytes(4, "big")) for i in range(2000)}
    assert len(codes) == 2000
    assert {c for code in codes for c in code[:11]} == set(CHARSET)


def test_every_query_code_substitution_and_adjacent_transposition_is_detected():
    for i in range(150):
        code = make_query_code(b"seed-%d" % i)
        for pos in range(12):
            for c in CHARSET:
                if c != code[pos]:
                    assert _query_rejected(code[:pos] + c + code[pos + 1 :], "check character is"), (code, pos, c)
        for pos in range(11):
            if code[pos] != code[pos + 1]:
                assert _query_rejected(
                    code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :], "check character is"
                ), (code, pos)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("ABC", "has 12 characters, got 3"),
        ("ABCDEFGHJKLMN", "has 12 characters, got 13"),
        ("ABCDEFGHJKLI", "character 'I' at position 12 is not allowed"),
        ("abcdefghjklm", "letters must be upper case"),
        (None, "must be a string"),
    ],
)
def test_malformed_query_codes(code, reason):
    with pytest.raises(MalformedError) as info:
        check_query_code(code)  # type: ignore[arg-type]
    assert reason in info.value.message and info.value.field == "/query_code"


def test_query_code_seed_must_be_non_empty_bytes():
    with pytest.raises(MalformedError, match="empty"):
        make_query_code(b"")
    with pytest.raises(TypeError):
        make_query_code("entry:42")  # type: ignore[arg-type]
