"""Issue 11: the wheel installs one top-level package, `regledger`, with the layers as its subpackages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import importlib, json, sys
out = {}
for name in ("api", "sync", "keys", "ledger", "registry"):
    try:
        importlib.import_module(name)
        out[name] = "imported"
    except ImportError:
        out[name] = "missing"
import regledger.ledger.entry, regledger.api.pages, regledger.registry.regions, regledger.sync.pull, regledger.keys
out["entry_file"] = regledger.ledger.entry.__file__
out["templates"] = sorted(p.name for p in regledger.api.pages.TEMPLATES_DIR.glob("*.html"))[:3]
out["regions"] = len(regledger.registry.regions.RegionTable.load())
print(json.dumps(out))
"""


@pytest.mark.slow
def test_installed_outside_the_checkout_only_regledger_is_importable(tmp_path):
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin") == [
        "regledger"
    ]
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    import json

    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert {k: out[k] for k in ("api", "sync", "keys", "ledger", "registry")} == dict.fromkeys(
        ("api", "sync", "keys", "ledger", "registry"), "missing"
    )
    assert out["entry_file"].startswith(str(target / "regledger" / "ledger"))
    assert out["templates"], "page templates ship in the wheel"
    assert out["regions"] > 3000, "the GB/T 2260 table ships in the wheel"
