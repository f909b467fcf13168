"""What placing an order asks of the database, on SQLite and PostgreSQL. The worker's CPU per order
follows its round trips (bench orders), so the order path's statements are pinned here: the
levels, each hold, the lots under the holds, and the order with its reservations (one statement
on PostgreSQL), the same SQL whatever the number of SKUs and stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.db.orders import Line, OrderRequest
from tests.orders.chain import gtin
from tests.orders.expiry import CHANNEL, Clock, ledger_on, open_shop
from tests.orders.test_settle_reads import statements

A, B = gtin(61), gtin(62)


async def test_an_order_for_one_sku_is_four_statements_on_postgres_and_five_on_sqlite(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-1", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 50, "L1", clock.today + timedelta(days=90))
        await shop.order(A, 1)  # the channel's settings are read once, then cached
        with statements(maker) as seen:
            await shop.order(A, 2)
        assert len(seen) == (5 if db_url.startswith("sqlite") else 4), seen
        assert await shop.holds(A) == {(A, "L1"): 3}


@pytest.mark.postgres
async def test_on_postgres_an_order_sends_the_same_statements_whatever_its_skus_and_stores(pg_url: str) -> None:
    """One prepared statement each, not one per number of SKUs and stores (an expanding IN is
    rendered again for every order, and PostgreSQL prepares each rendering anew)."""
    clock = Clock()
    async with ledger_on(pg_url) as maker:
        one = await open_shop(maker, clock, "sh-1", sqlite=False)
        two = await open_shop(maker, clock, "sh-2", sqlite=False)
        for shop in (one, two):
            await shop.receive(A, 50)
            await shop.receive(B, 50)
        await one.order(A, 1)
        with statements(maker) as single:
            await one.orders.place(OrderRequest(CHANNEL, "one-line", (Line(1, A),), store="sh-1"))
        with statements(maker) as double:
            await one.orders.place(OrderRequest(CHANNEL, "two-lines", (Line(1, A), Line(1, B))))
        assert set(double) == set(single)
