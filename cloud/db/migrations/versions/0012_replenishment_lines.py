"""The console's replenishment page reads the first lines of each supplier of a run's purchases:
the index on replenishment_suggestions (run, kind) becomes (run, kind, supplier, line), so each
supplier's first lines are read from it in order (cloud/db/replenishment_views.py purchase_lines)
instead of numbering every purchase of the run. Every read by run and kind still has its prefix.

Revision ID: 0012
Revises: 0011_replenishment_settings
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011_replenishment_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_replenishment_suggestions_run_kind_supplier", "replenishment_suggestions",
                    ["run", "kind", "supplier", "line"])
    op.drop_index("ix_replenishment_suggestions_run_kind", table_name="replenishment_suggestions")


def downgrade() -> None:
    op.create_index("ix_replenishment_suggestions_run_kind", "replenishment_suggestions", ["run", "kind"])
    op.drop_index("ix_replenishment_suggestions_run_kind_supplier", table_name="replenishment_suggestions")
