"""The command line as a user runs it: init, demo, log key/checkpoint/export, audit, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from regledger.keys.vkey import parse_vkey
from regledger.ledger.checkpoint import open_checkpoint
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.merkle import tree_hash
from regledger.ledger.tiles import Tile, decode_entry_bundle, parse_tile_path


def run(*args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("REGLEDGER_PASSPHRASE", "REGLEDGER_HOME", "REGLEDGER_DB")}
    e.update(env or {})
    p = subprocess.run(
        [sys.executable, "-m", "regledger.cli", *args], capture_output=True, text=True, env=e, timeout=300
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.mark.slow
def test_demo_then_again_then_audit_and_export(tmp_path):
    home = tmp_path / "home"
    first = run("demo", "--home", str(home))
    assert "generated a key passphrase" in first.stdout
    assert stat.S_IMODE((home / "passphrase").stat().st_mode) == 0o600
    for pem in (home / "keys").glob("*.pem"):
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in pem.read_bytes()
    assert "tree size:            358" in first.stdout
    assert "inclusion proofs:     358 generated and verified" in first.stdout
    second = run("demo", "--home", str(home))
    assert "already in this ledger" in second.stdout and "tree size:            358" in second.stdout
    third = run("demo", "--home", str(home), "--synthetic", "500")
    assert "tree size:            858" in third.stdout
    vkey = run("log", "key", "--home", str(home)).stdout.strip().splitlines()[-1]
    verifier = parse_vkey(vkey)
    audit = run("audit", "--home", str(home))
    assert "audit OK: 858 entries" in audit.stdout
    out = tmp_path / "export"
    run("log", "export", str(out), "--home", str(home))
    # read the export as an outside tlog-tiles client would
    cp, _ = open_checkpoint((out / "checkpoint").read_bytes(), verifier.name, verifier)
    assert cp.size == 858
    tiles = {}
    leaves = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "checkpoint":
            tile, is_entries = parse_tile_path(path.relative_to(out).as_posix())
            if is_entries:
                leaves.append((tile.n, decode_entry_bundle(path.read_bytes())))
            else:
                tiles[(tile.level, tile.n)] = path.read_bytes()
    flat = [lf for _, bundle in sorted(leaves) for lf in bundle]
    assert len(flat) == 858
    assert b"".join(tiles[(0, n)] for n in range(4)) == b"".join(leaf_hash(lf) for lf in flat)

    class Flat:
        def read_hashes(self, idx):
            from regledger.ledger.tiles import TileHashReader

            return TileHashReader(858, self).read_hashes(idx)

        def read_tiles(self, ts):
            return [tiles[(t.level, t.n)] for t in ts]

    assert tree_hash(858, Flat()) == cp.root
    assert Tile(0, 3, 90).path() in {p.relative_to(out).as_posix() for p in out.rglob("*")}


@pytest.mark.slow
def test_init_uses_passphrase_from_environment(tmp_path):
    home = tmp_path / "h"
    p = run("init", "--origin", "gov.example/52", "--home", str(home), env={"REGLEDGER_PASSPHRASE": "s3cret-pass"})
    assert not (home / "passphrase").exists()
    assert "s3cret-pass" not in p.stdout + p.stderr
    assert (
        run("log", "key", "--home", str(home), env={"REGLEDGER_PASSPHRASE": "s3cret-pass"})
        .stdout.strip()
        .startswith("gov.example/52+")
    )
    bad = run("log", "key", "--home", str(home), env={"REGLEDGER_PASSPHRASE": "wrong"}, ok=False)
    assert bad.returncode == 1 and "wrong passphrase" in bad.stderr and "Traceback" not in bad.stderr
    assert "wrong" not in bad.stderr.replace("wrong passphrase", "")


@pytest.mark.slow
def test_home_from_environment_and_errors(tmp_path):
    home = tmp_path / "envhome"
    run("init", "--origin", "gov.example/33", env={"REGLEDGER_HOME": str(home)})
    assert (home / "config.json").exists()
    again = run("init", "--origin", "gov.example/33", env={"REGLEDGER_HOME": str(home)}, ok=False)
    assert again.returncode == 1 and "already initialised" in again.stderr
    missing = run("audit", "--home", str(tmp_path / "nowhere"), ok=False)
    assert missing.returncode == 1 and "regledger init" in missing.stderr and "Traceback" not in missing.stderr
    bad_origin = run("init", "--origin", "has space", "--home", str(tmp_path / "x"), ok=False)
    assert bad_origin.returncode == 1 and "invalid origin" in bad_origin.stderr


@pytest.mark.slow
def test_audit_reports_tampering_with_exit_1(tmp_path):
    home = tmp_path / "home"
    run("demo", "--home", str(home))
    with sqlite3.connect(home / "ledger.sqlite") as db:
        leaf = bytearray(db.execute("SELECT leaf FROM rl_entries WHERE idx = 77").fetchone()[0])
        leaf[-10] ^= 1
        db.execute("UPDATE rl_entries SET leaf = ? WHERE idx = 77", (bytes(leaf),))
    p = run("audit", "--home", str(home), ok=False)
    assert p.returncode == 1 and "entry 77" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_on_postgres(tmp_path, pg_url):
    home = tmp_path / "pghome"
    p = run("demo", "--home", str(home), "--db", pg_url)
    assert "tree size:            358" in p.stdout
    assert not (home / "ledger.sqlite").exists()
    assert "audit OK: 358 entries" in run("audit", "--home", str(home), "--db", pg_url).stdout


def test_entry_bundle_paths_parse(tmp_path):
    assert parse_tile_path("tile/entries/x001/234") == (Tile(0, 1234), True)
    assert Path("tile/0/000.p/5").as_posix() == Tile(0, 0, 5).path()


@pytest.mark.slow
def test_calendar_commands(tmp_path):
    """load / show / due as an operator uses them; the 2027 notice is TEST DATA (tests/test_calendar.py)."""
    import json

    home = ["--home", str(tmp_path / "home")]
    env = {"REGLEDGER_PASSPHRASE": "calendar-cli-test-passphrase-0123456789"}
    run("init", "--origin", "cli-calendar.regledger.example/1", *home, env=env)
    assert "from chinese-calendar" in run("calendar", "show", "2026", *home, env=env).stdout
    missing = run("calendar", "due", "2026-12-30", "3", *home, env=env, ok=False)
    assert missing.returncode == 1 and "no State Council notice for 2027" in missing.stderr
    assert "regledger calendar load" in missing.stderr
    assert run("calendar", "show", "2027", *home, env=env, ok=False).returncode == 1
    notice = {
        "year": 2027,
        "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"],
        "workdays": ["2027-02-01"],
        "source": "TEST DATA: an invented 2027 notice",
    }
    f = tmp_path / "2027.json"
    f.write_text(json.dumps(notice))
    bad = run("calendar", "load", str(f), *home, env=env, ok=False)
    assert bad.returncode == 1 and "/payload/workdays/0: 2027-02-01 is a Monday" in bad.stderr
    f.write_text(json.dumps({**notice, "workdays": ["2027-01-31"]}))
    assert "loaded the 2027 official calendar as entry 1" in run("calendar", "load", str(f), *home, env=env).stdout
    shown = json.loads(run("calendar", "show", "2027", "--json", *home, env=env).stdout)
    assert (shown["from"], shown["index"], shown["workdays"]) == ("ledger", 1, ["2027-01-31"])
    # Wed 12-30: Thu 12-31 (1), the New Year break 1-1..1-3, Mon 1-4 (2), Tue 1-5 (3)
    assert run("calendar", "due", "2026-12-30", "3", *home, env=env).stdout.strip() == "2027-01-05"
    assert "audit OK: 2 entries" in run("audit", *home, env=env).stdout
