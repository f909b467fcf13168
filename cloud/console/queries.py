"""What the console's pages read, as values the templates show: the chain overview's rows, a
store's shelf map, stock, movements, alerts and stocktakes, a product's stock and listings.

Read-only. The ledger's own reads (queries.store_stock, stocktakes.find, the gateway snapshots and
store alerts in cloud/db/) are reused; what is new here are the page-shaped reads (a day's sales
per store, the newest movements with their evidence, a product's lots, the last push of each
listing). Roles are applied by the caller: every function takes the stores it may show.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, union
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.channels import records
from cloud.channels.availability import sku_figures_by_channel
from cloud.console.queries_orders import Page, page_of
from cloud.console.queries_today import Figures, todays_figures
from cloud.db import ledger
from cloud.db.gateway_snapshots import GatewayView, bin_state, gateway_views
from cloud.db.models import Balance, Gateway, Listing, Lot, Movement, Product, StockLevel, Store
from cloud.db.orders import channel_configs
from cloud.db.posting import books_of
from cloud.db.reads import item_json
from cloud.db.store_alerts import open_counts
from shared.contract import BinView

STALE_OUTBOX = timedelta(minutes=5)  # an unsent delta older than this needs a look


def day_start(now: datetime, tz: tzinfo) -> datetime:
    """Midnight of `now`'s day in the chain's time zone, as an aware datetime."""
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# --- the chain overview ----------------------------------------------------------------------

@dataclass
class StoreRow:
    store: str
    name: str
    gateways: list[GatewayView] = field(default_factory=list)
    open_alerts: int = 0
    sold_today: int = 0
    shrink_today: int = 0
    empty_bins: int = 0
    low_bins: int = 0

    @property
    def state(self) -> str:
        """online (every gateway), offline (any), unknown (no status yet) or none (no gateway)."""
        if not self.gateways:
            return "none"
        states = {g.state for g in self.gateways}
        if "offline" in states:
            return "offline"
        return "online" if states == {"online"} else "unknown"

    @property
    def last_seen(self) -> datetime | None:
        seen = [g.last_seen for g in self.gateways if g.last_seen is not None]
        return max(seen) if seen else None

    @property
    def outbox_depth(self) -> int | None:
        depths = [g.outbox_depth for g in self.gateways if g.outbox_depth is not None]
        return sum(depths) if depths else None

    @property
    def oldest_unsent_at(self) -> datetime | None:
        times = [g.oldest_unsent_at for g in self.gateways if g.oldest_unsent_at is not None]
        return min(times) if times else None

    @property
    def devices(self) -> dict[str, tuple[int, int]]:
        """(up, down) per device kind over the store's gateways."""
        out: dict[str, tuple[int, int]] = {}
        for kind in ("reader", "scale-bus", "camera"):
            up = sum(g.devices_of(kind)[0] for g in self.gateways)
            down = sum(g.devices_of(kind)[1] for g in self.gateways)
            out[kind] = (up, down)
        return out

    @property
    def devices_down(self) -> int:
        return sum(d for _, d in self.devices.values())

    def needs_attention(self, now: datetime) -> bool:
        oldest = self.oldest_unsent_at
        return (self.state == "offline" or self.devices_down > 0 or self.open_alerts > 0
                or self.empty_bins > 0 or (oldest is not None and now - oldest > STALE_OUTBOX))


SORTS = {
    "store": lambda r: (r.store,),
    "state": lambda r: ({"offline": 0, "unknown": 1, "none": 2, "online": 3}[r.state], r.store),
    "seen": lambda r: (r.last_seen.timestamp() if r.last_seen else 0.0, r.store),
    "outbox": lambda r: (r.outbox_depth or 0, r.store),
    "alerts": lambda r: (r.open_alerts, r.store),
    "sold": lambda r: (r.sold_today, r.store),
    "shrink": lambda r: (r.shrink_today, r.store),
    "empty": lambda r: (r.empty_bins, r.store),
}


async def known_stores(session: AsyncSession, only: Collection[str] | None = None) -> dict[str, str]:
    """Stores hq registered or whose gateways reported, with their names."""
    ids = union(select(Store.store), select(Gateway.store)).subquery()
    q = select(ids.c.store, Store.name).outerjoin(Store, Store.store == ids.c.store).order_by(ids.c.store)
    if only is not None:
        q = q.where(ids.c.store.in_(list(only)))
    return {s: name or "" for s, name in (await session.execute(q)).all()}


async def store_exists(session: AsyncSession, store: str) -> bool:
    """Registered, heard from, or in the ledger (a store's movements can arrive before anything)."""
    return await store_name(session, store) is not None


