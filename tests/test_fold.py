"""ledger.fold: the one way an entry is accepted (issue 11), and its hooks."""

from __future__ import annotations

import pytest

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.entry import Entry, sign_statement
from regledger.ledger.errors import InvalidSignatureError, MalformedError, UnknownKeyError, VerificationError
from regledger.ledger.fold import fold_entry, unknown_key_at
from regledger.ledger.keyring import register_key_statement, revoke_key_statement
from regledger.ledger.policy import ReplayGuard, replay
from regledger.ledger.sequencer import Ledger
from regledger.ledger.store import KeyRecord, MemoryStore


@pytest.fixture()
def signers():
    return Ed25519Signer.generate("admin"), Ed25519Signer.generate("clerk")


def _folded_keys(admin, clerk) -> dict[str, KeyRecord]:
    keys: dict[str, KeyRecord] = {}
    fold_entry(0, register_key_statement(admin, admin, "admin"), keys)
    fold_entry(1, register_key_statement(admin, clerk, "registrant"), keys)
    return keys


def test_fold_applies_the_key_change_and_returns_what_the_policy_step_returned(signers):
    admin, clerk = signers
    keys = _folded_keys(admin, clerk)
    st = sign_statement(clerk, kind="note.test", subject="x", payload={})
    folded = fold_entry(2, st, keys, apply=lambda signer: signer.name)
    assert folded.signer.key_id == clerk.key_id and folded.change is None and folded.applied == "clerk"
    revoked = fold_entry(3, revoke_key_statement(admin, clerk.key_id, "left"), keys)
    assert revoked.change == ("revoke", clerk.key_id) and keys[clerk.key_id].revoked_at == 3


def test_the_policy_step_runs_after_the_signature_and_before_the_key_change(signers):
    admin, clerk = signers
    keys = _folded_keys(admin, clerk)
    forged = sign_statement(clerk, kind="key.revoke", subject=clerk.key_id, payload={"reason": "x"})
    seen = []
    with pytest.raises(UnknownKeyError, match="must be signed by an admin key"):
        fold_entry(2, forged, keys, apply=seen.append)  # the policy saw it; the key rule then refused it
    assert [s.key_id for s in seen] == [clerk.key_id] and keys[clerk.key_id].revoked_at is None
    bad = sign_statement(clerk, kind="note.test", subject="x", payload={})
    bad = type(bad).from_bytes(bad.canonical.replace(b'"x"', b'"y"'))
    with pytest.raises(InvalidSignatureError):
        fold_entry(2, bad, keys, apply=seen.append)
    assert len(seen) == 1  # a statement whose signature fails never reaches the policy
    assert fold_entry(2, bad, keys, verify=False).signer.key_id == clerk.key_id  # checked before it was stored


def test_refusals_are_translated_only_by_the_callers_hook(signers):
    admin, clerk = signers
    keys = _folded_keys(admin, clerk)
    stranger = sign_statement(Ed25519Signer.generate("x"), kind="note.test", subject="x", payload={})
    with pytest.raises(UnknownKeyError, match=r"^statement 4: key [0-9a-f]{32} is not registered"):
        fold_entry(2, stranger, keys, refused=unknown_key_at("statement 4"))
    with pytest.raises(VerificationError, match=r"^entry 2: key"):
        fold_entry(2, stranger, keys, refused=lambda exc: VerificationError(f"entry 2: {exc}"))
    malformed = sign_statement(admin, kind="key.unknown", subject="x", payload={})
    with pytest.raises(MalformedError, match="unknown key statement"):  # a key-change refusal is not translated
        fold_entry(2, malformed, keys, refused=lambda exc: VerificationError("never"))


def test_the_sequencer_and_replay_refuse_and_accept_alike(signers):
    """What append refused is never in the log, and replay of what it accepted gives the same states."""
    admin, clerk = signers
    ledger = Ledger(
        MemoryStore(),
        origin="regledger.test/fold",
        log_signer=Ed25519Signer.generate("regledger.test/fold"),
        policy=ReplayGuard(),
    )
    ledger.append_batch(
        [register_key_statement(admin, admin, "admin"), register_key_statement(admin, clerk, "registrant")]
    )
    ledger.append(sign_statement(clerk, kind="note.test", subject="a", payload={}, extra={"nonce": "a" * 16}))
    ledger.append(revoke_key_statement(admin, clerk.key_id, "left"))
    late = sign_statement(clerk, kind="note.test", subject="b", payload={})
    with pytest.raises(UnknownKeyError, match=f"^statement 0: key {clerk.key_id} was revoked at entry 3$"):
        ledger.append(late)
    with pytest.raises(UnknownKeyError, match=f"^statement 1: key {clerk.key_id} was revoked at entry 3$"):
        ledger.append_batch([sign_statement(admin, kind="note.test", subject="c", payload={}), late])
    states = replay(ReplayGuard(), ledger.iter_leaves())
    assert states == {st.subject: st for st in ledger.store.iter_states()}
    keys: dict[str, KeyRecord] = {}
    for leaf in ledger.iter_leaves():
        e = Entry.from_leaf(leaf)
        fold_entry(e.index, e.statement, keys)
    assert keys == {k.key_id: k for k in ledger.store.all_keys()}
