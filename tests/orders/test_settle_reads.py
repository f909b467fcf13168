"""A book update reads the open orders' holds only where the change could break one (holds.at_risk),
on SQLite and PostgreSQL. Reading them on every till sale of a SKU that orders hold made ingest
slower the more orders were open; a change that can break a hold still puts it right."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.orders.chain import gtin
from tests.orders.expiry import Clock, ledger_on, open_shop

A = gtin(51)


@contextlib.contextmanager
def statements(maker: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """The SQL every connection of this ledger sends while the block runs: through SQLAlchemy,
    and on PostgreSQL on asyncpg's own connection too (the order path, cloud/db/prepared.py);
    transaction control (BEGIN, COMMIT, ROLLBACK) left out."""
    engine = maker.kw["bind"].sync_engine
    seen: list[str] = []
    logged: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def on_driver(query: Any) -> None:
        if query.query.split(None, 1)[0].upper().rstrip(";") not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(query.query)

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger"):  # asyncpg
            driver.add_query_logger(on_driver)
            logged.append(driver)

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "checkout", checkout)
        for driver in logged:
            driver.remove_query_logger(on_driver)


def reading_holds(seen: list[str]) -> list[str]:
    return [s for s in seen if "reservations" in s]


async def test_a_till_sale_that_leaves_every_hold_its_units_reads_no_hold(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-1", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 50, "L1", clock.today + timedelta(days=90))
        for _ in range(5):
            await shop.order(A, 2)
        with statements(maker) as seen:
            await shop.till(A, 3)  # FEFO from L1: 47 left there, 10 held
            await shop.till(A, 1, lot="L1")
            await shop.count(A, 40, lot="L1")
        assert reading_holds(seen) == []
        assert await shop.holds(A) == {(A, "L1"): 10}
        assert await shop.level(A) == (40, 10)


async def test_a_sale_of_the_units_a_hold_names_moves_the_hold_to_units_that_are_there(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-1", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 3, "EARLY", clock.today + timedelta(days=30))
        await shop.receive(A, 30, "LATE", clock.today + timedelta(days=300))
        await shop.order(A, 3)
        assert await shop.holds(A) == {(A, "EARLY"): 3}  # FEFO
        with statements(maker) as seen:
            await shop.till(A, 2, lot="EARLY")  # plenty to sell, but EARLY keeps 1 of the 3 held there
        assert reading_holds(seen) != []
        assert await shop.holds(A) == {(A, "EARLY"): 1, (A, "LATE"): 2}


async def test_a_count_below_what_is_held_releases_the_newest_order(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-1", sqlite=db_url.startswith("sqlite"))
        await shop.count(A, 10)
        first = await shop.order(A, 4)
        newest = await shop.order(A, 4)
        await shop.count(A, 6)
        assert (await shop.status(first["id"]))["status"] == "reserved"
        assert (await shop.status(newest["id"]))["status"] == "released"
        assert await shop.level(A) == (6, 4)


async def test_a_lot_that_expired_overnight_loses_its_holds_at_the_next_sale_before_the_sweep(
        db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-1", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 5, "TODAY", clock.today)
        await shop.receive(A, 20, "LATER", clock.today + timedelta(days=60))
        await shop.order(A, 2)
        assert await shop.holds(A) == {(A, "TODAY"): 2}
        clock.next_day()  # TODAY has expired; the sweep has not run yet
        await shop.till(A, 1, lot="LATER")
        assert await shop.holds(A) == {(A, "LATER"): 2}
