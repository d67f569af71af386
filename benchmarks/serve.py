#!/usr/bin/env python3
"""`regledger serve --workers N` under wrk, each read beside a bare framework endpoint in the same run.

Run by hand from the repository root (not part of the test suite; wrk from Debian):

    .venv/bin/python benchmarks/serve.py                               # 20,000 entries, --workers 2, 5 s a figure
    .venv/bin/python benchmarks/serve.py --synthetic 100000 --duration 10
    .venv/bin/python benchmarks/serve.py --db postgresql://127.0.0.1:5432/test  # the home's database on PostgreSQL

It builds a home (`regledger demo --synthetic N`), starts `regledger serve --workers W` on it, and starts the bare
app: a FastAPI app with one endpoint (`GET /bare`, plain text, a sync handler like ours) served by the same
uvicorn configuration (api.serving.uvicorn_config) in the same W-worker process model (regledger.workers), so
the ratio to it is the cost of regledger's own code and survives a noisy machine.  Then, one figure after the
other, wrk (`-c` connections, `-t` threads) measures the bare endpoint and right after it each of:
`/log/checkpoint`, the full tile `/log/tile/0/000`, `/v1/proofs/inclusion` at a random index (a Lua script) in
the latest checkpoint, and `/healthz`.

Last, writes: `--writes` pre-signed key.register statements are POSTed one at a time on one keep-alive
connection, first with nothing else running (the anchor), then while wrk reads `/log/checkpoint`; the script
prints p50/p99 of both.  Beside every figure: the share of the cores other processes used (`others`, as in
benchmarks/static.py) and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import add_db, fresh_database, note, say  # noqa: E402
from static import wrk  # noqa: E402

from regledger.serveproc import ServeProcess, free_port, wait_until_answers  # noqa: E402

TARGETS = {"checkpoint": 5000.0, "tile": 5000.0, "proof": 3000.0}  # req/s with --workers 2 (issue 14)
TARGET_WRITE_P99_MS = 50.0

PROOF_LUA = """\
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/proofs/inclusion?size={size}&index=" .. math.random(0, {size} - 1))
end
"""


def loadavg() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def bare_server(port: int, workers: int) -> int:
    """The bare app: one endpoint, the same uvicorn configuration and process model as `regledger serve`."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from regledger.api.serving import uvicorn_config
    from regledger.api.settings import Settings
    from regledger.workers import listen, run_workers

    app = FastAPI()
    app.state.settings = Settings()

    @app.get("/bare", response_class=PlainTextResponse)
    def bare() -> str:
        return "ok\n"

    def serve(_: int) -> int:
        sock = listen("127.0.0.1", port, reuse_port=True)
        config = uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
        return 0

    return run_workers(workers, serve)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def post_writes(url: str, bodies: list[bytes]) -> list[float]:
    """POST each statement in turn on one keep-alive connection; the latencies in ms."""
    out = []
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as c:
        for b in bodies:
            t = time.perf_counter()
            r = c.post("/v1/statements", content=b, headers={"content-type": "application/json"})
            out.append((time.perf_counter() - t) * 1e3)
            if r.status_code != 201:
                raise SystemExit(f"a write answered {r.status_code}: {r.text[:300]}")
    return out


