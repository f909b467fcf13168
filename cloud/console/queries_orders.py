"""What the orders and transfers pages read: a page of orders with their holds (store, lot and the
lot's expiry), filtered by channel, store and state; a page of transfers with their lines; the
transfer suggestions, read for the SKUs that can have any.

Read-only; the actions go through cloud/db/orders.py and cloud/db/transfers.py as the API's do.
Roles are applied here the way the API applies them, in SQL so that pages and counts agree:

- a store token sees an order only when every store holding it is its own (cloud/api/orders.py
  `may_see_order`: an order shipped from two stores is head office's business);
- it sees a transfer from or to its store (GET /v1/transfers).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, SelectBase, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from cloud.db.engines import make_engine, sessionmaker
from cloud.db.models import Lot, Order, Product, Reservation, StockLevel, Store, Transfer, TransferLine
from cloud.db.transfers import levels_by_sku, suggest

ORDER_STATES = ("reserved", "fulfilled", "cancelled", "expired")
TRANSFER_STATES = ("in_transit", "received", "cancelled")
PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # from 1
    size: int
    total: int  # rows matching the filters

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(requested: int, total: int, size: int = PAGE_SIZE) -> Page:
    """The page asked for, kept within the pages there are."""
    last = max(1, math.ceil(total / size))
    return Page(min(max(1, requested), last), size, total)


# --- orders -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OrderFilter:
    channel: str | None = None
    store: str | None = None  # orders held (partly) in this store
    state: str | None = None
    text: str = ""  # the platform's order id or ours, in part, in any case
    only_store: str | None = None  # a store token's scope: orders held in this store alone


@dataclass(frozen=True, slots=True)
class Hold:
    line: int
    store: str
    sku: str
    lot: str
    qty: int
    expiry: date | None


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: str
    channel: str
    order_id: str
    status: str
    fulfilment: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    holds: tuple[Hold, ...]

    @property
    def stores(self) -> list[str]:
        return sorted({h.store for h in self.holds})

    @property
    def units(self) -> int:
        return sum(h.qty for h in self.holds)


def _held_in(store: str) -> ColumnElement[bool]:
    return exists().where(Reservation.order == Order.id, Reservation.store == store)


def _order_conditions(f: OrderFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.channel:
        where.append(Order.channel == f.channel)
    if f.state:
        where.append(Order.status == f.state)
    if f.store:
        where.append(_held_in(f.store))
    if f.only_store is not None:
        elsewhere = exists().where(Reservation.order == Order.id, Reservation.store != f.only_store)
        where += [_held_in(f.only_store), ~elsewhere]
    text = f.text.strip()
    if text:
        needle = text.lower()  # SQLite's LIKE ignores ASCII case and PostgreSQL's does not: say which
        where.append(or_(func.lower(Order.order_id).contains(needle, autoescape=True),
                         func.lower(Order.id).contains(needle, autoescape=True)))
    return where


async def orders(session: AsyncSession, f: OrderFilter, page: int) -> tuple[list[OrderRow], Page]:
    """One page of orders, newest first, with their holds."""
    where = _order_conditions(f)
    total = await _count(session, Order, where)
    p = page_of(page, total)
    found = (await session.scalars(select(Order).where(*where)
                                   .order_by(Order.created_at.desc(), Order.id.desc())
                                   .offset(p.offset).limit(p.size))).all()
    holds = await _holds(session, [o.id for o in found])
    return [OrderRow(o.id, o.channel, o.order_id, o.status, o.fulfilment, o.created_at, o.expires_at,
                     o.closed_at, o.closed_by, tuple(holds.get(o.id, ()))) for o in found], p


async def _count(session: AsyncSession, table: type[Order] | type[Transfer],
                 where: Sequence[ColumnElement[bool]]) -> int:
    return int((await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _holds(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[Hold]]:
    out: dict[str, list[Hold]] = defaultdict(list)
    if not ids:
        return out
    q = (select(Reservation.order, Reservation.line, Reservation.store, Reservation.sku, Reservation.lot,
                Reservation.qty, Lot.expiry)
         .outerjoin(Lot, and_(Lot.store == Reservation.store, Lot.sku == Reservation.sku,
                              Lot.lot == Reservation.lot))
         .where(Reservation.order.in_(list(ids)))
         .order_by(Reservation.order, Reservation.line, Reservation.store, Reservation.lot))
    for r in (await session.execute(q)).all():
        out[r.order].append(Hold(r.line, r.store, r.sku, r.lot, r.qty, r.expiry))
    return out


@dataclass(frozen=True, slots=True)
class HoldFigures:
    orders: int  # orders holding stock now
    units: int  # units they hold
    expiring: int  # of those orders, how many lapse before `soon`


async def open_holds(session: AsyncSession, f: OrderFilter, soon: datetime) -> HoldFigures:
    """What open orders (status reserved) in scope hold now."""
    where = _order_conditions(OrderFilter(f.channel, f.store, "reserved", f.text, f.only_store))
    held = select(Order.id).where(*where).correlate(None)  # every open order, not the outer row
    units = (select(func.coalesce(func.sum(Reservation.qty), 0))
             .where(Reservation.order.in_(held)).correlate(None).scalar_subquery())
    # one statement, not three: the table refreshes on every stock change
    n, expiring, in_hold = (await session.execute(
        select(func.count(), func.coalesce(func.sum(case((Order.expires_at < soon, 1), else_=0)), 0), units)
        .select_from(Order).where(*where))).one()
    return HoldFigures(int(n), int(in_hold), int(expiring))


async def order_channels(session: AsyncSession) -> list[str]:
    """The channels orders came from (the filter's choices)."""
    return list((await session.scalars(select(Order.channel).distinct().order_by(Order.channel))).all())


# --- transfers ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TransferLineRow:
    line: int
    sku: str
    qty: int
    lot: str
    expiry: date | None


@dataclass(frozen=True, slots=True)
class TransferRow:
    id: str
    from_store: str
    to_store: str
    status: str
    created_at: datetime
    received_at: datetime | None
    received_by: str | None
    cancelled_at: datetime | None
    lines: tuple[TransferLineRow, ...]

    @property
    def units(self) -> int:
        return sum(ln.qty for ln in self.lines)


def _transfer_conditions(store: str | None, state: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if store is not None:
        where.append(or_(Transfer.from_store == store, Transfer.to_store == store))
    if state:
        where.append(Transfer.status == state)
    return where


async def transfers(session: AsyncSession, store: str | None, state: str | None,
                    page: int, size: int = PAGE_SIZE) -> tuple[list[TransferRow], Page]:
    """One page of transfers from or to `store` (every store: None), newest first, with lines."""
    where = _transfer_conditions(store, state)
    total = await _count(session, Transfer, where)
    p = page_of(page, total, size)
    found = (await session.scalars(select(Transfer).where(*where)
                                   .order_by(Transfer.created_at.desc(), Transfer.id.desc())
                                   .offset(p.offset).limit(p.size))).all()
    lines: dict[str, list[TransferLineRow]] = defaultdict(list)
    if found:
        for ln in (await session.scalars(select(TransferLine)
                                         .where(TransferLine.transfer.in_([t.id for t in found]))
                                         .order_by(TransferLine.transfer, TransferLine.line))).all():
            lines[ln.transfer].append(TransferLineRow(ln.line, ln.sku, ln.qty, ln.lot, ln.expiry))
    return [TransferRow(t.id, t.from_store, t.to_store, t.status, t.created_at, t.received_at, t.received_by,
                        t.cancelled_at, tuple(lines.get(t.id, ()))) for t in found], p


# --- transfer suggestions ---------------------------------------------------------------------

BASE_COST, PER_KM = 20.0, 1.5  # Transfers.suggestions' estimate (GET /v1/transfers/suggestions)
DEFAULT_MIN = 2  # suggest()'s minimum for a SKU not in the catalogue


async def transfer_suggestions(session: AsyncSession, only_store: str | None = None, *,
                               in_thread: bool = True) -> list[dict[str, Any]]:
    """What GET /v1/transfers/suggestions answers (cloud/db/transfers.py: the same pure `suggest`,
    the same list in the same order), reading only the SKUs that can have a suggestion.

    The API reads every stock row of the chain (400,000 for 200 stores × 2,000 SKUs: seconds on
    the build machine, then as long again in `suggest`). A SKU is suggested only to a store short
    of it: a row with fewer free units than its minimum, or a registered store without a row (it
    has none). The database picks those SKUs in the same statement that reads their rows; for
    every other SKU `suggest` has nothing to say.
    """
    free = case((StockLevel.sellable - StockLevel.reserved > 0, StockLevel.sellable - StockLevel.reserved),
                else_=0)
    is_short = free < func.coalesce(Product.min_stock, DEFAULT_MIN)
    stores = (await session.execute(select(Store.store, Store.lat, Store.lon))).all()
    registered = [s.store for s in stores]
    candidates: SelectBase
    if only_store is None:
        candidates = (select(StockLevel.sku)
                      .outerjoin(Product, Product.sku == StockLevel.sku)
                      .outerjoin(Store, Store.store == StockLevel.store)
                      .group_by(StockLevel.sku)
                      .having(or_(func.sum(case((is_short, 1), else_=0)) > 0,
                                  func.count(Store.store) < len(registered))))  # a store without a row
    else:
        short_here = (select(StockLevel.sku).outerjoin(Product, Product.sku == StockLevel.sku)
                      .where(StockLevel.store == only_store, is_short))
        mine = select(StockLevel.sku).where(StockLevel.store == only_store)
        # a SKU it has no row of: it has none
        candidates = short_here.union(select(StockLevel.sku).where(StockLevel.sku.not_in(mine))) \
            if only_store in registered else short_here
    rows = (await session.execute(
        select(StockLevel.store, StockLevel.sku, StockLevel.sellable, StockLevel.reserved, Product.min_stock)
        .outerjoin(Product, Product.sku == StockLevel.sku)
        .where(StockLevel.sku.in_(candidates)))).all()
    where = {s.store: (s.lat, s.lon) for s in stores if s.lat is not None and s.lon is not None}

    def arranged() -> list[dict[str, Any]]:
        mins = {r.sku: r.min_stock for r in rows if r.min_stock is not None}
        by_sku = levels_by_sku(rows)
        for per_store in by_sku.values():  # as Transfers.suggestions: a registered store with no row has none
            for store in registered:
                per_store.setdefault(store, 0)
        return suggest(by_sku, mins, where, BASE_COST, PER_KM, only_store, DEFAULT_MIN)

    # a second or more of arithmetic on a 200-store chain. In a thread the event loop goes on, but
    # it gets the interpreter back only at the thread's switches (5 ms each time it waits for I/O):
    # the console serves it from a process of its own (SuggestionsApart); `in_thread` is for callers
    # that have nothing else to run (that process, the tests)
    return await asyncio.to_thread(arranged) if in_thread else arranged()


def _suggestions_read_apart(url: str, only_store: str | None) -> list[dict[str, Any]]:
    """In the suggestions' process: read and arrange with a connection of its own."""
    async def run() -> list[dict[str, Any]]:
        engine = make_engine(url, poolclass=NullPool)
        try:
            async with sessionmaker(engine)() as session:
                return await transfer_suggestions(session, only_store, in_thread=False)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class SuggestionsApart:
    """`transfer_suggestions` made in a process of its own, one per worker, started at the first
    read: reading the candidates' rows (130,000 on the bench's chain of 200 stores × 2,000 SKUs) and
    `suggest` (1.4 s of CPU) there leave the worker's interpreter to its requests. In a thread of
    the worker they held its GIL: every request meanwhile waited up to 5 ms (the switch interval)
    each time it came back from the database, the tail of the partials' server time (CHANGELOG).
    Only the answer (2,600 suggestions, 180 kB pickled: 3 ms) comes back. A database the process
    cannot open by its URL (SQLite in memory) is read here, the arithmetic in a thread."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self.apart = 0  # reads made in the process

    async def suggestions(self, engine: AsyncEngine, only_store: str | None) -> list[dict[str, Any]]:
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            async with sessionmaker(engine)() as session:
                return await transfer_suggestions(session, only_store)
        if self._pool is None:  # spawned: a fork would copy the worker's event loop and threads
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            found: list[dict[str, Any]] = await asyncio.get_running_loop().run_in_executor(
                self._pool, _suggestions_read_apart, url.render_as_string(hide_password=False), only_store)
        except BrokenProcessPool:  # the process died (killed, out of memory): the next read starts another
            self.close()
            raise
        self.apart += 1
        return found

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


__all__ = ["ORDER_STATES", "PAGE_SIZE", "TRANSFER_STATES", "Hold", "HoldFigures", "OrderFilter", "OrderRow",
           "Page", "SuggestionsApart", "TransferLineRow", "TransferRow", "open_holds", "order_channels",
           "orders", "page_of", "transfer_suggestions", "transfers"]
