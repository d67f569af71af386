#!/usr/bin/env python3
"""SQLite and PostgreSQL side by side in one run: verified appends, integration, proofs cold and warm.

    .venv/bin/python benchmarks/backends.py --entries 100000 --db postgresql://127.0.0.1:5432/test
    .venv/bin/python benchmarks/backends.py --entries 3000 --proofs 200 --db ...    # a smoke run

Each backend gets the same work, one after the other, on a fresh database (a SQLite file in a temporary
directory, a new database made on the --db server and dropped afterwards):

1. verified appends: `--processes` processes (default nproc) append the statements between them, each with
   its own SQLStore and Ledger, through `Ledger.append_batch` with its defaults (every signature verified,
   a signed receipt per entry); the statements are signed beforehand, untimed (benchmarks/append.py);
2. integration: `Ledger.integrate(256)` until the checkpoint covers every entry;
3. inclusion proofs at the final size for `--proofs` random indexes: cold (a new SQLStore and Ledger, then
   the proofs in sequence) and warm (the same Ledger, the same indexes again).

SQLite is the anchor: each PostgreSQL figure is printed with its ratio to SQLite's in the same run (goal for
appends: >= 0.7).  Beside every phase: the share of the cores other processes used, and the load average.
Pulls on PostgreSQL: benchmarks/sync.py --db.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from append import (
    CLERKS,
    ORIGIN,
    CpuWatch,
    _signers,
    append_concurrently,
    code_digest,
    latency_stats,
    load_note,
    measure_proofs,
)
from benchkit import Progress, add_wait_idle, backend_name, fresh_database, note, say, wait_quiet

from regledger.keys.ed25519 import Ed25519Signer
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore

GOAL_APPEND_RATIO = 0.7  # PostgreSQL verified appends / SQLite's, same run (issue 14)


def loadavg() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def one_backend(url: str, args: argparse.Namespace, ncpu: int, digest: str) -> dict[str, Any]:
    name = backend_name(url)
    rng = random.Random(args.seed)
    log = Ed25519Signer.generate(ORIGIN)
    admin = Ed25519Signer.generate(f"bench-admin@{ORIGIN}")
    seeds = [os.urandom(32) for _ in range(CLERKS)]
    store = SQLStore(url, create=True)
    ledger = Ledger(store, origin=ORIGIN, log_signer=log)
    ledger.integrate()
    ledger.append(register_key_statement(admin, admin, "admin"))
    ledger.append_batch([register_key_statement(admin, k, "registrant", {"region": "520000"}) for k in _signers(seeds)])
    ledger.integrate()
    base = store.head().size
    out: dict[str, Any] = {"backend": name}

    wait_quiet(args.wait_idle, ncpu)
    count = args.entries - base
    el, load = append_concurrently(
        url, log.private_key.private_bytes_raw(), seeds, 0, count, args.processes, 256, ncpu, digest
    )
    assert store.head().size == args.entries
    out["appends"] = {"rate": count / el, "seconds": el, "machine": load, "load": loadavg()}
    say(
        f"  {name:<10} verified appends, {args.processes} processes: {count / el:>8,.0f}/s "
        f"({count:,} in {el:.1f} s) {load_note(load)}, {loadavg()}"
    )

    wait_quiet(args.wait_idle, ncpu)
    show = Progress(f"{name} integrate(256)", count)
    watch = CpuWatch()
    ns: list[int] = []
    t0 = time.perf_counter()
    cp = start = ledger.checkpoint()[0]
    while cp < args.entries:
        t = time.perf_counter_ns()
        cp = ledger.integrate(256)
        ns.append(time.perf_counter_ns() - t)
        show(cp - start)
    el = time.perf_counter() - t0
    load = watch.report(ncpu)
    st = latency_stats(ns)
    out["integrate"] = {"rate": (cp - start) / el, "machine": load, "load": loadavg(), **st}
    say(
        f"  {name:<10} integration: {(cp - start) / el:>8,.0f} entries/s, p50 {st['p50_ms']:.1f} ms per "
        f"checkpoint of 256 {load_note(load)}, {loadavg()}"
    )

    size = ledger.checkpoint()[0]
    indexes = [rng.randrange(size) for _ in range(args.proofs)]
    store.close()
    gc.collect()
    wait_quiet(args.wait_idle, ncpu)
    watch = CpuWatch()
    store = SQLStore(url)
    cold, _, warm_ledger = measure_proofs(
        lambda: Ledger(store, origin=ORIGIN, log_signer=log),
        lambda led, i: led.inclusion_proof(i, size),
        indexes,
        f"{name} proofs, cold",
    )
    warm, _, _ = measure_proofs(
        lambda: warm_ledger, lambda led, i: led.inclusion_proof(i, size), indexes, f"{name} proofs, warm"
    )
    load = watch.report(ncpu)
    out["proofs"] = {"size": size, "cold": cold, "warm": warm, "machine": load, "load": loadavg()}
    for label, s in (("cold", cold), ("warm", warm)):
        say(
            f"  {name:<10} inclusion proofs at {size:,}, {label}: p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms, "
            f"max {s['max_ms']:.2f} ms"
        )
    say(f"  {'':<10} {load_note(load)}, {loadavg()}")
    store.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=100_000, help="final tree size on each backend (default 100,000)")
    ap.add_argument("--proofs", type=int, default=2_000, help="random indexes to prove (2,000)")
    ap.add_argument("--processes", type=int, default=0, help="appending processes (default nproc)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="where the SQLite file goes (default $TMPDIR)")
    ap.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("REGLEDGER_TEST_PG", "postgresql://127.0.0.1:5432/test"),
        help="the PostgreSQL server (a fresh database is made on it and dropped; default $REGLEDGER_TEST_PG or "
        "postgresql://127.0.0.1:5432/test)",
    )
    add_wait_idle(ap)
    args = ap.parse_args(argv)
    ncpu = len(os.sched_getaffinity(0))
    args.processes = args.processes or ncpu
    if args.entries < 200:
        ap.error("--entries must be at least 200")
    digest = code_digest()
    say(
        f"regledger backends: SQLite and PostgreSQL, {args.entries:,} entries each, {args.processes} appending "
        f"processes, {args.proofs:,} proofs; {ncpu} cores; code digest {digest}; {loadavg()} at start"
    )
    workdir = tempfile.mkdtemp(prefix="regledger-backends-", dir=args.dir)
    res: dict[str, dict[str, Any]] = {}
    try:
        for db in (None, args.db):
            with fresh_database(db, workdir) as url:
                note(f"{backend_name(url)}: {url}")
                res[backend_name(url)] = one_backend(url, args, ncpu, digest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sq, pg = res["SQLite"], res["PostgreSQL"]
    say()
    say(f"{'figure':<42} {'SQLite':>10} {'PostgreSQL':>11} {'PG/SQLite':>9}")
    rows = [
        ("verified appends/s", sq["appends"]["rate"], pg["appends"]["rate"], True),
        ("integration, entries/s", sq["integrate"]["rate"], pg["integrate"]["rate"], True),
        ("proof cold p99 ms", sq["proofs"]["cold"]["p99_ms"], pg["proofs"]["cold"]["p99_ms"], False),
        ("proof warm p99 ms", sq["proofs"]["warm"]["p99_ms"], pg["proofs"]["warm"]["p99_ms"], False),
    ]
    for label, a, b, rate in rows:
        fmt = "{:>10,.0f} {:>11,.0f}" if rate else "{:>10.3f} {:>11.3f}"
        say(f"{label:<42} " + fmt.format(a, b) + f" {b / a:>9.2f}")
    ratio = pg["appends"]["rate"] / sq["appends"]["rate"]
    verdict = "met" if ratio >= GOAL_APPEND_RATIO else "missed"
    say(f"goal: PostgreSQL verified appends >= {GOAL_APPEND_RATIO} of SQLite's: {ratio:.2f}, {verdict}")
    say(f"{loadavg()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