def signed_writes(home: Path, n: int) -> list[bytes]:
    """`n` key.register statements from the home's administrator, each with its nonce (a signed request needs one)."""
    import secrets

    from regledger.demo_registry import GZ_HOLDER
    from regledger.home import Home
    from regledger.keys.ed25519 import Ed25519Signer
    from regledger.ledger.entry import sign_statement
    from regledger.ledger.keyring import register_key_statement

    admin = Home(home).admin()
    scope = {"institution": GZ_HOLDER.uscc}
    out = []
    for i in range(n):
        st = register_key_statement(admin, Ed25519Signer.generate(f"bench-clerk-{i}@serve.bench"), "registrant", scope)
        st = sign_statement(
            admin,
            kind=st.kind,
            subject=st.subject,
            payload=st.payload,
            time=st.time,
            extra={"nonce": secrets.token_hex(16)},
        )
        out.append(st.canonical)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", type=int, default=20_000, help="entries the demo adds (default 20,000)")
    ap.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds wrk runs per figure (default 5)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--writes", type=int, default=300, help="statements POSTed for the write latency (default 300)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)  # this script, as the bare app
    add_db(ap)
    args = ap.parse_args()
    if args.bare_server:
        return bare_server(args.bare_server, args.workers)
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="regledger-serve-bench-"))
    home = tmp / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    env["REGLEDGER_RATE_PER_MINUTE"] = "1000000"  # the writes below are one key's
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    cli = [sys.executable, "-m", "regledger.cli"]
    stack = contextlib.ExitStack()
    bare: subprocess.Popen[bytes] | None = None
    try:
        url = stack.enter_context(fresh_database(args.db, str(tmp), keep=args.keep))
        db = [] if url.startswith("sqlite") else ["--db", url]
        note(f"building a demo log with {args.synthetic:,} synthetic entries in {tmp}" + (f" on {url}" if db else ""))
        subprocess.run(
            [*cli, "demo", "--home", str(home), *db, "--synthetic", str(args.synthetic)],
            check=True,
            env=env,
            capture_output=True,
        )
        srv = ServeProcess.start(
            home,
            *db,
            "--workers",
            str(args.workers),
            "--sync-interval",
            "0",
            log=tmp / "serve.log",
            env=env,
            timeout=120,
        )
        stack.callback(srv.stop)
        bare_port = free_port()
        with open(tmp / "bare.log", "wb") as log:
            bare = subprocess.Popen(
                [sys.executable, __file__, "--bare-server", str(bare_port), "--workers", str(args.workers)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        bare_url = f"http://127.0.0.1:{bare_port}"
        wait_until_answers(bare_url + "/bare", bare, tmp / "bare.log", timeout=60)
        time.sleep(2)  # every worker of both is up
        size = int(httpx.get(srv.url + "/log/checkpoint", trust_env=False).text.splitlines()[1])
        (tmp / "proof.lua").write_text(PROOF_LUA.replace("{size}", str(size)))
        wrk_kw = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
        say(
            f"regledger serve --workers {args.workers} ({'PostgreSQL' if db else 'SQLite'}, tree size {size:,}) "
            f"beside a bare FastAPI endpoint on the same uvicorn and process model; wrk -t{args.threads} "
            f"-c{args.connections} -d{args.duration:g}s; {os.cpu_count()} cores shared with wrk"
        )
        say(
            f"{'read':<22} {'bare /bare':>12} {'others':>7} {'regledger':>12} {'others':>7} {'p99':>9} {'ratio':>6} "
            f"{'target':>8}  load"
        )
        figures = {}
        for name, path, target in (
            ("checkpoint", "/log/checkpoint", TARGETS["checkpoint"]),
            ("tile", "/log/tile/0/000", TARGETS["tile"]),
            ("proof", "/v1/proofs/inclusion", TARGETS["proof"]),
            ("healthz", "/healthz", None),
        ):
            rb, ob, _ = wrk(bare_url + "/bare", bare.pid, **wrk_kw)
            if name == "proof":
                rr, orr, p99 = wrk(srv.url + path, srv.proc.pid, script=tmp / "proof.lua", **wrk_kw)
            else:
                rr, orr, p99 = wrk(srv.url + path, srv.proc.pid, **wrk_kw)
            figures[name] = (rb, rr)
            verdict = "" if target is None else f"{target:,.0f} {'met' if rr >= target else 'missed'}"
            say(
                f"{path:<22} {rb:>8,.0f}/s {ob:>6.0%} {rr:>8,.0f}/s {orr:>6.0%} {p99:>9} {rr / rb:>6.2f} "
                f"{verdict:>8}  {loadavg()}"
            )
        bodies = signed_writes(home, 2 * args.writes)
        quiet = post_writes(srv.url, bodies[: args.writes])
        reader = subprocess.Popen(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", "-d600s", srv.url + "/log/checkpoint"],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(1)
            busy = post_writes(srv.url, bodies[args.writes :])
        finally:
            reader.terminate()
            reader.wait()
        for label, lat in (("writes alone", quiet), ("writes while wrk reads /log/checkpoint", busy)):
            p99w = pct(lat, 0.99)
            verdict = f"target p99 <= {TARGET_WRITE_P99_MS:g} ms: {'met' if p99w <= TARGET_WRITE_P99_MS else 'missed'}"
            say(
                f"{label:<40} {len(lat)} POST /v1/statements: p50 {statistics.median(lat):.1f} ms, "
                f"p99 {p99w:.1f} ms, max {max(lat):.1f} ms"
                + (f"  ({verdict})" if "while" in label else "")
                + f"  {loadavg()}"
            )
    finally:
        if bare is not None:
            bare.terminate()
            try:
                bare.wait(timeout=20)
            except subprocess.TimeoutExpired:
                bare.kill()
        stack.close()
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
