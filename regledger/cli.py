"""The `regledger` command line."""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import Sequence

from ledger.audit import audit
from ledger.errors import LedgerError

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


def cmd_audit(args: argparse.Namespace) -> int:
    ledger = _home(args).open()
    report = audit(ledger.store, origin=ledger.origin, verifier=ledger.verifier(), progress=progress("entries"))
    print(f"audit OK: {report.entries} entries (chain, leaf hashes, signatures), {report.tiles} tiles, "
          f"{report.checkpoints} checkpoints, {report.keys} keys; published size {report.published_size}, "
          f"root {base64.b64encode(report.root).decode()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS,
                        help="instance folder (default: $REGLEDGER_HOME or ./regledger-home)")
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help="database URL, e.g. postgresql://127.0.0.1/test (default: $REGLEDGER_DB or the home's SQLite file)")
    p = argparse.ArgumentParser(prog="regledger", parents=[common],
                                description="A verifiable registration ledger (公共数据资源登记).")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", parents=[common], help="create the home, the log key and the first admin key")
    s.add_argument("--origin", required=True, help="the log's origin, e.g. regledger.example.gov.cn/52")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("demo", parents=[common], help="a demo ledger: append, integrate, prove, verify")
    s.add_argument("--synthetic", type=int, default=0, metavar="N", help="append N more signed entries")
    s.set_defaults(func=cmd_demo)

    log = sub.add_parser("log", parents=[common], help="the log: key, checkpoint, export")
    logsub = log.add_subparsers(dest="log_command", required=True)
    s = logsub.add_parser("key", parents=[common], help="print the log's verifier key (C2SP vkey)")
    s.set_defaults(func=cmd_log_key)
    s = logsub.add_parser("checkpoint", parents=[common], help="print the latest signed checkpoint")
    s.set_defaults(func=cmd_log_checkpoint)
    s = logsub.add_parser("export", parents=[common], help="write the log as static C2SP tlog-tiles")
    s.add_argument("dir")
    s.set_defaults(func=cmd_log_export)

    s = sub.add_parser("audit", parents=[common], help="re-verify every stored row")
    s.set_defaults(func=cmd_audit)
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
    except LedgerError as exc:
        print(f"regledger: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("regledger: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