async def store_name(session: AsyncSession, store: str) -> str | None:
    """A store's name ("" when it has none), or None when the cloud knows nothing of it: neither
    registered, heard from, nor in the ledger."""
    names = await known_stores(session, [store])
    if names:
        return names[store]
    in_ledger = await session.scalar(select(Movement.pos).where(Movement.store == store).limit(1))
    return "" if in_ledger is not None else None


async def overview_rows(session: AsyncSession, since: datetime, stores: Collection[str] | None = None,
                        today: Figures | None = None) -> list[StoreRow]:
    """One row per store (of `stores`, when given: a store token's own). `today`: the day's units
    sold and shrunk per store when the caller keeps them (queries_today.TodayFigures), else read
    here."""
    names = await known_stores(session, stores)
    rows = {s: StoreRow(s, name) for s, name in names.items()}
    ids = None if stores is None else list(rows)  # every store: no list of 200 names to match
    for g in await gateway_views(session, ids, bins=False):  # the counts, not every bin
        row = rows[g.store]
        row.gateways.append(g)
        row.empty_bins += g.empty_bins
        row.low_bins += g.low_bins
    for store, n in (await open_counts(session, ids)).items():
        if store in rows:
            rows[store].open_alerts = n
    if today is None:
        today = await todays_figures(session, since, ids)
    for store, figures in today.items():
        if store in rows:
            rows[store].sold_today = figures.get("sale", 0)
            rows[store].shrink_today = figures.get("shrink", 0)
    return list(rows.values())


def sort_rows(rows: list[StoreRow], key: str, descending: bool) -> list[StoreRow]:
    return sorted(rows, key=SORTS.get(key, SORTS["store"]), reverse=descending)


def filter_rows(rows: list[StoreRow], text: str, state: str, now: datetime) -> list[StoreRow]:
    text = text.strip().lower()
    out = [r for r in rows if not text or text in r.store.lower() or text in r.name.lower()]
    if state == "offline":
        out = [r for r in out if r.state == "offline"]
    elif state == "attention":
        out = [r for r in out if r.needs_attention(now)]
    return out


# --- one store ----------------------------------------------------------------------------------

async def product_names(session: AsyncSession, skus: Collection[str]) -> dict[str, str]:
    if not skus:
        return {}
    q = select(Product.sku, Product.name).where(Product.sku.in_(sorted(set(skus))))
    return {sku: name for sku, name in (await session.execute(q)).all() if name}


@dataclass(frozen=True, slots=True)
class Aisle:
    name: str
    bins: list[tuple[str, BinView]]  # (gateway, bin)


def aisle_of(bin_id: str) -> str:
    """The aisle a bin id names: "A1-2" → "A1" (the convention of the shelf configs and alerts)."""
    head, sep, _ = bin_id.rpartition("-")
    return head if sep else bin_id


def shelf_map(gateways: Sequence[GatewayView]) -> list[Aisle]:
    aisles: dict[str, list[tuple[str, BinView]]] = defaultdict(list)
    for g in gateways:
        for b in g.bins:
            aisles[aisle_of(b.bin)].append((g.gateway, b))
    return [Aisle(name, sorted(bins, key=lambda gb: gb[1].bin)) for name, bins in sorted(aisles.items())]


@dataclass(frozen=True, slots=True)
class MovementView:
    pos: int
    gateway: str
    sku: str
    kind: str
    qty: int
    zone: str
    from_zone: str | None
    lot: str
    occurred_at: datetime
    source: str
    confidence: float
    bin: str | None
    ref: str | None
    evidence: dict[str, Any]


async def recent_movements(session: AsyncSession, store: str, limit: int = 50) -> list[MovementView]:
    """A store's newest movements (by ledger position), with their evidence."""
    rows = (await session.scalars(select(Movement).where(Movement.store == store)
                                  .order_by(Movement.pos.desc()).limit(limit))).all()
    out = []
    for m in rows:
        try:
            evidence = json.loads(m.evidence) if m.evidence else {}
        except ValueError:
            evidence = {}
        out.append(MovementView(m.pos, m.gateway, m.sku, m.kind, m.qty, m.zone, m.from_zone, m.lot,
                                m.occurred_at, m.source, m.confidence, m.bin, m.ref,
                                evidence if isinstance(evidence, dict) else {"value": evidence}))
    return out


@dataclass(frozen=True, slots=True)
class StockPage:
    items: list[dict[str, Any]]  # reads.item_json of each listed product (+ unit_cost and value)
    matched: int  # products matching the filter
    total: int  # products the store holds or has held for orders
    names: dict[str, str]


