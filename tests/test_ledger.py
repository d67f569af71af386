"""Sequencing, key rules, integration and proofs, against every LedgerStore implementation."""

from __future__ import annotations

import base64
import time

import pytest
from conftest import make_ledger

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.checkpoint import open_checkpoint, open_receipt
from regledger.ledger.entry import GENESIS_PREV, Entry, sign_statement
from regledger.ledger.errors import (
    ConflictError,
    InvalidSignatureError,
    MalformedError,
    NotFoundError,
    UnknownKeyError,
    VerificationError,
)
from regledger.ledger.hashes import EMPTY_ROOT, leaf_hash, node_hash
from regledger.ledger.keyring import register_key_statement, revoke_key_statement
from regledger.ledger.proof import verify_consistency, verify_inclusion
from regledger.ledger.sequencer import BatchIntegrator, Ledger
from regledger.ledger.store import MemoryStore


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162's recursive definition."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def sample(signer, i: int):
    return sign_statement(signer, kind="sample.resource", subject=f"s{i}", payload={"i": i})


def test_entry_zero_is_the_admin_key(ledger: Ledger, admin):
    e = ledger.entry(0)
    assert e.statement.kind == "key.register" and e.statement.key == admin.key_id
    assert e.prev == GENESIS_PREV
    (rec,) = ledger.store.all_keys()
    assert rec.role == "admin" and rec.registered_at == 0 and rec.revoked_at is None


def test_append_chains_and_returns_a_signed_receipt(ledger: Ledger, admin):
    results = ledger.append_batch([sample(admin, i) for i in range(5)])
    prev = ledger.entry(0).leaf_hash
    for i, r in enumerate(results, start=1):
        assert r.entry.index == i and r.entry.prev == prev
        receipt = open_receipt(r.receipt, ledger.verifier())
        assert (receipt.index, receipt.leaf_hash, receipt.time) == (i, r.entry.leaf_hash, r.entry.time)
        assert ledger.entry(i) == r.entry
        prev = r.entry.leaf_hash
    assert ledger.store.head().size == 6


def test_unknown_key_is_refused_and_nothing_written(ledger: Ledger):
    stranger = Ed25519Signer.generate("stranger")
    with pytest.raises(UnknownKeyError, match="not registered"):
        ledger.append(sample(stranger, 1))
    assert ledger.store.head().size == 1


def test_bad_signature_is_refused(ledger: Ledger, admin):
    s = sample(admin, 1)
    forged = type(s)(s.kind, s.subject, {"i": 999}, s.time, s.key, s.sig)
    with pytest.raises(InvalidSignatureError):
        ledger.append(forged)
    assert ledger.store.head().size == 1


def test_batch_is_all_or_nothing(ledger: Ledger, admin):
    stranger = Ed25519Signer.generate("stranger")
    with pytest.raises(UnknownKeyError, match="statement 2"):
        ledger.append_batch([sample(admin, 0), sample(admin, 1), sample(stranger, 2)])
    assert ledger.store.head().size == 1


def test_key_validity_window(ledger: Ledger, admin):
    clerk = Ed25519Signer.generate("clerk@test")
    early = sample(clerk, 0)
    with pytest.raises(UnknownKeyError):
        ledger.append(early)
    # registration and first use in one batch: valid from the entry after its registration
    reg, use = ledger.append_batch([register_key_statement(admin, clerk, "registrant"), sample(clerk, 1)])
    assert use.entry.index == reg.entry.index + 1
    rev = ledger.append(revoke_key_statement(admin, clerk.key_id, "clerk left"))
    with pytest.raises(UnknownKeyError, match=f"revoked at entry {rev.entry.index}"):
        ledger.append(sample(clerk, 2))
    rec = ledger.store.get_keys([clerk.key_id])[clerk.key_id]
    assert (rec.registered_at, rec.revoked_at) == (reg.entry.index, rev.entry.index)
    assert rec.valid_at(use.entry.index) and not rec.valid_at(rev.entry.index)


