#!/usr/bin/env python3
"""Status-map benchmark (issue 13): proof size and latency at scale, the map's cost to verified appends, rebuild.

Run by hand from the repository root (not part of the test suite; tests/test_benchmark_statusmap.py runs it tiny):

    .venv/bin/python benchmarks/statusmap.py                    # 1,000,000 registrations (~3 M map keys)
    .venv/bin/python benchmarks/statusmap.py --registrations 2000 --appends 2000 --proofs 200   # a smoke run

What it measures, on SQLite (WAL, synchronous=FULL, as SQLStore sets it) in a temporary directory:

1. Verified appends/s with the map OFF and ON, side by side in the same run: the same pre-signed
   registration statements (apply / accept / code, signed by registrant keys; signing untimed) go through
   `Ledger.append_batch` (every signature verified, a receipt per entry) and `Ledger.integrate()` after every
   batch (one signed checkpoint per batch; with the map, the map update and its rows in the same
   transaction).  Two rounds, alternating off/on; the best round of each counts.  The ledgers run without
   the register's policy (the policy costs the same either way; leaving it out makes the map's share look
   larger, not smaller).  With the map on, the time inside `grow_map` is reported as the map's share.
2. Rebuild from the log: the map rebuilt from the stored leaves of run 1 (read, parse, the register's hook,
   build), entries/s; and the same over synthetic leaves at the scale of part 3.
3. Status proofs at scale: a map of --registrations registrations (each with a history of 3-8 indexes,
   every other one coded, so with a `code:` and a `query:` alias) built with ledger.vmap.build_map and
   stored through `SQLStore.publish` with a signed checkpoint carrying its root; then `Ledger.status_proof`
   for random present and absent keys: p50/p99 latency (document built and proof checked before it is
   served) and the document's size (JSON, with the checkpoint note) and the proof's (siblings + leaf).

Figures go to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import Progress, note, say  # noqa: E402

from regledger.keys.ed25519 import Ed25519Signer  # noqa: E402
from regledger.ledger import sequencer, vmap  # noqa: E402
from regledger.ledger.checkpoint import Checkpoint, sign_checkpoint  # noqa: E402
from regledger.ledger.entry import Statement, canonical_json, sign_statement  # noqa: E402
from regledger.ledger.hashes import EMPTY_ROOT  # noqa: E402
from regledger.ledger.keyring import register_key_statement  # noqa: E402
from regledger.ledger.sqlstore import SQLStore  # noqa: E402
from regledger.ledger.statusmap import MapRows, rebuild_values  # noqa: E402
from regledger.registry.statusmap import RegistryStatusMap  # noqa: E402
from regledger.sync.statusmap import CascadeStatusMap  # noqa: E402

ORIGIN = "bench.regledger.example/statusmap"
CLERKS = 8


def statements(clerks: list[Ed25519Signer], count: int, registrations: int) -> list[Statement]:
    """apply, accept, code for each registration in turn, until `count` statements."""
    out: list[Statement] = []
    show = Progress("signing statements (untimed)", count)
    steps = ("registration.apply", "registration.accept", "registration.code")
    for i in range(count):
        reg, step = (i // 3) % registrations, steps[i % 3]
        payload: dict[str, Any] = {"n": i}
        if step == "registration.code":
            payload["code"] = f"PDR-1-520115-2026-{reg:06d}"
        out.append(sign_statement(clerks[i % CLERKS], kind=step, subject=f"r{reg:07d}", payload=payload))
        show(i + 1)
    return out


def appends_round(workdir: str, label: str, sts: list[Statement], batch: int, on: bool) -> dict[str, Any]:
    db = os.path.join(workdir, f"{label}.sqlite")
    log = Ed25519Signer.from_seed(ORIGIN, b"\1" * 32)
    admin = Ed25519Signer.from_seed(f"admin@{ORIGIN}", b"\2" * 32)
    hook = CascadeStatusMap(ORIGIN, RegistryStatusMap()) if on else None
    ledger = sequencer.Ledger(SQLStore(f"sqlite:///{db}", create=True), origin=ORIGIN, log_signer=log, status_map=hook)
    ledger.integrate()
    ledger.append(register_key_statement(admin, admin, "admin"))
    clerks = [Ed25519Signer.from_seed(f"clerk-{k}@{ORIGIN}", bytes([k + 10]) * 32) for k in range(CLERKS)]
    ledger.append_batch([register_key_statement(admin, k, "registrant", {"region": "520000"}) for k in clerks])
    ledger.integrate()
    in_map = [0.0, 0.0]  # seconds in grow_map, in store.publish
    real = vars(sequencer)["grow_map"]  # timed by wrapping the integrator's call
    publish = ledger.store.publish

    def timed(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            in_map[0] += time.perf_counter() - t

    def timed_publish(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return publish(*a, **k)
        finally:
            in_map[1] += time.perf_counter() - t

    ledger.store.publish = timed_publish  # type: ignore[method-assign]

    vars(sequencer)["grow_map"] = timed
    try:
        show = Progress(f"appends+integrate, map {'on' if on else 'off'}", len(sts))
        t = time.perf_counter()
        for j in range(0, len(sts), batch):
            ledger.append_batch(sts[j : j + batch])
            ledger.integrate()
            show(min(j + batch, len(sts)))
        el = time.perf_counter() - t
    finally:
        vars(sequencer)["grow_map"] = real
    ledger.store.close()
    out = {"seconds": el, "rate": len(sts) / el, "map_seconds": in_map[0], "publish_seconds": in_map[1]}
    return out | {"db": db}


def rebuild_rate(db: str) -> tuple[int, float, float]:
    """(entries, entries/s wall, entries/s of this process's CPU time: what a busy machine hides)."""
    store = SQLStore(f"sqlite:///{db}")
    size = store.head().size
    t, c = time.perf_counter(), time.process_time()
    leaves = (leaf for lo in range(0, size, 5000) for leaf, _ in store.read_entries(lo, min(size, lo + 5000)))
    values = rebuild_values(CascadeStatusMap(ORIGIN, RegistryStatusMap()), leaves)
    vmap.build_map((vmap.key_hash(k), vmap.value_hash(v)) for k, v in values.items())
    el, cpu = time.perf_counter() - t, time.process_time() - c
    store.close()
    return size, size / el, size / cpu


def synthetic_items(registrations: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    index = 0
    for r in range(registrations):
        n = rng.randint(3, 8)
        items[f"reg:r{r:07d}"] = {"indexes": list(range(index, index + n))}
        index += n
        if r % 2:
            alias = {"registration": f"reg:r{r:07d}"}
            items[f"code:PDR-1-520115-2026-{r:07d}"] = alias
            items[f"query:Q{r:07d}"] = alias
    return items


def synthetic_rebuild(items: dict[str, dict[str, Any]]) -> tuple[int, float, float]:
    """Leaves shaped like the log's (a statement object per entry), rebuilt through the hook: entries/s."""
    leaves = []
    for key, value in items.items():
        if key.startswith("reg:"):
            for i in value["indexes"]:
                st = {"kind": "registration.apply", "subject": key[4:], "payload": {"n": i}, "key": "k", "sig": "s"}
                leaves.append(json.dumps({"index": i, "statement": st}).encode())
    t, c = time.perf_counter(), time.process_time()
    values = rebuild_values(CascadeStatusMap(ORIGIN, RegistryStatusMap()), leaves)
    vmap.build_map((vmap.key_hash(k), vmap.value_hash(v)) for k, v in values.items())
    return len(leaves), len(leaves) / (time.perf_counter() - t), len(leaves) / (time.process_time() - c)


def proofs_at_scale(workdir: str, registrations: int, proofs: int, rng: random.Random) -> dict[str, Any]:
    items = synthetic_items(registrations, rng)
    note(f"  building a map of {len(items):,} keys ...")
    t = time.perf_counter()
    root, nodes = vmap.build_map((vmap.key_hash(k), vmap.value_hash(v)) for k, v in items.items())
    build_s = time.perf_counter() - t
    log = Ed25519Signer.from_seed(ORIGIN, b"\1" * 32)
    store = SQLStore(f"sqlite:///{os.path.join(workdir, 'scale.sqlite')}", create=True)
    note(f"  storing {len(nodes):,} node rows and {len(items):,} value rows ...")
    t = time.perf_counter()
    note_bytes = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT, (vmap.map_line(root),)), log)
    store.publish(None, {}, 0, note_bytes, MapRows(nodes, {k: canonical_json(v) for k, v in items.items()}))
    store_s = time.perf_counter() - t
    ledger = sequencer.Ledger(store, origin=ORIGIN, log_signer=log)
    regs = [k for k in items if k.startswith("reg:")]
    node_rows = len(nodes)
    del nodes, note_bytes
    gc.collect()
    gc.freeze()  # the map built in memory is the benchmark's, not a server's: keep it out of the collector's scans
    keys = [rng.choice(regs) for _ in range(proofs // 2)] + [f"reg:absent-{i}" for i in range(proofs - proofs // 2)]
    rng.shuffle(keys)
    lat, doc_sizes, bare_sizes, proof_sizes, depths = [], [], [], [], []
    show = Progress("status proofs", len(keys))
    for n, key in enumerate(keys, 1):
        t = time.perf_counter()
        doc = ledger.status_proof(key, 0)
        lat.append(time.perf_counter() - t)
        doc_sizes.append(len(json.dumps(doc, ensure_ascii=False).encode()))
        bare_sizes.append(len(json.dumps(doc | {"checkpoint": ""}, ensure_ascii=False).encode()))
        sib = len(base64.b64decode(doc["siblings"]))
        proof_sizes.append(sib + (0 if doc["leaf"] is None else 64))
        depths.append(sib // 32)
        show(n)
    vmap.open_status_proof(doc, origin=ORIGIN, verifier=ledger.verifier())
    store.close()
    q = statistics.quantiles(lat, n=100)
    return {
        "registrations": registrations,
        "keys": len(items),
        "node_rows": node_rows,
        "build_s": build_s,
        "store_s": store_s,
        "p50_ms": q[49] * 1e3,
        "p99_ms": q[98] * 1e3,
        "doc_p50": statistics.median(doc_sizes),
        "doc_max": max(doc_sizes),
        "bare_p50": statistics.median(bare_sizes),
        "bare_max": max(bare_sizes),
        "note_len": len(doc["checkpoint"].encode()),
        "proof_p50": statistics.median(proof_sizes),
        "proof_max": max(proof_sizes),
        "depth_mean": statistics.mean(depths),
        "depth_max": max(depths),
        "items": items,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registrations", type=int, default=1_000_000, help="registrations in the map at scale (1 M)")
    ap.add_argument("--appends", type=int, default=30_000, help="statements per map-on/off round (30,000)")
    ap.add_argument("--batch", type=int, default=256, help="append_batch / integrate batch (256)")
    ap.add_argument("--proofs", type=int, default=2_000, help="status proofs timed at scale (2,000)")
    ap.add_argument("--rounds", type=int, default=2, help="off/on rounds, alternating (2)")
    ap.add_argument("--dir", default=None, help="where to make the temporary directory")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        say(f"status-map benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, SQLite in {workdir}")
        say(f"load average at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        say()
        if args.appends:  # 0: only part 3
            clerks = [Ed25519Signer.from_seed(f"clerk-{k}@{ORIGIN}", bytes([k + 10]) * 32) for k in range(CLERKS)]
            sts = statements(clerks, args.appends, max(1, args.appends // 3))
            runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for r in range(args.rounds):
                for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                    runs[mode].append(appends_round(workdir, f"{mode}{r}", sts, args.batch, mode == "on"))
            off = max(runs["off"], key=lambda x: x["rate"])
            on = max(runs["on"], key=lambda x: x["rate"])
            cost = 1 - on["rate"] / off["rate"]
            say(
                f"1. verified appends + integrate per batch of {args.batch}, {args.appends:,} statements, "
                f"best of {args.rounds}:"
            )
            say(f"   map off   {off['rate']:>10,.0f} entries/s   ({off['seconds']:.2f} s)")
            say(
                f"   map on    {on['rate']:>10,.0f} entries/s   ({on['seconds']:.2f} s; "
                f"{on['map_seconds']:.2f} s in grow_map, {on['map_seconds'] / on['seconds']:.0%} of the run)"
            )
            say(f"   cost of the map: {cost:.1%} of verified appends/s (goal <= 15%)")
            say(
                f"   where it goes (map on - off): {on['seconds'] - off['seconds']:.2f} s, of which grow_map "
                f"{on['map_seconds']:.2f} s and store.publish {on['publish_seconds'] - off['publish_seconds']:+.2f} s "
                f"(publish: off {off['publish_seconds']:.2f} s, on {on['publish_seconds']:.2f} s)"
            )
            say(
                f"   every round (entries/s): off {[round(x['rate']) for x in runs['off']]}, "
                f"on {[round(x['rate']) for x in runs['on']]}"
            )
            res["appends"] = {
                "off": off["rate"],
                "on": on["rate"],
                "cost": cost,
                "map_share": on["map_seconds"] / on["seconds"],
            }
            say()
            entries, rate, cpu_rate = rebuild_rate(str(on["db"]))
            say("2. rebuild from the log (read leaves, parse, the register's hook, build the tree):")
            say(
                f"   run 1's log, {entries:,} entries:   {rate:>10,.0f} entries/s (goal >= 50,000/s); "
                f"per CPU second {cpu_rate:,.0f}"
            )
            res["rebuild"] = {"entries": entries, "rate": rate, "cpu_rate": cpu_rate}
            say()
        scale = proofs_at_scale(workdir, args.registrations, args.proofs, rng)
        items = scale.pop("items")
        gc.unfreeze()
        sample = dict(list(items.items())[: 3 * min(args.registrations, 200_000) // 2])
        del items
        n, r2, c2 = synthetic_rebuild(sample)
        say(f"   synthetic leaves, {n:,} entries: {r2:>10,.0f} entries/s; per CPU second {c2:,.0f}")
        res.setdefault("rebuild", {})["synthetic"] = {"entries": n, "rate": r2, "cpu_rate": c2}
        say()
        say(
            f"3. status proofs at {scale['registrations']:,} registrations ({scale['keys']:,} map keys, "
            f"{scale['node_rows']:,} node rows; built in {scale['build_s']:.1f} s, stored in {scale['store_s']:.1f} s):"
        )
        say(
            f"   Ledger.status_proof latency   p50 {scale['p50_ms']:.2f} ms   p99 {scale['p99_ms']:.2f} ms "
            "(goal p99 <= 5 ms)"
        )
        say(
            f"   proof (siblings + leaf)       median {scale['proof_p50']:.0f} B, max {scale['proof_max']} B; "
            f"depth mean {scale['depth_mean']:.1f}, max {scale['depth_max']}"
        )
        say(
            f"   whole JSON document           median {scale['doc_p50']:.0f} B, max {scale['doc_max']} B "
            f"(goal <= 1.5 KB); without the checkpoint note median {scale['bare_p50']:.0f} B, "
            f"max {scale['bare_max']} B (the note: {scale['note_len']} B)"
        )
        say(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        res["proofs"] = scale
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
