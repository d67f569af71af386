"""LedgerStore on SQL through SQLModel: SQLite (WAL) by default, PostgreSQL given a URL.

The only module that imports sqlmodel/sqlalchemy.  Writers serialise on one row:
PostgreSQL takes `SELECT ... FOR UPDATE` on it; SQLite opens every write transaction with
BEGIN IMMEDIATE, which takes the database's single write lock up front, so two processes
never both read the same head and append after it.

The integrator lock (`integrator_lock`, which elects the one process that integrates and signs,
ledger.integrator) is a flock on `<database>.integrator-lock` on SQLite and a session-level
advisory lock on PostgreSQL, held on a connection of its own; both go when their process dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text, bindparam, event, or_, tuple_
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, InternalError, OperationalError
from sqlmodel import Field, SQLModel, create_engine, insert, select, update

from . import errors, migrations
from .entry import GENESIS_PREV
from .errors import (
    ConflictError,
    LedgerError,
    NotFoundError,
    PushbackError,
    SchemaVersionError,
    StorageUnavailableError,
)
from .hashes import Hash
from .statusmap import MapRows
from .store import (
    IntegratorLock,
    KeyRecord,
    KeyView,
    SequencedBatch,
    SequenceHead,
    StateQuery,
    SubjectState,
    ThreadIntegratorLock,
    check_tile_growth,
)
from .tiles import Tile
from .vmap import Position

__all__ = ["INTEGRATOR_LOCK_KEY", "INTEGRATOR_LOCK_SUFFIX", "SQLStore", "normalise_url", "remove_sqlite_file"]


class EntryRow(SQLModel, table=True):
    __tablename__ = "rl_entries"
    idx: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    leaf: bytes = Field(sa_type=LargeBinary)
    leaf_hash: bytes = Field(sa_type=LargeBinary, index=True)


class TileRow(SQLModel, table=True):
    __tablename__ = "rl_tiles"
    level: int = Field(sa_type=Integer, primary_key=True, sa_column_kwargs={"autoincrement": False})
    n: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    data: bytes = Field(sa_type=LargeBinary)


class CheckpointRow(SQLModel, table=True):
    """Every signed checkpoint, chained by `prev_size` (the size it replaced as the latest; NULL for the
    first), so `audit` notices a deleted one.  The chain is local bookkeeping: the notes are unchanged."""

    __tablename__ = "rl_checkpoints"
    size: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    note: bytes = Field(sa_type=LargeBinary)
    prev_size: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class HeadRow(SQLModel, table=True):
    """Row 1: the sequenced size and last leaf hash.  Row 2: the published checkpoint size."""

    __tablename__ = "rl_head"
    id: int = Field(sa_type=Integer, primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int = Field(sa_type=BigInteger)
    last_hash: bytes = Field(sa_type=LargeBinary)


class KeyRow(SQLModel, table=True):
    __tablename__ = "rl_keys"
    key_id: str = Field(sa_type=String(32), primary_key=True)
    public_key: bytes = Field(sa_type=LargeBinary)
    name: str = Field(sa_type=String(128))
    role: str = Field(sa_type=String(32))
    scope: str = Field(sa_type=Text)
    registered_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class StateRow(SQLModel, table=True):
    """The rebuildable state cache (see ledger.store.SubjectState)."""

    __tablename__ = "rl_states"
    subject: str = Field(sa_type=String(512), primary_key=True)
    kind: str = Field(sa_type=String(64), index=True)
    status: str = Field(sa_type=String(64), index=True)
    code: str = Field(sa_type=String(100), index=True)
    region: str = Field(sa_type=String(16), index=True)
    institution: str = Field(sa_type=String(64), index=True)
    name: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    updated_at: int = Field(sa_type=BigInteger)


class CosignatureRow(SQLModel, table=True):
    """Cosignatures on checkpoints (ours or a descendant's), as received; not part of any tree."""

    __tablename__ = "rl_cosignatures"
    origin: str = Field(sa_type=String(256), primary_key=True)
    size: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    cosigner: str = Field(sa_type=String(512), primary_key=True)  # the cosigner's vkey
    line: str = Field(sa_type=Text)


class MapNodeRow(SQLModel, table=True):
    """The status map's nodes (ledger.vmap): one row per position and checkpoint size that changed it; never
    rewritten.  `content` is a node hash (32 bytes) or a single leaf's key hash || value hash (64)."""

    __tablename__ = "rl_map_nodes"
    depth: int = Field(sa_type=Integer, primary_key=True, sa_column_kwargs={"autoincrement": False})
    prefix: bytes = Field(sa_type=LargeBinary, primary_key=True)
    version: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    content: bytes = Field(sa_type=LargeBinary)


class MapValueRow(SQLModel, table=True):
    """The status map's values (canonical JSON) by map key and the checkpoint size that set them; never rewritten."""

    __tablename__ = "rl_map_values"
    key: str = Field(sa_type=String(512), primary_key=True)
    version: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    value: bytes = Field(sa_type=LargeBinary)


_SEQ, _PUB = 1, 2
E, T, C, H, K, S, W, MN, MV = (
    cast(Any, row).__table__  # SQLModel declares __table__ only at runtime
    for row in (EntryRow, TileRow, CheckpointRow, HeadRow, KeyRow, StateRow, CosignatureRow, MapNodeRow, MapValueRow)
)
_TABLES = [E, T, C, H, K, S, W, MN, MV]

# The statements every read of /log/checkpoint and of a tile runs, built once: building a select costs more
# than SQLite takes to answer it (docs/performance.md, per-request overhead).
_LATEST_CHECKPOINT = select(H.c.size, C.c.note).select_from(H.outerjoin(C, C.c.size == H.c.size)).where(H.c.id == _PUB)
_HEAD = select(H.c.size, H.c.last_hash).where(H.c.id == _SEQ)
_COSIGNATURES = (
    select(W.c.cosigner, W.c.line)
    .where(W.c.origin == bindparam("origin"), W.c.size == bindparam("size"))
    .order_by(W.c.cosigner)
)
# Built once so SQLAlchemy compiles it once: proofs read tiles on a hot path.
_TILE_BY_KEY = select(T.c.data).where(T.c.level == bindparam("level"), T.c.n == bindparam("n"))


_MAX_VERSION = 2**63 - 1
#: SQLite page cache of each read connection, KiB (SQLite's default is 2 MiB); pages are allocated as read
READ_CACHE_KIB = 32 * 1024
_LATEST_CHUNK = 200


@lru_cache(maxsize=4 * _LATEST_CHUNK)
def _latest_sql(table: str, n: int, mark: str) -> str:
    """(i, content) of the latest row at or before a version of each of n positions (depth, prefix) or keys: a
    UNION ALL of index seeks (a GROUP BY would read every version of the root, one per checkpoint).  Run on the
    driver's cursor: SQLAlchemy's per-parameter processing cost more than the seeks."""
    if table == "nodes":
        one = "SELECT {i} AS i, content FROM rl_map_nodes WHERE depth = {m} AND prefix = {m} AND version <= {m}"
    else:
        one = "SELECT {i} AS i, value FROM rl_map_values WHERE key = {m} AND version <= {m}"
    return " UNION ALL ".join(
        f"SELECT * FROM ({one.format(i=i, m=mark)} ORDER BY version DESC LIMIT 1) AS q{i}" for i in range(n)
    )


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg (v3) driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_busy(exc: DBAPIError) -> bool:
    """SQLite said busy or locked: its primary result code, which extended codes (SQLITE_BUSY_SNAPSHOT,
    SQLITE_LOCKED_SHAREDCACHE, ...) carry in their low byte.  PostgreSQL's errors have no such code."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _storage_error(exc: DBAPIError) -> PushbackError | None:
    """What a database error means for the caller: busy (retry soon), unavailable, or None (a bug: re-raise)."""
    if isinstance(exc, OperationalError) and _sqlite_busy(exc):
        return PushbackError("the database is busy; retry")
    read_only = getattr(exc.orig, "sqlstate", None) == "25006"  # PostgreSQL: read-only transaction
    if isinstance(exc, (OperationalError, InterfaceError)) or read_only:
        return StorageUnavailableError("the database cannot be used now (unreachable, full or read-only); retry later")
    return None


@contextmanager
def _translated() -> Iterator[None]:
    """Database errors become ledger errors here, once, with the original as the cause."""
    try:
        yield
    except (OperationalError, InterfaceError, InternalError) as exc:
        mapped = _storage_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _state_row(st: SubjectState) -> dict[str, Any]:
    return {
        "subject": st.subject,
        "kind": st.kind,
        "status": st.status,
        "code": st.code,
        "region": st.region,
        "institution": st.institution,
        "name": st.name,
        "updated_at": st.updated_at,
        "state": json.dumps(st.state, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    }


def _subject_state(row: Any) -> SubjectState:
    return SubjectState(
        row.subject,
        json.loads(row.state),
        row.updated_at,
        row.kind,
        row.status,
        row.code,
        row.region,
        row.institution,
        row.name,
    )


def _key_record(row: Any) -> KeyRecord:
    return KeyRecord(
        row.key_id, bytes(row.public_key), row.name, row.role, json.loads(row.scope), row.registered_at, row.revoked_at
    )


class _ConnKeys:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, KeyRecord]:
        ids = sorted(set(key_ids))
        if not ids:
            return {}
        rows = self.conn.execute(select(K).where(K.c.key_id.in_(ids))).all()
        return {r.key_id: _key_record(r) for r in rows}

    def get_states(self, subjects: Iterable[str]) -> dict[str, SubjectState]:
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        rows = self.conn.execute(select(S).where(S.c.subject.in_(wanted))).all()
        return {r.subject: _subject_state(r) for r in rows}


class SQLStore:
    def __init__(self, url: str, *, create: bool = False, echo: bool = False, check_schema: bool = True) -> None:
        """Open (or with `create`, make) a ledger database; one at another schema revision than this code's
        raises SchemaVersionError unless `check_schema` is False (`regledger db` reads and upgrades it)."""
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        db_path = make_url(self.url).database if self.is_sqlite else None
        if db_path == ":memory:":
            db_path = None
        #: a SQLite file this process cannot write (read-only mount, immutable file, file mode): opened
        #: read-only and immutable, since SQLite could not create the WAL index next to it; writes fail
        #: with StorageUnavailableError.
        self.read_only = bool(db_path) and not create and _cannot_write(str(db_path))
        engine_url = (
            f"sqlite:///file:{quote(str(db_path))}?mode=ro&immutable=1&uri=true" if self.read_only else self.url
        )
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        else:
            kwargs.update(pool_pre_ping=True)
        self.engine: Engine = create_engine(engine_url, **kwargs)
        self.read_engine: Engine = self.engine
        self._lockfile: Any = None
        self._thread_lock = threading.Lock()
        # opened by the first write, so that a read-only home can still be read
        self._lock_path = db_path + ".writer-lock" if db_path else None
        self.db_path = db_path
        self._memory_integrator_lock = threading.Lock()  # SQLite in memory: one process
        if self.is_sqlite:
            _sqlite_setup(self.engine, immediate=True, read_only=self.read_only)
            self.read_engine = create_engine(engine_url, **kwargs)
            _sqlite_setup(self.read_engine, immediate=False, read_only=self.read_only)
        if create:
            self.create()
        elif check_schema:
            self.check_schema()

    def safe_url(self) -> str:
        """The database's URL with any password masked, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    # -- schema versions (ledger/migrations) ---------------------------------------------

    def schema_revisions(self) -> tuple[str | None, str]:
        """(the database's revision, the one this code needs); the first is None for an empty database."""
        with self._read() as conn:
            return migrations.current_revision(conn), migrations.head_revision()

    def check_schema(self) -> None:
        """Raise SchemaVersionError unless the database is empty or at this code's revision."""
        current, head = self.schema_revisions()
        if current is not None and current != head:
            raise _revision_error(current)

    def _schema_lock(self, conn: Connection) -> None:
        """On PostgreSQL, one schema change at a time (SQLite's write transaction is already exclusive)."""
        if not self.is_sqlite:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7264657)")

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Migrate to this code's revision in one transaction (idempotent); returns (before, after).

        Writers wait: SQLite's write lock, a PostgreSQL advisory lock against a second upgrade at once."""
        with self._write() as conn:
            self._schema_lock(conn)
            current = migrations.current_revision(conn)
            if current not in (None, migrations.head_revision()) and not migrations.is_older(current):
                raise _revision_error(current)  # made by newer code: nothing here can move it back
            return migrations.upgrade(conn)

    # -- copies: backup, restore, another engine ---------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One consistent read of the whole database while writers go on: a SQLite read transaction
        (WAL keeps its snapshot) or a PostgreSQL REPEATABLE READ transaction."""
        with _translated(), self.read_engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def copy_into(self, target: SQLStore, *, replace: bool = False, batch: int = 5000) -> int:
        """Copy every row, as of one snapshot of this database, into `target` in one transaction; returns
        the number of entries.  The target must be empty unless `replace` (restore), which drops its tables
        first, in the same transaction: a failure leaves it as it was."""
        with self._snapshot() as src:
            current = migrations.current_revision(src)
            if current is None:
                raise NotFoundError("the database holds no ledger to copy")
            if current != migrations.head_revision():
                raise _revision_error(current)
            with target._write() as dst:
                target._schema_lock(dst)
                have = migrations.current_revision(dst)
                if have is not None and not replace:
                    raise ConflictError("the target database already holds a ledger; copy only into an empty one")
                if have is not None:
                    _drop_schema(dst)
                _create_schema(dst)
                for table in _TABLES:
                    rows = src.execution_options(yield_per=batch).execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                    for chunk in rows.partitions(batch):
                        dst.execute(insert(table), [dict(r._mapping) for r in chunk])
            return int(src.execute(select(H.c.size).where(H.c.id == _SEQ)).scalar_one())

    def backup_to(self, path: str, check: Callable[[SQLStore], Any]) -> Any:
        """Write a consistent copy of the whole database to a new SQLite file at `path` while writers go on,
        and return `check(copy)` (the caller audits it there): SQLite's online backup API (one step, so one
        snapshot), or for PostgreSQL `copy_into` from a REPEATABLE READ snapshot.  The file appears only
        once complete and checked, as one file (no WAL beside it)."""
        tmp = path + ".partial"
        remove_sqlite_file(tmp)
        if self.is_sqlite and self.db_path:
            try:
                src = sqlite3.connect(f"file:{quote(self.db_path)}?mode=ro", uri=True, timeout=60)
                dst = sqlite3.connect(tmp)
                try:
                    src.backup(dst)
                finally:
                    src.close()
                    dst.close()
            except sqlite3.Error as exc:
                raise StorageUnavailableError(f"the backup could not be written: {exc}") from exc
        copy = SQLStore(f"sqlite:///{tmp}", check_schema=False)
        try:
            if not (self.is_sqlite and self.db_path):
                self.copy_into(copy)
            result = check(copy)
        except BaseException:
            copy.close()
            remove_sqlite_file(tmp)
            raise
        copy.close()
        if os.path.exists(tmp + ".writer-lock"):
            os.remove(tmp + ".writer-lock")
        single = sqlite3.connect(tmp)
        try:
            single.execute("PRAGMA journal_mode=DELETE")
        finally:
            single.close()
        os.replace(tmp, path)
        return result

    def create(self) -> None:
        """Create the tables at this code's revision and the head rows if missing (idempotent)."""
        with self._write() as conn:
            self._schema_lock(conn)
            current = migrations.current_revision(conn)
            if current is None:
                _create_schema(conn)
            elif current != migrations.head_revision():
                raise _revision_error(current)
            have = {r.id for r in conn.execute(select(H.c.id)).all()}
            if _SEQ not in have:
                conn.execute(insert(H).values(id=_SEQ, size=0, last_hash=GENESIS_PREV))
            if _PUB not in have:
                conn.execute(insert(H).values(id=_PUB, size=-1, last_hash=b""))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer_turn(), _translated(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _translated(), self.read_engine.connect() as conn:
            yield conn

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """On SQLite, queue writers on a lock file before BEGIN IMMEDIATE.

        SQLite's own busy handler polls with growing sleeps (up to 100 ms), so a writer that
        waits wakes late and two processes appending at once spend much of their time asleep; a
        blocking flock wakes the next writer the moment the previous one commits.  A thread lock
        does the same for threads sharing this store (flock is per open file, not per thread).
        """
        if self._lock_path is None:
            yield
            return
        with self._thread_lock:
            if self._lockfile is None:
                try:
                    self._lockfile = open(self._lock_path, "a+b")  # noqa: SIM115 - held for the store's life
                except OSError as exc:  # EROFS, EACCES, EPERM: this home is read-only here
                    raise StorageUnavailableError(f"cannot write here: {exc.strerror} ({self._lock_path})") from exc
            fcntl.flock(self._lockfile, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lockfile, fcntl.LOCK_UN)

    def sequence(self, build: Callable[[SequenceHead, KeyView], SequencedBatch]) -> SequencedBatch:
        with self._write() as conn:
            row = conn.execute(select(H.c.size, H.c.last_hash).where(H.c.id == _SEQ).with_for_update()).one()
            batch = build(SequenceHead(row.size, Hash(bytes(row.last_hash))), _ConnKeys(conn))
            if not batch.entries:
                return batch
            if batch.entries[0].index != row.size:
                raise AssertionError("batch does not continue the log")
            conn.execute(insert(E), [{"idx": e.index, "leaf": e.leaf, "leaf_hash": e.leaf_hash} for e in batch.entries])
            if batch.new_keys:
                conn.execute(
                    insert(K),
                    [
                        {
                            "key_id": k.key_id,
                            "public_key": k.public_key,
                            "name": k.name,
                            "role": k.role,
                            "scope": json.dumps(k.scope, sort_keys=True, ensure_ascii=False),
                            "registered_at": k.registered_at,
                            "revoked_at": None,
                        }
                        for k in batch.new_keys
                    ],
                )
            if batch.states:
                have = set(_ConnKeys(conn).get_states(batch.states))
                for st in batch.states.values():
                    if st.subject in have:
                        conn.execute(update(S).where(S.c.subject == st.subject).values(**_state_row(st)))
                    else:
                        conn.execute(insert(S).values(**_state_row(st)))
            for key_id, at in batch.revocations:
                conn.execute(update(K).where(K.c.key_id == key_id, K.c.revoked_at.is_(None)).values(revoked_at=at))
            last = batch.entries[-1]
            res = conn.execute(
                update(H)
                .where(H.c.id == _SEQ, H.c.size == row.size)
                .values(size=last.index + 1, last_hash=last.leaf_hash)
            )
            if res.rowcount != 1:
                raise ConflictError("the sequence head moved during a locked append")
            return batch

    def head(self) -> SequenceHead:
        with self._read() as conn:
            row = conn.execute(_HEAD).one_or_none()
        if row is None:
            raise LedgerError("the database has no ledger; run `regledger init` first")
        return SequenceHead(row.size, Hash(bytes(row.last_hash)))

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, KeyRecord]:
        with self._read() as conn:
            return _ConnKeys(conn).get_keys(key_ids)

    def all_keys(self) -> list[KeyRecord]:
        with self._read() as conn:
            return [_key_record(r) for r in conn.execute(select(K).order_by(K.c.registered_at)).all()]

    def read_entries(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        if start == end:
            return []
        with self._read() as conn:
            rows = conn.execute(
                select(E.c.idx, E.c.leaf, E.c.leaf_hash).where(E.c.idx >= start, E.c.idx < end).order_by(E.c.idx)
            ).all()
        if len(rows) != end - start:
            raise NotFoundError(f"entries {start}..{end - 1} are not all sequenced")
        return [(bytes(r.leaf), bytes(r.leaf_hash)) for r in rows]

    def read_leaf_hashes(self, start: int, end: int) -> list[Hash]:
        if start == end:
            return []
        with self._read() as conn:
            rows = conn.execute(select(E.c.leaf_hash).where(E.c.idx >= start, E.c.idx < end).order_by(E.c.idx)).all()
        if len(rows) != end - start:
            raise NotFoundError(f"entries {start}..{end - 1} are not all sequenced")
        return [Hash(bytes(r.leaf_hash)) for r in rows]

    def index_of_leaf_hash(self, leaf_hash: bytes) -> int | None:
        with self._read() as conn:
            return conn.execute(
                select(E.c.idx).where(E.c.leaf_hash == leaf_hash).order_by(E.c.idx).limit(1)
            ).scalar_one_or_none()

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        if not tiles:
            return []
        found: dict[tuple[int, int], bytes] = {}
        with self._read() as conn:
            for key in sorted({(t.level, t.n) for t in tiles}):
                data = conn.execute(_TILE_BY_KEY, {"level": key[0], "n": key[1]}).scalar_one_or_none()
                if data is not None:
                    found[key] = bytes(data)
        out = []
        for t in tiles:
            data = found.get((t.level, t.n))
            if data is None or len(data) < t.width * 32:
                raise NotFoundError(f"{t.path()} is not stored")
            out.append(data)
        return out

    def publish(
        self, old_size: int | None, tiles: Mapping[Tile, bytes], size: int, note: bytes, map_rows: MapRows | None = None
    ) -> None:
        expected = -1 if old_size is None else old_size
        try:
            with self._write() as conn:
                cur = conn.execute(select(H.c.size).where(H.c.id == _PUB).with_for_update()).scalar_one()
                if cur != expected:
                    raise ConflictError(f"published size is {cur}, not {expected}")
                keys = [(t.level, t.n) for t in tiles]
                stored: dict[tuple[int, int], bytes] = {}
                if keys:
                    rows = conn.execute(
                        select(T.c.level, T.c.n, T.c.data).where(tuple_(T.c.level, T.c.n).in_(keys))
                    ).all()
                    stored = {(r.level, r.n): bytes(r.data) for r in rows}
                inserts = []
                for t, data in tiles.items():
                    old = stored.get((t.level, t.n))
                    if not check_tile_growth(t, old, data):
                        continue
                    if old is None:
                        inserts.append({"level": t.level, "n": t.n, "data": data})
                        continue
                    res = conn.execute(
                        update(T).where(T.c.level == t.level, T.c.n == t.n, T.c.data == old).values(data=data)
                    )
                    if res.rowcount != 1:
                        raise ConflictError(f"{t.path()} changed during publish")
                if inserts:
                    conn.execute(insert(T), inserts)
                conn.execute(insert(C).values(size=size, note=note, prev_size=old_size))
                if map_rows is not None:
                    self._insert_map_rows(conn, size, map_rows)
                res = conn.execute(update(H).where(H.c.id == _PUB, H.c.size == expected).values(size=size))
                if res.rowcount != 1:
                    raise ConflictError("published size changed during publish")
        except IntegrityError as exc:
            raise ConflictError("a concurrent publish stored the same rows") from exc

    def _insert_map_rows(self, conn: Connection, size: int, rows: MapRows) -> None:
        """Thousands of rows per checkpoint: through the driver's executemany, in the publish transaction
        (the published-size compare-and-swap above has already excluded a concurrent publish of `size`)."""
        m = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if rows.nodes:
                cur.executemany(
                    f"INSERT INTO rl_map_nodes (depth, prefix, version, content) VALUES ({m}, {m}, {m}, {m})",
                    [(d, p, size, c) for (d, p), c in rows.nodes.items()],
                )
            if rows.values:
                cur.executemany(
                    f"INSERT INTO rl_map_values (key, version, value) VALUES ({m}, {m}, {m})",
                    [(k, size, v) for k, v in rows.values.items()],
                )
        finally:
            cur.close()

    def read_map_nodes(self, positions: Sequence[Position], version: int | None) -> dict[Position, bytes]:
        at = _MAX_VERSION if version is None else version
        rows = self._latest("nodes", [(d, p, at) for d, p in positions])
        return {positions[i]: content for i, content in rows}

    def read_map_values(self, keys: Sequence[str], version: int | None) -> dict[str, bytes]:
        at = _MAX_VERSION if version is None else version
        return {keys[i]: value for i, value in self._latest("values", [(k, at) for k in keys])}

    def _latest(self, table: str, params: Sequence[tuple[Any, ...]]) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        if not params:
            return out
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        with self._read() as conn:
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for lo in range(0, len(params), _LATEST_CHUNK):
                    part = params[lo : lo + _LATEST_CHUNK]
                    cur.execute(_latest_sql(table, len(part), mark), [x for row in part for x in row])
                    out += [(lo + i, bytes(content)) for i, content in cur.fetchall()]
            finally:
                cur.close()
        return out

    def iter_map_nodes(self) -> Iterator[tuple[int, Position, bytes]]:
        stmt = select(MN.c.version, MN.c.depth, MN.c.prefix, MN.c.content)
        for version, depth, prefix, content in self._iter(stmt.order_by(MN.c.version, MN.c.depth, MN.c.prefix)):
            yield version, (depth, prefix), content

    def iter_map_values(self) -> Iterator[tuple[int, str, bytes]]:
        yield from self._iter(select(MV.c.version, MV.c.key, MV.c.value).order_by(MV.c.version, MV.c.key))

    def rewrite_derived(
        self, tiles: Mapping[tuple[int, int], bytes | None], leaf_hashes: Mapping[int, bytes], head_hash: bytes | None
    ) -> None:
        with self._write() as conn:
            for (level, n), data in tiles.items():
                conn.execute(T.delete().where(T.c.level == level, T.c.n == n))
                if data is not None:
                    conn.execute(insert(T).values(level=level, n=n, data=data))
            for i, h in leaf_hashes.items():
                conn.execute(update(E).where(E.c.idx == i).values(leaf_hash=h))
            if head_hash is not None:
                conn.execute(update(H).where(H.c.id == _SEQ).values(last_hash=head_hash))

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._read() as conn:  # one query: every request for the checkpoint or a tile starts here
            row = conn.execute(_LATEST_CHECKPOINT).one_or_none()
        if row is None or row.size < 0:
            return None
        size, note = row.size, row.note
        if note is None:
            raise errors.IntegrityError(f"checkpoint {size}", "published as the latest, but not stored")
        return size, bytes(note)

    def checkpoint(self, size: int) -> bytes:
        with self._read() as conn:
            note = conn.execute(select(C.c.note).where(C.c.size == size)).scalar_one_or_none()
        if note is None:
            raise NotFoundError(f"no checkpoint of size {size}")
        return bytes(note)

    def iter_tiles(self) -> Iterator[tuple[int, int, bytes]]:
        yield from self._iter(select(T.c.level, T.c.n, T.c.data).order_by(T.c.level, T.c.n))

    def iter_checkpoints(self) -> Iterator[tuple[int, bytes]]:
        yield from self._iter(select(C.c.size, C.c.note).order_by(C.c.size))

    def checkpoint_chain(self, after: int = -1) -> list[tuple[int, int | None]]:
        with self._read() as conn:
            return [
                (r.size, r.prev_size)
                for r in conn.execute(select(C.c.size, C.c.prev_size).where(C.c.size > after).order_by(C.c.size))
            ]

    def _iter(self, stmt: Any) -> Iterator[Any]:
        with self._read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(stmt):
                yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)

    def get_states(self, subjects: Iterable[str]) -> dict[str, SubjectState]:
        with self._read() as conn:
            return _ConnKeys(conn).get_states(subjects)

    def get_state(self, subject: str) -> SubjectState | None:
        with self._read() as conn:
            row = conn.execute(select(S).where(S.c.subject == subject)).first()
        return None if row is None else _subject_state(row)

    def find_states(self, query: StateQuery) -> list[SubjectState]:
        stmt = select(S).where(S.c.subject > query.after)
        if query.kind:
            stmt = stmt.where(S.c.kind == query.kind)
        if query.status:
            stmt = stmt.where(S.c.status == query.status)
        if query.region_prefix:
            stmt = stmt.where(S.c.region.startswith(query.region_prefix, autoescape=True))
        if query.institution:
            stmt = stmt.where(S.c.institution == query.institution)
        if query.text:
            stmt = stmt.where(
                or_(S.c.name.contains(query.text, autoescape=True), S.c.code.contains(query.text, autoescape=True))
            )
        with self._read() as conn:
            rows = conn.execute(stmt.order_by(S.c.subject).limit(query.limit)).all()
        return [_subject_state(r) for r in rows]

    def iter_states(self) -> Iterator[SubjectState]:
        with self._read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(select(S).order_by(S.c.subject)):
                yield _subject_state(row)

    def replace_states(self, states: Iterable[SubjectState]) -> int:
        rows = [_state_row(st) for st in states]
        with self._write() as conn:
            conn.execute(S.delete())
            if rows:
                conn.execute(insert(S), rows)
        return len(rows)

    def add_cosignatures(self, rows: Iterable[tuple[str, int, str, str]]) -> int:
        new = {(o, n, v): line for o, n, v, line in rows}
        if not new:
            return 0
        with self._write() as conn:
            have = {
                (r.origin, r.size, r.cosigner)
                for r in conn.execute(
                    select(W.c.origin, W.c.size, W.c.cosigner).where(
                        tuple_(W.c.origin, W.c.size, W.c.cosigner).in_(list(new))
                    )
                )
            }
            fresh = [
                {"origin": o, "size": n, "cosigner": v, "line": line}
                for (o, n, v), line in new.items()
                if (o, n, v) not in have
            ]
            if fresh:
                conn.execute(insert(W), fresh)
        return len(fresh)

    def cosignatures(self, origin: str, size: int) -> list[tuple[str, str]]:
        with self._read() as conn:
            rows = conn.execute(_COSIGNATURES, {"origin": origin, "size": size}).all()
        return [(r.cosigner, r.line) for r in rows]

    def latest_cosignatures(self) -> list[tuple[str, int, str, str]]:
        with self._read() as conn:
            rows = conn.execute(
                select(W.c.origin, W.c.size, W.c.cosigner, W.c.line).order_by(W.c.origin, W.c.cosigner, W.c.size.desc())
            ).all()
        latest: dict[tuple[str, str], tuple[str, int, str, str]] = {}
        for r in rows:
            latest.setdefault((r.origin, r.cosigner), (r.origin, r.size, r.cosigner, r.line))
        return list(latest.values())

    def iter_cosignatures(self, origin: str) -> Iterator[tuple[int, str, str]]:
        yield from self._iter(
            select(W.c.size, W.c.cosigner, W.c.line).where(W.c.origin == origin).order_by(W.c.size, W.c.cosigner)
        )

    def integrator_lock(self) -> IntegratorLock:
        if self.db_path:
            return _FileIntegratorLock(self.db_path + INTEGRATOR_LOCK_SUFFIX)
        if self.is_sqlite:
            return ThreadIntegratorLock(self._memory_integrator_lock)
        return _AdvisoryIntegratorLock(self.engine)

    def drop_all(self) -> None:
        """Remove every ledger table and the schema revision (tests only)."""
        with self._write() as conn:
            _drop_schema(conn)

    def close(self) -> None:
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


