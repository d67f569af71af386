"""`regledger serve --workers N`: N server processes on one port and one database.

The parent forks N workers and does nothing else: it opens no database and accepts no connection.
Each worker opens the ledger itself and listens on its own socket bound with SO_REUSEPORT, so the
kernel spreads new connections over the workers.  One worker at a time integrates and signs (the
integrator lock, regledger.ledger.integrator); every worker takes writes and serves reads.

A worker that dies is replaced after a second; its integrator duty is taken over by whichever worker
takes the free lock first.  A worker that dies within `min_uptime` seconds of starting `give_up` times in
a row (a bad database URL, a port in use) stops the whole server instead of being restarted for ever.
SIGTERM or SIGINT to the parent stops every worker cleanly (each finishes its requests; the integrator
signs a last checkpoint) and the parent exits once they have.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

__all__ = ["listen", "run_workers"]

_PR_SET_PDEATHSIG = 1


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on host:port; with `reuse_port`, other workers may listen on it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # accepted connections inherit it: without it a worker answered ~330 req/s where the same app on a socket
    # uvicorn made itself answered ~1,000 (small responses waited on Nagle's algorithm; docs/performance.md)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the parent dies (even by SIGKILL), so no worker is left serving."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def run_workers(
    n: int, serve: Callable[[int], int], *, min_uptime: float = 10.0, give_up: int = 3, restart_delay: float = 1.0
) -> int:
    """Fork `n` workers, each running `serve(worker number)`; replace one that dies; return once all have
    stopped (0 after SIGTERM/SIGINT, 1 if a worker kept dying as it started)."""
    parent = os.getpid()
    children: dict[int, tuple[int, float]] = {}  # pid -> (worker number, start time)
    quick_deaths = [0] * n  # per worker number: deaths in a row, each within min_uptime of its start
    stopping = False
    code = 0

    def spawn(number: int) -> None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _die_with_parent(parent)
                status = serve(number)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = (number, time.monotonic())

    def stop_all(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for number in range(n):
        spawn(number)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        number, started = children.pop(pid)
        if stopping:
            continue
        exit_code = os.waitstatus_to_exitcode(status)
        quick_deaths[number] = quick_deaths[number] + 1 if time.monotonic() - started < min_uptime else 0
        if quick_deaths[number] >= give_up:
            print(
                f"worker {number} (pid {pid}) exited with {exit_code} within {min_uptime:g} s of starting, "
                f"{give_up} times in a row; stopping",
                file=sys.stderr,
                flush=True,
            )
            code = 1
            stop_all(signal.SIGTERM, None)
            continue
        print(f"worker {number} (pid {pid}) exited with {exit_code}; starting another", file=sys.stderr, flush=True)
        time.sleep(restart_delay)
        if not stopping:
            spawn(number)
    return code
