"""A smoke run of benchmarks/static.py (nginx on a `serve --publish` directory beside `serve`), so it cannot rot.

Needs nginx and wrk (Debian packages): skipped without them, except under CI=true, where it fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_static_benchmark_smoke():
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        missing.append("nginx")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {', '.join(missing)} is not installed")
        pytest.skip(f"needs {', '.join(missing)}; runs under CI=true")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    p = subprocess.run(
        [
            sys.executable,
            "benchmarks/static.py",
            "--synthetic",
            "0",
            "--duration",
            "1",
            "--connections",
            "4",
            "--threads",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    rows = {
        m.group(1): (float(m.group(2).replace(",", "")), float(m.group(3).replace(",", "")))
        for m in re.finditer(r"^(checkpoint|tile/0/000)\s+([\d,]+) req/s.*?([\d,]+) req/s", p.stdout, re.M)
    }
    assert set(rows) == {"checkpoint", "tile/0/000"}, p.stdout
    assert all(a > 0 and b > 0 for a, b in rows.values()), p.stdout