async def store_stock_page(session: AsyncSession, store: str, text: str, today: date, *, with_cost: bool,
                           limit: int) -> StockPage:
    """A store's stock as its page lists it: the products it holds (or holds for orders), by name,
    those whose GTIN or name contain `text`, the first `limit` in full — zones, lots, what is
    available — through the ledger's own reads (reads.item_json).

    Which products and how many come from one aggregate over the store's balance rows (with each
    product's unit cost); only the listed products' books are read. (A store carries thousands of
    SKUs and the page shows 100: building every book was most of the page's time.)"""
    held = {sku: int(n) for sku, n in (await session.execute(
        select(StockLevel.sku, StockLevel.reserved).where(StockLevel.store == store,
                                                           StockLevel.reserved != 0))).all()}
    units = (select(Balance.sku, Product.name, Product.unit_cost, func.sum(Balance.qty))
             .outerjoin(Product, Product.sku == Balance.sku)
             .where(Balance.store == store).group_by(Balance.sku, Product.name, Product.unit_cost))
    costs: dict[str, float | None] = {}
    stocked = []
    for sku, name, cost, n in (await session.execute(units)).all():
        costs[sku] = cost
        if n or held.get(sku):
            stocked.append((sku, name or ""))
    needle = text.strip().lower()
    matching = [(sku, name) for sku, name in stocked if not needle or needle in sku or needle in name.lower()]
    matching.sort(key=lambda sn: (sn[1] or "~", sn[0]))
    shown = dict(matching[:limit])
    items: list[dict[str, Any]] = []
    if shown:
        rows = (await session.scalars(select(Balance).where(Balance.store == store,
                                                            Balance.sku.in_(list(shown))))).all()
        books = books_of(rows)
        for sku in shown:
            book = books.get((store, sku), ledger.SkuBook())
            item = item_json(sku, book, today, held.get(sku, 0))
            if with_cost:
                cost = costs.get(sku)
                item["unit_cost"] = cost
                item["value"] = round(cost * max(0, book.on_hand), 2) if cost is not None else None
            items.append(item)
    return StockPage(items, len(matching), len(stocked), {sku: name for sku, name in shown.items() if name})


# --- products ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProductRow:
    sku: str
    name: str
    category: str
    on_hand: int
    stores: int


PRODUCTS_PAGE = 50  # each product's units are summed over every store: 50 at a time


