"""`regledger sync ...`: configure the cascade, pull, push, status, and offline bundles."""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from regledger.ledger.errors import ForkError
from regledger.ledger.tiles import TILE_WIDTH, encode_entry_bundle, entry_bundle_path, tiles_for_size

from .progress import progress

__all__ = ["add_sync_parser"]

EXIT_FORK = 3


def _ledger(args: argparse.Namespace) -> tuple[Any, Any]:
    from .cli import _home

    home = _home(args)
    return home, home.open()


def _executor(workers: int) -> ProcessPoolExecutor | None:
    return ProcessPoolExecutor(workers) if workers > 1 else None


def _pin_peer(args: argparse.Namespace, pin: Callable[..., str], said: str) -> int:
    """Pin a peer (`pin`: add_child or set_parent) with the admin's key, integrate, and print `said`."""
    home, ledger = _ledger(args)
    origin = pin(ledger, home.admin(), args.url, args.key)
    ledger.integrate()
    print(said.format(origin=origin, url=args.url))
    return 0


def cmd_add_child(args: argparse.Namespace) -> int:
    from regledger.sync.manage import add_child

    said = "added child {origin} at {url}; `regledger sync pull` fetches and verifies its log"
    return _pin_peer(args, add_child, said)


def cmd_set_parent(args: argparse.Namespace) -> int:
    from regledger.sync.manage import set_parent

    said = "parent set to {origin} at {url}; its key is registered here as a platform key"
    return _pin_peer(args, set_parent, said)


def _print_round(report: Any) -> int:
    for r in report.pulled:
        print(
            f"{r.origin}: {r.old_size} -> {r.new_size}, {r.entries} entries verified and recorded "
            f"({r.requests} requests, {r.seconds:.2f} s)"
        )
    if report.cosigned:
        print(f"cosignatures handed down: {report.cosigned}")
    if report.codes_minted:
        print(f"official codes assigned: {report.codes_minted}")
    if report.codes_sent:
        print(f"official codes sent down: {report.codes_sent}")
    if report.reference_sent:
        print(f"reference data (calendar, region table) sent down: {report.reference_sent}")
    for w in report.warnings:
        print(f"regledger: sync: warning: {w}", file=sys.stderr)
    for e in report.errors:
        print(f"regledger: sync: {e}", file=sys.stderr)
    if report.forks:
        print(
            f"regledger: FORK: {', '.join(report.forks)} showed inconsistent checkpoints; see `regledger sync status`",
            file=sys.stderr,
        )
        return EXIT_FORK
    return 1 if report.errors else 0


def cmd_pull(args: argparse.Namespace) -> int:
    from regledger.registry.policy import RegistryPolicy
    from regledger.sync.cascade import Cascade

    home, ledger = _ledger(args)
    executor = _executor(args.workers)
    try:
        cascade = Cascade(
            ledger,
            home.path,
            domain=RegistryPolicy(),
            executor=executor,
            progress=lambda origin: progress(f"{origin} entries"),
        )
        report = cascade.run_round(push=False, only=args.child)
    finally:
        if executor:
            executor.shutdown()
    ledger.integrate()
    return _print_round(report)


