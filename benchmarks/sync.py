#!/usr/bin/env python3
"""A parent pulling and fully verifying N entries from a child on this machine (run by hand).

    .venv/bin/python benchmarks/sync.py                    # 1,000,000 entries, target <= 60 s
    .venv/bin/python benchmarks/sync.py --quick            # 20,000 entries
    .venv/bin/python benchmarks/sync.py --entries 200000 --http
    .venv/bin/python benchmarks/sync.py --quick --db postgresql://127.0.0.1:5432/test   # the parent on PostgreSQL

What it does (see docs/performance.md):

1. Setup, not timed as part of the pull: a child home (`Home.init`, a registrant key, then
   signed `sample.resource` statements through `Ledger.append_batch`, integrated) of exactly N
   entries. It is built in a separate process and cached under --work, so a rerun at the same
   N reuses it.
2. For each fetcher (in process: `LedgerFetcher`; with --http: `regledger serve` on loopback
   and `HTTPFetcher`, the honest figure), a fresh parent home adds the child and then
   `sync.pull.pull_child(..., executor=ProcessPoolExecutor(workers))` followed by
   `parent.integrate()` is timed. Every entry is parsed, chained, signature-checked against
   the child's keyring and folded by the parent's policy; the hashes must rebuild the root of
   the child's signed checkpoint.
3. Checks: the parent's `sync:<child>` state has verified_size == N, and a second pull
   returns 0 entries with exactly 1 request.
4. Peers in the same run, over the same child: `ledger.audit.audit` (re-verifies every
   signature, the chain and the tiles, single-threaded), and raw loops over a sample of the
   entries: `Entry.from_leaf` alone and `keys.ed25519.verify_ed25519` alone, to show what
   share of the pull is parsing and signature verification.

Progress goes to stderr; the figures go to stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import resource
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit import (
    Progress,
    add_db,
    add_wait_idle,
    backend_name,
    fresh_database,
    machine_busy,
    note,
    say,
    source_digest,
    wait_quiet,
)

if TYPE_CHECKING:
    from regledger.serveproc import ServeProcess

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: code digest, cwd of servers
PASSPHRASE = "regledger-bench-sync-passphrase-0123456789"  # benchmark homes only
CHILD_ORIGIN = "bench.regledger.example/sync-child"
PARENT_ORIGIN = "bench.regledger.example/sync-parent"
TARGET_SECONDS = 60.0  # for 1,000,000 entries, pull + integrate
TARGET_ENTRIES = 1_000_000
TARGET_RATE = TARGET_ENTRIES / TARGET_SECONDS
INSTITUTION = "91520000MA6DKQ1U1C"  # a USCC that passes both check characters


# -- small helpers ----------------------------------------------------------------------------


def code_digest() -> str:
    """SHA-256 over the sources of ledger/, keys/ and sync/: a run must not mix two versions."""
    return source_digest(os.path.join(_ROOT, pkg) for pkg in ("ledger", "keys", "sync"))


def ncpu() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def pid_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reset_peak_rss(pid: int | str = "self") -> None:
    """Reset a process's peak RSS (VmHWM) so the next reading covers one phase only (Linux)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM of a live process in MB; ru_maxrss (never reset) where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _noop(i: int) -> int:
    return i


def start_pool(workers: int) -> ProcessPoolExecutor:
    ex = ProcessPoolExecutor(workers)
    list(ex.map(_noop, range(workers * 4)))  # start every worker before a clock starts
    return ex


def pool_pids(ex: ProcessPoolExecutor) -> list[int]:
    return list(getattr(ex, "_processes", {}) or {})


# -- the child (setup, cached) -------------------------------------------------------------------


def _statement(clerk: Any, i: int) -> Any:
    from regledger.demo import sample_payload
    from regledger.ledger.entry import sign_statement

    note = "synthetic entry written by benchmarks/sync.py; not a real registration"
    payload = {**sample_payload(i, note), "seq": i}
    return sign_statement(clerk, kind="sample.resource", subject=f"sample-{i:08d}", payload=payload)


def _sign_chunk(args: tuple[str, bytes, int, int]) -> list[Any]:
    from regledger.keys.ed25519 import Ed25519Signer

    name, seed, start, count = args
    clerk = Ed25519Signer.from_seed(name, seed)
    return [_statement(clerk, i) for i in range(start, start + count)]


