"""`regledger serve` as a child process on a loopback port, ready once a path answers 200.

The API tests, the cascade tests and the sync benchmark each run real servers next to them; this is
the one way they start one, wait for it and stop it (TERM, then KILL), so a fix to any step reaches
all of them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_answers(url: str, proc: subprocess.Popen | None, log: Path | None, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; RuntimeError (with the log) if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


@dataclass
class ServeProcess:
    """A running `regledger serve --home HOME --port P ...`, its output appended to `log`."""

    url: str
    home: Path
    log: Path
    proc: subprocess.Popen

    @classmethod
    def start(
        cls,
        home: Path,
        *args: str,
        log: Path,
        env: Mapping[str, str],
        port: int | None = None,
        cwd: Path | None = None,
        ready: str = "/healthz",
        timeout: float = 60,
    ) -> ServeProcess:
        """Start it and return once `ready` answers 200 (stopped again if it does not)."""
        port = port or free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "regledger.cli", "serve", "--home", str(home), "--port", str(port), *args],
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        srv = cls(f"http://127.0.0.1:{port}", home, log, proc)
        try:
            wait_until_answers(srv.url + ready, proc, log, timeout)
        except BaseException:
            srv.stop()
            raise
        return srv

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it has not exited within `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
