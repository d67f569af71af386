"""A smoke run of benchmarks/statusmap.py, tiny, so it cannot rot: every figure it prints is there and sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_statusmap_benchmark_smoke(tmp_path):
    out = tmp_path / "figures.json"
    p = subprocess.run(
        [
            sys.executable,
            "benchmarks/statusmap.py",
            "--registrations",
            "300",
            "--appends",
            "600",
            "--proofs",
            "40",
            "--rounds",
            "1",
            "--dir",
            str(tmp_path),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    for line in ("map off", "map on", "cost of the map", "rebuild from the log", "status_proof latency"):
        assert line in p.stdout, p.stdout
    figures = json.loads(out.read_text())
    assert figures["appends"]["off"] > 0 and figures["appends"]["on"] > 0
    assert figures["rebuild"]["rate"] > 0 and figures["rebuild"]["entries"] > 600
    proofs = figures["proofs"]
    assert proofs["keys"] == 600 and 0 < proofs["p50_ms"] <= proofs["p99_ms"]
    assert 0 < proofs["proof_p50"] <= proofs["proof_max"] < proofs["doc_max"]
