"""What placing an order reads does not grow with the orders already open on its SKU.

On a promotion day thousands of open orders hold one SKU. The order path used to fetch each of
their holds to choose a lot, so every order cost more than the one before it (bench orders: the
worker's CPU per order doubled within 20 s at 500 orders/s, and the tail with it). Now a SKU with
one lot that has room reads no holds at all (the conditional hold has already proved the units
are there), and a choice between lots reads the holds summed per lot by the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from tests.orders.chain import gtin
from tests.orders.expiry import Clock, ledger_on, open_shop

A = gtin(71)


@contextmanager
def statements(shop: Any) -> Iterator[list[str]]:
    """The SQL the shop's orders send while the block runs."""
    seen: list[str] = []
    engine = shop.orders.engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_an_order_on_a_sku_with_one_lot_reads_no_other_orders_holds(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-read", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 1000)  # no lot: the unknown lot "" is the one with room
        for _ in range(30):
            await shop.order(A, 1)
        with statements(shop) as sent:
            order = await shop.order(A, 2)
        assert [r["lot"] for r in order["reservations"]] == [""]
        reading_holds = [s for s in sent if "reservations" in s.lower() and s.lstrip().lower().startswith("select")]
        assert reading_holds == []
        assert await shop.level(A) == (1000, 32)
        assert await shop.holds(A) == {(A, ""): 32}


async def test_between_lots_open_orders_holds_count_and_closed_ones_do_not(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-lots", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 10, "EARLY", clock.today + timedelta(days=30))
        await shop.receive(A, 100, "LATE", clock.today + timedelta(days=300))
        placed = [await shop.order(A, 1) for _ in range(25)]
        assert await shop.holds(A) == {(A, "EARLY"): 10, (A, "LATE"): 15}
        for order in placed[:4]:  # four units of EARLY come free
            await shop.orders.cancel(order["id"])
        again = [await shop.order(A, 2) for _ in range(3)]
        assert [[(r["lot"], r["qty"]) for r in o["reservations"]] for o in again] == [
            [("EARLY", 2)], [("EARLY", 2)], [("LATE", 2)]]
        assert await shop.holds(A) == {(A, "EARLY"): 10, (A, "LATE"): 17}
