"""Expired units are never sold, held or shipped in place of good ones (issue 14 §1), on SQLite and
PostgreSQL: through the HTTP API, and through the database layer on a clock that crosses midnight."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from cloud.db.models import Movement
from cloud.db.orders import Line, OrderError, OrderRequest
from cloud.db.transfers import TransferRequest, Transfers
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin
from tests.orders.expiry import CHANNEL, Clock, ledger_on, open_shop

A, B = gtin(41), gtin(42)


async def test_an_order_is_refused_when_only_expired_units_remain(api: Api) -> None:
    """Two good units and three expired ones; the till sells two without naming a lot: they were
    the good ones, so nothing is left to sell and the order is a 409 (it was accepted before)."""
    await api.store("sh-1")
    await api.channel("taobao", ["sh-1"])
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    await api.count("sh-1", A, 3, lot="OLD", expiry=yesterday)
    await api.count("sh-1", A, 2, lot="NEW", expiry=date(2099, 1, 1))
    assert await api.available("sh-1", A) == 2
    await book(api.maker, "sh-1", StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.SALE, qty=-2,
                                             zone=Zone.FLOOR, occurred_at=datetime.now(UTC), source=Source.POS))
    assert await api.on_hand("sh-1", A) == 3
    assert await api.available("sh-1", A) == 0
    status, body = await api.order("taobao", "TB-EXP-1", [(A, 1)])
    assert status == 409, body
    assert body["short"] == [{"sku": A, "wanted": 1, "available": 0}]
    _, figures = await api.get(f"/v1/channels/taobao/availability?sku={A}")
    assert figures["items"][0]["qty"] == 0
    _, stock = await api.get(f"/v1/stores/sh-1/stock?sku={A}")
    assert stock["items"][0]["lots"] == [{"lot": "OLD", "expiry": yesterday.isoformat(), "qty": 3}]


async def test_orders_placed_at_the_same_moment_never_name_the_same_units(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-race", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 3, "EARLY", clock.today + timedelta(days=30))
        await shop.receive(A, 30, "LATE", clock.today + timedelta(days=300))
        placed = await asyncio.gather(*(shop.orders.place(OrderRequest(CHANNEL, f"race-{i}", (Line(1, A),)))
                                        for i in range(16)))
        assert all(created for _, created in placed)
        holds = await shop.holds(A)
        assert sum(holds.values()) == 16
        assert holds[(A, "EARLY")] == 3  # FEFO, and each of its three units named once
        assert holds[(A, "LATE")] == 13


async def test_a_hold_on_a_lot_that_expires_moves_to_good_units_of_the_same_store(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-move", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 2, "SOON", clock.today)  # may be sold today, not tomorrow
        await shop.receive(A, 3, "LATER", clock.today + timedelta(days=90))
        order = await shop.order(A, 2)
        assert [(r["lot"], r["qty"]) for r in order["reservations"]] == [("SOON", 2)]
        clock.next_day()
        await shop.sweep()
        assert await shop.level(A) == (3, 2)
        after = await shop.status(order["id"])
        assert after["status"] == "reserved"
        assert [(r["lot"], r["qty"]) for r in after["reservations"]] == [("LATER", 2)]
        assert ("sh-move", A) in shop.announced


async def test_an_order_whose_lot_expires_with_no_good_unit_free_is_released_and_says_why(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-gone", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 2, "SOON", clock.today)
        await shop.receive(A, 1, "LATER", clock.today + timedelta(days=90))
        first = await shop.order(A, 1)   # SOON
        second = await shop.order(A, 2)  # SOON, LATER
        clock.next_day()
        with caplog.at_level(logging.WARNING, logger="cloud.db.holds"):
            await shop.sweep()
        sellable, reserved = await shop.level(A)
        assert (sellable, reserved) == (1, 1)
        # The earlier order keeps its unit, moved to the lot that is still good; the later one goes.
        kept, released = await shop.status(first["id"]), await shop.status(second["id"])
        assert kept["status"] == "reserved" and [(r["lot"], r["qty"]) for r in kept["reservations"]] == [("LATER", 1)]
        assert (released["status"], released["closed_by"]) == ("released", "lot-expired")
        assert any(second["id"] in r.getMessage() and "SOON" in r.getMessage() for r in caplog.records)


async def test_after_midnight_and_before_the_sweep_an_order_cannot_hold_expired_units(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-night", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 2, "SOON", clock.today)
        await shop.receive(B, 2, "SOON", clock.today)
        held = await shop.order(B, 2)
        clock.next_day()  # the sweep has not run: the stored figures still count SOON
        with pytest.raises(OrderError) as refused:
            await shop.order(A, 1)
        assert refused.value.status == 409
        assert await shop.level(A) == (0, 0)
        # The same look at the books released the order that held B's expired units.
        assert (await shop.status(held["id"]))["status"] == "released"
        assert await shop.level(B) == (0, 0)


async def test_fulfilling_an_order_whose_lot_expired_ships_good_units(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-ship", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 1, "SOON", clock.today)
        await shop.receive(A, 2, "LATER", clock.today + timedelta(days=90))
        order = await shop.order(A, 1)
        assert [r["lot"] for r in order["reservations"]] == ["SOON"]
        clock.next_day()  # no sweep yet: the order still names SOON
        await shop.orders.fulfil(order["id"])
        books = await shop.books()
        assert books[A].qty == {("floor", "SOON"): 1, ("floor", "LATER"): 1}
        assert await shop.level(A) == (1, 0)


async def test_a_till_sale_of_an_expired_lot_is_booked_against_it_and_an_expiry_write_off_clears_it(
        db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-till", sqlite=db_url.startswith("sqlite"))
        await shop.receive(A, 3, "OLD", clock.today - timedelta(days=2))
        await shop.receive(A, 4, "NEW", clock.today + timedelta(days=90))
        await shop.till(A, 1, lot="OLD")  # the till scanned the lot: that unit left
        assert (await shop.books())[A].qty == {("floor", "OLD"): 2, ("floor", "NEW"): 4}
        assert await shop.level(A) == (4, 0)
        await shop.write_off(A, 2)  # "reason": "expired", no lot: the expired units go
        assert (await shop.books())[A].qty == {("floor", "NEW"): 4}
        assert await shop.level(A) == (4, 0)
        async with maker() as s:
            evidence = (await s.scalars(select(Movement.evidence).where(
                Movement.store == "sh-till", Movement.kind == "shrink"))).all()
        assert evidence == ['{"reason": "expired"}']
        assert {k: b.qty for k, b in (await shop.books()).items()} == \
            {k: b.qty for k, b in (await shop.rebuilt()).items()}


async def test_a_transfer_takes_good_units_only_even_before_the_sweep(db_url: str) -> None:
    clock = Clock()
    async with ledger_on(db_url) as maker:
        shop = await open_shop(maker, clock, "sh-send", sqlite=db_url.startswith("sqlite"))
        transfers = Transfers(shop.orders)
        await shop.receive(A, 2, "SOON", clock.today)
        await shop.receive(A, 1, "LATER", clock.today + timedelta(days=90))
        clock.next_day()  # SOON has expired; the sweep has not run
        with pytest.raises(OrderError) as refused:
            await transfers.create(TransferRequest("sh-send", "sh-other", ((A, 2),)))
        assert refused.value.status == 409
        sent = await transfers.create(TransferRequest("sh-send", "sh-other", ((A, 1),)))
        assert [(ln["lot"], ln["qty"]) for ln in sent["lines"]] == [("LATER", 1)]
        assert (await shop.books())[A].qty == {("floor", "SOON"): 2}
        assert await shop.level(A) == (0, 0)