def test_only_admins_manage_keys(ledger: Ledger, admin):
    clerk = Ed25519Signer.generate("clerk@test")
    other = Ed25519Signer.generate("other@test")
    ledger.append(register_key_statement(admin, clerk, "registrant"))
    with pytest.raises(UnknownKeyError, match="admin"):
        ledger.append(register_key_statement(clerk, other, "registrant"))
    with pytest.raises(UnknownKeyError, match="admin"):
        ledger.append(revoke_key_statement(clerk, admin.key_id, "coup"))


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"public_key": "AAAA", "name": "x", "role": "admin"}, "/payload/public_key"),
        ({"public_key": None, "name": "x", "role": "admin"}, "/payload/public_key"),
        ({"name": "has space", "role": "admin"}, "/payload/name"),
        ({"name": "x", "role": "emperor"}, "/payload/role"),
        ({"name": "x", "role": "registrant", "scope": []}, "/payload/scope"),
        ({"name": "x", "role": "registrant", "colour": "red"}, "/payload/colour"),
    ],
)
def test_bad_key_registration_names_the_field(ledger: Ledger, admin, payload, field):
    key = Ed25519Signer.generate("k")
    body = {"public_key": base64.b64encode(key.public).decode(), **payload}
    body = {k: v for k, v in body.items() if v is not None}
    st = sign_statement(admin, kind="key.register", subject=key.key_id, payload=body)
    with pytest.raises(MalformedError) as err:
        ledger.append(st)
    assert err.value.field == field


def test_register_twice_and_revoke_unknown_are_refused(ledger: Ledger, admin):
    clerk = Ed25519Signer.generate("clerk@test")
    ledger.append(register_key_statement(admin, clerk, "registrant"))
    with pytest.raises(MalformedError, match="already registered"):
        ledger.append(register_key_statement(admin, clerk, "registrant"))
    with pytest.raises(MalformedError, match="not registered"):
        ledger.append(revoke_key_statement(admin, "0" * 32, "typo"))


def test_first_entry_must_be_self_signed_admin(store, log_signer, admin):
    ledger = Ledger(store, origin=log_signer.name, log_signer=log_signer)
    clerk = Ed25519Signer.generate("clerk")
    with pytest.raises(VerificationError):
        ledger.append(sample(admin, 0))
    with pytest.raises(VerificationError):
        ledger.append(register_key_statement(admin, clerk, "admin"))  # not self-signed
    with pytest.raises(VerificationError):
        ledger.append(register_key_statement(clerk, clerk, "registrant"))  # not admin
    assert store.head().size == 0