def cmd_push(args: argparse.Namespace) -> int:
    from regledger.registry.policy import RegistryPolicy
    from regledger.sync.cascade import Cascade

    home, ledger = _ledger(args)
    ledger.integrate()
    Cascade(ledger, home.path, domain=RegistryPolicy()).push(force=True, attempts=args.attempts)
    print(f"told the parent about checkpoint {ledger.checkpoint()[0]}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from regledger.sync.manage import parent, sync_status

    _, ledger = _ledger(args)
    rows = sync_status(ledger)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        p = parent(ledger)
        print(f"{ledger.origin}: parent {p['origin'] + ' at ' + p['url'] if p else '(none: top of the cascade)'}")
        for r in rows:
            print(f"  {r['origin']:40} {r['state']:7} verified size {r['verified_size']:>9}  {r['url']}")
            if r["state"] != "ok":
                print(f"    FORK since entry {r['forked_at']}: {r['fork']['reason']}")
    return EXIT_FORK if any(r["state"] != "ok" for r in rows) else 0


def export_bundle(ledger: Any, out: Path, since: int, show: Callable[[int, int], None] | None = None) -> int:
    """Checkpoint, every hash tile of its tree, and the entry bundles from `since`: a zip laid out like /log/."""
    size, note = ledger.checkpoint()
    if not 0 <= since <= size:
        raise ValueError(f"--since must be between 0 and {size}")
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("checkpoint", note)
        tiles = tiles_for_size(size)
        for t, data in zip(tiles, ledger.tiles.read_tiles(tiles), strict=True):
            z.writestr(t.path(), data[: t.width * 32])
        first, last = since // TILE_WIDTH, (size + TILE_WIDTH - 1) // TILE_WIDTH
        for n in range(first, last):
            width = min(TILE_WIDTH, size - n * TILE_WIDTH)
            bundle = encode_entry_bundle(ledger.entries(n * TILE_WIDTH, n * TILE_WIDTH + width))
            z.writestr(entry_bundle_path(n, width), bundle)
            if show:
                show(min(size, (n + 1) * TILE_WIDTH) - since, size - since)
    os.replace(tmp, out)  # a bundle is complete or absent
    return size


def cmd_export(args: argparse.Namespace) -> int:
    _, ledger = _ledger(args)
    ledger.integrate()
    size = export_bundle(ledger, Path(args.out), args.since, progress("entries"))
    print(f"wrote {args.out}: {ledger.origin} checkpoint {size}, entries {args.since}..{size - 1}, all hash tiles")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from regledger.sync.fetch import BundleFetcher
    from regledger.sync.pull import pull_child

    _, ledger = _ledger(args)
    fetcher = BundleFetcher(Path(args.file))
    origin = fetcher.checkpoint().split(b"\n", 1)[0].decode()
    executor = _executor(args.workers)
    try:
        r = pull_child(ledger, fetcher, origin, executor=executor, progress=progress(f"{origin} entries"))
    except ForkError as exc:
        print(f"regledger: FORK: {exc}", file=sys.stderr)
        return EXIT_FORK
    finally:
        fetcher.close()
        if executor:
            executor.shutdown()
    ledger.integrate()
    print(f"{origin}: {r.old_size} -> {r.new_size}, {r.entries} entries verified and recorded from {args.file}")
    return 0


def add_sync_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sync = sub.add_parser("sync", parents=[common], help="the cascade: children, parent, pull, push, status")
    s2 = sync.add_subparsers(dest="sync_command", required=True)
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

    s = s2.add_parser("add-child", parents=[common], help="pin a child instance: its URL and log key")
    s.add_argument("url")
    s.add_argument("--key", required=True, help="the child's log verifier key (its name is the child's origin)")
    s.set_defaults(func=cmd_add_child)

    s = s2.add_parser("set-parent", parents=[common], help="pin the parent platform: its URL and log key")
    s.add_argument("url")
    s.add_argument("--key", required=True, help="the parent's log verifier key")
    s.set_defaults(func=cmd_set_parent)

    s = s2.add_parser("pull", parents=[common], help="fetch, verify and record every child's new entries")
    s.add_argument("--child", help="only this child (origin)")
    s.add_argument("--workers", type=int, default=workers, help="processes verifying signatures")
    s.set_defaults(func=cmd_pull)

    s = s2.add_parser("push", parents=[common], help="tell the parent there is a new checkpoint (with retries)")
    s.add_argument("--attempts", type=int, default=8)
    s.set_defaults(func=cmd_push)

    s = s2.add_parser("status", parents=[common], help="children, what was verified, forks (exit 3 on a fork)")
    s.add_argument("--json", action="store_true", help="a JSON list: origin, verified_size, state, ...")
    s.set_defaults(func=cmd_status)

    s = s2.add_parser("export", parents=[common], help="write a verifiable bundle of this log for offline transfer")
    s.add_argument("--out", required=True)
    s.add_argument("--since", type=int, default=0, help="first entry to include (the parent's verified size)")
    s.set_defaults(func=cmd_export)

    s = s2.add_parser("import", parents=[common], help="verify and record a child's exported bundle")
    s.add_argument("file")
    s.add_argument("--workers", type=int, default=workers)
    s.set_defaults(func=cmd_import)
