"""Time `regledger db copy --to URL`: an instance on SQLite moved to PostgreSQL, copy and verification.

    .venv/bin/python benchmarks/db_copy.py                      # 100,000 entries
    .venv/bin/python benchmarks/db_copy.py --entries 5000       # a quick look
    # options: --pg postgresql://127.0.0.1:5432/test  --dir DIR  --keep

It builds the instance with the library (signed statements, `append_batch`, `integrate`), creates an
empty PostgreSQL database beside the --pg one, then runs the real command (`regledger.cli.main`) and
times it: the copy (one transaction) and the whole command (copy, `audit` of the copy, checkpoint
compared).  docs/performance.md keeps the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from benchkit import Progress, machine_busy, note, say

from regledger.cli import main
from regledger.home import Home
from regledger.ledger.entry import sign_statement

ORIGIN = "bench.regledger.example/copy"


def build(home: Home, entries: int) -> float:
    """An instance of `entries` entries (entry 0 is the admin key); returns the seconds it took."""
    start = time.monotonic()
    ledger = home.init(ORIGIN, say=note)
    admin = home.admin()
    done, show = 1, Progress("appended", entries)
    while done < entries:
        n = min(2000, entries - done)
        ledger.append_batch(
            [
                sign_statement(
                    admin,
                    kind="sample.resource",
                    subject=f"s{done + i}",
                    payload={"i": done + i, "title": "公共数据资源 sample"},
                )
                for i in range(n)
            ],
            receipts=False,
        )
        done += n
        ledger.integrate()
        show(done)
    ledger.store.close()
    return time.monotonic() - start


def run(args: argparse.Namespace) -> None:
    folder = Path(args.dir or tempfile.mkdtemp(prefix="rl-copy-"))
    os.environ.setdefault("REGLEDGER_PASSPHRASE", "bench-passphrase-not-secret")
    home = Home(folder / "home")
    say(f"building {args.entries:,} entries in {home.path} ...")
    say(
        f"  built in {build(home, args.entries):.0f} s; SQLite file "
        f"{(home.path / 'ledger.sqlite').stat().st_size / 2**20:.0f} MiB"
    )
    name = f"rl_bench_copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        busy0, start = machine_busy(), time.monotonic()
        cpu0 = time.process_time()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main(["db", "copy", "--to", target, "--home", str(home.path)])
        total = time.monotonic() - start
        others = (machine_busy() - busy0 - (time.process_time() - cpu0)) / total
        say(out.getvalue().rstrip())
        if rc != 0:
            raise SystemExit(f"db copy failed ({rc})")
        timed = re.search(r" in ([0-9.]+) s;", out.getvalue())
        if timed is None:
            raise SystemExit(f"db copy printed no time: {out.getvalue()!r}")
        copied = float(timed.group(1))
        say(
            f"db copy of {args.entries:,} entries: copy {copied:.1f} s, whole command (copy, audit of the copy, "
            f"checkpoint compared) {total:.1f} s; others used {others:.1f} cores meanwhile"
        )
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument(
        "--db", "--pg", dest="pg", default=os.environ.get("REGLEDGER_TEST_PG", "postgresql://127.0.0.1:5432/test")
    )
    p.add_argument("--dir", help="where to build the instance (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the instance afterwards")
    run(p.parse_args())
