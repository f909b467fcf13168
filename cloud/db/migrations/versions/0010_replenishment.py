"""Replenishment (issue 17): warehouses, buying master data, runs and purchase orders.

- stores.kind: "store" (a shop with its gateway) or "warehouse" (a ledger location without a
  gateway: receipts, transfers to stores and online orders shipped from it). Every existing row is
  a store.
- suppliers; buying_terms per supplier × SKU (lead time mean and spread in days, pack, minimum
  order in units, unit cost); shelf_capacities per location × SKU; shelf_lives per SKU (days).
- replenishment_runs (a nightly run's night is unique: one worker runs it) and the suggestions
  each run stores; purchase_orders with their lines and receipts (one per delivery note).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stores", sa.Column("kind", sa.String(16), nullable=False, server_default="store"))
    op.create_table(
        "suppliers",
        sa.Column("supplier", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("supplier", name="pk_suppliers"),
    )
    op.create_table(
        "buying_terms",
        sa.Column("supplier", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("lead_mean_days", sa.Float(), nullable=False),
        sa.Column("lead_sd_days", sa.Float(), nullable=False),
        sa.Column("pack", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Float()),
        sa.PrimaryKeyConstraint("supplier", "sku", name="pk_buying_terms"),
    )
    op.create_index("ix_buying_terms_sku", "buying_terms", ["sku"])
    op.create_table(
        "shelf_capacities",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store", "sku", name="pk_shelf_capacities"),
    )
    op.create_table(
        "shelf_lives",
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku", name="pk_shelf_lives"),
    )
    op.create_table(
        "replenishment_runs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("night", sa.Date()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("requested_by", sa.String(128)),
        sa.Column("error", sa.Text()),
        sa.Column("summary", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_replenishment_runs"),
        sa.UniqueConstraint("night", name="uq_replenishment_runs_night"),
    )
    op.create_index("ix_replenishment_runs_started", "replenishment_runs", ["started_at"])
    op.create_table(
        "replenishment_suggestions",
        sa.Column("run", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("location", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32)),
        sa.Column("supplier", sa.String(32)),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Float()),
        sa.Column("level", sa.Integer()),
        sa.Column("detail", sa.Text()),
        sa.Column("acted", sa.String(40)),
        sa.PrimaryKeyConstraint("run", "line", name="pk_replenishment_suggestions"),
    )
    op.create_index("ix_replenishment_suggestions_run_kind", "replenishment_suggestions", ["run", "kind"])
    op.create_table(
        "purchase_orders",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("supplier", sa.String(32), nullable=False),
        sa.Column("location", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("suggested", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_purchase_orders"),
        sa.UniqueConstraint("suggested", name="uq_purchase_orders_suggested"),
    )
    op.create_index("ix_purchase_orders_status", "purchase_orders", ["status", "location"])
    op.create_table(
        "purchase_order_lines",
        sa.Column("po", sa.String(40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(14), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Float()),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("po", "line", name="pk_purchase_order_lines"),
    )
    op.create_table(
        "purchase_receipts",
        sa.Column("po", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("po", "ref", name="pk_purchase_receipts"),
    )


def downgrade() -> None:
    for table in ("purchase_receipts", "purchase_order_lines"):
        op.drop_table(table)
    op.drop_index("ix_purchase_orders_status", table_name="purchase_orders")
    op.drop_table("purchase_orders")
    op.drop_index("ix_replenishment_suggestions_run_kind", table_name="replenishment_suggestions")
    op.drop_table("replenishment_suggestions")
    op.drop_index("ix_replenishment_runs_started", table_name="replenishment_runs")
    op.drop_table("replenishment_runs")
    for table in ("shelf_lives", "shelf_capacities"):
        op.drop_table(table)
    op.drop_index("ix_buying_terms_sku", table_name="buying_terms")
    op.drop_table("buying_terms")
    op.drop_table("suppliers")
    with op.batch_alter_table("stores") as t:  # SQLite drops a column by copying the table
        t.drop_column("kind")
