"""The C-speed parse of canonical leaves decides exactly as the strict parser, on every input.

`Entry.from_leaf` first tries `_parse_simple` (C json, then the canonical leaf assembled from the
parse must be the same bytes); these tests hold it to the full parser's answer, accept or refuse,
on generated statements, on generated mutations of them, and on every kind of almost-canonical leaf.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regledger.ledger.entry as entry_module
from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import Entry, sign_statement
from regledger.ledger.errors import MalformedError

SIGNER = Ed25519Signer.generate("clerk@test")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


def decide(leaf: bytes, *, fast: bool, monkeypatch) -> tuple:
    if not fast:  # from_leaf's C-speed parse (and from_stored_leaf's) can vouch for nothing: the strict parser decides
        monkeypatch.setattr(entry_module, "_parse_simple", lambda raw: None)
        monkeypatch.setattr(entry_module, "_parse_if_canonical", lambda raw: None)
    try:
        e = Entry.from_leaf(leaf)
        out = ("ok", e.index, e.prev, e.time, e.statement.canonical, e.statement.signed_message(), e.leaf)
    except MalformedError as exc:
        out = ("refused", type(exc).__name__)
    monkeypatch.undo()
    return out


def _leaf(payload) -> bytes:
    st_ = sign_statement(SIGNER, kind="test.fast", subject="s-1", payload={"v": payload})
    return Entry.build(7, bytes(32), "2026-11-23T00:00:00.000Z", st_).leaf


@settings(max_examples=300, deadline=None)
@given(values)
def test_generated_leaves_get_the_same_answer(value):
    mp = pytest.MonkeyPatch()
    try:
        leaf = _leaf(value)
    except MalformedError:
        return  # not I-JSON (an integer out of range): nothing to parse
    assert decide(leaf, fast=True, monkeypatch=mp) == decide(leaf, fast=False, monkeypatch=mp)


BASE = _leaf({"name": "贵州省数据（样例）", "n": 1})


CASES = [
    BASE,
    BASE.replace(b'"n":1', b'"n":1.0'),  # a float that is not canonical
    BASE.replace(b'"n":1', b'"n":1e0'),
    BASE.replace(b'"n":1', b'"n":9007199254740993'),  # beyond I-JSON
    BASE.replace(b'"n":1', b'"n":-0'),
    BASE.replace(b'{"n":1', b'{"n":1,"n":1'),  # duplicate member
    BASE.replace(b'{"n":1', b'{"n":2,"n":1'),
    BASE.replace(b'{"n":1', b'{ "n":1'),  # whitespace
    BASE.replace(b'"n":1,', b""),  # another canonical leaf
    BASE.replace(b'{"n":1,"name":', b'{"name":"x","n":1,"nam":'),  # members out of order
    BASE.replace("贵".encode(), b"\\u8d35"),  # escaped where canonical is literal
    BASE.replace("贵".encode(), b"\\ud800"),  # lone surrogate
    BASE.replace("贵".encode(), "\U0001f600".encode()),  # outside the BMP (sort order differs)
    BASE.replace(b'"v":{', b'"v":' + b"[" * 40 + b"{").replace(b'}},"sig"', b"}" + b"]" * 40 + b'},"sig"'),
    BASE.replace(b'"index":7', b'"index":7,"index":7'),
    BASE.replace(b'"v":1}', b'"v":1,"w":2}'),
    BASE + b" ",
    b"\xff" + BASE[1:],
]


def test_every_case_changes_the_leaf():
    assert [c == BASE for c in CASES] == [True] + [False] * (len(CASES) - 1)


@pytest.mark.parametrize("leaf", CASES)
def test_almost_canonical_leaves_get_the_same_answer(leaf, monkeypatch):
    assert decide(leaf, fast=True, monkeypatch=monkeypatch) == decide(leaf, fast=False, monkeypatch=monkeypatch)


def test_the_fast_path_is_taken_for_ordinary_leaves(monkeypatch):
    assert entry_module._parse_if_canonical(BASE) == json.loads(BASE)
    assert entry_module._parse_if_canonical(BASE.replace(b'"n":1', b'"n":1.5')) is None  # floats: full parser
    assert entry_module._parse_simple(BASE) == json.loads(BASE)
    for not_simple in (b'"n":1.5', b'"n":9007199254740992', b'"n":NaN', 'n":"\U0001f600'.encode()):
        assert entry_module._parse_simple(BASE.replace(b'"n":1', not_simple)) is None

    def no_strict_parse(raw, *, field=""):
        raise AssertionError("the strict parser was used")

    monkeypatch.setattr(entry_module, "parse_json", no_strict_parse)
    assert Entry.from_leaf(BASE).leaf == BASE


# Mutations that keep a leaf JSON-like but most often not canonical (or not an entry at all).
_SPELLINGS = [
    b" ",
    b"\n",
    b",",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b"\\",
    b"\\u0041",
    b"\\/",
    b"0",
    b"-0",
    b"1.0",
    b"1e0",
    b"true",
    b"null",
    b"NaN",
    b"9007199254740993",
    "\U0001f600".encode(),
    "贵".encode(),
    "\ue000".encode(),
    b"\x7f",
    b"\\u007f",
    b"\\u001f",
    b"\xff",
    b'"n":1,"n":1,',
]


@settings(max_examples=400, deadline=None)
@given(values, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(_SPELLINGS)), max_size=3))
def test_mutated_leaves_get_the_same_answer(value, edits):
    """Insert, replace or delete bytes anywhere in a canonical leaf: accept, refuse and the parsed value agree."""
    try:
        leaf = _leaf(value)
    except MalformedError:
        return
    for at, how, spelling in edits:
        at %= len(leaf) + 1
        if how == 0:
            leaf = leaf[:at] + spelling + leaf[at:]
        elif how == 1:
            leaf = leaf[:at] + spelling + leaf[at + len(spelling) :]
        elif how == 2:
            leaf = leaf[:at] + leaf[at + 1 :]
        else:  # a copy of the bytes that follow (a member twice, a name or value repeated)
            leaf = leaf[:at] + leaf[at : at + 4 * len(spelling)] + leaf[at:]
    mp = pytest.MonkeyPatch()
    assert decide(leaf, fast=True, monkeypatch=mp) == decide(leaf, fast=False, monkeypatch=mp)


names = st.text(max_size=4) | st.sampled_from(["", "a", "b", "\ue000", "\U0001f600", "\u00e9", "Z", "kind", "sig"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(names, values, max_size=4),
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), values, max_size=2),
)
def test_generated_statements_with_extra_members_get_the_same_answer(payload, extra):
    """Member names beyond the BMP or above U+E000 (where UTF-16 and code-point order differ), extra members."""
    extra = {k: v for k, v in extra.items() if k not in ("kind", "subject", "payload", "time", "key", "sig")}
    try:
        st_ = sign_statement(SIGNER, kind="test.fast", subject="s-1", payload=payload, extra=extra)
        leaf = Entry.build(3, bytes(32), "2026-11-23T00:00:00.000Z", st_).leaf
    except MalformedError:
        return
    mp = pytest.MonkeyPatch()
    fast = decide(leaf, fast=True, monkeypatch=mp)
    assert fast == decide(leaf, fast=False, monkeypatch=mp)
    assert fast[0] == "refused" or fast[-1] == leaf  # refused: a float such as 2.0**53 that reads back as an integer


@pytest.mark.parametrize("leaf", CASES)
def test_a_stored_leaf_read_back_fast_says_what_the_strict_parser_says(leaf, monkeypatch):
    """`Entry.from_stored_leaf` (the check before signing reads index and prev with it): where the strict
    parser accepts, the same index, prev and time; where it refuses, so does this or it is a non-entry shape."""
    strict = decide(leaf, fast=False, monkeypatch=monkeypatch)
    try:
        e = Entry.from_stored_leaf(leaf)
        fast = ("ok", e.index, e.prev, e.time)
    except MalformedError:
        fast = ("refused",)
    assert fast[0] == strict[0] and fast[1:] == strict[1:4] if strict[0] == "ok" else fast == ("refused",)


@pytest.mark.parametrize("member, true", [(b'"index":7', b'"index":true'), (b'"v":1}', b'"v":true}')])
def test_true_is_not_1_in_a_stored_leaf(member, true):
    leaf = _leaf(1).replace(member, true)
    assert entry_module._parse_if_canonical(leaf) is not None  # canonical JSON, so only the shape check decides
    with pytest.raises(MalformedError):
        Entry.from_stored_leaf(leaf)
