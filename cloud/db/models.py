"""The ledger's tables (SQLAlchemy 2 typed models). Alembic migrations create them.

movements is the append-only truth; balances and sku_heads are caches a rebuild reproduces.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
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
        # The console's chain overview: today's sales and shrink of every store, from the index
        # alone (0005; store and qty since 0008).
        Index("ix_movements_kind_time_store_qty", "kind", "occurred_at", "store", "qty"),
    )


class Balance(Base):
    __tablename__ = "balances"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16), primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)
    expiry: Mapped[date | None] = mapped_column(Date)
    # A product across the chain; store and qty in it so the products list sums from the index (0008).
    __table_args__ = (Index("ix_balances_sku_store_qty", "sku", "store", "qty"),)


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


class SetAsideDelta(Base):
    """A seq a gateway sent that the ledger received and did not book: a delta dead-lettered on
    its own, one absorbed by a document already closed, or one of a batch rejected whole. The
    gap detector counts it as received (a resend would bring the same refusal back for ever);
    a delta id set aside is never booked later (a redelivery is a duplicate)."""

    __tablename__ = "set_aside_deltas"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delta_id: Mapped[str | None] = mapped_column(String(64), index=True)  # None: it could not be read
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- orders, channels, transfers, tokens (issue 8) ------------------------------------------


class Store(Base):
    """A ledger location: a shop, or a warehouse (no gateway, no pickup counter; 0010); where it is
    (for nearest-location allocation and transfer distances)."""

    __tablename__ = "stores"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16), default="store",
                                      server_default="store")  # store | warehouse


class Product(Base):
    """Catalogue facts the ledger does not need but people do: name, category, cost (finance)."""

    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    unit_cost: Mapped[float | None] = mapped_column(Float)
    min_stock: Mapped[int] = mapped_column(Integer, default=2)


class StockLevel(Base):
    """Per (store, sku): what may be sold, and what orders hold. The row every reservation races on.

    `sellable` is the ledger's on-hand minus expired lots, written in the same transaction as
    the balances it follows; `reserved` moves only through conditional UPDATEs
    (`... WHERE sellable - reserved - :safety >= :n`), never read-then-written."""

    __tablename__ = "stock_levels"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    sellable: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_stock_levels_sku", "sku"),)


class Channel(Base):
    """A sales channel and its allocation rules (share of available rounded down, min, max)."""

    __tablename__ = "channels"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), default="none")
    safety: Mapped[int] = mapped_column(Integer, default=0)
    share_pct: Mapped[int] = mapped_column(Integer, default=100)
    min_qty: Mapped[int] = mapped_column(Integer, default=0)
    max_qty: Mapped[int | None] = mapped_column(Integer)
    split: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_s: Mapped[int] = mapped_column(Integer, default=900)


class ChannelStore(Base):
    """A store that fulfils a channel: by delivery (ship), by pickup, or both."""

    __tablename__ = "channel_stores"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    ship: Mapped[bool] = mapped_column(Boolean, default=True)
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)


class Listing(Base):
    """A channel's item/SKU ids for one of our GTINs."""

    __tablename__ = "listings"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), default="")
    sku: Mapped[str] = mapped_column(String(14))
    __table_args__ = (Index("ix_listings_sku", "sku"),)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(64))
    # reserved | fulfilled | cancelled | expired (unpaid) | released (stock fell under it: holds.py)
    status: Mapped[str] = mapped_column(String(16))
    fulfilment: Mapped[str] = mapped_column(String(8))  # ship | pickup
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(16))  # api | pos | lot-expired | stock-short
    __table_args__ = (
        UniqueConstraint("channel", "order_id", name="uq_orders_channel_order"),
        Index("ix_orders_status_expires", "status", "expires_at"),
    )


class Reservation(Base):
    """Units of one order line held in one store (FEFO lot when the book knows one)."""

    __tablename__ = "reservations"
    order: Mapped[str] = mapped_column(String(40), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    lot: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14))
    qty: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_reservations_store_sku", "store", "sku"),)


class Transfer(Base):
    __tablename__ = "transfers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    from_store: Mapped[str] = mapped_column(String(32))
    to_store: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # in_transit | received | cancelled
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_by: Mapped[str | None] = mapped_column(String(16))  # api | rfid
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # units booked back at the source
    __table_args__ = (Index("ix_transfers_status", "status"),)


class TransferLine(Base):
    __tablename__ = "transfer_lines"
    transfer: Mapped[str] = mapped_column(String(40), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(14))
    qty: Mapped[int] = mapped_column(Integer)
    lot: Mapped[str] = mapped_column(String(128), default=NO_LOT)  # the lot that left, FEFO
    expiry: Mapped[date | None] = mapped_column(Date)


