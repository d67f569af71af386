"""What the register refuses (issue 9.5): keys registered for no one, scopes it could not act on,
registration ids that squat on the codes' namespace.

Each refusal goes through a real `Ledger(policy=RegistryPolicy())` (test_workflow.World) and must leave
the ledger and its state cache untouched.
"""

from __future__ import annotations

import hashlib

import pytest
from test_workflow import HOLDER, NoLinks, World, resource_fields

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import Entry
from regledger.ledger.errors import MalformedError
from regledger.ledger.hashes import Hash
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.store import KeyRecord
from regledger.registry.client import make_step
from regledger.registry.codes import make_code, make_query_code
from regledger.registry.workflow import NotPermittedError, step

GOOD_USCC = HOLDER["uscc"]


def test_a_registrant_key_without_an_institution_acts_for_no_one():
    """Keys registered before scopes were checked (or mirrored from a child) may lack `institution`:
    such a key must not apply for an institution (it did: None matched the missing agent's None)."""
    w = World()
    clerk = Ed25519Signer.generate("scopeless@test")
    st = make_step(
        clerk, "registration.apply", "r1", {"subject_kind": "resource", "fields": resource_fields()}, time=w.clock()
    )
    entry = Entry.build(99, Hash(bytes(32)), st.time, st)
    for scope in ({}, {"institution": None}, {"institution": ""}):
        signer = KeyRecord(clerk.key_id, clerk.public, clerk.name, "registrant", scope, 1)
        with pytest.raises(NotPermittedError) as err:
            step(None, entry, signer, NoLinks())
        assert err.value.field == "/key" and f"not for the registrant {HOLDER['uscc']}" in str(err.value)
    ok = KeyRecord(clerk.key_id, clerk.public, clerk.name, "registrant", {"institution": GOOD_USCC}, 1)
    assert step(None, entry, ok, NoLinks())["status"] == "SUBMITTED"


BAD_SCOPES = [
    ("registrant-none", "registrant", None, "/payload/scope/institution"),
    (
        "registrant-bad-check",
        "registrant",
        {"institution": GOOD_USCC[:-1] + ("0" if GOOD_USCC[-1] != "0" else "1")},
        "/payload/scope/institution",
    ),
    ("registrant-number", "registrant", {"institution": 911100006}, "/payload/scope/institution"),
    ("registrant-with-region", "registrant", {"institution": GOOD_USCC, "region": "520000"}, "/payload/scope/region"),
    ("registrar-none", "registrar", None, "/payload/scope/region"),
    ("registrar-abc", "registrar", {"region": "abc"}, "/payload/scope/region"),
    ("registrar-999999", "registrar", {"region": "999999"}, "/payload/scope/region"),
    ("registrar-retired", "registrar", {"region": "130323"}, "/payload/scope/region"),  # 抚宁县, retired 2015
    ("registrar-number", "registrar", {"region": 520000}, "/payload/scope/region"),
    (
        "registrar-with-institution",
        "registrar",
        {"region": "520000", "institution": GOOD_USCC},
        "/payload/scope/institution",
    ),
    ("authority-none", "authority", None, "/payload/scope/region"),
    ("authority-unknown-member", "authority", {"region": "520000", "colour": "red"}, "/payload/scope/colour"),
    ("admin-with-region", "admin", {"region": "520000"}, "/payload/scope/region"),
    ("platform-parent-yes", "platform", {"parent": "yes"}, "/payload/scope/parent"),
    ("platform-with-region", "platform", {"region": "520000"}, "/payload/scope/region"),
]


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.mark.parametrize("role,scope,field", [c[1:] for c in BAD_SCOPES], ids=[c[0] for c in BAD_SCOPES])
def test_key_register_refuses_a_scope_the_register_cannot_act_on(world, role, scope, field):
    key = Ed25519Signer.generate(f"bad-{role}@test")
    st = register_key_statement(world.admin, key, role, scope, time=world.clock())
    err = world.refused(MalformedError, world.ledger.append, st)
    assert err.field == field, err
    assert not world.store.get_keys([key.key_id])


