#!/usr/bin/env python3
"""regledger throughput and latency benchmark, with pymerkle 7.0.0 measured in the same run.

Run by hand from the repository root (not part of the test suite):

    .venv/bin/python benchmarks/append.py              # 1,000,000 entries (10-30 minutes)
    .venv/bin/python benchmarks/append.py --quick      # 20,000 entries, a smoke run
    .venv/bin/python benchmarks/append.py --db postgresql://127.0.0.1:5432/test   # on PostgreSQL

What it measures, on SQLite in a temporary directory, or with --db URL on a fresh database made on that
PostgreSQL server (see docs/performance.md; benchmarks/backends.py runs both in one run):

1. Costs of the primitives (Ed25519 verify and sign, a receipt, building an entry, ...).
2. Verified appends/s through `Ledger.append_batch` with its defaults (every signature is
   verified, a signed receipt is returned per entry), in batches of --batch (256):
   - single process, no executor;
   - one process, verification in a ThreadPoolExecutor(nproc);
   - one process, verification in a ProcessPoolExecutor(nproc);
   - nproc processes appending concurrently to the same SQLite file, each with its own
     SQLStore and Ledger.
   The statements are signed beforehand (the client's work, not timed) and every entry of
   the tree goes through `append_batch`; nothing is inserted with SQL directly.
3. Integration: `Ledger.integrate(256)` until the checkpoint covers every entry (tiles
   built and stored, one signed checkpoint per call).
4. Inclusion-proof latency at the final size for random indexes against the latest
   checkpoint: from a fresh Ledger (cold caches), the same Ledger again (warm), and the worst
   case of a fresh Ledger object for every single proof.
5. pymerkle 7.0.0 given the very same leaf bytes: SqliteTree and InmemoryTree append rate
   (batches of --batch) and inclusion-proof latency; their roots must equal our checkpoint's.

Progress goes to stderr; the figures go to stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from benchkit import Progress, add_db, add_wait_idle, backend_name, fresh_database, note, say, source_digest, wait_quiet

from regledger.demo import sample_payload
from regledger.keys.ed25519 import Ed25519Signer, verify_ed25519
from regledger.ledger.checkpoint import Receipt, sign_receipt
from regledger.ledger.entry import Entry, Statement, sign_statement
from regledger.ledger.hashes import leaf_hash
from regledger.ledger.keyring import register_key_statement
from regledger.ledger.proof import verify_inclusion
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore

ORIGIN = "bench.regledger.example/1"
TARGET_APPENDS = 5_000.0  # verified appends/s on SQLite
TARGET_P99_MS = 2.0  # inclusion proof p99 at 1M entries
CLERKS = 8  # registrant keys the bulk statements are signed with (round robin)


# -- small helpers ----------------------------------------------------------------------------


def pct(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_stats(ns: Sequence[int]) -> dict[str, float]:
    ms = sorted(x / 1e6 for x in ns)
    return {
        "n": len(ms),
        "p50_ms": pct(ms, 0.50),
        "p99_ms": pct(ms, 0.99),
        "max_ms": ms[-1],
        "mean_ms": statistics.fmean(ms),
    }


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class CpuWatch:
    """What the whole machine did during a phase: our CPU, everybody else's, and steal.

    Other sessions on a shared machine (a test run, a database) take cores from the
    benchmark; each phase prints how much, so a figure can be judged.
    """

    def __init__(self) -> None:
        self.t, self.busy, self.steal, self.ours = self._snap()
        me = resource.getrusage(resource.RUSAGE_SELF)
        self.self_cpu = me.ru_utime + me.ru_stime

    @staticmethod
    def _snap() -> tuple[float, float, float, float]:
        tck = os.sysconf("SC_CLK_TCK")
        busy = steal = 0.0
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / tck  # user nice system irq softirq
            steal = (v[7] if len(v) > 7 else 0) / tck
        except (OSError, ValueError, IndexError):
            pass
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        return time.monotonic(), busy, steal, ours

    def report(self, ncpu: int, children_cpu: float | None = None) -> dict[str, float]:
        """children_cpu: CPU seconds of child processes not yet reaped (they report their own)."""
        t, busy, steal, ours = self._snap()
        wall = max(t - self.t, 1e-9)
        d_ours = ours - self.ours
        if children_cpu is not None:
            me = resource.getrusage(resource.RUSAGE_SELF)
            d_ours = me.ru_utime + me.ru_stime - self.self_cpu + children_cpu
        other = max(0.0, (busy - self.busy) - d_ours)
        return {
            "wall_s": wall,
            "ours_cpu_s": d_ours,
            "other_cpu_s": other,
            "other_share": other / (wall * ncpu),
            "steal_share": (steal - self.steal) / (wall * ncpu),
        }


def pids_cpu(pids: Sequence[int]) -> float:
    """CPU seconds used so far by live processes (utime + stime from /proc/<pid>/stat)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tck
        except (OSError, ValueError, IndexError):
            pass
    return total


