"""The status map's tables (issue 13): `rl_map_nodes` and `rl_map_values`, versioned rows never rewritten.

No existing row changes.  The checkpoints signed before this revision carry no `regledger-map/v1` line;
the first integration after it finds its base checkpoint without one and builds the map over the whole
log (ledger.statusmap.grow_map), so the next checkpoint is the first with a map root.  The state cache is
not touched.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    if not have.has_table("rl_map_nodes"):
        op.create_table(
            "rl_map_nodes",
            sa.Column("depth", sa.Integer(), nullable=False, autoincrement=False),
            sa.Column("prefix", sa.LargeBinary(), nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("content", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("depth", "prefix", "version"),
        )
    if not have.has_table("rl_map_values"):
        op.create_table(
            "rl_map_values",
            sa.Column("key", sa.String(512), nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("value", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("key", "version"),
        )


def downgrade() -> None:
    raise NotImplementedError("the ledger's schema only moves forward; restore a backup instead")
