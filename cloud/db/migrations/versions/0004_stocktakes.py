"""Stocktakes the cloud asked for and what the gateways reported; cancelled transfers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stocktakes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("zone", sa.String(16)),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("reported_at", sa.DateTime()),
        sa.Column("error", sa.Text()),
        sa.Column("report", sa.Text()),
    )
    op.create_index("ix_stocktakes_store_requested", "stocktakes", ["store", "requested_at"])
    op.add_column("transfers", sa.Column("cancelled_at", sa.DateTime()))


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("cancelled_at")
    op.drop_table("stocktakes")
