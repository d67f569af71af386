"""Verified appends per second with P processes appending to one SQLite file (run by hand).

    .venv/bin/python benchmarks/concurrent_appends.py --processes 2 --entries 20000

Each process signs its statements first (untimed), then all start together; every append is
verified, chained, stored (SQLite WAL, synchronous=FULL) and gets a signed receipt.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time

from regledger.keys.ed25519 import Ed25519Signer
from regledger.keys.vkey import format_skey, parse_skey
from regledger.ledger.entry import sign_statement
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore


def _work(url: str, log_skey: str, clerk_skey: str, n: int, ready, go, done) -> None:
    log, clerk = parse_skey(log_skey), parse_skey(clerk_skey)
    statements = [
        sign_statement(
            clerk, kind="bench.append", subject=f"s{i}", payload={"i": i, "name": "贵州省气象观测数据样例" * 3}
        )
        for i in range(n)
    ]
    ledger = Ledger(SQLStore(url), origin=log.name, log_signer=log)
    ready.put(1)
    go.wait()
    for j in range(0, n, 256):
        ledger.append_batch(statements[j : j + 256])
    done.put(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--entries", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{os.path.join(d, 'bench.sqlite')}"
        log, admin, clerk = (Ed25519Signer.generate(n) for n in ("bench.example/1", "admin", "clerk"))
        ledger = Ledger(SQLStore(url, create=True), origin=log.name, log_signer=log)
        ledger.append(register_key_statement(admin, admin, "admin"))
        ledger.append(register_key_statement(admin, clerk, "registrant"))
        ctx = mp.get_context("spawn")
        ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        per = args.entries // args.processes
        procs = [
            ctx.Process(target=_work, args=(url, format_skey(log), format_skey(clerk), per, ready, go, done))
            for _ in range(args.processes)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get()
        start = time.perf_counter()
        go.set()
        for _ in procs:
            done.get()
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join()
        print(
            f"{args.processes} process(es), {per * args.processes} verified appends with receipts: "
            f"{per * args.processes / elapsed:,.0f}/s (SQLite WAL, synchronous=FULL; target >= 5,000/s)"
        )


if __name__ == "__main__":
    main()
