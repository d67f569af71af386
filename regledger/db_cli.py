"""`regledger db upgrade|current|copy`, `regledger backup OUT`, `regledger restore IN [--force]`.

An instance runs for years and its log can never be started again, so each of these checks what it
moved with the same audit as `regledger audit`, and compares signed checkpoints: a restore that would
roll the log back is refused, or with --force recorded as evidence (both checkpoints) before anything
else.  See docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from regledger.ledger import migrations
from regledger.ledger.audit import AuditReport, audit
from regledger.ledger.errors import IntegrityError, LedgerError, NotFoundError, SchemaVersionError
from regledger.ledger.sequencer import Ledger
from regledger.ledger.sqlstore import SQLStore, remove_sqlite_file

from .home import Home
from .progress import progress

__all__ = ["RestoreRefused", "add_db_parsers", "checkpoint_path"]


class RestoreRefused(LedgerError):
    """The backup may not replace the instance's database: it fails audit, or its checkpoint is not
    consistent with the latest the instance (or its parent) has seen, or it is older (without --force)."""


def checkpoint_path(backup: Path) -> Path:
    """Where `backup` writes the checkpoint a backup covers: beside it, `<OUT>.checkpoint`."""
    return backup.with_name(backup.name + ".checkpoint")


def _audit(ledger: Ledger, label: str, *, failed: str = "", refusal: type[LedgerError] = LedgerError) -> AuditReport:
    """`regledger audit` on a copy; a failure is re-raised as `refusal` saying `failed` first, if given."""
    from .cli import _pinned_cosigners

    try:
        return audit(
            ledger.store,
            origin=ledger.origin,
            verifier=ledger.verifier(),
            policy=ledger.policy,
            progress=progress(label),
            pinned_cosigners=_pinned_cosigners(ledger),
            status_map=ledger.status_map,
        )
    except LedgerError as exc:
        if not failed:
            raise
        raise refusal(f"{failed}: {exc}") from exc


def _size(note: bytes) -> int:
    return int(note.split(b"\n")[1])


# -- schema versions --------------------------------------------------------------------------------


@contextmanager
def _any_revision(args: argparse.Namespace) -> Iterator[SQLStore]:
    """The home's database whatever its schema revision (the one place that reads or changes it)."""
    from .cli import _home

    store = SQLStore(_home(args).url(), check_schema=False)
    try:
        yield store
    finally:
        store.close()


def cmd_current(args: argparse.Namespace) -> int:
    with _any_revision(args) as store:
        current, head = store.schema_revisions()
        try:
            store.check_schema()
        except SchemaVersionError as exc:
            print(f"database revision {current}; this code's revision is {head}: {exc}")
            return 0
    if current is None:
        print(f"the database is empty (no ledger); this code's revision is {head}: `regledger init` makes one")
    else:
        print(f"database revision {current}: up to date with this code")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .cli import _home, rebuild_state_cache

    with _any_revision(args) as store:
        before, after = store.upgrade_schema()
    if before == after:
        print(f"database revision {after}: already up to date, nothing changed")
    elif before is None:
        print(f"created the empty schema at revision {after} (no ledger yet: `regledger init`)")
    else:
        print(
            f"upgraded the database from revision {before} to {after}; no leaf, tile or checkpoint was "
            "rewritten (`regledger audit` checks it)"
        )
    if migrations.rebuilds_state_cache(before):
        size, rows = rebuild_state_cache(_home(args).open())
        print(f"rebuilt the state cache (derived rows, as `regledger reindex` does) from {size} entries: {rows} rows")
    return 0


# -- copy to another engine -------------------------------------------------------------------------


