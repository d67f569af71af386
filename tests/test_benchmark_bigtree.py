"""A smoke run of benchmarks/bigtree.py (proofs on a tree built from generated leaf hashes, in process and
through `regledger serve`), on SQLite and on PostgreSQL, so the script cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    out = tmp_path / "figures.json"
    p = subprocess.run(
        [
            sys.executable,
            "benchmarks/bigtree.py",
            "--leaves",
            "3000",
            "--samples",
            "50",
            "--fill",
            "20",
            "--json",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "BUILT FROM GENERATED LEAF HASHES" in p.stdout
    figures = json.loads(out.read_text())
    assert figures["leaves"] == 3000
    assert figures["build"]["checkpoints"] > 2  # consistency proofs have earlier checkpoints to start from
    for where, anchor in (("library", "anchor_select_tile"), ("http", "anchor_healthz")):
        r = figures[where]
        for key in (anchor, "inclusion_cold", "inclusion_warm", "consistency_cold", "consistency_warm"):
            assert r[key]["n"] == 50 and 0 < r[key]["p50"] <= r[key]["p99"], (where, key, r[key])
    assert figures["library"]["size"] == 3000
    assert figures["http"]["rss_end_mb"]["VmRSS"] > 0 and figures["http"]["fill"] == 20
    return figures


@pytest.mark.slow
def test_bigtree_benchmark_smoke_sqlite(tmp_path: Path) -> None:
    assert _run(tmp_path)["backend"] == "SQLite"


@pytest.mark.slow
def test_bigtree_benchmark_smoke_postgres(tmp_path: Path, pg_server: str) -> None:
    assert _run(tmp_path, "--db", pg_server)["backend"].startswith("PostgreSQL")