@pytest.mark.parametrize(
    "role,scope",
    [
        ("registrant", {"institution": GOOD_USCC}),
        ("registrar", {"region": "520100"}),
        ("authority", {"region": "330000"}),
        ("admin", None),
        ("platform", None),
        ("platform", {"parent": True}),
    ],
)
def test_key_register_accepts_each_roles_scope(world, role, scope):
    key = Ed25519Signer.generate(f"good-{role}@test")
    world.ledger.append(register_key_statement(world.admin, key, role, scope, time=world.clock()))
    assert world.store.get_keys([key.key_id])[key.key_id].scope == (scope or {})


def _bad_check_query_code() -> str:
    qc = make_query_code(b"seed")
    return qc[:-1] + ("0" if qc[-1] != "0" else "1")


@pytest.mark.parametrize(
    "registration",
    [
        "PDR-1-520000-2026-00000001-W",  # the squatter from the issue
        make_code(1, "520000", 2026, 1),  # a well-formed code
        "PDR-anything",  # the whole prefix belongs to codes
        make_query_code(b"seed"),  # a well-formed query code
    ],
)
def test_a_registration_id_may_not_look_like_a_code(world, registration):
    err = world.refused(MalformedError, world.apply, registration)
    assert err.field == "/subject"


@pytest.mark.parametrize("registration", [_bad_check_query_code(), "pdr-1-weather", "gz-" + make_query_code(b"x")])
def test_ids_near_a_code_are_still_ids(world, registration):
    world.apply(registration)
    assert world.status(registration) == "SUBMITTED"


def test_ids_and_codes_stay_disjoint_after_coding(world):
    """The real code, once issued, finds the registration that holds it and nothing else."""
    reg = "squat-" + hashlib.sha256(b"x").hexdigest()[:8]
    world.register(reg)
    code = world.state(reg)["code"]
    err = world.refused(MalformedError, world.apply, code)
    assert err.field == "/subject"


# -- canonical bytes only (docs/formats.md: a non-canonical encoding is refused, not repaired) ---------


def _signed(world: World):
    return make_step(
        world.keys["holder"],
        "registration.apply",
        "canon",
        {"subject_kind": "resource", "fields": resource_fields()},
        time=world.clock(),
    )


def _first_non_ascii(b: bytes) -> int:
    return next(i for i, c in enumerate(b) if c >= 0x80)


def test_statement_bytes_must_be_canonical_and_the_refusal_names_the_first_difference(world):
    import json

    from regledger.ledger.entry import Statement

    st = _signed(world)
    assert Statement.from_bytes(st.canonical) == st
    sorted_compact = dict(sort_keys=True, separators=(",", ":"))
    for raw, at in (
        (json.dumps(st.to_json(), indent=2, ensure_ascii=False).encode(), 1),  # pretty-printed
        (
            json.dumps(st.to_json(), ensure_ascii=True, **sorted_compact).encode(),  # \u-escaped
            _first_non_ascii(st.canonical),
        ),
        # unsorted: "ki" for "ke"
        (json.dumps(st.to_json(), ensure_ascii=False, separators=(",", ":")).encode(), 3),
        (st.canonical + b"\n", len(st.canonical)),
    ):  # a trailing newline
        with pytest.raises(MalformedError) as err:
            Statement.from_bytes(raw)
        assert f"the first difference is at byte {at}:" in str(err.value), str(err.value)
        assert "refused, not repaired" in str(err.value)


def test_entry_bytes_must_be_canonical_and_the_refusal_names_the_first_difference(world):
    import json

    st = _signed(world)
    e = Entry.build(3, Hash(bytes(32)), st.time, st)
    escaped = json.dumps(json.loads(e.leaf), ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(MalformedError) as err:
        Entry.from_leaf(escaped)
    assert (
        f"entry is not canonical JSON (RFC 8785; refused, not repaired): the first difference is at byte "
        f"{_first_non_ascii(e.leaf)}:" in str(err.value)
    )