def cmd_copy(args: argparse.Namespace) -> int:
    from .cli import _home

    home = _home(args)
    source = home.open()
    if not isinstance(source.store, SQLStore):
        raise SystemExit("db copy copies a database; this home has none")
    target = SQLStore(args.to, check_schema=False)
    try:
        start = time.monotonic()
        entries = source.store.copy_into(target)
        copied = time.monotonic() - start
        copy = home.open(store=target)
        report = _audit(copy, "entries (copy)", failed=f"the copy in {target.safe_url()} fails audit, do not use it")
        size, note = copy.checkpoint()
        if source.store.checkpoint(size) != note:
            raise LedgerError(f"the copy's checkpoint of size {size} differs from the source's; do not use it")
        print(
            f"copied {entries} entries to {target.safe_url()} in {copied:.1f} s; the copy audits clean "
            f"({report.entries} entries, {report.checkpoints} checkpoints) and its latest checkpoint "
            f"({size}) is byte for byte the source's"
        )
        print(
            f"serve it with --db {target.safe_url()} (or REGLEDGER_DB); the copy holds what the source held "
            "when it began: stop the server before copying, and keep the old database"
        )
    finally:
        target.close()
        source.store.close()
    return 0


# -- backup ---------------------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    from .cli import _home

    home = _home(args)
    store = SQLStore(home.url(), check_schema=False)
    current, head = store.schema_revisions()
    out = Path(args.out)
    if out.exists():
        raise LedgerError(f"{out} exists; a backup never overwrites a file")

    def check(copy: SQLStore) -> tuple[AuditReport | None, bytes]:
        if current != head:  # before `db upgrade`: kept as it is; `restore` upgrades and audits a copy of it
            latest = copy.latest_checkpoint()
            if latest is None:
                raise LedgerError("the database holds no signed checkpoint; nothing to back up")
            return None, latest[1]
        view = home.open(store=copy)
        return _audit(view, "entries (backup)"), view.checkpoint()[1]

    if current != head and not store.is_sqlite:
        store.close()
        raise LedgerError(
            f"the database is at schema revision {current}, not this code's {head}: back it up "
            "with pg_dump before `regledger db upgrade`"
        )
    try:
        report, note = store.backup_to(str(out), check)
    finally:
        store.close()
    cp = checkpoint_path(out)
    tmp = cp.with_name(cp.name + ".tmp")
    tmp.write_bytes(note)
    os.replace(tmp, cp)
    audited = (
        f"{report.entries} entries, audits clean"
        if report
        else f"schema revision {current}, not audited: `regledger restore` upgrades and audits a copy of it"
    )
    print(f"backed up {out} ({audited}); it covers the checkpoint of size {_size(note)}, written to {cp}")
    return 0


# -- restore --------------------------------------------------------------------------------------


@dataclass
class _Seen:
    """The latest checkpoint the instance has signed, and the largest size anyone (its parent) cosigned."""

    size: int | None
    note: bytes | None
    cosigned: int
    store: SQLStore


def _seen(home: Home) -> _Seen:
    store = SQLStore(home.url(), check_schema=False)
    current, head = store.schema_revisions()
    if current is None:
        return _Seen(None, None, -1, store)
    try:
        latest = store.latest_checkpoint()
    except IntegrityError:  # the published checkpoint's row is lost (why one restores): the largest one kept
        latest = max(store.iter_checkpoints(), default=None)
    origin = home.config()["origin"]
    cosigned = (
        max((n for o, n, _, _ in store.latest_cosignatures() if o == origin), default=-1) if current == head else -1
    )
    return _Seen(latest[0] if latest else None, latest[1] if latest else None, cosigned, store)


def _compare(seen: _Seen, backup: SQLStore, size: int, note: bytes) -> str | None:
    """None if the backup extends what the instance has seen; a description if it would roll it back.
    Raise RestoreRefused if the two logs are not consistent (a fork: never restored)."""
    if seen.size is not None and seen.note is not None:
        common = min(size, seen.size)  # both logs signed a checkpoint of this size; all are kept
        ours, theirs = (seen.note, backup) if size >= seen.size else (note, seen.store)
        try:
            same = theirs.checkpoint(common) == ours
        except NotFoundError:
            same = False
        if not same:
            raise RestoreRefused(
                f"the backup's log is not consistent with this instance's: their checkpoints of "
                f"size {common} differ; nothing was restored"
            )
        if size < seen.size:
            return f"the instance's latest checkpoint has size {seen.size}, the backup's {size}"
    if seen.cosigned > size:
        return f"a cosigner (the parent) has seen size {seen.cosigned}, the backup covers {size}"
    return None


