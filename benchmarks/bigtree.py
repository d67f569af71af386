"""Proof latency and server memory on a very large tree (issue 14, "10M entries").

    .venv/bin/python benchmarks/bigtree.py                         # 10,000,000 leaves on SQLite
    .venv/bin/python benchmarks/bigtree.py --leaves 1000000 --db postgresql://127.0.0.1:5432/test
    .venv/bin/python benchmarks/bigtree.py --leaves 3000 --samples 200   # a smoke run

Building 10M real signed entries takes hours on this machine, so the tree is built DIRECTLY FROM
GENERATED LEAF HASHES: no entries, just leaf hashes.  A home is made with `Home.init` (the log key,
the admin key, entry 0), then leaves 1..N-1 are SHA-256 leaf hashes of a counter.  Their tiles go into
the database through the store's own publish path (`store.publish`, the call `Ledger.integrate` makes),
a chunk at a time, each chunk with a checkpoint signed by the home's log key, so the tables hold
exactly what a log of N entries would hold except the entry rows.  With --db URL (PostgreSQL) a fresh
database is made beside URL and dropped afterwards.

Then, in a FRESH process (nothing cached), through the library (`Home.open()`, the ledger API):
- anchor: one indexed SELECT of one level-0 tile row (`store.read_tiles`), random tiles: the floor
  under a proof read;
- inclusion proofs at random indexes in the tree of size N, cold (the first request for each index),
  then warm (the same indexes again); consistency proofs from a random earlier checkpoint to N;
and through a running `regledger serve --read-only` (HTTP on loopback, one client):
- anchor: GET /healthz;  GET /v1/proofs/inclusion and /v1/proofs/consistency, cold then warm;
then the RSS of the serve process (VmRSS now, VmHWM peak).  Every proof fetched is verified against
the signed root.  Each figure is printed with the load average beside it: the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchkit import Progress, note, say, source_digest

ORIGIN = "bench.regledger.example/bigtree"
PASSPHRASE = "regledger-bench-bigtree-passphrase-0123456789"  # benchmark homes only
_ROOT = str(Path(__file__).resolve().parent.parent)
_SALT = b"\x00regledger bigtree synthetic leaf "  # 0x00: RFC 9162 leaf-hash prefix


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def synthetic_leaf_hash(i: int) -> bytes:
    """Leaf i >= 1 of the synthetic tree: SHA-256(0x00 || label || i), a leaf hash of no real entry."""
    return hashlib.sha256(_SALT + i.to_bytes(8, "big")).digest()


def full_tile_root(data: bytes) -> bytes:
    """MTH of a full tile's 256 hashes (the hash one level up)."""
    sha = hashlib.sha256
    level = [data[i : i + 32] for i in range(0, len(data), 32)]
    while len(level) > 1:
        level = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


class TileBuilder:
    """The tiles of a growing synthetic tree: level-0 data made on demand, higher levels kept in memory
    (N/256 hashes at level 1: 1.2 MB at 10M)."""

    def __init__(self, leaf0: bytes) -> None:
        self.leaf0 = leaf0
        self.upper: dict[int, list[bytes]] = {}  # level L >= 1: the roots of the full tiles of level L-1

    def leaves(self, start: int, end: int) -> bytes:
        return b"".join(self.leaf0 if i == 0 else synthetic_leaf_hash(i) for i in range(start, end))

    def tiles(self, old: int, new: int) -> dict[Any, bytes]:
        from regledger.ledger.tiles import TILE_WIDTH, new_tiles

        out: dict[Any, bytes] = {}
        for t in new_tiles(old, new):  # level by level, in order: a full tile's root is kept before it is read
            start = t.n * TILE_WIDTH
            if t.level == 0:
                data = self.leaves(start, start + t.width)
            else:
                data = b"".join(self.upper[t.level][start : start + t.width])
            if t.full:
                self.upper.setdefault(t.level + 1, []).append(full_tile_root(data))
            out[t] = data
        return out


