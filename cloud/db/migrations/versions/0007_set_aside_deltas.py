"""Deltas a gateway sent that the ledger received and did not book (set aside): one dead-lettered on
its own (dated beyond the cloud's clock, a dock read of a cancelled transfer), one absorbed by a
document already closed through the API, or the readable seqs of a batch rejected whole. The gap
detector counts their seqs as received, so it does not ask the gateway for them again and again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "set_aside_deltas",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("delta_id", sa.String(64)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("store", "gateway", "seq", name="pk_set_aside_deltas"),
    )
    op.create_index("ix_set_aside_deltas_delta_id", "set_aside_deltas", ["delta_id"])


def downgrade() -> None:
    op.drop_index("ix_set_aside_deltas_delta_id", table_name="set_aside_deltas")
    op.drop_table("set_aside_deltas")