class Stocktake(Base):
    """An RFID stocktake the cloud asked a gateway for, and what the gateway reported back
    (contract §5, the `stocktakes` stream). Its counts reach the ledger as `count` deltas."""

    __tablename__ = "stocktakes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    store: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # requested | done | failed
    seconds: Mapped[float] = mapped_column(Float)  # the deadline asked for
    zone: Mapped[str | None] = mapped_column(String(16))  # None: every zone
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    requested_by: Mapped[str | None] = mapped_column(String(64))  # the token's name
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)  # why the gateway could not count
    report: Mapped[str | None] = mapped_column(Text)  # the report's JSON, as checked by the contract
    __table_args__ = (Index("ix_stocktakes_store_requested", "store", "requested_at"),)


class ApiToken(Base):
    """A bearer token (only its SHA-256 is kept): hq sees everything, store its own store,
    finance reads everything including cost and writes nothing."""

    __tablename__ = "api_tokens"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    store: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- the console (issue 16) ------------------------------------------------------------------


class GatewaySnapshot(Base):
    """What a gateway last said beyond its state (`gateways`): the details of its newest online
    status (version, outbox, devices) and its retained shelves snapshot, as the contract's JSON."""

    __tablename__ = "gateway_snapshots"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str | None] = mapped_column(String(128))
    outbox_depth: Mapped[int | None] = mapped_column(Integer)
    oldest_unsent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: nothing waits
    devices: Mapped[str | None] = mapped_column(Text)  # {"scale-bus:bus-1": "online", ...}
    online_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # received its last online status
    shelves: Mapped[str | None] = mapped_column(Text)  # [BinView JSON, ...]
    shelves_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The snapshot's empty and low bins, counted when it is kept: the chain overview reads these
    # for every store instead of every store's bins (0008).
    empty_bins: Mapped[int | None] = mapped_column(Integer)
    low_bins: Mapped[int | None] = mapped_column(Integer)


class StoreAlert(Base):
    """One staff alert of a store's gateway (contract AlertNotice) with its history: one row per
    raising of a condition, its states [[status, at], ...] in the order they happened."""

    __tablename__ = "store_alerts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # digest of store/gateway/key/raised_at
    store: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    aisle: Mapped[str] = mapped_column(String(128))
    title_en: Mapped[str] = mapped_column(Text)
    title_zh: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # open | acked | resolved: the newest state
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the newest state began
    history: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_store_alerts_store_status", "store", "status", "raised_at"),)


class ConsoleSession(Base):
    """A signed-in console: only the SHA-256 of its cookie is kept, and the digest of the API token
    it signed in with (so a revoked token ends its sessions), never the token."""

    __tablename__ = "console_sessions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))  # the synchroniser token its forms carry
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)  # idle expiry counts from here
    __table_args__ = (Index("ix_console_sessions_seen", "seen_at"),)


class SigninFailure(Base):
    """Failed console sign-ins per client address, for the lockout that slows guessing."""

    __tablename__ = "console_signin_failures"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- setup without code and its audit (issue 16) -----------------------------------------------


class AuditEntry(Base):
    """One change of the chain's settings (append-only: the migration refuses UPDATE and DELETE):
    who made it, when, what (`action` on `target`), and the values before and after as JSON."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    who: Mapped[str] = mapped_column(String(128))  # the token's name and role: "admin (hq)"
    action: Mapped[str] = mapped_column(String(64))  # e.g. product.put, listings.import
    target: Mapped[str] = mapped_column(String(256))  # e.g. product:00950123456782
    before: Mapped[str | None] = mapped_column(Text)  # None: it did not exist
    after: Mapped[str | None] = mapped_column(Text)  # None: it was removed
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target", "at"))


class ShelfSetting(Base):
    """What head office set for one store's staff alerts, overriding the gateway's TOML: a bin's
    (kind "bin", key the bin id) or a product's (kind "sku", key its GTIN-14) product name and
    refill threshold; None leaves the TOML's value."""

    __tablename__ = "shelf_settings"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    product: Mapped[str | None] = mapped_column(String(128))
    refill_at: Mapped[int | None] = mapped_column(Integer)


class StoreSettingsVersion(Base):
    """Each store's settings version: one more at every change, sent with the settings, and
    compared with the version a gateway's status says it applied."""

    __tablename__ = "store_settings_versions"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GatewaySettingsState(Base):
    """Per gateway: the settings version its status last reported applied, and the last one sent."""

    __tablename__ = "gateway_settings_state"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32), primary_key=True)
    applied: Mapped[int | None] = mapped_column(BigInteger)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ChannelExport(Base):
    """A channel without an API gets its figures as a spreadsheet: how often one is written to the
    export directory (None: on demand only), and how the last run went."""

    __tablename__ = "channel_exports"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    every_s: Mapped[int | None] = mapped_column(Integer)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_rows: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


# --- buying and replenishment (issue 17) --------------------------------------------------------