def _build_child(dest: str, n: int, workers: int, batch: int, result: Any) -> None:
    """Runs in its own process: a child home holding exactly n entries, then renamed to dest."""
    from regledger.home import Home
    from regledger.keys.ed25519 import Ed25519Signer
    from regledger.ledger.keyring import register_key_statement

    os.environ["REGLEDGER_PASSPHRASE"] = PASSPHRASE
    tmp = Path(dest + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    home = Home(tmp)
    t0 = time.perf_counter()
    home.init(CHILD_ORIGIN, say=note)
    ledger = home.open()
    admin = home.admin()
    clerk_name, seed = f"bench-clerk@{CHILD_ORIGIN}", os.urandom(32)
    clerk = Ed25519Signer.from_seed(clerk_name, seed)
    ledger.append(register_key_statement(admin, clerk, "registrant", {"institution": INSTITUTION}))
    total = n - ledger.store.head().size
    sign_s = append_s = integrate_s = 0.0
    show = Progress("building the child (setup): signed statements appended with append_batch", total)
    chunk = 50_000
    with ProcessPoolExecutor(workers) as ex:
        for s in range(0, total, chunk):
            count = min(chunk, total - s)
            t = time.perf_counter()
            jobs = [(clerk_name, seed, i, min(2_000, s + count - i)) for i in range(s, s + count, 2_000)]
            statements = [st for part in ex.map(_sign_chunk, jobs) for st in part]
            sign_s += time.perf_counter() - t
            t = time.perf_counter()
            for j in range(0, len(statements), batch):
                ledger.append_batch(statements[j : j + batch], receipts=False, executor=ex)
                show(s + min(j + batch, len(statements)))
            append_s += time.perf_counter() - t
            t = time.perf_counter()
            ledger.integrate()
            integrate_s += time.perf_counter() - t
    t = time.perf_counter()
    size = ledger.integrate()
    integrate_s += time.perf_counter() - t
    if size != n or ledger.store.head().size != n:
        raise SystemExit(f"the child holds {ledger.store.head().size} entries (checkpoint {size}), not {n}")
    ledger.store.close()
    meta = {
        "entries": n,
        "origin": CHILD_ORIGIN,
        "seconds": time.perf_counter() - t0,
        "sign_s": sign_s,
        "append_s": append_s,
        "integrate_s": integrate_s,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        "code_digest": code_digest(),
    }
    (tmp / "bench-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    result.put(meta)


def ensure_child(work: Path, n: int, workers: int, batch: int, rebuild: bool) -> tuple[Path, dict[str, Any], bool]:
    """The cached child of n entries under work (built first if missing or not what it should be)."""
    from regledger.home import Home

    dest = work / f"child-{n}"
    meta_path = dest / "bench-meta.json"
    if not rebuild and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        try:
            ledger = Home(dest).open()
            ok = meta.get("entries") == n and ledger.store.head().size == n and ledger.checkpoint()[0] == n
            ledger.store.close()
        except Exception as exc:  # an unusable cache is rebuilt
            note(f"the cached child in {dest} is unusable ({type(exc).__name__}: {exc}); building it again")
            ok = False
        if ok:
            return dest, meta, True
    work.mkdir(parents=True, exist_ok=True)
    note(f"building a child of {n:,} entries in {dest} (setup, cached for reruns) ...")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_build_child, args=(str(dest), n, workers, batch, q))
    p.start()
    meta = None
    while meta is None:
        try:
            meta = q.get(timeout=2)
        except Exception:
            if not p.is_alive():
                raise SystemExit(f"building the child failed (exit code {p.exitcode})") from None
    p.join()
    return dest, meta, False


# -- the pull ------------------------------------------------------------------------------------


def start_server(home: Path, log_path: Path) -> ServeProcess:
    """`regledger serve` for the child home, on loopback, without a sync worker (a ServeProcess)."""
    from regledger.serveproc import ServeProcess

    env = dict(os.environ, REGLEDGER_PASSPHRASE=PASSPHRASE, PYTHONPATH=_ROOT)
    env.pop("REGLEDGER_DB", None)
    try:
        return ServeProcess.start(
            home, "--sync-interval", "0", log=log_path, env=env, cwd=Path(_ROOT), ready="/log/checkpoint", timeout=120
        )
    except RuntimeError as exc:
        raise SystemExit(f"regledger serve did not start ({exc}); see {log_path}") from exc


def run_pull(
    mode: str, args: argparse.Namespace, work: Path, child_home: Path, child_ledger: Any, n: int
) -> dict[str, Any]:
    """One pull into a fresh parent: its database a SQLite file in its home, or with --db a new PostgreSQL one."""
    with fresh_database(args.db, str(work), f"parent_{mode}", keep=args.keep) as url:
        return _run_pull(mode, args, work, child_home, child_ledger, n, None if url.startswith("sqlite") else url)


def _run_pull(
    mode: str,
    args: argparse.Namespace,
    work: Path,
    child_home: Path,
    child_ledger: Any,
    n: int,
    parent_url: str | None,
) -> dict[str, Any]:
    from regledger.home import Home
    from regledger.sync.fetch import HTTPFetcher, LedgerFetcher, cache_dir_for
    from regledger.sync.manage import add_child
    from regledger.sync.pull import pull_child

    parent_dir = work / f"parent-{mode}-{n}-{os.getpid()}"
    shutil.rmtree(parent_dir, ignore_errors=True)
    parent_home = Home(parent_dir, parent_url)
    parent_home.init(PARENT_ORIGIN, say=note)
    parent = parent_home.open()
    server: ServeProcess | None = None
    ex: ProcessPoolExecutor | None = None
    origin = child_ledger.origin

    def fetcher() -> Any:
        if server:
            return HTTPFetcher(server.url, cache_dir=cache_dir_for(parent_dir, origin))
        return LedgerFetcher(child_ledger)

    res: dict[str, Any] = {"mode": mode, "entries": n, "workers": args.workers}
    try:
        if mode == "http":
            server = start_server(child_home, work / "serve.log")
        url = server.url if server else "http://127.0.0.1:1"  # the in-process fetcher never uses it
        if add_child(parent, parent_home.admin(), url, child_ledger.verifier().vkey()) != origin:
            raise SystemExit("add_child named another origin than the child's")
        ex = start_pool(args.workers)
        workers = pool_pids(ex)
        for pid in workers:
            reset_peak_rss(pid)
        reset_peak_rss()
        if server:
            reset_peak_rss(server.proc.pid)
        f = fetcher()
        wait_quiet(args.wait_idle, ncpu())
        cpu0 = {
            "main": self_cpu(),
            "workers": sum(pid_cpu(p) for p in workers),
            "server": pid_cpu(server.proc.pid) if server else 0.0,
        }
        busy0 = machine_busy()
        show = Progress(f"pull, {mode} fetcher, {args.workers} workers")
        prof = cProfile.Profile() if args.profile else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        pulled = pull_child(parent, f, origin, executor=ex, progress=show)
        t1 = time.perf_counter()
        size = parent.integrate()
        t2 = time.perf_counter()
        if prof:
            prof.disable()
        show(n, n)  # the last line (pull_child reports once per window of runs)
        busy = machine_busy() - busy0
        cpu = {
            "main": self_cpu() - cpu0["main"],
            "workers": sum(pid_cpu(p) for p in workers) - cpu0["workers"],
            "server": (pid_cpu(server.proc.pid) - cpu0["server"]) if server else 0.0,
        }
        wall = t2 - t0
        ours = sum(cpu.values())
        res.update(
            pull_s=t1 - t0,
            integrate_s=t2 - t1,
            seconds=wall,
            rate=n / wall,
            requests=pulled.requests,
            pulled=pulled.entries,
            parent_size=size,
            cpu=cpu,
            others_share=max(0.0, busy - ours) / (wall * ncpu()),
            rss_mb={
                "main": peak_rss_mb(),
                "workers": max((peak_rss_mb(p) for p in workers), default=0.0),
                "server": peak_rss_mb(server.proc.pid) if server else 0.0,
            },
        )
        f.close()
        if prof:
            out = f"{args.profile}.{mode}"
            prof.dump_stats(out)
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
            note(
                f"cProfile of the pull ({mode}, main process only; the workers are not in it), top by tottime, "
                f"saved to {out}:\n{s.getvalue()}"
            )

        # correctness: everything verified and recorded, and nothing left to pull
        subject = f"sync:{origin}"
        st = parent.store.get_states([subject])[subject].state
        problems = []
        if pulled.entries != n:
            problems.append(f"pull_child returned entries={pulled.entries}, not {n}")
        if st["verified_size"] != n or st["size"] != n or st["state"] != "ok":
            problems.append(f"{subject}: verified_size {st['verified_size']}, size {st['size']}, state {st['state']}")
        if size != parent.store.head().size:
            problems.append(f"the parent's checkpoint {size} does not cover its {parent.store.head().size} entries")
        f2 = fetcher()
        again = pull_child(parent, f2, origin, executor=ex)
        f2.close()
        if again.entries != 0 or again.requests != 1:
            problems.append(
                f"a second pull returned entries={again.entries} with requests={again.requests} (expected 0 and 1)"
            )
        res.update(
            second_entries=again.entries,
            second_requests=again.requests,
            problems=problems,
            parent_statements=parent.store.head().size,
            parent_bytes=dir_bytes(parent_dir),
        )
    finally:
        if ex is not None:
            ex.shutdown()
        if server:
            server.stop()
        parent.store.close()
        if not args.keep:
            shutil.rmtree(parent_dir, ignore_errors=True)
    return res


# -- peers ---------------------------------------------------------------------------------------


def raw_loops(child_ledger: Any, n: int, sample: int, workers: int) -> dict[str, Any]:
    """Entry.from_leaf alone, then verify_ed25519 alone (1 process, then `workers`), over the first `sample` entries."""
    from regledger.keys.ed25519 import verify_ed25519
    from regledger.ledger.entry import Entry
    from regledger.ledger.keyring import apply_change, key_change, signing_key

    m = min(n, sample)
    leaves: list[bytes] = []
    for s in range(0, m, 10_000):
        leaves.extend(child_ledger.entries(s, min(m, s + 10_000)))
    t = time.perf_counter()
    entries = [Entry.from_leaf(leaf) for leaf in leaves]
    parse_s = time.perf_counter() - t
    keys: dict[str, Any] = {}
    jobs = []
    for e in entries:  # untimed: who signed each entry
        signer = signing_key(e.index, e.statement, keys)
        apply_change(keys, e.index, key_change(e.index, e.statement, signer, keys))
        jobs.append((signer.public_key, e.statement.signed_message(), e.statement.sig))
    del entries, leaves
    t = time.perf_counter()
    for pub, msg, sig in jobs:
        verify_ed25519(pub, msg, sig)
    verify_s = time.perf_counter() - t
    # The same signatures on `workers` processes (forked after the jobs exist, so nothing is pickled
    # but the ranges): the best any pull could do for signatures alone on this machine.
    global _JOBS
    _JOBS = jobs
    ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
    try:
        list(ex.map(_noop, range(workers * 4)))
        step = max(1, -(-m // (workers * 8)))
        t = time.perf_counter()
        done = sum(ex.map(_verify_range, [(i, min(m, i + step)) for i in range(0, m, step)]))
        par_s = time.perf_counter() - t
    finally:
        ex.shutdown()
        _JOBS = []
    assert done == m
    return {
        "sample": m,
        "parse_s": parse_s,
        "parse_rate": m / parse_s,
        "verify_s": verify_s,
        "verify_rate": m / verify_s,
        "workers": workers,
        "par_verify_s": par_s,
        "par_verify_rate": m / par_s,
    }


_JOBS: list[tuple[bytes, bytes, bytes]] = []


def _verify_range(r: tuple[int, int]) -> int:
    from regledger.keys.ed25519 import verify_ed25519

    for pub, msg, sig in _JOBS[r[0] : r[1]]:
        verify_ed25519(pub, msg, sig)
    return r[1] - r[0]


def run_audit(child_ledger: Any, n: int) -> dict[str, Any]:
    from regledger.ledger.audit import audit

    show = Progress("audit of the child (peer, single-threaded)", n)
    busy0, cpu0 = machine_busy(), self_cpu()
    t = time.perf_counter()
    rep = audit(
        child_ledger.store, origin=child_ledger.origin, verifier=child_ledger.verifier(), policy=None, progress=show
    )
    el = time.perf_counter() - t
    other = max(0.0, machine_busy() - busy0 - (self_cpu() - cpu0))
    assert rep.entries == n, rep
    return {"seconds": el, "rate": n / el, "others_share": other / (el * ncpu())}


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=TARGET_ENTRIES, help="entries in the child (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20,000 entries")
    ap.add_argument("--workers", type=int, default=0, help="verifying processes for the pull (default nproc)")
    ap.add_argument(
        "--work",
        default="/tmp/regledger-bench-sync",
        help="where the child is cached and the parents are made (default /tmp/regledger-bench-sync)",
    )
    ap.add_argument(
        "--http", action="store_true", help="also pull over HTTP from `regledger serve` (the honest figure)"
    )
    ap.add_argument("--http-only", action="store_true", help="pull over HTTP only")
    ap.add_argument("--skip-audit", action="store_true", help="do not run the audit peer")
    ap.add_argument(
        "--raw-sample",
        type=int,
        default=100_000,
        help="entries for the raw parse / verify loops (default 100,000; 0 skips them)",
    )
    ap.add_argument("--build-batch", type=int, default=256, help="append_batch size while building the child")
    ap.add_argument("--rebuild", action="store_true", help="build the child again even if it is cached")
    ap.add_argument("--keep", action="store_true", help="keep the parent homes")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the pull (main process) into FILE.<mode>")
    ap.add_argument("--json", metavar="FILE", help="also write every figure to this JSON file")
    add_db(ap)  # the parent's database: the pulling side writes there; the child stays a cached SQLite home
    add_wait_idle(ap)
    args = ap.parse_args(argv)
    if args.quick and args.entries == ap.get_default("entries"):
        args.entries = 20_000
    if args.entries < 3:
        ap.error("--entries must be at least 3 (the admin key, the clerk key, one statement)")
    args.workers = args.workers or ncpu()
    os.environ["REGLEDGER_PASSPHRASE"] = PASSPHRASE

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # so the server and pools are stopped

    signal.signal(signal.SIGTERM, on_term)
    import platform
    import sqlite3

    from regledger.home import Home

    n = args.entries
    work = Path(args.work)
    digest = code_digest()
    t_all = time.monotonic()
    say(
        f"regledger sync benchmark: a parent pulls and verifies {n:,} entries from a child on this machine; "
        f"the parent's database: {backend_name(args.db or 'sqlite')}, the child's: SQLite; "
        "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )
    say(
        f"machine: {ncpu()} usable cores, {platform.python_implementation()} {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; code digest (ledger/ keys/ sync/) {digest}"
    )
    child_dir, meta, cached = ensure_child(work, n, args.workers, args.build_batch, args.rebuild)
    say(
        f"child: {child_dir} ({n:,} entries, {dir_bytes(child_dir) / 1e6:,.0f} MB); "
        + (
            f"cached, built {meta['built']} in {meta['seconds']:.0f} s"
            if cached
            else f"built now in {meta['seconds']:.0f} s (setup, not timed: signing {meta['sign_s']:.0f} s, "
            f"append_batch {meta['append_s']:.0f} s = {n / meta['append_s']:,.0f}/s, "
            f"integrate {meta['integrate_s']:.0f} s)"
        )
    )
    child_ledger = Home(child_dir).open()
    res: dict[str, Any] = {"entries": n, "workers": args.workers, "code_digest": digest, "child": meta, "pulls": []}
    modes = ["http"] if args.http_only else (["local", "http"] if args.http else ["local"])
    for mode in modes:
        note(f"pulling with the {mode} fetcher ...")
        r = run_pull(mode, args, work, child_dir, child_ledger, n)
        res["pulls"].append(r)
        c = r["cpu"]
        say(
            f"pull, {'in-process LedgerFetcher' if mode == 'local' else 'HTTPFetcher from regledger serve'}, "
            f"{args.workers} workers: {r['seconds']:.1f} s = {r['rate']:,.0f} entries/s "
            f"(pull_child {r['pull_s']:.1f} s, integrate {r['integrate_s']:.1f} s; {r['requests']:,} requests; "
            f"others {r['others_share'] * 100:.0f}% of the cores)"
        )
        say(
            f"  CPU seconds: main {c['main']:.1f}, workers {c['workers']:.1f}"
            + (f", server {c['server']:.1f}" if mode == "http" else "")
            + f" (wall x cores = {r['seconds'] * ncpu():.1f})"
        )
        say(
            f"  peak RSS: main {r['rss_mb']['main']:,.0f} MB, largest worker {r['rss_mb']['workers']:,.0f} MB"
            + (f", server {r['rss_mb']['server']:,.0f} MB" if mode == "http" else "")
        )
        say(
            f"  parent: {r['parent_statements']:,} entries ({r['parent_bytes'] / 1e6:,.0f} MB on disk); "
            f"second pull: {r['second_entries']} entries, {r['second_requests']} request(s)"
        )
        for p in r["problems"]:
            say(f"  CHECK FAILED: {p}")
        if not r["problems"]:
            say(f"  checks passed: sync:{CHILD_ORIGIN} verified_size == {n:,}; the second pull found nothing")
    if args.raw_sample > 0:
        note(f"raw loops over {min(n, args.raw_sample):,} entries ...")
        wait_quiet(args.wait_idle, ncpu())
        res["raw"] = raw = raw_loops(child_ledger, n, args.raw_sample, args.workers)
        say(
            f"raw loops, single-threaded, first {raw['sample']:,} entries: Entry.from_leaf {raw['parse_rate']:,.0f}/s "
            f"({1e6 / raw['parse_rate']:.1f} us each), verify_ed25519 {raw['verify_rate']:,.0f}/s "
            f"({1e6 / raw['verify_rate']:.1f} us each); verify_ed25519 on {raw['workers']} processes "
            f"{raw['par_verify_rate']:,.0f}/s (the ceiling for signatures alone)"
        )
        for r in res["pulls"]:
            v = n / raw["verify_rate"]
            p = n / raw["parse_rate"]
            cpu = sum(r["cpu"].values())
            say(
                f"  {r['mode']}: at these rates, {n:,} signatures are {v:.1f} CPU-s and {n:,} parses {p:.1f} CPU-s; "
                f"the pull used {cpu:.1f} CPU-s, so signatures are {v / cpu * 100:.0f}% "
                f"of its CPU; over {args.workers} cores, signatures alone need >= {v / args.workers:.1f} s "
                f"({v / args.workers / r['seconds'] * 100:.0f}% of its wall time)"
            )
    if not args.skip_audit:
        note("audit of the child ...")
        wait_quiet(args.wait_idle, ncpu())
        res["audit"] = a = run_audit(child_ledger, n)
        say(
            f"audit(child.store, policy=None), single-threaded: {a['seconds']:.1f} s = {a['rate']:,.0f} entries/s "
            f"(others {a['others_share'] * 100:.0f}% of the cores)"
        )
    child_ledger.store.close()
    say()

    rows = [("N", "workers", "what", "seconds", "entries/s", "others", f"target (<= {TARGET_SECONDS:g} s at 1M)")]
    for r in res["pulls"]:
        if n == TARGET_ENTRIES:
            verdict = mark(r["seconds"] <= TARGET_SECONDS)
        else:
            verdict = (
                f"{mark(r['rate'] >= TARGET_RATE)} at this size (needs {TARGET_RATE:,.0f}/s; "
                f"1M would take ~{TARGET_ENTRIES / r['rate']:.0f} s)"
            )
        what = "pull + integrate, in process" if r["mode"] == "local" else "pull + integrate, HTTP"
        rows.append(
            (
                f"{n:,}",
                str(args.workers),
                what,
                f"{r['seconds']:.1f}",
                f"{r['rate']:,.0f}",
                f"{r['others_share'] * 100:.0f}%",
                verdict,
            )
        )
    if "audit" in res:
        rows.append(
            (
                f"{n:,}",
                "1",
                "peer: ledger.audit.audit",
                f"{res['audit']['seconds']:.1f}",
                f"{res['audit']['rate']:,.0f}",
                f"{res['audit']['others_share'] * 100:.0f}%",
                "-",
            )
        )
    if "raw" in res:
        raw = res["raw"]
        rows.append(
            (
                f"{raw['sample']:,}",
                "1",
                "peer: verify_ed25519 loop",
                f"{raw['verify_s']:.1f}",
                f"{raw['verify_rate']:,.0f}",
                "",
                "-",
            )
        )
        rows.append(
            (
                f"{raw['sample']:,}",
                str(raw["workers"]),
                "peer: verify_ed25519, processes",
                f"{raw['par_verify_s']:.1f}",
                f"{raw['par_verify_rate']:,.0f}",
                "",
                f"1M would take ~{TARGET_ENTRIES / raw['par_verify_rate']:.0f} s for signatures alone",
            )
        )
        rows.append(
            (
                f"{raw['sample']:,}",
                "1",
                "peer: Entry.from_leaf loop",
                f"{raw['parse_s']:.1f}",
                f"{raw['parse_rate']:,.0f}",
                "",
                "-",
            )
        )
    w = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    say("summary ('others': share of all cores that other processes used during that measurement):")
    for row in rows:
        cells = (f"{v:>{w[k]}}" if k in (0, 1, 3, 4, 5) else f"{v:<{w[k]}}" for k, v in enumerate(row))
        say("  " + "  ".join(cells).rstrip())
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res["ru_maxrss_mb"] = {"self": me, "children": kids}
    say(f"peak RSS over the whole run (getrusage): this process {me:,.0f} MB, largest child process {kids:,.0f} MB")
    if code_digest() != digest:
        say(f"WARNING: ledger/, keys/ or sync/ changed on disk during the run; the figures are for digest {digest}")
    res["wall_s"] = time.monotonic() - t_all
    say(f"total wall time {res['wall_s'] / 60:.1f} min")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2, default=str)
    failed = any(r["problems"] for r in res["pulls"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
