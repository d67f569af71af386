"""`regledger demo`: fill a ledger with signed sample entries, prove and verify them."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.keystore import save_signer
from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.entry import Statement, sign_statement
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.proof import verify_consistency, verify_inclusion
from regledger.ledger.sequencer import BatchIntegrator, Ledger
from regledger.registry.state import registration_key

from .demo_registry import DEMO_START, GZ_HOLDER, SimClock, register_demo_set
from .home import Home
from .progress import progress

__all__ = ["DemoSummary", "run_demo"]

DEMO_ORIGIN = "regledger.example.gov.cn/demo"
SAMPLES = 300
_REGIONS = [("520000", "贵州省"), ("330000", "浙江省"), ("370000", "山东省"), ("460000", "海南省")]
_USCCS = ["121200004013590816", "91110000600037341L", "9144030071526726XG", "91310115MA1K3BTP2B"]
_TOPICS = ["医疗保障结算", "公共交通客流", "不动产登记", "气象观测", "企业登记信息", "供水管网运行"]


@dataclass
class DemoSummary:
    size: int
    root_b64: str
    checkpoints: int
    inclusion_verified: int
    consistency_verified: int
    vkey: str
    appended: int


def sample_payload(i: int, note: str, label: str = "样例") -> dict[str, Any]:
    """The payload of synthetic entry `i` (the demo's samples, the benchmarks' load): region, holder and
    topic in turn from small fixed lists, so that any number of entries can be made alike."""
    region, province = _REGIONS[i % len(_REGIONS)]
    topic = _TOPICS[i % len(_TOPICS)]
    return {
        "name": f"{province}{topic}数据（{label} {i}）",
        "holder_uscc": _USCCS[i % len(_USCCS)],
        "region": region,
        "note": note,
    }


def _sample(clerk: Ed25519Signer, i: int) -> Statement:
    note = "sample entry written by `regledger demo`; not a real registration"
    return sign_statement(clerk, kind="sample.resource", subject=f"sample-{i:06d}", payload=sample_payload(i, note))


def _append_all(ledger: Ledger, statements: list[Statement], label: str, batch: int = 256) -> None:
    integrator = BatchIntegrator(ledger, batch_size=256, delay=0.5).start()
    show = progress(label)
    try:
        for j in range(0, len(statements), batch):
            ledger.append_batch(statements[j : j + batch], receipts=False)
            show(min(j + batch, len(statements)), len(statements))
    finally:
        integrator.stop()


def run_demo(home: Home, *, synthetic: int = 0, say: Callable[[str], None] = print) -> DemoSummary:
    clock = SimClock(DEMO_START)
    if not home.exists():
        home.init(DEMO_ORIGIN, say=say, clock=clock)
        say(f"initialised {home.path} with origin {DEMO_ORIGIN}")
    admin = home.admin()
    if home.open().store.get_state(registration_key("gz-weather")) is None:
        say(
            f"registering the demo set on a simulated clock from {DEMO_START.date()} "
            "(so that publicity periods pass in seconds):"
        )
        statuses = register_demo_set(home.open(clock=clock), admin, clock, say)
        say("  final states: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
    ledger = home.open()
    clerk_name = f"demo-registrant@{ledger.origin}"
    clerk_path = home.key_path("demo-registrant")
    appended = 0
    if any(k.name == clerk_name for k in ledger.store.all_keys()):
        clerk = home.signer("demo-registrant", clerk_name)
        say("the demo samples are already in this ledger; not adding them again")
    else:
        clerk = Ed25519Signer.generate(clerk_name)
        save_signer(clerk_path, clerk, home.passphrase())
        ledger = home.open(clock=clock)  # the samples follow the registrations on the same clock
        ledger.append(register_key_statement(admin, clerk, "registrant", {"institution": GZ_HOLDER.uscc}))
        samples = [_sample(clerk, i) for i in range(SAMPLES)]
        # Small batches with a short delay, so the demo shows several checkpoints.
        integrator = BatchIntegrator(ledger, batch_size=64, delay=0.05).start()
        try:
            for j in range(0, SAMPLES, 20):
                ledger.append_batch(samples[j : j + 20], receipts=False)
                time.sleep(0.01)
        finally:
            integrator.stop()
        appended += SAMPLES + 1
        say(f"appended {SAMPLES} signed sample entries (and the demo clerk's key registration)")
        ledger = home.open()
    if synthetic:
        base = ledger.store.head().size
        statements = [_sample(clerk, base + i) for i in range(synthetic)]
        _append_all(ledger, statements, "synthetic entries")
        appended += synthetic
        say(f"appended {synthetic} synthetic signed entries")
    ledger.integrate()
    return verify_everything(ledger, say=say, appended=appended)


def verify_everything(ledger: Ledger, *, say: Callable[[str], None], appended: int, sample: int = 1000) -> DemoSummary:
    """Verify the latest checkpoint with the published vkey, inclusion proofs and consistency proofs."""
    vkey = ledger.verifier().vkey()
    verifier = parse_vkey(vkey)
    size, note = ledger.checkpoint()
    cp, _ = open_checkpoint(note, ledger.origin, verifier)
    indexes = list(range(size)) if size <= sample else sorted(random.sample(range(size), sample))
    leaf_hashes = {}
    for i in indexes:
        leaf_hashes[i] = ledger.store.read_leaf_hashes(i, i + 1)[0]
    for i in indexes:
        verify_inclusion(i, size, leaf_hashes[i], ledger.inclusion_proof(i, size), cp.root)
    sizes = [s for s, _ in ledger.store.iter_checkpoints()]
    roots = {}
    for s in sizes:
        roots[s] = open_checkpoint(ledger.checkpoint_at(s), ledger.origin, verifier)[0].root
    consistency = 0
    for a, b in pairwise(sizes):
        verify_consistency(a, b, roots[a], roots[b], ledger.consistency_proof(a, b))
        consistency += 1
    for a in sizes[:-1]:
        verify_consistency(a, size, roots[a], cp.root, ledger.consistency_proof(a, size))
        consistency += 1
    summary = DemoSummary(
        size, base64.b64encode(cp.root).decode(), len(sizes), len(indexes), consistency, vkey, appended
    )
    say(f"tree size:            {summary.size}")
    say(f"root:                 {summary.root_b64}")
    say(f"checkpoints:          {summary.checkpoints} (every one kept and signed)")
    say(f"inclusion proofs:     {summary.inclusion_verified} generated and verified against the signed checkpoint")
    say(f"consistency proofs:   {summary.consistency_verified} generated and verified between checkpoints")
    say(f"log verifier key:     {summary.vkey}")
    return summary
