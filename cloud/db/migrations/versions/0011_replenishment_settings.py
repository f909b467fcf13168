"""Replenishment settings (issue 17): the chain's own promotions, fill-rate targets per category,
store sizes, transfer distance, opening hours, the nightly run's time and how many runs are kept,
one row per setting with its value as JSON (cloud/db/replenishment_settings.py).

Revision ID: 0011_replenishment_settings
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_replenishment_settings"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replenishment_settings",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_replenishment_settings"),
    )


def downgrade() -> None:
    op.drop_table("replenishment_settings")
