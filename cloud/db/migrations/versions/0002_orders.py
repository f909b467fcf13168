"""Orders without overselling: stores, products, stock levels, channels, listings, orders,
reservations, transfers and API tokens (issue 8).

stock_levels is filled from the balances that exist, so a ledger migrated from 0001 can take
orders at once (expired lots are taken out by the service's first sweep).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, server_default=""),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
    )
    op.create_table(
        "products",
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, server_default=""),
        sa.Column("category", sa.String(64), nullable=False, server_default=""),
        sa.Column("unit_cost", sa.Float()),
        sa.Column("min_stock", sa.Integer(), nullable=False, server_default="2"),
    )
    op.create_table(
        "stock_levels",
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(14), primary_key=True),
        sa.Column("sellable", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_stock_levels_sku", "stock_levels", ["sku"])
    op.execute("INSERT INTO stock_levels (store, sku, sellable, reserved) "
               "SELECT store, sku, SUM(qty), 0 FROM balances GROUP BY store, sku")
    op.create_table(
        "channels",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False, server_default="none"),
        sa.Column("safety", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("share_pct", sa.Integer(), nullable=False, server_default="100"),
        sa.Column("min_qty", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_qty", sa.Integer()),
        sa.Column("split", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hold_s", sa.Integer(), nullable=False, server_default="900"),
    )
    op.create_table(
        "channel_stores",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("ship", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("pickup", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "listings",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("channel_sku", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("sku", sa.String(14), nullable=False),
    )
    op.create_index("ix_listings_sku", "listings", ["sku"])
    op.create_table(
        "orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fulfilment", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("closed_by", sa.String(16)),
        sa.UniqueConstraint("channel", "order_id", name="uq_orders_channel_order"),
    )
    op.create_index("ix_orders_status_expires", "orders", ["status", "expires_at"])
    op.create_table(
        "reservations",
        sa.Column("order", sa.String(40), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("store", sa.String(32), primary_key=True),
        sa.Column("lot", sa.String(128), primary_key=True),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
    )
    op.create_index("ix_reservations_store_sku", "reservations", ["store", "sku"])
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("from_store", sa.String(32), nullable=False),
        sa.Column("to_store", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime()),
        sa.Column("received_by", sa.String(16)),
    )
    op.create_index("ix_transfers_status", "transfers", ["status"])
    op.create_table(
        "transfer_lines",
        sa.Column("transfer", sa.String(40), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(128), nullable=False, server_default=""),
        sa.Column("expiry", sa.Date()),
    )
    op.create_table(
        "api_tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("store", sa.String(32)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
    )


def downgrade() -> None:
    for table in ("api_tokens", "transfer_lines", "transfers", "reservations", "orders", "listings",
                  "channel_stores", "channels", "stock_levels", "products", "stores"):
        op.drop_table(table)
