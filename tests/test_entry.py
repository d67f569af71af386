"""Statements and entries: canonical bytes (checked against the rfc8785 package), strict parsing,
limits, and a clear error with a field path for every kind of bad input."""

from __future__ import annotations

import base64
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from regledger.keys.ed25519 import Ed25519Signer, statement_key_id, verify_ed25519
from regledger.ledger.entry import (
    MAX_LEAF_BYTES,
    MAX_STATEMENT_BYTES,
    Entry,
    Statement,
    canonical_json,
    parse_json,
    sign_statement,
)
from regledger.ledger.errors import InvalidSignatureError, MalformedError
from regledger.ledger.hashes import leaf_hash

SIGNER = Ed25519Signer.generate("clerk@test")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_json_matches_rfc8785_package(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ue000": 2, "a": 3},  # UTF-16 order differs from code point order here
        {"peach": 1, "péché": 2, "pêche": 3, "sin": 4},
        [1e21, 1e-7, 0.1, -0.0, 5e-324, 1.7976931348623157e308],
        '\u2028\u2029\x7f\x00\x1f"\\/',
    ],
)
def test_canonical_json_edge_cases(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_rfc8785_appendix_example():
    # RFC 8785 section 3.2.2 example input, and its published canonical output
    raw = (
        '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}'
    )
    want = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(raw)).decode() == want


def _statement(**overrides):
    st_ = sign_statement(
        SIGNER, kind="sample.resource", subject="s-1", payload={"name": "气象数据", "n": 1}, time="2026-01-02T03:04:05Z"
    )
    obj = st_.to_json()
    obj.update(overrides)
    return obj


def test_signature_covers_canonical_statement_without_sig():
    s = Statement.from_json(_statement())
    unsigned = dict(_statement())
    del unsigned["sig"]
    assert s.signed_message() == rfc8785.dumps(unsigned)
    assert s.canonical == rfc8785.dumps(_statement())
    verify_ed25519(SIGNER.public, s.signed_message(), s.sig)
    assert s.key == statement_key_id(SIGNER.public)


def test_tampered_payload_fails_signature():
    s = Statement.from_json(_statement(payload={"name": "气象数据", "n": 2}))
    with pytest.raises(InvalidSignatureError):
        verify_ed25519(SIGNER.public, s.signed_message(), s.sig)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kind": 5}, "/kind"),
        ({"kind": "NoDots"}, "/kind"),
        ({"subject": ""}, "/subject"),
        ({"subject": ["x"]}, "/subject"),
        ({"payload": "text"}, "/payload"),
        ({"payload": {"n": 2**60}}, "/payload/n"),
        ({"payload": {"n": float("nan")}}, "/payload/n"),
        ({"time": "yesterday"}, "/time"),
        ({"time": "2026-13-02T03:04:05Z"}, "/time"),
        ({"key": "XYZ"}, "/key"),
        ({"sig": "not base64!"}, "/sig"),
        ({"sig": base64.b64encode(b"short").decode()}, "/sig"),
        ({"Extra-Field": 1}, "/Extra-Field"),
    ],
)
def test_bad_statement_names_the_field(change, field):
    with pytest.raises(MalformedError) as err:
        Statement.from_json(_statement(**change))
    assert err.value.field == field


def test_missing_member_names_the_field():
    obj = _statement()
    del obj["payload"]
    with pytest.raises(MalformedError) as err:
        Statement.from_json(obj)
    assert err.value.field == "/payload"


def test_deep_nesting_rejected():
    deep: dict = {}
    cur = deep
    for _ in range(40):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(MalformedError, match="deeper"):
        sign_statement(SIGNER, kind="a.b", subject="s", payload=deep)


def test_oversized_payload_rejected_with_limit_in_message():
    with pytest.raises(MalformedError, match=str(MAX_STATEMENT_BYTES)):
        sign_statement(SIGNER, kind="a.b", subject="s", payload={"blob": "x" * MAX_STATEMENT_BYTES})


def test_largest_statement_fits_a_leaf():
    pad = MAX_STATEMENT_BYTES - len(sign_statement(SIGNER, kind="a.b", subject="s", payload={"blob": ""}).canonical)
    s = sign_statement(SIGNER, kind="a.b", subject="s", payload={"blob": "x" * pad})
    assert len(s.canonical) == MAX_STATEMENT_BYTES
    e = Entry.build(2**40, bytes(32), "2026-01-02T03:04:05.000Z", s)
    assert len(e.leaf) <= MAX_LEAF_BYTES


@pytest.mark.parametrize(
    "raw, why",
    [
        (b'{"a":1,"a":2}', "duplicate"),
        (b'{"a":NaN}', "NaN"),
        (b"\xff\xfe", "UTF-8"),
        (b"{", "not JSON"),
    ],
)
def test_parse_json_is_strict(raw, why):
    with pytest.raises(MalformedError, match=why):
        parse_json(raw)


def test_non_canonical_statement_bytes_rejected():
    s = Statement.from_json(_statement())
    assert Statement.from_bytes(s.canonical) == s
    pretty = json.dumps(s.to_json(), indent=1, ensure_ascii=False).encode()
    with pytest.raises(MalformedError, match="canonical"):
        Statement.from_bytes(pretty)


def test_entry_round_trip_and_leaf_hash():
    s = Statement.from_json(_statement())
    e = Entry.build(7, b"\x01" * 32, "2026-01-02T03:04:05.678Z", s)
    assert set(json.loads(e.leaf)) == {"v", "index", "prev", "time", "statement"}
    assert e.leaf == rfc8785.dumps(json.loads(e.leaf))
    assert e.leaf_hash == leaf_hash(e.leaf)
    assert Entry.from_leaf(e.leaf) == e


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o.update(v=2),
        lambda o: o.update(index=-1),
        lambda o: o.update(index=True),
        lambda o: o.update(prev="AAAA"),
        lambda o: o.update(extra=1),
        lambda o: o.pop("time"),
        lambda o: o["statement"].update(kind="x"),
    ],
)
def test_bad_entries_rejected(mutate):
    s = Statement.from_json(_statement())
    obj = json.loads(Entry.build(7, bytes(32), "2026-01-02T03:04:05.678Z", s).leaf)
    mutate(obj)
    with pytest.raises(MalformedError):
        Entry.from_leaf(rfc8785.dumps(obj))
