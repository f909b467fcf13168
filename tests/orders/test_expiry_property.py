"""Property (issue 14 §1): whatever the interleaving of receipts (some lots expired, some expiring
during the run), orders, till sales (some late, some naming a lot), fulfilments, cancels, counts,
expiry write-offs and midnights, on SQLite and PostgreSQL, after every step and per (store, SKU):

- Σ held by open orders == reserved ≤ sellable (≤ 0 when sellable is negative: the book holds
  less than was sold, until a count), and every lot held has the units held of it (not expired,
  not short): no two orders name the same unit;
- sellable never rises on a sale (a till's or a fulfilment's); one booked as it happens without a
  lot lowers it by exactly what it sold (expired units are never sold in place of good ones), a
  fulfilment by exactly what the order held;
- the balances equal a rebuild from the movements, and sellable is the rebuilt book's figure.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cloud.db import holds, ledger
from cloud.db.migrate import upgrade
from cloud.db.orders import OrderError
from shared.contract import Kind
from tests.orders.chain import gtin
from tests.orders.expiry import Clock, Shop, ledger_on, open_shop

SKUS = (gtin(51), gtin(52))
LOTS = 4
sku = st.sampled_from(SKUS)
lot = st.integers(0, LOTS - 1)

Op = tuple[Any, ...]
RECEIVE = st.tuples(st.just("receive"), sku, lot, st.integers(1, 6), st.sampled_from([-2, -1, 0, 0, 1, 2, None]))
ORDER = st.tuples(st.just("order"), sku, st.integers(1, 4))
OPS = st.one_of(
    RECEIVE, RECEIVE, ORDER, ORDER, ORDER, ORDER,  # weights: stock to hold, and holds on it
    st.tuples(st.just("till"), sku, st.integers(1, 3), st.one_of(st.none(), lot),
              st.one_of(st.just(0), st.just(0), st.integers(1, 20 * 60))),  # minutes late: mostly on time
    st.tuples(st.just("fulfil"), st.integers(0, 99)),
    st.tuples(st.just("cancel"), st.integers(0, 99)),
    st.tuples(st.just("write_off"), sku, st.integers(1, 3), st.one_of(st.none(), lot),
              st.sampled_from([Kind.SHRINK, Kind.ADJUST])),
    st.tuples(st.just("count"), sku, st.integers(0, 6)),
    st.tuples(st.just("midnight")),
)


@pytest.fixture
def migrated(db_url: str) -> Iterator[str]:
    upgrade(db_url)
    yield db_url


class Run:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.expiry: dict[tuple[str, str], date | None] = {}  # each lot's date, fixed by its first receipt
        self.orders: list[tuple[str, str]] = []  # (order id, sku) in the order they were placed

    def lot(self, sku: str, i: int | None) -> str | None:
        name = f"L{i}"
        return name if i is not None and (sku, name) in self.expiry else None

    async def open_orders(self) -> list[tuple[str, str]]:
        return [(o, s) for o, s in self.orders if (await self.shop.status(o))["status"] == "reserved"]

    async def step(self, op: Op) -> None:
        shop, clock = self.shop, self.shop.clock
        kind = op[0]
        if kind == "receive":
            _, s, i, n, days = op
            name = f"L{i}"
            expiry = self.expiry.setdefault((s, name), None if days is None else clock.today + timedelta(days=days))
            await shop.receive(s, n, name, expiry)
        elif kind == "order":
            _, s, n = op
            try:
                order = await shop.order(s, n)
            except OrderError as e:
                assert e.status == 409, e
                event("an order was refused")
            else:
                self.orders.append((order["id"], s))
                event("an order was placed")
        elif kind == "till":
            _, s, n, i, late_minutes = op
            before = (await shop.level(s))[0]
            named = self.lot(s, i)
            await shop.till(s, n, named, late=timedelta(minutes=late_minutes, seconds=0.5 if late_minutes else 0))
            after = (await shop.level(s))[0]
            assert after <= before, "a till sale raised sellable"
            if named is None and not late_minutes:
                assert after == before - n, "an unlotted sale did not lower sellable by what it sold"
        elif kind in ("fulfil", "cancel"):
            open_ = await self.open_orders()
            if not open_:
                return
            oid, s = open_[op[1] % len(open_)]
            before = (await shop.level(s))[0]
            clock.tick()
            closed = await (shop.orders.fulfil(oid) if kind == "fulfil" else shop.orders.cancel(oid))
            event(f"{kind} closed the order")
            if kind == "fulfil":
                after = (await shop.level(s))[0]
                assert after == before - sum(r["qty"] for r in closed["reservations"]), \
                    "a fulfilment did not lower sellable by what it shipped"
        elif kind == "write_off":
            _, s, n, i, how = op
            await shop.write_off(s, n, self.lot(s, i), kind=how)
        elif kind == "count":
            _, s, n = op
            await shop.count(s, n)
        else:
            clock.next_day()
            await shop.sweep()

    async def check(self) -> None:
        shop, today = self.shop, self.shop.clock.today
        statuses = {(await shop.status(o))["status"] for o, _ in self.orders}
        if "released" in statuses:
            event("an order was released")
        cached, rebuilt = await shop.books(), await shop.rebuilt()
        assert {s: b.qty for s, b in cached.items() if b.qty} == {s: b.qty for s, b in rebuilt.items() if b.qty}
        held = await shop.holds()
        per_sku: dict[str, int] = defaultdict(int)
        for (s, _), q in held.items():
            per_sku[s] += q
        for s in SKUS:
            sellable, reserved = await shop.level(s)
            book = rebuilt.get(s, ledger.SkuBook())
            assert sellable == ledger.sellable(book, today), s
            assert reserved == per_sku[s], s
            assert reserved <= max(sellable, 0), (s, reserved, sellable)
            room = holds.room(book, today)
            if any(ledger.is_expired(book.expiry.get(lot_), today) and q > 0 for (_, lot_), q in book.qty.items()):
                event("expired units on hand")
                if reserved:
                    event("orders hold units beside expired ones")
            for (hs, lot_), q in held.items():
                if hs == s:
                    assert q <= room.get(lot_, 0), (s, lot_, q, room)


async def _run(db_url: str, ops: list[Op]) -> None:
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, Clock(), f"p-{uuid.uuid4().hex[:10]}", sqlite=db_url.startswith("sqlite"))
        run = Run(shop)
        for op in ops:
            await run.step(op)
            await run.check()


@pytest.mark.timeout(300)  # 50 interleavings of up to 46 steps, each checked against a full rebuild
@given(st.tuples(st.lists(RECEIVE, min_size=2, max_size=6), st.lists(OPS, min_size=5, max_size=40))
       .map(lambda parts: parts[0] + parts[1]))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_holds_stay_within_sellable_and_no_sale_raises_it_through_any_interleaving(
        migrated: str, ops: list[Op]) -> None:
    asyncio.run(_run(migrated, ops))
