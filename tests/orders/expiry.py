"""A store to sell expiring lots in: orders, till sales, write-offs and the daily sweep through the
real database layer (cloud.db.orders, posting), on a clock the test moves from one day to the next.

The clock starts twelve days back at 10:00 UTC, so every movement is in the past (as the cloud's
own time checks want) and a run can cross several midnights without waiting for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import engines, ledger, posting
from cloud.db.migrate import upgrade
from cloud.db.models import Balance, Channel, ChannelStore, Movement, Order, Reservation, StockLevel, Store
from cloud.db.orders import Line, OrderError, OrderRequest, Orders
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone

CHANNEL = "web"


class Clock:
    """The one clock of the run: the ledger's `now`, the orders' `now`, the movements' times."""

    def __init__(self) -> None:
        start = datetime.now(UTC) - timedelta(days=12)
        self.at = start.replace(hour=10, minute=0, second=0, microsecond=0)

    def __call__(self) -> datetime:
        return self.at

    @property
    def today(self) -> date:
        return self.at.date()

    def tick(self, seconds: float = 1.0) -> None:
        self.at += timedelta(seconds=seconds)

    def next_day(self) -> None:
        self.at += timedelta(days=1)


@dataclass
class Shop:
    maker: async_sessionmaker[AsyncSession]
    orders: Orders
    clock: Clock
    store: str
    announced: set[tuple[str, str]] = field(default_factory=set)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def book(self, sku: str, kind: Kind, qty: int, *, lot: str | None = None, expiry: date | None = None,
                   zone: Zone = Zone.FLOOR, source: Source = Source.MANUAL, late: timedelta = timedelta(0),
                   reason: str | None = None) -> posting.Applied:
        """Book one delta as occurring now (the clock moves on a second first, so it is the
        newest movement), or `late` before now (delivered late: it may replay the SKU)."""
        self.clock.tick()
        delta = StockDelta(id=f"{self.store}-{uuid.uuid4().hex}", seq=next(self._seq), sku=sku, kind=kind, qty=qty,
                           zone=zone, occurred_at=self.clock() - late, source=source, lot=lot, expiry=expiry,
                           evidence={"reason": reason} if reason else None)
        applied = await posting.apply_batch(self.maker, DeltaBatch(self.store, "gw-1", self.clock(), (delta,)),
                                         now=self.clock())
        self.announced |= applied.changed
        return applied

    async def receive(self, sku: str, qty: int, lot: str | None = None, expiry: date | None = None) -> None:
        await self.book(sku, Kind.RECEIPT, qty, lot=lot, expiry=expiry)

    async def till(self, sku: str, qty: int, lot: str | None = None, late: timedelta = timedelta(0)) -> None:
        await self.book(sku, Kind.SALE, -qty, lot=lot, source=Source.POS, late=late)

    async def write_off(self, sku: str, qty: int, lot: str | None = None, kind: Kind = Kind.SHRINK) -> None:
        await self.book(sku, kind, -qty, lot=lot, reason="expired")

    async def count(self, sku: str, qty: int, lot: str | None = None) -> None:
        await self.book(sku, Kind.COUNT, qty, lot=lot)

    async def order(self, sku: str, qty: int) -> dict[str, Any]:
        """Place an order; raises OrderError (a Shortage is 409)."""
        self.clock.tick()
        order, _ = await self.orders.place(OrderRequest(CHANNEL, uuid.uuid4().hex[:16], (Line(qty, sku),),
                                                        store=self.store))
        return order

    async def sweep(self) -> set[tuple[str, str]]:
        """What the cloud's sweep does once the date changes: lots that expired leave `sellable`."""
        changed = await posting.refresh_sellable(self.maker, self.clock.today, now=self.clock())
        self.announced |= changed
        return changed

    async def level(self, sku: str) -> tuple[int, int]:
        """(sellable, reserved) as stored: the figures every hold races on."""
        async with self.maker() as s:
            row = (await s.execute(select(StockLevel.sellable, StockLevel.reserved).where(
                StockLevel.store == self.store, StockLevel.sku == sku))).first()
        return (int(row.sellable), int(row.reserved)) if row else (0, 0)

    async def holds(self, sku: str | None = None) -> dict[tuple[str, str], int]:
        """(sku, lot) → units that open orders hold in this store."""
        q = (select(Reservation.sku, Reservation.lot, Reservation.qty).join(Order, Order.id == Reservation.order)
             .where(Order.status == "reserved", Reservation.store == self.store))
        if sku is not None:
            q = q.where(Reservation.sku == sku)
        out: dict[tuple[str, str], int] = defaultdict(int)
        async with self.maker() as s:
            for r in (await s.execute(q)).all():
                out[(r.sku, r.lot)] += r.qty
        return dict(out)

    async def books(self) -> dict[str, ledger.SkuBook]:
        """This store's books as the balances cache holds them."""
        async with self.maker() as s:
            rows = (await s.scalars(select(Balance).where(Balance.store == self.store))).all()
        return {sku: book for (_, sku), book in posting.books_of(rows).items()}

    async def rebuilt(self) -> dict[str, ledger.SkuBook]:
        """This store's books replayed from its movements: the definition of the ledger."""
        async with self.maker() as s:
            rows = (await s.scalars(select(Movement).where(Movement.store == self.store))).all()
        grouped: dict[str, list[ledger.Move]] = defaultdict(list)
        for m in rows:
            grouped[m.sku].append(posting.move_of(m))
        return {sku: ledger.replay(moves) for sku, moves in grouped.items()}

    async def status(self, oid: str) -> dict[str, Any]:
        order = await self.orders.get(oid)
        assert order is not None
        return order


async def open_shop(maker: async_sessionmaker[AsyncSession], clock: Clock, store: str, *,
                    sqlite: bool) -> Shop:
    """A store that ships for the channel, and an Orders on the shared clock."""
    async with maker() as s, s.begin():
        await s.execute(insert(Store).values(store=store, name=store))
        if await s.get(Channel, CHANNEL) is None:
            await s.execute(insert(Channel).values(name=CHANNEL, platform="none", safety=0, share_pct=100,
                                                   min_qty=0, max_qty=None, split=False, hold_s=10**7))
        await s.execute(insert(ChannelStore).values(channel=CHANNEL, store=store, ship=True, pickup=True))
    shop = Shop(maker, None, clock, store)  # type: ignore[arg-type]
    shop.orders = Orders(maker, sqlite=sqlite, on_changed=shop.announced.update, clock=clock)
    return shop


@contextlib.asynccontextmanager
async def ledger_on(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.get_running_loop().run_in_executor(None, upgrade, db_url)
    engine = engines.make_engine(db_url)
    try:
        yield engines.sessionmaker(engine)
    finally:
        await engine.dispose()


def short(e: OrderError) -> bool:
    return e.status == 409
