"""What the console reads for a 200-store chain, made cheap (`shelfsync bench console`):

- gateway_snapshots.empty_bins and low_bins: a shelves snapshot's empty and low bins, counted
  when it is kept, so the chain overview reads two numbers per gateway instead of every store's
  bins as JSON (megabytes for 200 stores, parsed on every refresh). Snapshots kept before this are
  counted here, by the same rule (cloud/db/gateway_snapshots.py bin_state).
- movements (kind, occurred_at, store, qty) replaces (kind, occurred_at): the overview's units
  sold and shrunk today per store are read from the index alone.
- balances (sku, store, qty) replaces (sku): the products list sums units per product and counts
  the stores holding them from the index alone (a product's rows are spread over every store's
  pages of the table).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _counts(shelves: str | None) -> tuple[int, int]:
    """(empty, low) as gateway_snapshots.bin_state decides: available, counted, 0 or at most refill_at."""
    empty = low = 0
    try:
        bins = json.loads(shelves) if shelves else []
    except ValueError:
        return 0, 0
    for b in bins:
        count, refill_at = b.get("count"), b.get("refill_at")
        if not b.get("available") or count is None:
            continue
        if count == 0:
            empty += 1
        elif refill_at is not None and count <= refill_at:
            low += 1
    return empty, low


def upgrade() -> None:
    op.add_column("gateway_snapshots", sa.Column("empty_bins", sa.Integer()))
    op.add_column("gateway_snapshots", sa.Column("low_bins", sa.Integer()))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT store, gateway, shelves FROM gateway_snapshots "
                                "WHERE shelves IS NOT NULL")).all()
    for store, gateway, shelves in rows:
        empty, low = _counts(shelves)
        bind.execute(sa.text("UPDATE gateway_snapshots SET empty_bins = :e, low_bins = :l "
                             "WHERE store = :s AND gateway = :g"),
                     {"e": empty, "l": low, "s": store, "g": gateway})
    op.create_index("ix_movements_kind_time_store_qty", "movements", ["kind", "occurred_at", "store", "qty"])
    op.drop_index("ix_movements_kind_time", table_name="movements")
    op.create_index("ix_balances_sku_store_qty", "balances", ["sku", "store", "qty"])
    op.drop_index("ix_balances_sku", table_name="balances")


def downgrade() -> None:
    op.create_index("ix_balances_sku", "balances", ["sku"])
    op.drop_index("ix_balances_sku_store_qty", table_name="balances")
    op.create_index("ix_movements_kind_time", "movements", ["kind", "occurred_at"])
    op.drop_index("ix_movements_kind_time_store_qty", table_name="movements")
    op.drop_column("gateway_snapshots", "low_bins")
    op.drop_column("gateway_snapshots", "empty_bins")
