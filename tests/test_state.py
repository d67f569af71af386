"""The owners of subject state (registry.state, sync.state): keys, typed views, lookups; and store.get_state."""

from __future__ import annotations

import pytest

from regledger.demo_registry import DEMO_START, SimClock, register_demo_set
from regledger.home import Home
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import MemoryStore, SubjectState
from regledger.registry.codes import code_prefix, make_code, parse_code
from regledger.registry.state import (
    Registration,
    code_key,
    find_registration,
    is_registration_key,
    last_seq,
    mint_code,
    next_code,
    registration_by_code,
    registration_id,
    registration_key,
    sequence_key,
    sequence_state,
)
from regledger.sync.fetch import LedgerFetcher
from regledger.sync.manage import add_child
from regledger.sync.pull import pull_child
from regledger.sync.state import (
    PARENT_SUBJECT,
    Child,
    Parent,
    Relay,
    Route,
    child_key,
    mirror_subject,
    namespace_prefix,
    relay_key,
    route_key,
)


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("REGLEDGER_PASSPHRASE", "test-passphrase-for-state-tests")


@pytest.fixture(scope="module")
def cascade(tmp_path_factory) -> tuple[Ledger, Ledger]:
    """(parent, child): the demo's registrations made in the child, pulled into the parent's mirror."""
    import os

    os.environ.setdefault("REGLEDGER_PASSPHRASE", "test-passphrase-for-state-tests")
    tmp = tmp_path_factory.mktemp("state")
    child_home = Home(tmp / "child")
    child_home.init("child.example/520115", say=lambda *a: None)
    clock = SimClock(DEMO_START)
    register_demo_set(child_home.open(clock=clock), child_home.admin(), clock, lambda *a: None)
    child = child_home.open()
    child.integrate()
    parent_home = Home(tmp / "parent")
    parent_home.init("parent.example/520100", say=lambda *a: None)
    parent = parent_home.open()
    add_child(parent, parent_home.admin(), "http://127.0.0.1:9", child.verifier().vkey())
    pull_child(parent, LedgerFetcher(child), child.origin)
    return parent, child


def _view(subject: str):
    """The typed view of a subject's state, by its key."""
    inner = subject.split(":", 1)[1] if subject.startswith("@") else subject
    for prefix, cls in (("reg:", Registration), ("sync:", Child), ("route:", Route), ("relay:", Relay)):
        if inner.startswith(prefix):
            return cls
    return Parent if inner == PARENT_SUBJECT else None


def test_every_state_round_trips_exactly_through_its_typed_view(cascade):
    """Every registration, child, route and parent state the demo and a pull produce reads into its view with
    every member typed (nothing left in `extra`) and writes back to the same dict, in the same order."""
    seen: dict[type, int] = {}
    for ledger in cascade:
        for st in ledger.store.iter_states():
            cls = _view(st.subject)
            if cls is None:
                continue
            view = cls.from_state(st.state)
            assert view.extra == {}, (st.subject, view.extra)
            assert view.to_state() == st.state and list(view.to_state()) == list(st.state), st.subject
            seen[cls] = seen.get(cls, 0) + 1
            if cls is Registration:  # each step: where, when and by whom typed; what it recorded, its details
                for h, raw in zip(view.steps, st.state["history"], strict=True):
                    assert h.to_state() == raw and None not in (h.index, h.kind, h.time, h.by), raw
                    assert h.details == {k: v for k, v in raw.items() if k not in ("index", "kind", "time", "by")}
    assert seen[Registration] >= 18 and seen[Child] == 1 and seen[Route] == 1, seen  # 9 own + 9 mirrored


def test_odd_states_round_trip_too_and_read_as_defaults():
    odd = [
        {},
        {"registration": "bare"},
        {"registration": "listy", "region": ["52"], "history": 5, "fields": "x", "subject_kind": {"k": 1}},
        {
            "registration": "odd",
            "history": [{"index": 999}, "junk"],
            "code": "PDR-<i>",
            "query_code": 5,
            "supplements": True,
            "publicity_start": {"<i>": 1},
        },
    ]
    for state in odd:
        reg = Registration.from_state(state)
        assert reg.to_state() == state and list(reg.to_state()) == list(state)
    listy = Registration.from_state(odd[2])
    assert (listy.region, listy.fields, listy.history, listy.subject_kind) == ("", {}, [], "")
    assert listy.extra == {"region": ["52"], "history": 5, "fields": "x", "subject_kind": {"k": 1}}
    weird = Registration.from_state(odd[3])
    assert [h.to_state() for h in weird.steps] == [{"index": 999}] and weird.steps[0].index == 999
    assert weird.code == "PDR-<i>" and weird.query_code is None
    assert weird.supplements == 0 and "supplements" in weird.extra  # a bool is not an int here
    assert Registration.from_state(None).registration == "" and Registration.from_state("x").extra == {}


def test_a_record_built_in_code_writes_every_field():
    assert Route("a.example/1").to_state() == {"parent": "a.example/1"}
    assert Relay("o", "r", "C", ["o"]).to_state() == {
        "origin": "o",
        "registration": "r",
        "official_code": "C",
        "hops": ["o"],
    }


