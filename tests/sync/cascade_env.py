"""Real `regledger` instances for the cascade tests: homes, CLI calls and `serve` processes on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from regledger.serveproc import ServeProcess, free_port

PASSPHRASE = "cascade-test-passphrase-0123456789"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["REGLEDGER_PASSPHRASE"] = PASSPHRASE
    e.pop("REGLEDGER_DB", None)
    e.pop("REGLEDGER_HOME", None)
    return e


def cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "regledger.cli", *args], env=env(), capture_output=True, text=True, timeout=timeout
    )
    if check and r.returncode != 0:
        raise AssertionError(f"regledger {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@dataclass
class Instance:
    name: str
    home: Path
    origin: str
    port: int = field(default_factory=free_port)
    server: ServeProcess | None = None
    vkey: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return cli(*args, "--home", str(self.home), check=check, timeout=timeout)

    def init(self) -> Instance:
        self.run("init", "--origin", self.origin)
        self.vkey = self.run("log", "key").stdout.strip()
        return self

    def start(self, interval: float = 0.5) -> Instance:
        self.server = ServeProcess.start(
            self.home,
            "--sync-interval",
            str(interval),
            log=self.home / "serve.log",
            env=env(),
            port=self.port,
            ready="/readyz",
        )
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = None

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json() if "json" in r.headers.get("content-type", "") else r.content

    def log_tail(self) -> str:
        p = self.home / "serve.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""


@contextlib.contextmanager
def linked(insts: list[Instance], interval: float = 0.5) -> Iterator[list[Instance]]:
    """Each instance the child of the next (bottom first), all serving (top first); stopped afterwards,
    and their log tails printed."""
    for child, parent in pairwise(insts):
        parent.run("sync", "add-child", child.url, "--key", child.vkey)
        child.run("sync", "set-parent", parent.url, "--key", parent.vkey)
    try:
        for inst in reversed(insts):
            inst.start(interval=interval)
        yield insts
    finally:
        for inst in insts:
            inst.stop()
        for inst in insts:
            print(f"--- {inst.name} serve.log (tail)\n{inst.log_tail()}")


def wait_for(cond: Callable[[], Any], timeout: float, what: str, poll: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = cond()
            if got:
                return got
        except Exception as exc:  # not there yet
            last_exc = exc
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_exc!r})")


def status(inst: Instance) -> list[dict[str, Any]]:
    return json.loads(inst.run("sync", "status", "--json", check=False).stdout)


@contextmanager
def running_cascade(
    root: Path, levels: Sequence[tuple[str, str]], prepare: Callable[[list[Instance]], Any] = lambda insts: None
) -> Iterator[list[Instance]]:
    """Instances (name, origin) from the bottom up, each the child of the next, serving; `prepare` runs
    after init, before they are wired together.  Stops them all and prints their log tails after."""
    insts = [Instance(name, root / name, origin).init() for name, origin in levels]
    prepare(insts)
    with linked(insts) as linked_insts:
        yield linked_insts