def load_note(w: dict[str, float]) -> str:
    return f"(machine: others {w['other_share'] * 100:.0f}% of all cores, steal {w['steal_share'] * 100:.0f}%)"


def jitter_floor(n: int = 2000) -> dict[str, float]:
    """Latency of a fixed ~0.2 ms pure-Python computation: the scheduler's noise floor here."""
    import hashlib

    def work() -> None:
        h = b"x" * 32
        for _ in range(150):
            h = hashlib.sha256(b"\x01" + h + h).digest()

    ns = []
    for _ in range(n):
        t = time.perf_counter_ns()
        work()
        ns.append(time.perf_counter_ns() - t)
    return latency_stats(ns)


def per_op_us(fn: Callable[[int], Any], n: int, repeat: int = 5) -> float:
    """Median over `repeat` runs of the mean time of fn(i) for i < n, in microseconds."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


# -- machine ------------------------------------------------------------------------------------


def code_digest() -> str:
    """SHA-256 over the source files of the imported `ledger` and `keys` packages.

    The parent and every child process compare it, so a run is never a mix of two versions of
    the library (another engineer may be editing it while a long run is under way).
    """
    import regledger.keys as keys
    import regledger.ledger as ledger

    return source_digest(pkg.__path__[0] for pkg in (ledger, keys))


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    import cryptography
    import sqlalchemy

    try:
        import pymerkle

        pm = pymerkle.__version__
    except ImportError:
        pm = "not installed"
    import regledger.ledger as ledger

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cryptography": cryptography.__version__,
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "pymerkle": pm,
        "ledger_from": os.path.dirname(os.path.abspath(ledger.__path__[0])),
        "code_digest": code_digest(),
    }


# -- statements (the client's work, never timed) -----------------------------------------------


def _statement(signer: Ed25519Signer, i: int) -> Statement:
    note = "synthetic entry written by benchmarks/append.py; not a real registration"
    payload = {**sample_payload(i, note, label="基准"), "seq": i}
    return sign_statement(signer, kind="resource.register", subject=f"bench-{i:08d}", payload=payload)


def _signers(seeds: Sequence[bytes]) -> list[Ed25519Signer]:
    return [Ed25519Signer.from_seed(f"bench-clerk-{k}@{ORIGIN}", s) for k, s in enumerate(seeds)]


def _gen_chunk(args: tuple[list[bytes], int, int]) -> list[Statement]:
    seeds, start, count = args
    signers = _signers(seeds)
    return [_statement(signers[i % len(signers)], i) for i in range(start, start + count)]


def generate(seeds: list[bytes], start: int, count: int, workers: int, label: str) -> list[Statement]:
    """Sign `count` statements in `workers` processes (pickled back with their canonical bytes)."""
    chunk = 2_000
    jobs = [(seeds, s, min(chunk, start + count - s)) for s in range(start, start + count, chunk)]
    out: list[Statement] = []
    show = Progress(f"signing statements for {label} (untimed)", count)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        for part in ex.map(_gen_chunk, jobs):
            out.extend(part)
            show(len(out))
    # The pre-signed statements are the client's; keep them out of the collector's scans so
    # they do not make the timed phase pay for a heap a server would not have.
    gc.collect()
    gc.freeze()
    return out


# -- appending ----------------------------------------------------------------------------------


def append_all(ledger: Ledger, statements: list[Statement], batch: int, label: str, executor: Any = None) -> float:
    """Append in batches with the library's defaults; returns the elapsed seconds."""
    show = Progress(label, len(statements))
    t = time.perf_counter()
    for j in range(0, len(statements), batch):
        out = ledger.append_batch(statements[j : j + batch], executor=executor)
        assert len(out) == len(statements[j : j + batch]) and out[-1].receipt is not None
        show(min(j + batch, len(statements)))
    return time.perf_counter() - t


def _appender(
    url: str,
    log_seed: bytes,
    seeds: list[bytes],
    start: int,
    count: int,
    batch: int,
    barrier: Any,
    counter: Any,
    results: Any,
    digest: str,
) -> None:
    """One of the concurrent appending processes: own SQLStore and Ledger on the same file."""
    try:
        if code_digest() != digest:
            raise RuntimeError(
                "the library's source changed on disk since the benchmark started; "
                "run it again (or from a snapshot with PYTHONPATH)"
            )
        statements = _gen_chunk((seeds, start, count))  # untimed: before the barrier
        gc.collect()
        gc.freeze()
        store = SQLStore(url)
        ledger = Ledger(store, origin=ORIGIN, log_signer=Ed25519Signer.from_seed(ORIGIN, log_seed))
        store.head()  # open the connections before the clock starts
        store.get_keys([statements[0].key])
        barrier.wait()
        t0, c0 = time.monotonic(), time.process_time()
        for j in range(0, count, batch):
            part = statements[j : j + batch]
            out = ledger.append_batch(part)
            assert len(out) == len(part) and out[-1].receipt is not None
            with counter.get_lock():
                counter.value += len(part)
        t1, c1 = time.monotonic(), time.process_time()
        store.close()
        results.put(("ok", t0, t1, c1 - c0))
    except BaseException as exc:  # report instead of hanging the parent
        try:
            barrier.abort()
        except Exception:
            pass
        results.put(("error", repr(exc), 0.0, 0))


