"""Setup without code: the audit log (append-only), the shelf settings head office sets per store
(a bin's or a product's name and refill threshold) with their version and what each gateway
applied, and the spreadsheet exports of channels without an API.

The audit log refuses UPDATE and DELETE by trigger on both engines, so no code path, present or
future, can rewrite what was recorded (SQLite: RAISE(ABORT) in a BEFORE trigger, SQLite "CREATE
TRIGGER"; PostgreSQL: a PL/pgSQL trigger function that raises).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_REFUSE = "audit_log is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END")
    op.create_table(
        "shelf_settings",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("product", sa.String(128)),
        sa.Column("refill_at", sa.Integer()),
        sa.PrimaryKeyConstraint("store", "kind", "key", name="pk_shelf_settings"),
    )
    op.create_table(
        "store_settings_versions",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("store", name="pk_store_settings_versions"),
    )
    op.create_table(
        "gateway_settings_state",
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("applied", sa.BigInteger()),
        sa.Column("reported_at", sa.DateTime()),
        sa.Column("sent", sa.BigInteger()),
        sa.Column("sent_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("store", "gateway", name="pk_gateway_settings_state"),
    )
    op.create_table(
        "channel_exports",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("every_s", sa.Integer()),
        sa.Column("last_run_at", sa.DateTime()),
        sa.Column("last_ok", sa.Boolean()),
        sa.Column("last_rows", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_exports"),
    )


def downgrade() -> None:
    op.drop_table("channel_exports")
    op.drop_table("gateway_settings_state")
    op.drop_table("store_settings_versions")
    op.drop_table("shelf_settings")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_refuse()")
    op.drop_index("ix_audit_log_target", "audit_log")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