def test_find_registration_by_id_by_code_and_in_a_mirror(cascade):
    parent, child = cascade
    coded = next(st for st in child.store.iter_states() if st.subject.startswith("reg:") and st.state.get("code"))
    reg_id, code = coded.state["registration"], coded.state["code"]
    assert find_registration(child.store, reg_id) == coded
    assert find_registration(child.store, code) == coded
    assert registration_by_code(child.store.get_state, code) == coded
    assert find_registration(child.store, "no-such-registration") is None
    assert find_registration(child.store, make_code(1, "520115", 2026, 99999999)) is None
    # in the parent, the same registration lives only in the child's mirror
    assert find_registration(parent.store, reg_id) is None and find_registration(parent.store, code) is None
    mirrored = find_registration(parent.store, code, origin=child.origin)
    assert mirrored is not None and mirrored.subject == registration_key(reg_id, child.origin)
    assert mirrored.state["origin"] == child.origin
    assert find_registration(parent.store, reg_id, origin=child.origin) == mirrored
    assert Registration.from_state(mirrored.state).origin == child.origin


def test_keys_and_their_namespaces():
    assert registration_key("x") == "reg:x" and registration_key("x", "o.example/1") == "@o.example/1:reg:x"
    assert code_key("PDR-1") == "code:PDR-1" and code_key("PDR-1", "o") == "@o:code:PDR-1"
    assert sequence_key("PDR-1-520115-2026") == "seq:PDR-1-520115-2026"
    assert is_registration_key("reg:x") and not is_registration_key("@o:reg:x") and is_registration_key("@o:reg:x", "o")
    assert registration_id("@o:reg:x", "o") == "x" and registration_id("reg:x") == "x"
    assert child_key("c.example/1") == "sync:c.example/1" and route_key("c") == "route:c"
    assert relay_key("o", "r") == "relay:o:r" and mirror_subject("o", "reg:x") == "@o:reg:x"
    assert namespace_prefix(None) == "" and namespace_prefix("o") == "@o:"


def test_code_prefix_and_the_sequence_counter():
    code = make_code(2, "520115", 2026, 7)
    assert code_prefix(2, "520115", 2026) == "PDR-2-520115-2026" == parse_code(code).prefix == code.rsplit("-", 2)[0]
    store = MemoryStore()
    assert last_seq(store.get_state, "PDR-2-520115-2026") == 0
    assert mint_code(store.get_state, 2, "520115", 2026) == make_code(2, "520115", 2026, 1)
    store.replace_states([sequence_state("PDR-2-520115-2026", 7, 3)])
    assert last_seq(store.get_state, "PDR-2-520115-2026") == 7
    assert mint_code(store.get_state, 2, "520115", 2026) == make_code(2, "520115", 2026, 8)


def test_next_code_is_the_registrations_own_once_coded(cascade):
    _, child = cascade
    coded = next(st for st in child.store.iter_states() if st.subject.startswith("reg:") and st.state.get("code"))
    assert next_code(child.store, coded.state["registration"]) == coded.state["code"]
    with pytest.raises(LookupError):
        next_code(child.store, "no-such-registration")


def test_get_state_is_get_states_of_one(store):
    """Store contract: get_state(s) is get_states([s]).get(s), on every implementation."""
    states = [
        SubjectState(
            registration_key("a"),
            {"registration": "a", "n": [1, {"x": None}]},
            3,
            kind="resource",
            status="CODED",
            code="PDR-x",
            region="520115",
            institution="u",
            name="名",
        ),
        SubjectState(child_key("c.example/1"), {"origin": "c.example/1"}, 4, kind="sync"),
    ]
    store.replace_states(states)
    for st in states:
        assert store.get_state(st.subject) == st == store.get_states([st.subject])[st.subject]
    assert store.get_state(registration_key("b")) is None
    assert store.get_state("") is None


def test_the_cascade_hook_answers_with_the_registers_keys_and_counters(cascade):
    """sync/ reaches registry.state only through sync.domain.CascadeDomain (registry/cascade.py)."""
    from regledger.ledger.errors import ConflictError, MalformedError
    from regledger.registry.policy import RegistryPolicy

    parent, child = cascade
    hook = RegistryPolicy()
    assert hook.registration_key("x", "o") == registration_key("x", "o") and hook.registration_key("x") == "reg:x"
    mirrored = [st for st in parent.store.iter_states() if is_registration_key(st.subject, child.origin)]
    coded = next(st for st in mirrored if st.state.get("code"))
    assert hook.awaiting_official_code(coded) == (child.origin, coded.state["registration"])
    assert all(hook.awaiting_official_code(st) is None for st in child.store.iter_states())  # own, not mirrored
    minted = hook.next_official_code(coded, parent.store.get_state)
    prefix = parse_code(minted).prefix
    assert parse_code(minted).seq == last_seq(parent.store.get_state, prefix) + 1
    store = MemoryStore()
    states = hook.official_code_states(
        store.get_state, minted, coded.state["registration"], child.origin, 9, field="/payload/official_code"
    )
    store.replace_states(states)
    assert last_seq(store.get_state, prefix) == parse_code(minted).seq
    assert registration_by_code(store.get_state, minted) is None  # the alias names the mirrored registration
    assert store.get_state(code_key(minted)).state == {
        "registration": coded.state["registration"],
        "origin": child.origin,
    }
    with pytest.raises(ConflictError):  # a code is never given twice
        hook.official_code_states(
            lambda s: store.get_state(s) if s.startswith(code_key("")) else None,
            minted,
            "other",
            child.origin,
            10,
            field="/payload/official_code",
        )
    with pytest.raises(MalformedError) as err:  # nor out of sequence
        hook.official_code_states(store.get_state, minted, "other", child.origin, 10, field="/payload/official_code")
    assert err.value.field == "/payload/official_code"
