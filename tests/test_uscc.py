"""统一社会信用代码 (GB 32100-2015): the vectors of domain.md §8 and exhaustive substitutions."""

from __future__ import annotations

import string

import pytest

from regledger.ledger.errors import MalformedError
from regledger.registry.uscc import (
    CHARSET,
    REGISTRATION_CATEGORIES,
    USCC_WEIGHTS,
    org_code_check_char,
    uscc_check_char,
    validate_uscc,
)

VALID = ["91110000600037341L", "121200004013590816", "9144030071526726XG", "91310115MA1K3BTP2B"]


@pytest.mark.parametrize("code", VALID)
def test_valid_vectors_pass(code):
    assert validate_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_weights_are_powers_of_three_mod_31():
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(CHARSET) == 31 and not set("IOSVZ") & set(CHARSET)


def test_worked_example_sum_is_538():
    code = "91110000600037341L"
    total = sum(CHARSET.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    assert total == 538
    assert 538 % 31 == 11 and CHARSET[31 - 11] == "L"


def test_embedded_org_code_check_x_means_ten():
    assert org_code_check_char("71526726") == "X"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341N", "check character is N, expected L"),
        ("9111000060003IOZSV", "character 'I' at position 14 is not allowed"),
        ("12345", "has 18 characters, got 5"),
        ("91350203M0001QAY9B", "check character is B, expected 9"),
        ("91110000600037341l", "letters must be upper case"),
        ("9111000060003734 L", "character ' ' at position 17"),
        ("911A0000600037341L", "positions 3-8 (registration authority's GB/T 2260 region code) must be digits"),
        ("14110000600037341L", "'14' (positions 1-2) is not in the configured table"),
        ("F1110000600037341L", "'F1' (positions 1-2) is not in the configured table"),
        ("91110000600037342L", "organisation code (positions 9-17) check character is 2, expected 1"),
    ],
)
def test_invalid_vectors_fail_with_their_reason(code, reason):
    with pytest.raises(MalformedError) as info:
        validate_uscc(code, field="/party/uscc")
    assert reason in info.value.message
    assert info.value.field == "/party/uscc"
    assert str(info.value).startswith("/party/uscc: ")


def test_non_string_is_malformed():
    with pytest.raises(MalformedError, match="must be a string"):
        validate_uscc(91110000600037341)  # type: ignore[arg-type]


def test_91350203M0001QAY9B_passes_the_embedded_check_but_not_the_outer_one():
    # The JS validator whitelisting this code only ran the GB 11714 check.
    assert org_code_check_char("M0001QAY") == "9"
    assert uscc_check_char("91350203M0001QAY9") == "9"


def test_category_table_is_configurable():
    code = "91110000600037341L"
    with pytest.raises(MalformedError, match="expected one of 12"):
        validate_uscc(code, categories={"12"})
    assert validate_uscc(code, categories={"91"}) == code
    assert {"11", "12", "51", "55", "91", "93", "A1", "N3", "Q9", "Y1"} <= set(REGISTRATION_CATEGORIES)
    assert len(REGISTRATION_CATEGORIES) == 45


def test_category_codes_with_a_letter_are_accepted():
    # Build a code with category N1 and a fresh pair of check characters: a letter in
    # positions 1-2 is legal (python-stdnum's digits-only rule is too strict).
    body = "N1110000" + "MA1K3BTP"
    first17 = body + org_code_check_char(body[8:])
    code = first17 + uscc_check_char(first17)
    assert validate_uscc(code) == code


ALPHABET = sorted(set(CHARSET) | set(string.ascii_letters) | set(string.digits) | set(" -_.*") | {"Ｌ", "一"})


@pytest.mark.parametrize("code", VALID)
def test_every_single_character_substitution_is_rejected(code):
    tried = 0
    for pos in range(len(code)):
        for c in ALPHABET:
            if c == code[pos]:
                continue
            bad = code[:pos] + c + code[pos + 1 :]
            with pytest.raises(MalformedError):
                validate_uscc(bad)
            tried += 1
    assert tried == 18 * (len(ALPHABET) - 1)


@pytest.mark.parametrize("code", VALID)
def test_substitutions_inside_the_charset_are_caught_by_the_outer_check_alone(code):
    # Independently of the category table and GB 11714: the mod-31 check by itself catches them.
    for pos in range(17):
        for c in CHARSET:
            if c != code[pos]:
                assert uscc_check_char(code[:pos] + c + code[pos + 1 : 17]) != code[17]