async def products(session: AsyncSession, text: str, stores: Collection[str] | None, page: int = 1,
                   limit: int = PRODUCTS_PAGE) -> tuple[list[ProductRow], Page]:
    """Catalogue products matching `text` (GTIN, name or category), a page at a time, then — when
    they fit on one page — SKUs the ledger holds that the catalogue lacks (by GTIN); each with its
    units on hand and how many stores hold them.

    The rows are chosen first and only their stock is summed (by an index holding SKU, store and
    units: 0008): a chain's balances run to a million rows, and a page shows 50 products."""
    needle = text.strip()
    q = select(Product.sku, Product.name, Product.category)
    if needle:
        like = f"%{needle.lower()}%"
        q = q.where(or_(Product.sku.like(f"%{needle}%"), func.lower(Product.name).like(like),
                        func.lower(Product.category).like(like)))
    matches = int(await session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    at = page_of(page, matches, limit)
    found = [(sku, name or "", category or "")
             for sku, name, category in (await session.execute(q.order_by(Product.name, Product.sku)
                                                               .offset(at.offset).limit(limit))).all()]
    # only a GTIN can match what has no name
    if at.pages == 1 and len(found) < limit and (not needle or needle.isdigit()):
        unknown = (select(Balance.sku).distinct()
                   .where(~select(Product.sku).where(Product.sku == Balance.sku).exists()))
        if needle:
            unknown = unknown.where(Balance.sku.like(f"%{needle}%"))
        if stores is not None:
            unknown = unknown.where(Balance.store.in_(list(stores)))
        found += [(sku, "", "") for sku in (await session.scalars(
            unknown.order_by(Balance.sku).limit(limit - len(found)))).all()]
    if not found:
        return [], at
    held = (select(Balance.sku, func.sum(Balance.qty), func.count(func.distinct(Balance.store)))
            .where(Balance.sku.in_([sku for sku, _, _ in found]), Balance.qty != 0))
    if stores is not None:
        held = held.where(Balance.store.in_(list(stores)))
    rows = (await session.execute(held.group_by(Balance.sku))).all()
    totals = {sku: (int(n or 0), int(c or 0)) for sku, n, c in rows}
    return [ProductRow(sku, name, category, *totals.get(sku, (0, 0))) for sku, name, category in found], at


@dataclass(frozen=True, slots=True)
class LotRow:
    store: str
    zone: str
    lot: str
    expiry: date | None
    qty: int


async def product_lots(session: AsyncSession, sku: str, stores: Collection[str] | None) -> list[LotRow]:
    """A product's units per store, zone and lot, with each lot's expiry (FEFO order)."""
    expiry = func.coalesce(Balance.expiry, Lot.expiry)
    q = (select(Balance.store, Balance.zone, Balance.lot, expiry, Balance.qty)
         .outerjoin(Lot, and_(Lot.store == Balance.store, Lot.sku == Balance.sku, Lot.lot == Balance.lot))
         .where(Balance.sku == sku, Balance.qty != 0))
    if stores is not None:
        q = q.where(Balance.store.in_(list(stores)))
    rows = [LotRow(s, z, lot, e, int(n)) for s, z, lot, e, n in (await session.execute(q)).all()]
    return sorted(rows, key=lambda r: (r.store, r.zone, r.expiry or date.max, r.lot))


async def product_levels(session: AsyncSession, sku: str,
                         stores: Collection[str] | None) -> dict[str, tuple[int, int]]:
    """store → (sellable, reserved) for one SKU."""
    q = select(StockLevel.store, StockLevel.sellable, StockLevel.reserved).where(StockLevel.sku == sku)
    if stores is not None:
        q = q.where(StockLevel.store.in_(list(stores)))
    return {s: (int(a), int(r)) for s, a, r in (await session.execute(q)).all()}


@dataclass(frozen=True, slots=True)
class ChannelFigure:
    channel: str
    platform: str
    qty: int


async def channel_figures(session: AsyncSession, sku: str) -> list[ChannelFigure]:
    """What each channel may sell of one SKU now (channels/availability.py's figure)."""
    configs = await channel_configs(session)
    figures = await sku_figures_by_channel(session, [sku])
    return [ChannelFigure(name, cfg.platform, figures[name][sku]) for name, cfg in sorted(configs.items())]


@dataclass(frozen=True, slots=True)
class ListingView:
    channel: str
    channel_sku: str
    item_id: str
    last: dict[str, Any] | None  # the newest platform_pushes row, or None


async def listings_with_pushes(session: AsyncSession, sku: str) -> list[ListingView]:
    """A product's listings on every channel, each with its newest push record."""
    listings = (await session.scalars(select(Listing).where(Listing.sku == sku)
                                      .order_by(Listing.channel, Listing.channel_sku))).all()
    if not listings:
        return []
    pushes = records.PUSHES
    newest_ids = (select(func.max(pushes.c.id))  # one statement for every listing (the index ends in id)
                  .where(tuple_(pushes.c.channel, pushes.c.sku_id).in_([(li.channel, li.channel_sku)
                                                                         for li in listings]))
                  .group_by(pushes.c.channel, pushes.c.sku_id))
    newest = {(r["channel"], r["sku_id"]): dict(r) for r in (await session.execute(
        select(pushes).where(pushes.c.id.in_(newest_ids)))).mappings().all()}
    return [ListingView(li.channel, li.channel_sku, li.item_id, newest.get((li.channel, li.channel_sku)))
            for li in listings]


async def product(session: AsyncSession, sku: str) -> Product | None:
    return await session.get(Product, sku)


async def store_values(session: AsyncSession,
                       stores: Collection[str] | None) -> dict[str, tuple[int, float | None]]:
    """Per store: units on hand and their value at unit cost (None where no product has a cost)."""
    q = (select(Balance.store, func.sum(Balance.qty), func.sum(Balance.qty * Product.unit_cost))
         .outerjoin(Product, Product.sku == Balance.sku).group_by(Balance.store))
    if stores is not None:
        q = q.where(Balance.store.in_(list(stores)))
    return {s: (int(n or 0), float(v) if v is not None else None)
            for s, n, v in (await session.execute(q)).all()}


__all__ = ["Aisle", "ChannelFigure", "LotRow", "MovementView", "ProductRow", "StockPage", "StoreRow",
           "aisle_of",
           "bin_state",
           "channel_figures", "day_start", "filter_rows", "known_stores", "listings_with_pushes",
           "overview_rows", "product", "product_levels", "product_lots", "product_names", "products",
           "recent_movements", "shelf_map", "sort_rows", "store_exists", "store_name", "store_stock_page",
           "store_values",
           "todays_figures"]
