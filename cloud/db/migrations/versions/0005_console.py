"""The console: gateway snapshots (status details, shelves), store alerts with their history,
console sessions and failed sign-ins; an index for the overview's figures of the day.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_snapshots",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("version", sa.String(128)),
        sa.Column("outbox_depth", sa.Integer()),
        sa.Column("oldest_unsent_at", sa.DateTime()),
        sa.Column("devices", sa.Text()),
        sa.Column("online_at", sa.DateTime()),
        sa.Column("shelves", sa.Text()),
        sa.Column("shelves_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("store", "gateway", name="pk_gateway_snapshots"),
    )
    op.create_table(
        "store_alerts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("aisle", sa.String(128), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("title_zh", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("history", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_alerts"),
    )
    op.create_index("ix_store_alerts_store_status", "store_alerts", ["store", "status", "raised_at"])
    op.create_table(
        "console_sessions",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_seen", "console_sessions", ["seen_at"])
    op.create_table(
        "console_signin_failures",
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime()),
        sa.PrimaryKeyConstraint("address", name="pk_console_signin_failures"),
    )
    op.create_index("ix_movements_kind_time", "movements", ["kind", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_movements_kind_time", "movements")
    op.drop_table("console_signin_failures")
    op.drop_index("ix_console_sessions_seen", "console_sessions")
    op.drop_table("console_sessions")
    op.drop_index("ix_store_alerts_store_status", "store_alerts")
    op.drop_table("store_alerts")
    op.drop_table("gateway_snapshots")
