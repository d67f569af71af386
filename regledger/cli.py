"""The `regledger` command line."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from regledger.api.settings import Settings, environment_help

if TYPE_CHECKING:
    from regledger.ledger.sequencer import Ledger
from regledger.ledger.audit import audit
from regledger.ledger.errors import ForkError, IntegrityError, LedgerError, StorageUnavailableError

from .home import Home, default_home
from .progress import progress

__all__ = ["main"]


def _home(args: argparse.Namespace) -> Home:
    return Home(Path(args.home) if args.home else default_home(), args.db)


def cmd_init(args: argparse.Namespace) -> int:
    home = _home(args)
    ledger = home.init(args.origin)
    print(f"initialised {home.path}: origin {ledger.origin}, database {home.url().split('?')[0]}")
    print("entry 0 registers the first administrator key; keys are in", home.path / "keys")
    print(ledger.verifier().vkey())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(_home(args), synthetic=args.synthetic)
    return 0


def cmd_log_key(args: argparse.Namespace) -> int:
    ledger = _home(args).open()
    print(ledger.verifier().vkey())
    return 0


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    ledger = _home(args).open()
    sys.stdout.write(ledger.checkpoint()[1].decode())
    return 0


def cmd_log_export(args: argparse.Namespace) -> int:
    from .export import export_log

    ledger = _home(args).open()
    size, files = export_log(ledger, Path(args.dir), progress=progress("tiles"))
    print(f"exported tree size {size} to {args.dir} ({files} files written)")
    return 0


def cmd_log_publish(args: argparse.Namespace) -> int:
    from regledger.ledger.publish import Publisher

    ledger = _home(args).open()
    publisher = Publisher(ledger, Path(args.dir))
    files = publisher.publish(progress=progress("tiles"))
    print(
        f"published tree size {publisher.size} to {args.dir} ({files} files written, "
        f"{publisher.files_deleted} superseded partial files deleted)"
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    ledger = _home(args).open()
    report = audit(
        ledger.store,
        origin=ledger.origin,
        verifier=ledger.verifier(),
        policy=ledger.policy,
        progress=progress("entries"),
        pinned_cosigners=_pinned_cosigners(ledger),
        status_map=ledger.status_map,
    )
    print(
        f"audit OK: {report.entries} entries (chain, leaf hashes, signatures), {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints (chained), {report.cosignatures} cosignatures, {report.keys} keys, "
        f"{report.map_rows} status-map rows (rebuilt from the log); "
        f"published size {report.published_size}, root {base64.b64encode(report.root).decode()}"
    )
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from regledger.ledger.audit import repair

    ledger = _home(args).open()
    damage, report = repair(
        ledger.store,
        origin=ledger.origin,
        verifier=ledger.verifier(),
        policy=ledger.policy,
        progress=progress("entries"),
    )
    rows = damage.rows()
    print(f"rebuilt from the leaves: {', '.join(rows)}" if rows else "nothing to repair: every derived row checks")
    print(
        f"audit OK: {report.entries} entries, {report.tiles} tiles, {report.checkpoints} checkpoints; "
        f"published size {report.published_size}"
    )
    return 0


def _pinned_cosigners(ledger) -> dict[str, bytes]:
    """The parent platform's key, pinned by `sync set-parent`: it cosigns this log's checkpoints."""
    from regledger.keys.vkey import parse_vkey
    from regledger.sync.manage import parent

    p = parent(ledger)
    if p is None:
        return {}
    v = parse_vkey(p["vkey"])
    return {v.name: v.public}


def rebuild_state_cache(ledger: Ledger) -> tuple[int, int]:
    """Replace the state cache (derived) with the fold of every entry; returns (entries, rows)."""
    from regledger.ledger.policy import replay

    assert ledger.policy is not None  # a home's ledger always folds with the registry's policy
    size = ledger.store.head().size
    states = replay(ledger.policy, ledger.iter_leaves(progress=progress("entries")))
    return size, ledger.store.replace_states(states.values())


def cmd_reindex(args: argparse.Namespace) -> int:
    size, n = rebuild_state_cache(_home(args).open())
    print(f"rebuilt the state cache from {size} entries: {n} rows")
    return 0


def cmd_certificate(args: argparse.Namespace) -> int:
    import json

    from regledger.registry.certificate import build_certificate, certificate_html

    ledger = _home(args).open()
    try:
        ledger.integrate()
    except StorageUnavailableError:  # a read-only home: certify what its latest checkpoint covers
        pass
    cert = build_certificate(ledger, args.code)
    Path(args.out).write_text(json.dumps(cert, ensure_ascii=False, indent=1) + "\n")
    print(
        f"wrote certificate of {args.code} ({len(cert['entries'])} entries, checkpoint size "
        f"{cert['checkpoint'].splitlines()[1]}) to {args.out}"
    )
    if args.html:
        Path(args.html).write_text(certificate_html(cert))
        print(f"wrote {args.html}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from regledger.registry.certificate import verify_certificate

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"regledger: error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        claims = verify_certificate(data, args.key)
    except LedgerError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    if claims["complete"]:
        print(f"OK: {claims['code']} {claims['name']} ({claims['status']})")
        print(
            f"complete history as of checkpoint {claims['checkpoint_size']} (time {claims['checkpoint_time']}): "
            f"status {claims['status']}, {claims['entries']} entries"
        )
        print(
            f"(the time is the checkpoint's last entry's, entry {claims['checkpoint_size'] - 1}, proven in the "
            "certificate; the status proofs show no other entry of this registration is in that checkpoint)"
        )
    else:
        print(
            f"OK: {claims['code']} {claims['name']} ({claims['status']}), {claims['entries']} entries proven in the "
            f"log's checkpoint of size {claims['checkpoint_size']}"
        )
        print(
            f"This is the registration's state as of entry {claims['last_index']}; a v1 certificate cannot show "
            "that no later step exists: ask the log for the current state."
        )
    if args.online:
        if not claims["complete"]:
            print("FAILED: --online needs a v2 certificate (with status proofs)", file=sys.stderr)
            return 1
        return _verify_online(claims, args.key, args.online)
    return 0


def _verify_online(claims: dict, vkey: str, url: str) -> int:
    """`verify --online URL`: the certificate's history is still the whole history at the instance's
    current checkpoint (registry.certificate.check_current over HTTP)."""
    from typing import Any

    import httpx

    from regledger.registry.certificate import check_current

    with httpx.Client(base_url=url.rstrip("/"), timeout=30, trust_env=False) as http:

        def get(path: str, params: Mapping[str, Any]) -> httpx.Response:
            r = http.get(path, params=dict(params))
            if r.status_code >= 400:
                raise LedgerError(f"GET {path}: HTTP {r.status_code}: {r.text[:200]}")
            return r

        try:
            now = check_current(claims, vkey, lambda p, q: get(p, q).text, lambda p, q: get(p, q).json())
        except (LedgerError, httpx.HTTPError, ValueError) as exc:
            print(f"FAILED (online, {url}): {exc}", file=sys.stderr)
            return 1
    print(f"still {now['status']} as of checkpoint {now['size']}, time {now['time']}")
    print(
        f"({url}: its checkpoint is consistent with the certificate's, and its status proof lists no newer entry; "
        "the time is that checkpoint's last entry's, proven included)"
    )
    return 0


def cmd_registrations(args: argparse.Namespace) -> int:
    import json

    from regledger.ledger.store import StateQuery
    from regledger.registry.disclosure import PUBLIC_LISTS, iter_registrations

    ledger = _home(args).open()
    status = PUBLIC_LISTS.get(args.list, args.status or "")
    q = StateQuery(
        kind=args.kind or "",
        status=status,
        region_prefix=args.region or "",
        institution=args.institution or "",
        text=args.text or "",
        limit=200,
    )
    rows = [
        {
            "registration": st.state["registration"],
            "code": st.code or None,
            "status": st.status,
            "kind": st.kind,
            "region": st.region,
            "institution": st.institution,
            "name": st.name,
        }
        for st in iter_registrations(ledger.store, q)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        for r in rows:
            print(f"{r['status']:<24} {r['code'] or '-':<32} {r['kind']:<12} {r['name']}")
        print(f"{len(rows)} registrations")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import json

    from regledger.registry.state import find_registration

    ledger = _home(args).open()
    st = find_registration(ledger.store, args.id)
    if st is None:
        print(f"regledger: error: no registration {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(st.state, ensure_ascii=False, indent=1))
    return 0


def cmd_overdue(args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from regledger.ledger.entry import utc_now
    from regledger.registry.disclosure import overdue
    from regledger.registry.workflow import china_date

    ledger = _home(args).open()
    on = date.fromisoformat(args.on) if args.on else china_date(utc_now())
    print(json.dumps(overdue(ledger.store, on), ensure_ascii=False, indent=1))
    return 0


def cmd_disclosure(args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from regledger.registry.disclosure import annual_report
    from regledger.registry.uscc import validate_uscc

    ledger = _home(args).open()
    report = annual_report(
        ledger, validate_uscc(args.institution, field="--institution"), date.fromisoformat(args.as_of)
    )
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


def serve_settings(environ: Mapping[str, str], *, read_only: bool) -> Settings:
    """The server's settings: REGLEDGER_* variables over the defaults, and serve's flags over both."""
    settings = Settings.from_environ(environ)
    return dataclasses.replace(settings, run_integrator=False) if read_only else settings


def offset_clock(path: Path):
    """FOR TESTS ONLY (`serve --test-clock-offset FILE`): the log's clock runs FILE's number of seconds
    ahead of the real one, read at every tick, so a test passes a publicity period by writing a larger
    number; statements must then be signed at the server's time (POST /v1/drafts gives it)."""
    from datetime import datetime, timedelta

    from regledger.ledger.entry import format_time

    def clock() -> str:
        text = path.read_text().strip() if path.exists() else ""
        return format_time(datetime.now(UTC) + timedelta(seconds=float(text or 0)))

    return clock


