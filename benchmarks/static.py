#!/usr/bin/env python3
"""nginx serving a `serve --publish` directory, beside `regledger serve` answering the same reads on /log/.

Run by hand from the repository root (not part of the test suite; wrk and nginx from Debian):

    .venv/bin/python benchmarks/static.py                  # a demo log of ~2,400 entries, 5 s per figure
    .venv/bin/python benchmarks/static.py --duration 10 --synthetic 20000
    .venv/bin/python benchmarks/static.py --db postgresql://127.0.0.1:5432/test   # the home's database on PostgreSQL

It builds a home in a temporary directory (`regledger demo --synthetic N`), starts `regledger serve --publish DIR`
and waits until DIR holds the served checkpoint, then starts nginx as this user in a temporary prefix on a loopback
port with DIR as its root (the configuration of docs/deploy.md).  wrk then measures, one after the other, the
checkpoint and the full tile `tile/0/000` from each, and the script prints req/s side by side with how busy the
rest of the machine was during each figure (`others`, the share of all cores used by other processes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import add_db, fresh_database, machine_busy, note, say  # noqa: E402

from regledger.serveproc import free_port, wait_until_answers  # noqa: E402

NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
{locations}
    }}
}}
"""

#: the locations of docs/deploy.md: the checkpoint and partial tiles revalidated, full tiles and bundles immutable
LOCATIONS = """\
        location = /checkpoint { default_type "text/plain; charset=utf-8"; add_header Cache-Control "no-cache" always; }
        location = /key { default_type "text/plain; charset=utf-8"; }
        location ~ "^/tile/.*\\.p/" { add_header Cache-Control "no-cache" always; }
        location /tile/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
        location ~ "/\\." { return 404; }"""


def wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    try:
        wait_until_answers(url, proc, None, timeout=120)
    except RuntimeError as exc:
        raise SystemExit(f"{proc.args!r}: {exc}") from exc


def cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` and of its children (nginx's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wrk(
    url: str, server: int, *, duration: float, connections: int, threads: int, script: Path | None = None
) -> tuple[float, float, str]:
    """(requests/s, share of the machine other processes used, p99 latency) for wrk on `url` served by `server`
    (a pid: its CPU time and its children's and wrk's are ours, the rest of the machine's busy time is others');
    `script`: a wrk Lua script that makes the requests."""
    busy0, own0, srv0, t0 = machine_busy(), os.times(), cpu_seconds(server), time.monotonic()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--latency",
            *(["-s", str(script)] if script else []),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.monotonic() - t0
    own = os.times()
    ours = (
        own.children_user - own0.children_user + own.children_system - own0.children_system + cpu_seconds(server) - srv0
    )
    others = (machine_busy() - busy0 - ours) / (wall * (os.cpu_count() or 1))
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk printed no rate for {url}:\n{out}")
    rate = float(found.group(1))
    p99 = re.search(r"99%\s+(\S+)", out)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk got non-2xx answers from {url}:\n{out}")
    return rate, max(0.0, others), p99.group(1) if p99 else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", type=int, default=2000, help="entries the demo adds (default 2000)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds wrk runs per figure (default 5)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    add_db(ap)
    args = ap.parse_args()
    if not Path(args.nginx).exists() or shutil.which("wrk") is None:
        raise SystemExit("needs nginx and wrk (apt-get install nginx-light wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="regledger-static-"))
    tmp.chmod(0o755)  # nginx's workers read DIR
    home, out, prefix = tmp / "home", tmp / "published", tmp / "nginx"
    procs: list[subprocess.Popen] = []
    cli = [sys.executable, "-m", "regledger.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLEDGER_")}
    databases = contextlib.ExitStack()
    try:
        url = databases.enter_context(fresh_database(args.db, str(tmp), keep=args.keep))
        db = [] if url.startswith("sqlite") else ["--db", url]
        note(f"building a demo log with {args.synthetic:,} synthetic entries in {tmp}" + (f" on {url}" if db else ""))
        subprocess.run(
            [*cli, "demo", "--home", str(home), *db, "--synthetic", str(args.synthetic)],
            check=True,
            capture_output=True,
            env=env,
        )
        serve_port, nginx_port = free_port(), free_port()
        serve_url, nginx_url = f"http://127.0.0.1:{serve_port}", f"http://127.0.0.1:{nginx_port}"
        procs.append(
            subprocess.Popen(
                [
                    *cli,
                    "serve",
                    "--home",
                    str(home),
                    *db,
                    "--port",
                    str(serve_port),
                    "--sync-interval",
                    "0",
                    "--publish",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "serve.log", "wb"),
                env=env,
            )
        )
        wait_for(serve_url + "/healthz", procs[-1])
        served = httpx.get(serve_url + "/log/checkpoint", trust_env=False).content
        deadline = time.monotonic() + 60
        while not ((out / "checkpoint").exists() and (out / "checkpoint").read_bytes() == served):
            if time.monotonic() > deadline:
                raise SystemExit("serve --publish did not write the served checkpoint within 60 s")
            time.sleep(0.1)
        prefix.mkdir()
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.getuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            NGINX_CONF.format(
                user=user, workers=os.cpu_count(), prefix=prefix, port=nginx_port, root=out, locations=LOCATIONS
            )
        )
        procs.append(
            subprocess.Popen(
                [args.nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                stdout=subprocess.DEVNULL,
                stderr=open(prefix / "stderr.log", "wb"),
            )
        )
        wait_for(nginx_url + "/checkpoint", procs[-1])
        for path in ("checkpoint", "tile/0/000"):
            a = httpx.get(f"{serve_url}/log/{path}", trust_env=False).content
            b = httpx.get(f"{nginx_url}/{path}", trust_env=False).content
            if a != b:
                raise SystemExit(f"{path}: nginx on DIR does not serve the bytes of /log/{path}")

        size = int(served.split(b"\n")[1])
        say(
            f"static tiles: tree size {size:,}; wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
            f"one figure after the other on {os.cpu_count()} cores (`others`: share of the cores other processes "
            f"used meanwhile)"
        )
        say(
            f"{'read':<14} {'regledger serve /log/':>22} {'others':>7} {'p99':>9}   {'nginx on DIR':>14} {'others':>7}"
            f" {'p99':>9}   {'ratio':>7}"
        )
        for path in ("checkpoint", "tile/0/000"):
            (r1, o1, p1), (r2, o2, p2) = (
                wrk(url, proc.pid, duration=args.duration, connections=args.connections, threads=args.threads)
                for url, proc in ((f"{serve_url}/log/{path}", procs[0]), (f"{nginx_url}/{path}", procs[1]))
            )
            say(
                f"{path:<14} {r1:>16,.0f} req/s {o1:>6.0%} {p1:>9}   {r2:>8,.0f} req/s {o2:>6.0%} {p2:>9}   "
                f"{r2 / r1:>6.0f}x"
            )
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        databases.close()
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
