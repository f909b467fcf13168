"""The stock ledger: movements, balances, lots, SKU heads and checkpoints, gateways, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "movements",
        sa.Column("pos", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(16), nullable=False),
        sa.Column("from_zone", sa.String(16)),
        sa.Column("lot", sa.String(128), nullable=False),
        sa.Column("expiry", sa.Date()),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("bin", sa.String(128)),
        sa.Column("ref", sa.String(128)),
        sa.Column("evidence", sa.Text()),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("id", name="uq_movements_id"),
    )
    op.create_index("ix_movements_store_sku_time", "movements", ["store", "sku", "occurred_at", "id"])
    op.create_index("ix_movements_store_pos", "movements", ["store", "pos"])
    op.create_index("ix_movements_gateway_seq", "movements", ["store", "gateway", "seq"])
    op.create_table(
        "balances",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("zone", sa.String(16), primary_key=True),
        sa.Column("lot", sa.String(128), primary_key=True),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.Date()),
    )
    op.create_index("ix_balances_sku", "balances", ["sku"])
    op.create_table(
        "lots",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("lot", sa.String(128), primary_key=True),
        sa.Column("expiry", sa.Date()),
    )
    op.create_table(
        "sku_heads",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("head_at", sa.DateTime(), nullable=False),
        sa.Column("head_id", sa.String(64), nullable=False),
        sa.Column("since_checkpoint", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "sku_checkpoints",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("at", sa.DateTime(), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("book", sa.Text(), nullable=False),
    )
    op.create_table(
        "gateways",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("gateway", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16)),
        sa.Column("status_at", sa.DateTime()),
        sa.Column("last_batch_at", sa.DateTime()),
        sa.Column("max_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("deltas", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("dead_letters", "gateways", "sku_checkpoints", "sku_heads", "lots", "balances",
                  "movements"):
        op.drop_table(table)