def _record_rollback(home: Home, backup: Path, why: str, seen: _Seen, note: bytes) -> Path:
    """Write the evidence of a forced rollback, durably, before anything is restored."""
    folder = home.path / "rollbacks"
    folder.mkdir(exist_ok=True)
    at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{at}-rollback-to-{_size(note)}.txt"
    text = (
        f"regledger restore --force at {at}: rolled the log back\n{why}\nbackup: {backup.resolve()}\n\n"
        f"latest checkpoint before the restore:\n{(seen.note or b'(none)').decode()}\n"
        f"checkpoint of the restored backup:\n{note.decode()}"
    )
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return path


def cmd_restore(args: argparse.Namespace) -> int:
    from .cli import _home, rebuild_state_cache

    home = _home(args)
    backup = Path(args.file)
    cp = checkpoint_path(backup)
    if not backup.is_file() or not cp.is_file():
        raise RestoreRefused(
            f"need the backup {backup} and its checkpoint {cp} beside it (written by `regledger backup`)"
        )
    work = home.path / f".restore-{os.getpid()}.sqlite"
    shutil.copyfile(backup, work)  # checked and upgraded here: the backup itself is never changed
    copy = SQLStore(f"sqlite:///{work}", check_schema=False)
    seen = None
    try:
        before, _ = copy.upgrade_schema()
        view = home.open(store=copy)
        if migrations.rebuilds_state_cache(before):
            rebuild_state_cache(view)
        report = _audit(
            view, "entries (backup)", failed="the backup fails audit, nothing was restored", refusal=RestoreRefused
        )
        size, note = view.checkpoint()
        if cp.read_bytes() != note:
            raise RestoreRefused(f"{cp} is not the backup's latest checkpoint (size {size}); nothing was restored")
        seen = _seen(home)
        rollback = _compare(seen, copy, size, note)
        if rollback and not args.force:
            raise RestoreRefused(
                f"restoring {backup} would roll the log back ({rollback}); refused. A log must "
                "never shrink silently: `regledger restore --force` restores it and records "
                "both checkpoints as evidence"
            )
        if rollback:
            evidence = _record_rollback(home, backup, rollback, seen, note)
            print(f"regledger: ROLLBACK: {rollback}; evidence written to {evidence}", file=sys.stderr, flush=True)
        entries = copy.copy_into(seen.store, replace=True)
    finally:
        copy.close()
        if seen is not None:
            seen.store.close()
        remove_sqlite_file(str(work))
    print(
        f"restored {entries} entries from {backup} (audited: {report.entries} entries, {report.checkpoints} "
        f"checkpoints); the latest checkpoint is now size {size}"
    )
    return 0


def add_db_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", parents=[common], help="the database: schema version, upgrade, copy to another engine")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    s = dbsub.add_parser("current", parents=[common], help="print the database's schema revision and this code's")
    s.set_defaults(func=cmd_current)
    s = dbsub.add_parser(
        "upgrade", parents=[common], help="migrate the database to this code's schema revision (idempotent)"
    )
    s.set_defaults(func=cmd_upgrade)
    s = dbsub.add_parser(
        "copy",
        parents=[common],
        help="copy the instance into another, empty database (e.g. SQLite to PostgreSQL), "
        "verified by audit and an equal checkpoint",
    )
    s.add_argument("--to", required=True, metavar="URL", help="the empty target database, e.g. postgresql://…")
    s.set_defaults(func=cmd_copy)

    s = sub.add_parser(
        "backup", parents=[common], help="write a consistent, audited copy of the database (SQLite file) while serving"
    )
    s.add_argument("out", help="the backup file to write; its checkpoint goes to OUT.checkpoint")
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser(
        "restore",
        parents=[common],
        help="replace the database with a backup that audits clean and extends what was seen",
    )
    s.add_argument("file", metavar="IN", help="a file written by `regledger backup` (with IN.checkpoint beside it)")
    s.add_argument(
        "--force",
        action="store_true",
        help="restore even an older backup (a rollback), recording both checkpoints as evidence first",
    )
    s.set_defaults(func=cmd_restore)
