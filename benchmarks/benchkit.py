"""Helpers both benchmarks share: output, progress lines, and how busy the machine is."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator

__all__ = [
    "Progress",
    "add_db",
    "add_wait_idle",
    "backend_name",
    "fresh_database",
    "machine_busy",
    "note",
    "say",
    "source_digest",
    "wait_quiet",
]


def say(msg: str = "") -> None:
    print(msg, flush=True)


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Progress:
    """A progress line on stderr: live on a terminal, every 10 s otherwise, always at the end."""

    def __init__(self, label: str, total: int = 0) -> None:
        self.label, self.total = label, total
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.every = 0.5 if self.tty else 10.0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if done < self.total and now - self.last < self.every:
            return
        self.last = now
        el = max(now - self.start, 1e-9)
        rate = done / el
        eta = (self.total - done) / rate if rate > 0 else 0.0
        line = f"  {self.label}: {done:,}/{self.total:,} ({rate:,.0f}/s, {el:,.0f} s, eta {eta:,.0f} s)"
        if self.tty:
            print("\r" + line, end="\n" if done >= self.total else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (user nice system irq softirq)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def wait_quiet(max_wait: float, ncpu: int, threshold: float = 0.10) -> None:
    """On a shared machine, wait (up to max_wait s) until other processes use < 10% of the cores."""
    if max_wait <= 0:
        return
    deadline = time.monotonic() + max_wait
    said = False
    while True:
        b0 = machine_busy()
        time.sleep(2.0)
        share = (machine_busy() - b0) / (2.0 * ncpu)
        if share < threshold:
            return
        if time.monotonic() > deadline:
            note(f"  the machine is still {share * 100:.0f}% busy with other work; measuring anyway")
            return
        if not said:
            note(
                f"  other processes use {share * 100:.0f}% of the cores; waiting up to {max_wait:.0f} s "
                f"for them to finish (--wait-idle)"
            )
            said = True


def add_wait_idle(ap: argparse.ArgumentParser) -> None:
    """--wait-idle SECONDS, the argument wait_quiet takes, the same in every benchmark."""
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on a shared machine, wait up to this long before each timed phase for other "
        "processes to go quiet (default 0: do not wait)",
    )


def source_digest(folders: Iterable[str]) -> str:
    """SHA-256 (16 hex digits) over the names and bytes of the .py files directly in `folders`, in order: a
    benchmark compares it before and after, so a run never mixes two versions of the library."""
    h = hashlib.sha256()
    for root in folders:
        for name in sorted(os.listdir(root)):
            if name.endswith(".py"):
                h.update(name.encode())
                with open(os.path.join(root, name), "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:16]


def add_db(ap: argparse.ArgumentParser) -> None:
    """--db URL, the same in every benchmark: a PostgreSQL server to run on (a fresh database is made on it)."""
    ap.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="run on PostgreSQL: a server URL such as postgresql://127.0.0.1:5432/test; the benchmark "
        "creates a fresh database on it and drops it afterwards (default: a SQLite file)",
    )


def backend_name(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


@contextlib.contextmanager
def fresh_database(db: str | None, workdir: str, name: str = "ledger", *, keep: bool = False) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in `workdir` without `db`, else a new database on the
    PostgreSQL server `db` (dropped on exit unless `keep`)."""
    if not db or db.startswith("sqlite"):
        yield f"sqlite:///{os.path.join(workdir, name + '.sqlite')}"
        return
    import psycopg

    base = db.replace("postgresql+psycopg", "postgresql")
    dbname = f"rl_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + dbname
    finally:
        if keep:
            note(f"kept PostgreSQL database {dbname}")
        else:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
