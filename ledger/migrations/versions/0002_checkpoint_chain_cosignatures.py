"""The checkpoint chain (`rl_checkpoints.prev_size`) and the cosignature table.

Both were added on open by the code of their time, so a database may have either already: each is
added only if missing.  `prev_size` is filled from the stored sizes (the size each checkpoint replaced
as the latest); the checkpoints' notes are not touched.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    if not any(c["name"] == "prev_size" for c in have.get_columns("rl_checkpoints")):
        op.add_column("rl_checkpoints", sa.Column("prev_size", sa.BigInteger(), nullable=True))
        op.execute(
            "UPDATE rl_checkpoints SET prev_size = (SELECT MAX(c.size) FROM rl_checkpoints c "
            "WHERE c.size < rl_checkpoints.size)"
        )
    if not have.has_table("rl_cosignatures"):
        op.create_table(
            "rl_cosignatures",
            sa.Column("origin", sa.String(256), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("cosigner", sa.String(512), nullable=False),
            sa.Column("line", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("origin", "size", "cosigner"),
        )


def downgrade() -> None:
    raise NotImplementedError("the ledger's schema only moves forward; restore a backup instead")