def append_concurrently(
    url: str,
    log_seed: bytes,
    seeds: list[bytes],
    start: int,
    count: int,
    procs: int,
    batch: int,
    ncpu: int,
    digest: str,
) -> tuple[float, dict[str, float]]:
    """`procs` processes append count statements between them; returns wall seconds for all."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs + 1)
    counter = ctx.Value("q", 0)
    results = ctx.Queue()
    shares = [count // procs + (1 if k < count % procs else 0) for k in range(procs)]
    starts = [start + sum(shares[:k]) for k in range(procs)]
    ps = [
        ctx.Process(
            target=_appender,
            args=(url, log_seed, seeds, starts[k], shares[k], batch, barrier, counter, results, digest),
            daemon=True,
        )
        for k in range(procs)
    ]
    for p in ps:
        p.start()
    note(f"  {procs} processes are signing their {count:,} statements (untimed) ...")
    barrier.wait()  # every process has signed its statements and opened its store
    watch = CpuWatch()
    show = Progress(f"{procs} processes appending", count)
    got: list[tuple[str, Any, float, int]] = []
    while len(got) < procs:
        try:
            got.append(results.get(timeout=1.0))
        except Exception:
            pass
        show(counter.value)
        if any(g[0] == "error" for g in got):
            break
    for p in ps:
        p.join()
    errors = [g[1] for g in got if g[0] == "error"]
    if errors:
        raise RuntimeError(f"an appending process failed: {errors[0]}")
    show(counter.value)
    load = watch.report(ncpu, children_cpu=sum(g[3] for g in got))
    return max(g[2] for g in got) - min(float(g[1]) for g in got), load


# -- the benchmark ------------------------------------------------------------------------------


def micro_costs(n: int) -> dict[str, float]:
    clerk = Ed25519Signer.generate(f"micro-clerk@{ORIGIN}")
    log = Ed25519Signer.generate(ORIGIN)
    sts = [_statement(clerk, i) for i in range(n)]
    msgs = [st.signed_message() for st in sts]
    raws = [st.canonical for st in sts]
    pub, priv = clerk.public, clerk.private_key
    prev = bytes(32)
    t = "2026-01-01T00:00:00.000Z"
    lh = [leaf_hash(m) for m in msgs]
    entries = [Entry.build(i + 1, prev, t, st) for i, st in enumerate(sts)]
    leaves = [e.leaf for e in entries]
    pyca_pub = priv.public_key()
    costs = {
        "ed25519_verify_us": per_op_us(lambda i: verify_ed25519(pub, msgs[i], sts[i].sig), n),
        "pyca_verify_us": per_op_us(lambda i: pyca_pub.verify(sts[i].sig, msgs[i]), n),
        "ed25519_sign_us": per_op_us(lambda i: clerk.sign(msgs[i]), n),
        "pyca_sign_us": per_op_us(lambda i: priv.sign(msgs[i]), n),
        "sign_receipt_us": per_op_us(lambda i: sign_receipt(Receipt(ORIGIN, i, lh[i], t), log), n),
        "entry_build_us": per_op_us(lambda i: Entry.build(i + 1, prev, t, sts[i]).leaf_hash, n),
        "statement_parse_us": per_op_us(lambda i: Statement.from_bytes(raws[i]), n, repeat=3),
        "sign_statement_us": per_op_us(lambda i: _statement(clerk, i), min(n, 1000), repeat=3),
        "leaf_bytes": statistics.fmean(len(x) for x in leaves),
        "statement_bytes": statistics.fmean(len(x) for x in raws),
    }
    try:  # libsodium through PyNaCl, for reference
        import nacl.bindings as sodium

        costs["libsodium_verify_us"] = per_op_us(lambda i: sodium.crypto_sign_open(sts[i].sig + msgs[i], pub), n)
    except ImportError:
        pass
    # Two threads verifying at once: does the Ed25519 library release the GIL?
    import threading

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            verify_ed25519(pub, msgs[i], sts[i].sig)

    runs = []
    for _ in range(3):  # best of three: thread start-up and a busy neighbour add noise
        t0 = time.perf_counter()
        ths = [threading.Thread(target=work, args=(0, n // 2)), threading.Thread(target=work, args=(n // 2, n))]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    costs["ed25519_verify_2threads_us_per_sig"] = min(runs)
    return costs


def fsync_cost(directory: str, n: int = 50) -> float:
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        times = []
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times) * 1e3


def plan(remaining: int) -> list[tuple[str, int]]:
    """How the entries after the bootstrap are split between the append modes."""
    single = remaining // 10
    threads = remaining // 20
    procexec = remaining // 20
    return [
        ("single", single),
        ("threads", threads),
        ("procexec", procexec),
        ("processes", remaining - single - threads - procexec),
    ]


def measure_proofs(
    make: Callable[[], Any],
    prove: Callable[[Any, int], Any],
    indexes: Sequence[int],
    label: str,
    fresh_each: bool = False,
) -> tuple[dict[str, float], list[Any], Any]:
    """Time prove(obj, i) for each index; obj from make() once (or for every proof)."""
    obj = None if fresh_each else make()
    ns: list[int] = []
    cpu: list[int] = []  # this thread's CPU time: what the proof costs when nothing else runs
    proofs: list[Any] = []
    show = Progress(label, len(indexes))
    for k, i in enumerate(indexes):
        if fresh_each:
            obj = make()
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        p = prove(obj, i)
        ns.append(time.perf_counter_ns() - t)
        cpu.append(time.thread_time_ns() - c)
        proofs.append(p)
        show(k + 1)
    st = latency_stats(ns)
    cs = latency_stats(cpu)
    st.update(cpu_p50_ms=cs["p50_ms"], cpu_p99_ms=cs["p99_ms"])
    return st, proofs, obj


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"args": vars(args)}
    m = machine()
    res["machine"] = m
    procs = args.workers or m["nproc"]
    say("regledger benchmark: verified appends, integration, inclusion proofs; pymerkle 7.0.0 as the peer")
    say(f"machine:   {m['nproc']} usable CPUs (os.cpu_count {m['cpu_count']}), {m['cpu']}, RAM {m['memory']}")
    say(
        f"software:  {m['python']} on {m['platform']}; cryptography {m['cryptography']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, pymerkle {m['pymerkle']}"
    )
    say(f"code:      ledger and keys imported from {m['ledger_from']} (source digest {m['code_digest']})")
    say(
        f"run:       --entries {args.entries:,}, batches of {args.batch} (append_batch and integrate), "
        f"{procs} workers/processes for the all-core modes, {args.proofs:,} random proof indexes"
    )
    say(
        f"targets:   >= {TARGET_APPENDS:,.0f} verified appends/s on SQLite; inclusion proof p99 <= "
        f"{TARGET_P99_MS:g} ms at 1,000,000 entries"
    )
    say()

    workdir = tempfile.mkdtemp(prefix="regledger-bench-", dir=args.dir)
    res["workdir"] = workdir
    try:
        with fresh_database(args.db, workdir, keep=args.keep) as url:
            _run_in(args, res, workdir, procs, url)
    finally:
        if args.keep:
            note(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return res


def _run_in(args: argparse.Namespace, res: dict[str, Any], workdir: str, procs: int, url: str) -> None:
    N, B = args.entries, args.batch
    rng = random.Random(args.seed)
    ncpu = res["machine"]["nproc"]

    # 1. primitives --------------------------------------------------------------------------
    wait_quiet(args.wait_idle, ncpu)
    note("measuring the primitives ...")
    watch = CpuWatch()
    c = micro_costs(2_000)
    c["fsync_ms"] = fsync_cost(workdir)
    machine = watch.report(ncpu)
    res["costs"] = {**c, "machine": machine}
    serial = c["ed25519_verify_us"] + c["sign_receipt_us"] + c["entry_build_us"]
    import regledger.keys.ed25519 as ked

    backend = "libsodium/PyNaCl" if "_sodium" in vars(ked) or "nacl" in (ked.__doc__ or "") else "pyca/cryptography"
    say("primitive costs on this machine (median per operation):")
    say(
        f"  Ed25519 verify (keys.ed25519.verify_ed25519)          {c['ed25519_verify_us']:7.1f} us   ({backend}; "
        f"2 threads at once: {c['ed25519_verify_2threads_us_per_sig']:.1f} us per signature, "
        f"x{c['ed25519_verify_us'] / c['ed25519_verify_2threads_us_per_sig']:.1f})"
    )
    say(
        f"    for reference: pyca/cryptography verify {c['pyca_verify_us']:.1f} us"
        + (f", libsodium (PyNaCl) verify {c['libsodium_verify_us']:.1f} us" if "libsodium_verify_us" in c else "")
    )
    say(
        f"  Ed25519 sign (Ed25519Signer.sign)                     {c['ed25519_sign_us']:7.1f} us"
        f"   (pyca/cryptography sign {c['pyca_sign_us']:.1f} us)"
    )
    say(f"  signed receipt (sign_receipt: note checks + sign)     {c['sign_receipt_us']:7.1f} us")
    say(f"  Entry.build + leaf hash                               {c['entry_build_us']:7.1f} us")
    say(f"  Statement.from_bytes (parse, not in append_batch)     {c['statement_parse_us']:7.1f} us")
    say(f"  sign_statement (client side, not timed)               {c['sign_statement_us']:7.1f} us")
    say(f"  fsync of a 4 KiB write in the temp directory          {c['fsync_ms']:7.2f} ms")
    say(
        f"  leaf {c['leaf_bytes']:.0f} bytes, statement {c['statement_bytes']:.0f} bytes on average "
        f"{load_note(machine)}"
    )
    say(
        f"  => one core spends >= {serial:.0f} us per verified append with a receipt "
        f"(verify + receipt + entry): at most {1e6 / serial:,.0f} appends/s per core before SQL"
    )
    say()

    # 2. bootstrap ---------------------------------------------------------------------------
    db = os.path.join(workdir, "ledger.sqlite")  # without --db
    dbkind = backend_name(url)
    res["backend"] = dbkind
    log = Ed25519Signer.generate(ORIGIN)
    admin = Ed25519Signer.generate(f"bench-admin@{ORIGIN}")
    seeds = [os.urandom(32) for _ in range(CLERKS)]
    clerks = _signers(seeds)
    store = SQLStore(url, create=True)
    ledger = Ledger(store, origin=ORIGIN, log_signer=log)
    ledger.integrate()  # the size-0 checkpoint
    ledger.append(register_key_statement(admin, admin, "admin"))  # entry 0, self-signed
    ledger.append_batch([register_key_statement(admin, k, "registrant", {"region": "520000"}) for k in clerks])
    ledger.integrate()
    base = store.head().size
    if N < base + 100:
        raise SystemExit(f"--entries must be at least {base + 100}")
    say(
        f"ledger:    SQLite file {db} (WAL, synchronous=FULL as SQLStore sets it)"
        if dbkind == "SQLite"
        else f"ledger:    PostgreSQL database {url} (a fresh one, server defaults)"
    )
    say(f"           entry 0 = admin key.register (self-signed), entries 1-{base - 1} = {CLERKS} registrant keys;")
    say(f"           the remaining {N - base:,} entries are signed by those {CLERKS} keys in turn")
    say()

    # 3. appends -----------------------------------------------------------------------------
    say(
        f"verified appends (Ledger.append_batch defaults: every signature verified, a signed receipt per entry; "
        f"batches of {B}):"
    )
    log_seed = log.private_key.private_bytes_raw()
    next_i = 0
    appends: dict[str, dict[str, Any]] = {}
    labels = {
        "single": "1 process, no executor",
        "threads": f"1 process, executor=ThreadPoolExecutor({procs})",
        "procexec": f"1 process, executor=ProcessPoolExecutor({procs})",
        "processes": f"{procs} processes on the same {'file' if dbkind == 'SQLite' else 'database'}, own SQLStore each",
    }
    for mode, count in plan(N - base):
        if count <= 0:
            continue
        before = store.head().size
        if mode == "processes":
            wait_quiet(args.wait_idle, ncpu)
            el, load = append_concurrently(
                url, log_seed, seeds, next_i, count, procs, B, ncpu, res["machine"]["code_digest"]
            )
        else:
            sts = generate(seeds, next_i, count, procs, labels[mode])
            gc.collect()
            if mode == "single":
                wait_quiet(args.wait_idle, ncpu)
                watch = CpuWatch()
                el = append_all(ledger, sts, B, labels[mode])
            elif mode == "threads":
                with ThreadPoolExecutor(procs) as ex:
                    wait_quiet(args.wait_idle, ncpu)
                    watch = CpuWatch()
                    el = append_all(ledger, sts, B, labels[mode], executor=ex)
            else:
                with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pex:
                    list(pex.map(time.sleep, [0.3] * procs))  # start the workers before the clock
                    workers = list(getattr(pex, "_processes", {}) or {})
                    wait_quiet(args.wait_idle, ncpu)
                    watch = CpuWatch()
                    startup = pids_cpu(workers)  # their imports, not part of the appends
                    el = append_all(ledger, sts, B, labels[mode], executor=pex)
                    used = pids_cpu(workers) - startup
                    load = watch.report(ncpu, children_cpu=used)
            if mode != "procexec":
                load = watch.report(ncpu)
            del sts
            gc.unfreeze()
            gc.collect()
        after = store.head().size
        assert after - before == count, (mode, before, after, count)
        next_i += count
        rate = count / el
        appends[mode] = {
            "label": labels[mode],
            "entries": count,
            "seconds": el,
            "rate": rate,
            "first_index": before,
            "machine": load,
            "cpu_us_per_entry": load["ours_cpu_s"] / count * 1e6,
        }
        say(
            f"  {labels[mode]:<52} {count:>9,} entries  {el:8.1f} s  {rate:>8,.0f} appends/s  "
            f"[{mark(rate >= TARGET_APPENDS)} >= {TARGET_APPENDS:,.0f}]"
        )
        say(f"  {'':<52} our CPU {load['ours_cpu_s'] / count * 1e6:,.0f} us/entry {load_note(load)}")
    res["appends"] = appends
    size = store.head().size
    assert size == N, (size, N)
    best_all = max((appends[k] for k in ("threads", "procexec", "processes") if k in appends), key=lambda a: a["rate"])
    say(
        f"  single-process figure: {appends['single']['rate']:,.0f}/s; all-core figure (best mode): "
        f"{best_all['rate']:,.0f}/s ({best_all['label']})"
    )
    say()

    # 4. integration -------------------------------------------------------------------------
    start_cp = ledger.checkpoint()[0]
    todo = size - start_cp
    ns: list[int] = []
    wait_quiet(args.wait_idle, ncpu)
    show = Progress(f"integrate({B})", todo)
    watch = CpuWatch()
    t0 = time.perf_counter()
    cp = start_cp
    while cp < size:
        t = time.perf_counter_ns()
        cp = ledger.integrate(B)
        ns.append(time.perf_counter_ns() - t)
        show(cp - start_cp)
    el = time.perf_counter() - t0
    load = watch.report(ncpu)
    st = latency_stats(ns)
    res["integrate"] = {"entries": todo, "seconds": el, "rate": todo / el, "calls": len(ns), "machine": load, **st}
    say(f"integration (Ledger.integrate({B}) after the appends: tiles + one signed checkpoint per call):")
    say(
        f"  {todo:,} entries in {len(ns):,} checkpoints, {el:.1f} s: {todo / el:,.0f} entries/s; per checkpoint "
        f"p50 {st['p50_ms']:.2f} ms, p99 {st['p99_ms']:.2f} ms, max {st['max_ms']:.2f} ms"
    )
    say(f"  {load_note(load)}")
    say()

    # 5. inclusion proofs --------------------------------------------------------------------
    size, cp_note = ledger.checkpoint()
    root = ledger.open_checkpoint(cp_note).root
    indexes = [rng.randrange(size) for _ in range(args.proofs)]
    wait_quiet(args.wait_idle, ncpu)
    floor = jitter_floor()
    store.close()
    watch = CpuWatch()
    fresh_store = SQLStore(url)  # a new engine: no connection, tile or subtree cache yet
    t = time.perf_counter_ns()
    first_ledger = Ledger(fresh_store, origin=ORIGIN, log_signer=log)
    first_ledger.inclusion_proof(indexes[0], size)
    first_ms = (time.perf_counter_ns() - t) / 1e6
    fresh_store.close()
    store = SQLStore(url)
    cold, proofs, warm_ledger = measure_proofs(
        lambda: Ledger(store, origin=ORIGIN, log_signer=log),
        lambda led, i: led.inclusion_proof(i, size),
        indexes,
        "proofs, fresh Ledger (cold)",
    )
    warm, _, _ = measure_proofs(
        lambda: warm_ledger, lambda led, i: led.inclusion_proof(i, size), indexes, "proofs, same Ledger again (warm)"
    )
    each, _, _ = measure_proofs(
        lambda: Ledger(store, origin=ORIGIN, log_signer=log),
        lambda led, i: led.inclusion_proof(i, size),
        indexes,
        "proofs, a fresh Ledger per proof",
        fresh_each=True,
    )
    checked = 0
    for i, p in list(zip(indexes, proofs, strict=True))[:200]:
        verify_inclusion(i, size, store.read_leaf_hashes(i, i + 1)[0], p, root)
        checked += 1
    at_1m = size >= 1_000_000
    load = watch.report(ncpu)
    res["proofs"] = {
        "size": size,
        "first_after_open_ms": first_ms,
        "cold": cold,
        "warm": warm,
        "fresh_each": each,
        "verified": checked,
        "jitter_floor": floor,
        "machine": load,
    }
    say(
        f"inclusion proofs at size {size:,} against the latest checkpoint ({len(indexes):,} random indexes; "
        f"{checked} proofs verified against the signed root):"
    )
    say(
        f"  noise floor: a fixed ~0.2 ms Python computation takes p50 {floor['p50_ms']:.3f} ms, "
        f"p99 {floor['p99_ms']:.3f} ms, max {floor['max_ms']:.3f} ms on this machine now"
    )
    say(f"  {load_note(load)}")
    say(f"  first proof after opening a new SQLStore + Ledger: {first_ms:.2f} ms")
    for name, s in (
        ("fresh Ledger, then in sequence (cold)", cold),
        ("same Ledger, same indexes (warm)", warm),
        ("a fresh Ledger for every proof", each),
    ):
        verdict = (
            f"[{mark(s['p99_ms'] <= TARGET_P99_MS)} p99 <= {TARGET_P99_MS:g} ms]"
            if at_1m
            else f"[target applies at 1,000,000; {mark(s['p99_ms'] <= TARGET_P99_MS)} at this size]"
        )
        say(f"  {name:<40} p50 {s['p50_ms']:7.3f} ms  p99 {s['p99_ms']:7.3f} ms  max {s['max_ms']:8.3f} ms  {verdict}")
        say(f"  {'':<40} (CPU time: p50 {s['cpu_p50_ms']:.3f} ms, p99 {s['cpu_p99_ms']:.3f} ms)")
    say()

    if dbkind == "SQLite":
        db_bytes = sum(os.path.getsize(db + sfx) for sfx in ("", "-wal") if os.path.exists(db + sfx))
        res["db_bytes"] = db_bytes
        say(f"SQLite file size: {db_bytes / 1e6:,.0f} MB for {size:,} entries ({db_bytes / size:,.0f} bytes/entry)")
        say()

    # 6. pymerkle ----------------------------------------------------------------------------
    if args.skip_pymerkle:
        say("pymerkle: skipped (--skip-pymerkle)")
        store.close()
        return
    try:
        from pymerkle import InmemoryTree, SqliteTree
    except ImportError:
        say("pymerkle: not installed (pip install pymerkle==7.0.0); skipped")
        store.close()
        return
    note("reading the leaves back for pymerkle (untimed) ...")
    leaves: list[bytes] = []
    for s0 in range(0, size, 50_000):
        leaves.extend(leaf for leaf, _ in store.read_entries(s0, min(size, s0 + 50_000)))
    store.close()
    pm: dict[str, Any] = {}
    say(
        f"pymerkle 7.0.0 with the same {size:,} leaf bytes (hash + store only: no signatures, no receipts, "
        f"no checkpoints; batches of {B}):"
    )

    def append_pm(tree: Any, label: str) -> tuple[float, dict[str, float]]:
        show = Progress(label, len(leaves))
        watch = CpuWatch()
        t = time.perf_counter()
        for j in range(0, len(leaves), B):
            tree.append_entries(leaves[j : j + B])
            show(min(j + B, len(leaves)))
        return time.perf_counter() - t, watch.report(ncpu)

    def prove_pm(tree: Any, i: int) -> Any:
        return tree.prove_inclusion(i + 1, size)  # pymerkle counts leaves from one

    pmdb = os.path.join(workdir, "pymerkle.sqlite")
    wait_quiet(args.wait_idle, ncpu)
    tree = SqliteTree(pmdb)
    el, load = append_pm(tree, "pymerkle SqliteTree.append_entries")
    t0 = time.perf_counter()
    pm_root = tree.get_root(size)
    root_s = time.perf_counter() - t0
    tree.close()
    pm["sqlite_append"] = {
        "seconds": el,
        "rate": size / el,
        "root_equal": pm_root == root,
        "root_s": root_s,
        "machine": load,
    }
    t = time.perf_counter_ns()
    first_tree = SqliteTree(pmdb)
    prove_pm(first_tree, indexes[0])
    pm_first = (time.perf_counter_ns() - t) / 1e6
    first_tree.close()
    watch = CpuWatch()
    pcold, pproofs, ptree = measure_proofs(
        lambda: SqliteTree(pmdb), prove_pm, indexes, "pymerkle SqliteTree proofs, fresh tree (cold)"
    )
    pwarm, _, _ = measure_proofs(lambda: ptree, prove_pm, indexes, "pymerkle SqliteTree proofs (warm)")
    ptree.close()
    from pymerkle import verify_inclusion as pm_verify

    for i, p in list(zip(indexes, pproofs, strict=True))[:50]:
        pm_verify(leaf_hash(leaves[i]), root, p)
    pm["sqlite_proofs"] = {"first_after_open_ms": pm_first, "cold": pcold, "warm": pwarm, "machine": watch.report(ncpu)}
    pm_bytes = os.path.getsize(pmdb)
    say(
        f"  SqliteTree    append {size / el:>9,.0f} leaves/s ({el:.1f} s); root equals our checkpoint: "
        f"{'yes' if pm_root == root else 'NO'} (get_root took {root_s:.2f} s); file {pm_bytes / 1e6:,.0f} MB "
        f"{load_note(load)}"
    )
    say(f"  SqliteTree    first proof after open {pm_first:.1f} ms {load_note(pm['sqlite_proofs']['machine'])}")
    for name, s in (("cold (fresh tree, in sequence)", pcold), ("warm (same tree, same indexes)", pwarm)):
        say(
            f"  SqliteTree    {name:<32} p50 {s['p50_ms']:7.3f} ms  p99 {s['p99_ms']:8.3f} ms  "
            f"max {s['max_ms']:9.3f} ms  [{mark(s['p99_ms'] <= TARGET_P99_MS)} p99 <= {TARGET_P99_MS:g} ms]"
        )

    mem_tree = InmemoryTree()
    wait_quiet(args.wait_idle, ncpu)
    el, load = append_pm(mem_tree, "pymerkle InmemoryTree.append_entries")
    mem_root = mem_tree.get_root(size)
    pm["inmemory_append"] = {"seconds": el, "rate": size / el, "root_equal": mem_root == root, "machine": load}
    watch = CpuWatch()
    mcold, _, _ = measure_proofs(lambda: mem_tree, prove_pm, indexes, "pymerkle InmemoryTree proofs (first pass)")
    mwarm, _, _ = measure_proofs(lambda: mem_tree, prove_pm, indexes, "pymerkle InmemoryTree proofs (again)")
    pm["inmemory_proofs"] = {"cold": mcold, "warm": mwarm, "machine": watch.report(ncpu)}
    say(
        f"  InmemoryTree  append {size / el:>9,.0f} leaves/s ({el:.1f} s); root equals our checkpoint: "
        f"{'yes' if mem_root == root else 'NO'} {load_note(load)}"
    )
    say(f"  InmemoryTree  proofs {load_note(pm['inmemory_proofs']['machine'])}")
    for name, s in (("first pass", mcold), ("same indexes again", mwarm)):
        say(
            f"  InmemoryTree  {name:<32} p50 {s['p50_ms']:7.3f} ms  p99 {s['p99_ms']:8.3f} ms  "
            f"max {s['max_ms']:9.3f} ms  [{mark(s['p99_ms'] <= TARGET_P99_MS)} p99 <= {TARGET_P99_MS:g} ms]"
        )
    res["pymerkle"] = pm
    say()


def summary(res: dict[str, Any]) -> None:
    a, i, p = res["appends"], res["integrate"], res["proofs"]
    pm = res.get("pymerkle", {})
    size = p["size"]
    at_1m = size >= 1_000_000
    rows: list[tuple[str, str, str, str, str]] = []

    def others(d: dict[str, Any]) -> str:
        m = d.get("machine")
        return f"{m['other_share'] * 100:.0f}%" if m else ""

    sq = pm.get("sqlite_append", {})
    im = pm.get("inmemory_append", {})
    for k in ("single", "threads", "procexec", "processes"):
        if k in a:
            rows.append(
                (
                    f"verified appends/s, {a[k]['label']}",
                    f"{a[k]['rate']:,.0f}",
                    "",
                    f"{mark(a[k]['rate'] >= TARGET_APPENDS)} (>= {TARGET_APPENDS:,.0f})",
                    others(a[k]),
                )
            )
    if sq:
        rows.append(("leaf appends/s, pymerkle SqliteTree (no signatures)", "", f"{sq['rate']:,.0f}", "-", others(sq)))
    if im:
        rows.append(
            ("leaf appends/s, pymerkle InmemoryTree (no signatures)", "", f"{im['rate']:,.0f}", "-", others(im))
        )
    rows.append((f"entries/s integrated, integrate({res['args']['batch']})", f"{i['rate']:,.0f}", "", "-", others(i)))
    spc = pm.get("sqlite_proofs", {})
    ipc = pm.get("inmemory_proofs", {})

    def lat(s: dict[str, float]) -> str:
        return f"{s['p50_ms']:.3f} / {s['p99_ms']:.3f} / {s['max_ms']:.1f}"

    for name, s, peer in (
        ("cold", p["cold"], spc.get("cold")),
        ("warm", p["warm"], spc.get("warm")),
        ("fresh Ledger per proof", p["fresh_each"], None),
    ):
        target = f"{mark(s['p99_ms'] <= TARGET_P99_MS)} (p99 <= {TARGET_P99_MS:g} ms)" if at_1m else "n/a below 1M"
        rows.append(
            (
                f"proof ms p50/p99/max at {size:,}, {name}",
                lat(s),
                f"SqliteTree {lat(peer)}" if peer else "",
                target,
                others(p),
            )
        )
    if ipc:
        rows.append(
            (f"proof ms p50/p99/max at {size:,}, in memory", "", f"InmemoryTree {lat(ipc['warm'])}", "-", others(ipc))
        )
    head = ("figure", "regledger", "pymerkle 7.0.0", "target", "others")
    w = [max(len(r[k]) for r in [head, *rows]) for k in range(5)]
    say("summary ('others': share of all cores other processes used during that measurement):")
    for r in [head, *rows]:
        say(f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]:>{w[4]}}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=1_000_000, help="final tree size (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20,000 entries, 500 proofs")
    ap.add_argument("--batch", type=int, default=256, help="append_batch / integrate batch size (256)")
    ap.add_argument("--proofs", type=int, default=2_000, help="random indexes to prove (2,000)")
    ap.add_argument("--workers", type=int, default=0, help="processes/threads for the all-core modes (nproc)")
    ap.add_argument("--dir", default=None, help="where to create the temporary directory (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary databases")
    ap.add_argument("--skip-pymerkle", action="store_true", help="do not run the pymerkle comparison")
    ap.add_argument("--seed", type=int, default=1, help="seed for the random proof indexes")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    add_db(ap)
    add_wait_idle(ap)
    args = ap.parse_args(argv)
    if args.quick:
        if args.entries == ap.get_default("entries"):
            args.entries = 20_000
        if args.proofs == ap.get_default("proofs"):
            args.proofs = 500

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # so the temp directory and children are cleaned up

    signal.signal(signal.SIGTERM, on_term)
    t = time.monotonic()
    res = run(args)
    summary(res)
    if code_digest() != res["machine"]["code_digest"]:
        say(
            "WARNING: the library's source on disk changed during the run; the figures are for "
            f"digest {res['machine']['code_digest']}, which is no longer what is on disk"
        )
    res["wall_s"] = time.monotonic() - t
    say(f"\ntotal wall time {res['wall_s'] / 60:.1f} min")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