def cmd_serve(args: argparse.Namespace) -> int:
    settings = serve_settings(os.environ, read_only=args.read_only)  # a bad value stops here, before any work
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.workers == 1:
        return _serve_process(args, settings, None)
    from .workers import listen, run_workers

    print(f"serving on http://{args.host}:{args.port} with {args.workers} worker processes", flush=True)
    return run_workers(
        args.workers, lambda number: _serve_process(args, settings, listen(args.host, args.port, reuse_port=True))
    )


def _serve_process(args: argparse.Namespace, settings: Settings, sock: socket.socket | None) -> int:
    """One server process: the whole of `serve`, or one worker of `serve --workers N` listening on `sock`."""
    import uvicorn

    from regledger.api import create_app
    from regledger.api.logs import configure_logging
    from regledger.api.serving import uvicorn_config

    configure_logging()
    home = _home(args)
    ledger = home.open(**({"clock": offset_clock(Path(args.test_clock_offset))} if args.test_clock_offset else {}))
    worker = None
    if args.read_only:  # no integration, no cascade: nothing here writes; a write request answers 503
        ledger.health.report("database", "warning", "read-only: serving what is stored; writes answer 503")
    else:
        try:
            ledger.integrate()
        except IntegrityError:
            pass  # logged and reported by the ledger: serve reads, /readyz 503, writes refused (docs/api.md)
        except StorageUnavailableError as exc:
            raise StorageUnavailableError(f"{exc}; `regledger serve --read-only` serves it as it is") from exc
    if args.sync_interval > 0 and not args.read_only:
        from regledger.registry.policy import RegistryPolicy
        from regledger.sync.cascade import Cascade
        from regledger.sync.worker import SyncWorker

        worker = SyncWorker(Cascade(ledger, home.path, domain=RegistryPolicy()), interval=args.sync_interval)
    publisher = None
    if args.publish:
        from regledger.ledger.publish import Publisher, PublishWorker

        publisher = PublishWorker(Publisher(ledger, Path(args.publish)))
        publisher.publisher.open()  # a directory that is not this log's stops serve here
    from regledger.home import PENDING_GRACE, HomeIntake

    intake = None if args.read_only else HomeIntake(home, ledger)
    # what a crash between a document and its entry left; beside other workers, only what no live request can own
    for path, done in intake.sweep(older_than=0.0 if sock is None else PENDING_GRACE) if intake else []:
        print(f"objection document {path}: {done} (it was pending when the server last stopped)", flush=True)
    replica = None
    if args.read_db:
        from regledger.ledger.sequencer import Ledger
        from regledger.ledger.sqlstore import SQLStore

        replica = Ledger(SQLStore(args.read_db), origin=ledger.origin, log_signer=ledger.log_signer)
    app = create_app(ledger, settings, sync_worker=worker, publisher=publisher, intake=intake, replica=replica)
    mode = " read-only" if args.read_only else ""
    mode += f" (worker pid {os.getpid()})" if sock is not None else ""
    print(f"serving {ledger.origin}{mode} on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    uvicorn.Server(
        uvicorn_config(app, host=args.host, port=args.port, log_level="info", access_log=False, log_config=None)
    ).run(sockets=[sock] if sock is not None else None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", default=argparse.SUPPRESS, help="instance folder (default: $REGLEDGER_HOME or ./regledger-home)"
    )
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="database URL, e.g. postgresql://127.0.0.1/test (default: $REGLEDGER_DB or the home's SQLite file)",
    )
    p = argparse.ArgumentParser(
        prog="regledger", parents=[common], description="A verifiable registration ledger (公共数据资源登记)."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", parents=[common], help="create the home, the log key and the first admin key")
    s.add_argument("--origin", required=True, help="the log's origin, e.g. regledger.example.gov.cn/52")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("demo", parents=[common], help="a demo ledger: append, integrate, prove, verify")
    s.add_argument("--synthetic", type=int, default=0, metavar="N", help="append N more signed entries")
    s.set_defaults(func=cmd_demo)

    log = sub.add_parser("log", parents=[common], help="the log: key, checkpoint, export, publish")
    logsub = log.add_subparsers(dest="log_command", required=True)
    s = logsub.add_parser("key", parents=[common], help="print the log's verifier key (C2SP vkey)")
    s.set_defaults(func=cmd_log_key)
    s = logsub.add_parser("checkpoint", parents=[common], help="print the latest signed checkpoint")
    s.set_defaults(func=cmd_log_checkpoint)
    s = logsub.add_parser("export", parents=[common], help="write the log as static C2SP tlog-tiles")
    s.add_argument("dir")
    s.set_defaults(func=cmd_log_export)
    s = logsub.add_parser(
        "publish",
        parents=[common],
        help="bring DIR up to the latest checkpoint: only what changed since DIR's checkpoint",
    )
    s.add_argument("dir")
    s.set_defaults(func=cmd_log_publish)

    s = sub.add_parser("audit", parents=[common], help="re-verify every stored row")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser(
        "repair",
        parents=[common],
        help="rebuild tiles and stored leaf hashes from the leaves, if only they are damaged",
    )
    s.set_defaults(func=cmd_repair)

    s = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the HTTP API (OpenAPI docs at /docs)",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--sync-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="run the cascade (pull children, push to the parent) this often; 0: never",
    )
    s.add_argument(
        "--publish",
        metavar="DIR",
        help="keep DIR equal to /log/ as the log grows, for any static web server (docs/deploy.md)",
    )
    s.add_argument(
        "--read-only",
        action="store_true",
        help="serve a home that cannot be written (read-only mount): no integration, no cascade",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N server processes on the port and the database; one at a time integrates and signs "
        "(a lock in the database), all take writes and reads (docs/deploy.md)",
    )
    s.add_argument(
        "--read-db",
        metavar="URL",
        help="a read replica of the database (PostgreSQL streaming replica): tiles and proofs of the checkpoints "
        "it holds are read there; everything else from --db (docs/deploy.md)",
    )
    s.add_argument("--test-clock-offset", metavar="FILE", help=argparse.SUPPRESS)  # tests only: offset_clock
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("reindex", parents=[common], help="rebuild the registration state cache from the entries")
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("certificate", parents=[common], help="write a registration's verifiable certificate")
    s.add_argument("code", help="the registration's uniform code (PDR-…)")
    s.add_argument("--out", required=True, help="the JSON certificate file to write")
    s.add_argument("--html", help="also write a human-readable HTML page")
    s.set_defaults(func=cmd_certificate)

    s = sub.add_parser(
        "verify",
        parents=[common],
        help="verify a certificate offline: its entries, and (v2) that they are the registration's complete "
        "history as of its checkpoint",
        description="Verify a registration certificate with the log's key alone (no database, no network). A v2 "
        "certificate's status proofs show its entries are the registration's complete history as of its "
        "checkpoint (time: the time of the checkpoint's last entry); a missing, extra or reordered entry is "
        "named. A v1 certificate verifies with the caveat that a later step may exist. --online URL then asks "
        "an instance whether the history is still complete at its current checkpoint.",
    )
    s.add_argument("file")
    s.add_argument("--key", required=True, help="the log's verifier key (from `regledger log key`)")
    s.add_argument(
        "--online",
        metavar="URL",
        help="also fetch the instance's current checkpoint (consistent with the certificate's) and a fresh "
        "status proof: the registration's status still holds, or the newer entry is named",
    )
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("registrations", parents=[common], help="list registrations (the public lists)")
    s.add_argument("list", nargs="?", choices=["publicity", "registered", "cancelled", "revoked", "all"], default="all")
    s.add_argument("--status")
    s.add_argument("--kind", choices=["resource", "product", "institution"])
    s.add_argument("--region", help="region code prefix, e.g. 52")
    s.add_argument("--institution", help="registrant USCC")
    s.add_argument("--text", help="search in names and codes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_registrations)

    s = sub.add_parser("show", parents=[common], help="a registration's current state and full history")
    s.add_argument("id", help="registration id or uniform code")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("overdue", parents=[common], help="applications past their statutory due date")
    s.add_argument("--on", help="date (default: today, China time)")
    s.set_defaults(func=cmd_overdue)

    s = sub.add_parser("disclosure", parents=[common], help="an operating institution's annual disclosure report")
    s.add_argument("--institution", required=True, help="the institution's USCC")
    s.add_argument("--as-of", required=True, help="e.g. 2026-12-31")
    s.set_defaults(func=cmd_disclosure)

    from .calendar_cli import add_calendar_parser
    from .client_cli import add_client_parsers
    from .db_cli import add_db_parsers
    from .reference_cli import add_regions_parser
    from .sync_cli import add_sync_parser

    add_sync_parser(sub, common)
    add_client_parsers(sub, common)
    add_calendar_parser(sub, common)
    add_regions_parser(sub, common)
    add_db_parsers(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.home = getattr(args, "home", None)
    args.db = getattr(args, "db", None)
    if getattr(args, "synthetic", 0) < 0:
        print("regledger: error: --synthetic must be >= 0", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except ForkError as exc:
        print(f"regledger: FORK: {exc}", file=sys.stderr)
        return 3
    except LedgerError as exc:
        print(f"regledger: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("regledger: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