class Supplier(Base):
    __tablename__ = "suppliers"
    supplier: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")


class BuyingTerm(Base):
    """What buying one SKU from one supplier involves. Of a SKU's suppliers the replenishment run
    buys from the cheapest (then the quickest, then the first by id)."""

    __tablename__ = "buying_terms"
    supplier: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    lead_mean_days: Mapped[float] = mapped_column(Float)
    lead_sd_days: Mapped[float] = mapped_column(Float, default=0.0)
    pack: Mapped[int] = mapped_column(Integer, default=1)
    minimum: Mapped[int] = mapped_column(Integer, default=0)  # units per order, at least
    unit_cost: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (Index("ix_buying_terms_sku", "sku"),)


class ShelfCapacity(Base):
    """Most units of a SKU a location holds (shelf and backroom); none: no cap."""

    __tablename__ = "shelf_capacities"
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)


class ShelfLife(Base):
    """Days a unit of a SKU can be sold after it is received; none: not perishable."""

    __tablename__ = "shelf_lives"
    sku: Mapped[str] = mapped_column(String(14), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)


class ReplenishmentRun(Base):
    """One replenishment run (on demand or nightly) and how it went. A nightly run names its
    night: one row per night, so of several workers only the first to insert it runs."""

    __tablename__ = "replenishment_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # api | nightly
    night: Mapped[date | None] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    requested_by: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)  # JSON: series, suggestions, seconds
    __table_args__ = (Index("ix_replenishment_runs_started", "started_at"),)


class ReplenishmentSuggestion(Base):
    """What a run suggests: a purchase (supplier → location), a transfer (source → location) or an
    emergency alert (level 1–3: one store short, several, the region)."""

    __tablename__ = "replenishment_suggestions"
    run: Mapped[str] = mapped_column(String(40), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # purchase | transfer | emergency
    sku: Mapped[str] = mapped_column(String(14))
    location: Mapped[str] = mapped_column(String(32))  # where the units go (an emergency: the region)
    source: Mapped[str | None] = mapped_column(String(32))  # a transfer's sending location
    supplier: Mapped[str | None] = mapped_column(String(32))
    units: Mapped[int] = mapped_column(Integer)  # an emergency: units short
    unit_cost: Mapped[float | None] = mapped_column(Float)
    level: Mapped[int | None] = mapped_column(Integer)  # an emergency's level
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: levels, position, why smaller, stores
    acted: Mapped[str | None] = mapped_column(String(40))  # the transfer made from it, once
    # (run, kind) first for every read of a run's suggestions of one kind; then supplier and line:
    # the console's first lines of each supplier are read from the index (migration 0012)
    __table_args__ = (
        Index("ix_replenishment_suggestions_run_kind_supplier", "run", "kind", "supplier", "line"),)


class ReplenishmentSetting(Base):
    """One of the chain's replenishment settings (cloud/db/replenishment_settings.py), its value as
    JSON: the chain's own promotions, fill-rate targets per category, store sizes, transfer
    distance, opening hours, the nightly run's time, runs kept. A setting without a row: its default."""

    __tablename__ = "replenishment_settings"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PurchaseOrder(Base):
    """An order to a supplier for one location: draft → sent → partial → received (or cancelled
    before any receipt). `suggested` (run/supplier/location) makes a draft from a run's suggestion
    once."""

    __tablename__ = "purchase_orders"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    supplier: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    suggested: Mapped[str | None] = mapped_column(String(128), unique=True)
    __table_args__ = (Index("ix_purchase_orders_status", "status", "location"),)


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    po: Mapped[str] = mapped_column(String(40), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(14))
    qty: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[float | None] = mapped_column(Float)
    received: Mapped[int] = mapped_column(Integer, default=0)


class PurchaseReceipt(Base):
    """A delivery booked against a purchase order, by its delivery note: the same note books once."""

    __tablename__ = "purchase_receipts"
    po: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lines: Mapped[str] = mapped_column(Text)  # JSON: [{"line", "qty", "lot", "expiry"}]


__all__ = ["NO_LOT", "ApiToken", "AuditEntry", "Balance", "Base", "BuyingTerm", "Channel", "ChannelExport",
           "ChannelStore", "Checkpoint", "ConsoleSession", "DeadLetter", "Gateway", "GatewaySettingsState",
           "GatewaySnapshot", "Listing", "Lot", "Movement", "Order", "Product", "PurchaseOrder",
           "PurchaseOrderLine", "PurchaseReceipt", "ReplenishmentRun", "ReplenishmentSetting",
           "ReplenishmentSuggestion",
           "Reservation", "ShelfCapacity", "ShelfLife", "ShelfSetting", "SigninFailure", "SkuHead",
           "StockLevel", "Stocktake", "Store", "StoreAlert", "StoreSettingsVersion", "Supplier",
           "Transfer", "TransferLine"]
