"""Smoke runs of the benchmarks on PostgreSQL (benchmarks/backends.py: SQLite and PostgreSQL in one run;
benchmarks/sync.py --db: a parent on PostgreSQL pulls), a few hundred entries each, so they cannot rot.

PostgreSQL at $REGLEDGER_TEST_PG (default 127.0.0.1:5432/test): skipped when unreachable, except under CI=true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    p = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.mark.slow
def test_backends_benchmark_smoke(pg_server):
    out = bench("benchmarks/backends.py", "--entries", "400", "--proofs", "50", "--db", pg_server)
    rows = {
        m[1]: (float(m[2].replace(",", "")), float(m[3].replace(",", "")))
        for m in re.finditer(r"^(verified appends/s|integration, entries/s)\s+([\d,.]+)\s+([\d,.]+)", out, re.M)
    }
    assert set(rows) == {"verified appends/s", "integration, entries/s"}, out
    assert all(a > 0 and b > 0 for a, b in rows.values()), out
    assert re.search(r"^goal: PostgreSQL verified appends >= 0.7 of SQLite's: [\d.]+, (met|missed)$", out, re.M), out


@pytest.mark.slow
def test_sync_benchmark_smoke_on_postgresql(pg_server, tmp_path):
    out = bench(
        "benchmarks/sync.py",
        "--entries",
        "300",
        "--raw-sample",
        "0",
        "--skip-audit",
        "--workers",
        "1",
        "--work",
        str(tmp_path),
        "--db",
        pg_server,
    )
    assert "the parent's database: PostgreSQL" in out, out
    assert re.search(r"^pull, in-process LedgerFetcher, 1 workers: [\d.]+ s = [\d,]+ entries/s", out, re.M), out