def build(home_dir: Path, db_url: str, leaves: int, chunk: int) -> dict[str, Any]:
    from regledger.home import Home
    from regledger.ledger.checkpoint import Checkpoint, sign_checkpoint
    from regledger.ledger.merkle import tree_hash
    from regledger.ledger.tiles import CachingTileReader, TileHashReader

    t0 = time.monotonic()
    home = Home(home_dir, db_url=db_url)
    ledger = home.init(ORIGIN, say=note)  # checkpoints 0 and 1; entry 0 is the admin key
    store = ledger.store
    size, _ = store.latest_checkpoint() or (0, b"")
    if size != 1:
        raise SystemExit(f"a new home has a checkpoint of size {size}, not 1")
    builder = TileBuilder(store.read_leaf_hashes(0, 1)[0])
    builder.tiles(0, 1)
    show = Progress("tiles built from generated leaf hashes", leaves)
    sizes = [1]
    while size < leaves:
        new = min(leaves, (size // chunk + 1) * chunk)
        tiles = builder.tiles(size, new)
        reader = TileHashReader(new, CachingTileReader(_Fresh(tiles, store), 64))
        root = tree_hash(new, reader)
        note_bytes = sign_checkpoint(Checkpoint(ORIGIN, new, root), ledger.log_signer)
        store.publish(size, tiles, new, note_bytes)
        size = new
        sizes.append(size)
        show(size)
    store.close()
    return {"seconds": time.monotonic() - t0, "checkpoints": sizes}


class _Fresh:
    """Tiles about to be published, then the store (for the tiles published before)."""

    def __init__(self, tiles: dict[Any, bytes], store: Any) -> None:
        self.by_key = {(t.level, t.n): d for t, d in tiles.items()}
        self.store = store

    def read_tiles(self, tiles: Any) -> list[bytes]:
        missing = [t for t in tiles if (t.level, t.n) not in self.by_key]
        got = dict(zip([(t.level, t.n) for t in missing], self.store.read_tiles(missing), strict=True))
        return [self.by_key.get((t.level, t.n)) or got[(t.level, t.n)] for t in tiles]


def stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "n": len(ms),
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
        "load": os.getloadavg()[0],
    }


def timed(items: list[Any], call: Any, check: Any = None) -> dict[str, float]:
    """Time call(x) for each x (check(x, result) untimed, if given)."""
    times = []
    for x in items:
        a = time.perf_counter()
        result = call(x)
        times.append(time.perf_counter() - a)
        if check is not None:
            check(x, result)
    return stats(times)


def time_phases(out: dict[str, Any], name: str, items: list[Any], call: Any, check: Any) -> None:
    """out[name_cold]: the first call for each item, each result checked; out[name_warm]: the same again."""
    for phase in ("cold", "warm"):
        out[f"{name}_{phase}"] = timed(items, call, check if phase == "cold" else None) if items else None


def measure_library(home_dir: str, db_url: str, samples: int, seed: int, checkpoints: list[int]) -> dict[str, Any]:
    """In this (fresh) process: proofs through the ledger API, beside one tile SELECT."""
    from regledger.home import Home
    from regledger.ledger.checkpoint import parse_checkpoint_text
    from regledger.ledger.proof import verify_consistency, verify_inclusion
    from regledger.ledger.tiles import Tile

    ledger = Home(Path(home_dir), db_url=db_url).open()
    size, note_bytes = ledger.checkpoint()
    root = ledger.open_checkpoint(note_bytes).root
    rng = random.Random(seed)
    out: dict[str, Any] = {"size": size}
    tiles = [Tile(0, rng.randrange(size // 256 or 1)) for _ in range(samples)]
    out["anchor_select_tile"] = timed(tiles, lambda t: ledger.store.read_tiles([t]))
    indexes = rng.sample(range(size), min(samples, size))
    time_phases(
        out,
        "inclusion",
        indexes,
        lambda i: ledger.inclusion_proof(i, size),
        lambda i, proof: verify_inclusion(i, size, ledger.leaf_hash_at(i, size), proof, root),
    )

    def root_at(first: int) -> bytes:
        return parse_checkpoint_text(ledger.checkpoint_at(first).decode().split("\n\n")[0] + "\n").root

    firsts = [rng.choice(checkpoints[:-1]) for _ in range(samples)] if len(checkpoints) > 1 else []
    time_phases(
        out,
        "consistency",
        firsts,
        lambda first: ledger.consistency_proof(first, size),
        lambda first, proof: verify_consistency(first, size, root_at(first), root, proof),
    )
    out["rss_mb"] = rss_mb("self")
    return out


def rss_mb(pid: int | str) -> dict[str, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0]) / 1024
    return fields


def measure_http(
    home_dir: Path, db_url: str, samples: int, seed: int, checkpoints: list[int], work: Path, fill: int
) -> dict:
    import base64

    import httpx

    from regledger.ledger.checkpoint import parse_checkpoint_text
    from regledger.ledger.proof import verify_consistency, verify_inclusion
    from regledger.serveproc import ServeProcess

    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    env["REGLEDGER_PASSPHRASE"] = PASSPHRASE
    env["REGLEDGER_DB"] = db_url
    env["PYTHONPATH"] = _ROOT
    srv = ServeProcess.start(
        home_dir, "--read-only", log=work / "serve.log", env=env, cwd=Path(_ROOT), ready="/log/checkpoint", timeout=120
    )
    out: dict[str, Any] = {"rss_start_mb": rss_mb(srv.proc.pid)}
    try:
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=30) as c:
            cp = c.get("/v1/checkpoint").json()
            size, root = cp["size"], base64.b64decode(cp["root"])
            rng = random.Random(seed + 1)  # other indexes than the library run's
            out["anchor_healthz"] = timed(list(range(samples)), lambda _: c.get("/healthz").raise_for_status())
            indexes = rng.sample(range(size), min(samples, size))

            def check_inclusion(i: int, r: httpx.Response) -> None:
                p = r.json()
                hashes = [base64.b64decode(h) for h in p["hashes"]]
                verify_inclusion(i, size, base64.b64decode(p["leaf_hash"]), hashes, root)

            time_phases(
                out,
                "inclusion",
                indexes,
                lambda i: c.get("/v1/proofs/inclusion", params={"index": i, "size": size}).raise_for_status(),
                check_inclusion,
            )

            def check_consistency(first: int, r: httpx.Response) -> None:
                text = c.get("/v1/checkpoint", params={"size": first}).json()["note"]
                first_root = parse_checkpoint_text(text.split("\n\n")[0] + "\n").root
                hashes = [base64.b64decode(h) for h in r.json()["hashes"]]
                verify_consistency(first, size, first_root, root, hashes)

            firsts = [rng.choice(checkpoints[:-1]) for _ in range(samples)] if len(checkpoints) > 1 else []
            time_phases(
                out,
                "consistency",
                firsts,
                lambda first: c.get(
                    "/v1/proofs/consistency", params={"first": first, "second": size}
                ).raise_for_status(),
                check_consistency,
            )
            out["rss_end_mb"] = rss_mb(srv.proc.pid)
            for i in rng.sample(range(size), min(fill, size)):  # untimed: past the caches' capacity
                c.get("/v1/proofs/inclusion", params={"index": i, "size": size}).raise_for_status()
            out["fill"] = min(fill, size)
            out["rss_fill_mb"] = rss_mb(srv.proc.pid)
    finally:
        srv.stop()
    return out


def row(label: str, s: dict[str, float] | None, target: str = "") -> str:
    if s is None:
        return f"  {label:<34} (no earlier checkpoint)"
    return (
        f"  {label:<34} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms  max {s['max']:7.2f} ms"
        f"  ({s['n']:,} requests; load {s['load']:.2f}){target}"
    )


def report(title: str, r: dict[str, Any], anchor_key: str, anchor_label: str, *, target: bool = True) -> None:
    say(title)
    say(row(f"anchor: {anchor_label}", r[anchor_key]))
    anchor = r[anchor_key]["p99"]
    for key in ("inclusion_cold", "inclusion_warm", "consistency_cold", "consistency_warm"):
        s = r[key]
        extra = ""
        if s is not None:
            extra = f"  p99 / anchor p99 {s['p99'] / anchor:.1f}"
            if target and key.endswith("cold"):
                extra += f"  [target p99 <= 2 ms: {'met' if s['p99'] <= 2.0 else 'MISSED'}]"
        say(row(key.replace("_", " "), s, extra))


def pg_database(url: str) -> tuple[str, str]:
    import psycopg

    name = f"rl_bench_bigtree_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leaves", type=int, default=10_000_000, help="tree size (default 10,000,000)")
    ap.add_argument("--chunk", type=int, default=0, help="leaves per publish / checkpoint (default leaves/50)")
    ap.add_argument("--samples", type=int, default=2000, help="random requests per figure (default 2,000)")
    ap.add_argument("--db", help="PostgreSQL server URL (a fresh database is made beside it); default SQLite")
    ap.add_argument("--work", help="folder for the home (default: a temporary folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the home (and the PostgreSQL database)")
    ap.add_argument("--no-http", action="store_true", help="skip the `regledger serve` part")
    ap.add_argument(
        "--fill",
        type=int,
        default=6000,
        help="after the timed requests, this many more inclusion proofs at random indexes (untimed) before "
        "reading serve's RSS again: more distinct tiles than the caches hold (4,096), to show they are bounded",
    )
    ap.add_argument("--json", metavar="FILE", help="also write every figure to this JSON file")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--measure", nargs=2, metavar=("HOME", "URL"), help=argparse.SUPPRESS)  # the fresh process
    ap.add_argument("--checkpoints", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ["REGLEDGER_PASSPHRASE"] = PASSPHRASE
    if args.measure:
        sizes = json.loads(args.checkpoints)
        print(json.dumps(measure_library(args.measure[0], args.measure[1], args.samples, args.seed, sizes)))
        return 0
    if args.leaves < 2:
        ap.error("--leaves must be at least 2")
    chunk = args.chunk or max(256, (args.leaves // 50) // 256 * 256)
    work = Path(args.work or tempfile.mkdtemp(prefix="rl-bigtree-"))
    work.mkdir(parents=True, exist_ok=True)
    home_dir = work / "home"
    pg_name = None
    if args.db:
        pg_name, db_url = pg_database(args.db)
        backend = f"PostgreSQL (fresh database {pg_name})"
    else:
        db_url = f"sqlite:///{(home_dir / 'ledger.sqlite').resolve()}"
        backend = "SQLite"
    results: dict[str, Any] = {"leaves": args.leaves, "backend": backend}
    try:
        say(
            f"regledger bigtree: a tree of {args.leaves:,} leaves BUILT FROM GENERATED LEAF HASHES "
            f"(no entries, just leaf hashes), {backend}; {os.cpu_count()} cores; {load()}; code digest "
            f"(ledger/ api/routes/) {source_digest([f'{_ROOT}/ledger', f'{_ROOT}/api/routes'])}"
        )
        b = build(home_dir, db_url, args.leaves, chunk)
        results["build"] = {"seconds": b["seconds"], "checkpoints": len(b["checkpoints"]), "load": os.getloadavg()[0]}
        say(
            f"built: tiles of {args.leaves:,} leaves and {len(b['checkpoints'])} signed checkpoints in "
            f"{b['seconds']:,.1f} s ({args.leaves / b['seconds']:,.0f} leaves/s; {load()})"
        )
        p = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                str(home_dir),
                db_url,
                "--samples",
                str(args.samples),
                "--seed",
                str(args.seed),
                "--checkpoints",
                json.dumps(b["checkpoints"]),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if p.returncode != 0:
            raise SystemExit(f"the measuring process failed:\n{p.stderr}")
        lib = json.loads(p.stdout.strip().splitlines()[-1])
        results["library"] = lib
        report(
            f"through the ledger API, in a fresh process (tree of {lib['size']:,}):",
            lib,
            "anchor_select_tile",
            "SELECT one tile row",
        )
        say(
            f"  RSS of that process after the run: {lib['rss_mb']['VmRSS']:,.0f} MB "
            f"(peak {lib['rss_mb']['VmHWM']:,.0f} MB)"
        )
        if not args.no_http:
            h = measure_http(home_dir, db_url, args.samples, args.seed, b["checkpoints"], work, args.fill)
            results["http"] = h
            report(
                "through `regledger serve --read-only` (HTTP on loopback, one client):",
                h,
                "anchor_healthz",
                "GET /healthz",
                target=False,
            )
            end = h["rss_end_mb"]
            say(
                f"  RSS of serve: {h['rss_start_mb']['VmRSS']:,.0f} MB at start, {end['VmRSS']:,.0f} MB after the run "
                f"(peak {end['VmHWM']:,.0f} MB)  [target <= 300 MB: {'met' if end['VmHWM'] <= 300 else 'MISSED'}; "
                f"{load()}]"
            )
            fill = h["rss_fill_mb"]
            say(
                f"  RSS of serve after {h['fill']:,} more proofs at random indexes (past the 4,096-tile caches): "
                f"{fill['VmRSS']:,.0f} MB (peak {fill['VmHWM']:,.0f} MB)  "
                f"[target <= 300 MB: {'met' if fill['VmHWM'] <= 300 else 'MISSED'}; {load()}]"
            )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if pg_name and args.db:
                drop_pg_database(args.db, pg_name)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, _ROOT)
    raise SystemExit(main())