def test_checkpoints_proofs_and_roots(ledger: Ledger, admin):
    sizes = [2]
    for n in (1, 3, 250, 6, 300):
        ledger.append_batch([sample(admin, i) for i in range(n)], receipts=False)
        sizes.append(ledger.integrate())
    leaves = ledger.entries(0, sizes[-1])
    v = ledger.verifier()
    roots = {}
    for s in [0, 1, *sizes]:
        cp, _ = open_checkpoint(ledger.checkpoint_at(s), ledger.origin, v)
        assert cp.size == s and cp.root == reference_root(leaves[:s])
        roots[s] = cp.root
    for s in sizes:
        for i in {0, s // 2, s - 1}:
            verify_inclusion(i, s, leaf_hash(leaves[i]), ledger.inclusion_proof(i, s), roots[s])
    for a in roots:
        for b in roots:
            if a <= b:
                verify_consistency(a, b, roots[a], roots[b], ledger.consistency_proof(a, b))
    with pytest.raises(NotFoundError):
        ledger.inclusion_proof(0, sizes[-1] - 1)  # never checkpointed
    with pytest.raises(NotFoundError):
        ledger.inclusion_proof(sizes[-1], sizes[-1])


def test_integrate_in_batches(ledger: Ledger, admin):
    ledger.append_batch([sample(admin, i) for i in range(600)], receipts=False)
    got = [ledger.integrate(256) for _ in range(4)]
    assert got == [257, 513, 601, 601]


def test_publish_is_compare_and_swap(ledger: Ledger, admin):
    ledger.append(sample(admin, 1))
    size, _ = ledger.checkpoint()
    with pytest.raises(ConflictError):
        ledger.store.publish(size - 1, {}, size + 1, b"not a checkpoint")
    assert ledger.checkpoint()[0] == size
    with pytest.raises(NotFoundError):
        ledger.store.checkpoint(size + 1)


def test_two_ledgers_on_one_store_do_not_fork(store, log_signer, admin):
    a = make_ledger(store, log_signer, admin)
    b = Ledger(store, origin=log_signer.name, log_signer=log_signer)
    a.append_batch([sample(admin, i) for i in range(10)], receipts=False)
    b.append_batch([sample(admin, i) for i in range(10, 20)], receipts=False)
    assert a.integrate(5) == 6
    assert b.integrate() == 21  # b starts from a's checkpoint, not from its own view
    leaves = a.entries(0, 21)
    assert a.tree_hash(21) == b.tree_hash(21) == reference_root(leaves)


def test_batch_integrator_flushes_by_size_and_by_delay(ledger: Ledger, admin):
    integ = BatchIntegrator(ledger, batch_size=10, delay=0.3, poll=0.01).start()
    try:
        ledger.append_batch([sample(admin, i) for i in range(25)], receipts=False)
        deadline = time.monotonic() + 10
        while ledger.checkpoint()[0] < 26 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ledger.checkpoint()[0] == 26
    finally:
        integ.stop()
    assert integ.loop.failures == 0
    sizes = [s for s, _ in ledger.store.iter_checkpoints()]
    assert sizes[:3] == [0, 1, 11] and 26 in sizes and len(sizes) >= 5  # several batches, not one


class FaultyStore(MemoryStore):
    """Fails publish either before or after persisting, and checks nothing is ever rewritten."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next: str | None = None
        self.snapshots: dict = {}

    def publish(self, old_size, tiles, size, note, map_rows=None):
        if self.fail_next == "before":
            self.fail_next = None
            raise OSError("disk unplugged before commit")
        super().publish(old_size, tiles, size, note, map_rows)
        self._check_immutable()
        if self.fail_next == "after":
            self.fail_next = None
            raise OSError("connection lost after commit")

    def _check_immutable(self) -> None:
        for (level, n), data in self.tiles.items():
            old = self.snapshots.get(("tile", level, n))
            assert old is None or data.startswith(old), f"tile {level}/{n} was rewritten"
            self.snapshots[("tile", level, n)] = data
        for size, note in self.checkpoints.items():
            assert self.snapshots.setdefault(("cp", size), note) == note, f"checkpoint {size} was rewritten"
        for i, row in enumerate(self.entries):
            assert self.snapshots.setdefault(("entry", i), row) == row, f"entry {i} was rewritten"


@pytest.mark.parametrize("fault", ["before", "after"])
def test_faults_during_publish_lose_nothing(log_signer, admin, fault):
    store = FaultyStore()
    ledger = make_ledger(store, log_signer, admin)
    for round_ in range(6):
        ledger.append_batch([sample(admin, round_ * 100 + i) for i in range(100)], receipts=False)
        store.fail_next = fault
        with pytest.raises(OSError):
            ledger.integrate(150)
        ledger2 = Ledger(store, origin=log_signer.name, log_signer=log_signer)  # as after a restart
        size = ledger2.integrate()
        assert size == store.head().size
        leaves = ledger2.entries(0, size)
        assert ledger2.tree_hash(size) == reference_root(leaves)
        from regledger.ledger.audit import audit

        audit(store, origin=ledger.origin, verifier=ledger.verifier())


def test_entries_parse_back(ledger: Ledger, admin):
    ledger.append(sample(admin, 42))
    e = Entry.from_leaf(ledger.entries(1, 2)[0])
    assert e.statement.payload == {"i": 42}
