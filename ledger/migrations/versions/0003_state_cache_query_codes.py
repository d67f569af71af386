"""Derived rows only: the registration state cache gains a `query:<查询码>` alias row per coded registration.

No table changes.  The rows come from the register's fold over the entries, not from SQL, so this revision
says REBUILDS_STATE_CACHE and `regledger db upgrade` (and `restore`) rebuild the whole state cache from the
entries after it, as `regledger reindex` does; no leaf, tile or checkpoint is touched.

Revision ID: 0003
Revises: 0002
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
REBUILDS_STATE_CACHE = True


def upgrade() -> None:
    pass  # the state cache is rebuilt by the caller, with the register's policy (see the docstring)


def downgrade() -> None:
    raise NotImplementedError("the ledger's schema only moves forward; restore a backup instead")
