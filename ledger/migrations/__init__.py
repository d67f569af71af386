"""Schema versions of the ledger's database, as Alembic revisions (versions/), on SQLite and PostgreSQL.

With ledger/sqlstore.py, the only code that speaks SQL.  Revisions change tables and may rebuild derived
rows (tiles, stored leaf hashes, the state cache), but never rewrite a leaf, a tile's hashes or a
checkpoint: the log's bytes outlive every schema.  A database made before schema versions existed has the
ledger's tables but no `alembic_version` table; it counts as the baseline revision, and every revision
after the baseline checks what is already there (the code of that time added columns on open).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

__all__ = [
    "BASELINE",
    "UNVERSIONED",
    "current_revision",
    "head_revision",
    "is_known",
    "is_older",
    "rebuilds_state_cache",
    "stamp_head",
    "upgrade",
]

BASELINE = "0001"
#: what `current_revision` says of a database that holds a ledger made before schema versions
UNVERSIONED = "unversioned"
_HERE = Path(__file__).resolve().parent


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = conn
    return cfg


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision this code needs."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's revision; UNVERSIONED for a ledger made before versions; None for an empty database."""
    rev = MigrationContext.configure(conn).get_current_revision()
    if rev is None and inspect(conn).has_table("rl_head"):
        return UNVERSIONED
    return rev


def upgrade(conn: Connection) -> tuple[str | None, str]:
    """Bring the database to the head revision, in the caller's transaction; returns (before, after)."""
    before = current_revision(conn)
    if before == UNVERSIONED:
        command.stamp(_config(conn), BASELINE)
    if before != head_revision():
        command.upgrade(_config(conn), "head")
    return before, head_revision()


def rebuilds_state_cache(before: str | None) -> bool:
    """True if upgrading a database from `before` to the head passes a revision that stales the state cache
    (one whose module says `REBUILDS_STATE_CACHE = True`: the cache is the domain policy's fold over the
    entries, which SQL cannot run, so `db upgrade` and `restore` rebuild it as `reindex` does).  None, an
    empty database, has no cache to rebuild."""
    if before is None or before == head_revision():
        return False
    start = "base" if before == UNVERSIONED else before
    revisions = _scripts().iterate_revisions(head_revision(), start)
    return any(getattr(r.module, "REBUILDS_STATE_CACHE", False) for r in revisions)


def stamp_head(conn: Connection) -> None:
    """Mark a database whose tables were just created from the models as being at the head revision."""
    MigrationContext.configure(conn).stamp(_scripts(), "head")


def is_older(revision: str) -> bool:
    """True for a revision before the head that this code knows (or UNVERSIONED); False for the head and for
    a revision newer code made (unknown here)."""
    return revision == UNVERSIONED or (revision != head_revision() and is_known(revision))


def is_known(revision: str) -> bool:
    """True if this code knows the revision (a newer code's revision is unknown here)."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:  # "Can't locate revision": made by newer code
        return False