#: the file next to a SQLite database that the integrator holds a flock on (its pid written inside)
INTEGRATOR_LOCK_SUFFIX = ".integrator-lock"
#: the PostgreSQL advisory lock key of the integrator (the schema upgrade takes 7264657)
INTEGRATOR_LOCK_KEY = 7264658


class _FileIntegratorLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Any = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        try:
            f = open(self.path, "a+b")  # noqa: SIM115 - held while this process integrates
        except OSError as exc:
            raise StorageUnavailableError(f"cannot take the integrator lock: {exc.strerror} ({self.path})") from exc
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.truncate(0)
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class _AdvisoryIntegratorLock:
    """pg_try_advisory_lock on a connection kept for it (autocommit, named `regledger integrator pid N` in
    pg_stat_activity); `held` asks that session, so a lost connection means a lost lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.held()
        with _translated():
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({INTEGRATOR_LOCK_KEY})").scalar_one()
                if got:
                    conn.exec_driver_sql(f"SET application_name = 'regledger integrator pid {os.getpid()}'")
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1").scalar_one()
            return True
        except DBAPIError:
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({INTEGRATOR_LOCK_KEY})")
            except DBAPIError:
                pass  # the session is gone, and the lock with it
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()  # never back to the pool: a pooled session would keep the lock
            conn.close()


def _revision_error(current: str) -> SchemaVersionError:
    return SchemaVersionError(current, migrations.head_revision(), behind=migrations.is_older(current))


def _create_schema(conn: Connection) -> None:
    """The tables at this code's revision, stamped with it (the models are the head revision's tables)."""
    SQLModel.metadata.create_all(conn, tables=_TABLES)
    migrations.stamp_head(conn)


def _drop_schema(conn: Connection) -> None:
    SQLModel.metadata.drop_all(conn, tables=_TABLES)
    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def remove_sqlite_file(path: str) -> None:
    """Remove a SQLite file with what SQLite and this store keep beside it (WAL, shared memory, locks)."""
    for p in (path, path + "-wal", path + "-shm", path + ".writer-lock", path + INTEGRATOR_LOCK_SUFFIX):
        if os.path.exists(p):
            os.remove(p)


def _cannot_write(db_path: str) -> bool:
    """True when this process may not write the database file or create files next to it.

    os.access, unlike a mode check, also sees read-only mounts and immutable files, even as root.
    A database that does not exist yet is not read-only (creating it will say what is wrong)."""
    if not os.path.exists(db_path):
        return False
    return not (os.access(db_path, os.W_OK) and os.access(os.path.dirname(os.path.abspath(db_path)), os.W_OK))


def _sqlite_setup(engine: Engine, *, immediate: bool, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        if not read_only:  # the journal mode is the file's; a read-only connection cannot set it
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        if not immediate:  # read connections: status proofs seek ~2 log2(n) map rows each (docs/performance.md)
            cur.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
