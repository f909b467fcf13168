"""Platform sync: a record of every push to a sales platform.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "platform_pushes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("sku_id", sa.String(64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer()),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_platform_pushes_listing", "platform_pushes", ["channel", "sku_id", "id"])
    op.create_index("ix_platform_pushes_started", "platform_pushes", ["started_at"])


def downgrade() -> None:
    op.drop_table("platform_pushes")
