"""The ledger's tables (SQLAlchemy 2 typed models). Alembic migrations create them.

movements is the append-only truth; balances and sku_heads are caches a rebuild reproduces.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NO_LOT = ""  # NULLs are distinct in unique keys, so "no lot" is stored as the empty string


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, naive UTC stored (SQLite has no time zones), aware UTC out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    })


class Movement(Base):
    __tablename__ = "movements"
    pos: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    store: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    sku: Mapped[str] = mapped_column(String(14))
    kind: Mapped[str] = mapped_column(String(16))
    qty: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(16))
    from_zone: Mapped[str | None] = mapped_column(String(16))
    lot: Mapped[str] = mapped_column(String(128), default=NO_LOT)
    expiry: Mapped[date | None] = mapped_column(Date)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    bin: Mapped[str | None] = mapped_column(String(128))
    ref: Mapped[str | None] = mapped_column(String(128))
    evidence: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = (
        Index("ix_movements_store_sku_time", "store", "sku", "occurred_at", "id"),
        Index("ix_movements_store_pos", "store", "pos"),
        Index("ix_movements_gateway_seq", "store", "gateway", "seq"),
    )


class Balance(Base):
    __tablename__ = "balances"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16), primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)
    expiry: Mapped[date | None] = mapped_column(Date)


class Lot(Base):
    """Each lot's expiry, kept even when the lot's stock is zero (FEFO needs it when it returns)."""

    __tablename__ = "lots"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    expiry: Mapped[date | None] = mapped_column(Date)


class SkuHead(Base):
    """Per (store, sku): the newest movement applied, and a version for compare-and-set."""

    __tablename__ = "sku_heads"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    head_at: Mapped[datetime] = mapped_column(UtcDateTime)
    head_id: Mapped[str] = mapped_column(String(64))
    since_checkpoint: Mapped[int] = mapped_column(Integer, default=0)


class Checkpoint(Base):
    """A SKU's book as of one position in its history, so a late movement replays only the tail.

    Valid only while no movement older than its position arrives: such an arrival deletes every
    checkpoint at or after it."""

    __tablename__ = "sku_checkpoints"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    book: Mapped[str] = mapped_column(Text)


class Gateway(Base):
    __tablename__ = "gateways"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_batch_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    deltas: Mapped[int] = mapped_column(BigInteger, default=0)


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    topic: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


__all__ = ["NO_LOT", "Balance", "Base", "Checkpoint", "DeadLetter", "Gateway", "Lot", "Movement", "SkuHead"]
