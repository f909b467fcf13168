"""Stock-out days as censored demand: the share of opening hours with nothing sellable (table
tests of the arithmetic), and the days a ledger run marks from real movements on SQLite and
PostgreSQL, which keep a shelf that stood empty from teaching the forecast that nobody wanted it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cloud.db.replenishment import read_facts
from cloud.replenish.plan import plan
from cloud.replenish.series import OpeningHours, empty_share, stocked_out
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin
from tests.replenish.ledger_history import chain_with_history

DAY = date(2026, 3, 2)
NINE_TO_NINE = OpeningHours(time(9), time(21))


def at(day: int, hour: float, tz: ZoneInfo | None = None) -> datetime:
    """`hour` o'clock on DAY + day (UTC unless `tz`)."""
    base = datetime.combine(DAY + timedelta(days=day), time(), tz or UTC)
    return base + timedelta(hours=hour)


@pytest.mark.parametrize(("steps", "expected"), [
    ([], [1.0, 1.0]),                                        # never held anything
    ([(at(-1, 12), 5)], [0.0, 0.0]),                         # stocked before, never sold out
    ([(at(-1, 12), 5), (at(0, 15), 0)], [0.5, 1.0]),         # out from 15:00: half of 09-21
    ([(at(-1, 12), 5), (at(0, 14), 0)], [7 / 12, 1.0]),      # out from 14:00
    ([(at(-1, 12), 0), (at(0, 10), 4)], [1 / 12, 0.0]),      # restocked at 10:00
    ([(at(0, 6), 3), (at(0, 8), 0), (at(0, 22), 6)], [1.0, 0.0]),  # out all of its opening hours
    ([(at(0, 10), 0), (at(0, 11), 2), (at(0, 20), -1)], [2 / 12, 0.0]),  # below 0: the book was wrong
    ([(at(-1, 12), 0), (at(1, 9), 2)], [1.0, 0.0]),          # restocked as the next day opens
])
def test_the_share_of_opening_hours_with_nothing_sellable(steps: list[tuple[datetime, int]],
                                                           expected: list[float]) -> None:
    assert empty_share(steps, DAY, 2, NINE_TO_NINE) == pytest.approx(expected)


def test_a_stock_out_day_is_one_with_nothing_for_more_than_half_of_the_hours() -> None:
    half = [(at(-1, 12), 5), (at(0, 15), 0), (at(1, 16), 5)]
    assert stocked_out(half, DAY, 2, NINE_TO_NINE).tolist() == [False, True]  # 6 h of 12, then 7
    more = [(at(-1, 12), 5), (at(0, 14), 0), (at(1, 15), 5)]
    assert stocked_out(more, DAY, 2, NINE_TO_NINE).tolist() == [True, False]  # 7 h of 12, then 6


def test_opening_hours_are_the_chains_local_hours() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    hours = OpeningHours(time(9), time(21), shanghai)
    assert hours.window(DAY) == (at(0, 1), at(0, 13))  # 09:00-21:00 +08:00 in UTC
    # out from 12:00 UTC = 20:00 local: one hour of twelve
    steps = [(at(-1, 12), 5), (at(0, 12), 0)]
    assert empty_share(steps, DAY, 1, hours) == pytest.approx([1 / 12])
    assert empty_share(steps, DAY, 1, NINE_TO_NINE) == pytest.approx([9 / 12])


@pytest.mark.parametrize(("opens", "closes"), [(time(21), time(9)), (time(9), time(9))])
def test_opening_hours_must_open_before_they_close(opens: time, closes: time) -> None:
    with pytest.raises(ValueError, match="before closes"):
        OpeningHours(opens, closes)


def test_steps_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="time order"):
        empty_share([(at(0, 12), 1), (at(0, 10), 0)], DAY, 1, NINE_TO_NINE)


A, B = gtin(41), gtin(42)
DAYS = 56
OUT = range(DAYS - 10, DAYS)  # the last ten days: the shelf stood empty


async def test_a_run_reads_stock_out_days_from_the_ledger_and_forecasts_through_them(api: Api) -> None:
    """sh-1 sells ~6 A a day from a shelf counted to 30 each morning; the last ten mornings it is
    counted empty and nothing sells. Those days (and only those) are stock-out days; B, held all the
    time, has none. Read as censored, the forecast keeps A's level (~6 a day) and the order-up-to
    level with it; read as sales, ten zeros drag it down."""
    await api.store("sh-1", 31.2, 121.5)
    rng = np.random.default_rng(3)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DAYS)
    deltas = []
    for d in range(DAYS):
        morning = first + timedelta(days=d, hours=6)
        empty = d in OUT
        deltas.append(StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.COUNT, qty=0 if empty else 30,
                                 zone=Zone.FLOOR, occurred_at=morning, source=Source.MANUAL))
        deltas.append(StockDelta(id=str(uuid.uuid4()), seq=1, sku=B, kind=Kind.COUNT, qty=20,
                                 zone=Zone.FLOOR, occurred_at=morning, source=Source.MANUAL))
        sold = {A: 0 if empty else int(rng.poisson(6)), B: int(rng.poisson(1))}
        for sku, n in sold.items():
            if n:
                deltas.append(StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.SALE, qty=-n,
                                         zone=Zone.FLOOR, occurred_at=morning + timedelta(hours=6),
                                         source=Source.POS))
    await book(api.maker, "sh-1", *deltas)
    async with api.maker() as session:
        facts = await read_facts(session, today.date(), DAYS, OpeningHours(time(9), time(21), UTC))
    assert facts.stocked_out is not None
    k = {(loc.id, s.sku): i * len(facts.skus) + j for i, loc in enumerate(facts.locations)
         for j, s in enumerate(facts.skus)}
    assert np.flatnonzero(facts.stocked_out[k["sh-1", A]]).tolist() == list(OUT)
    assert not facts.stocked_out[k["sh-1", B]].any()

    censored = plan(facts)
    as_sales = plan(replace(facts, stocked_out=None))
    row = k["sh-1", A]
    assert censored.levels.order_up_to[row] > as_sales.levels.order_up_to[row]
    # the run itself counts them
    status, run = await api.post("/v1/replenishment/runs", {"wait": True})
    assert status == 201 and run["status"] == "done", run
    assert run["summary"]["stock_out_days"] >= len(OUT)


async def test_a_lot_expiring_overnight_empties_the_shelf_without_a_movement(api: Api) -> None:
    """12 units of one lot expire: from the day after its expiry nothing is sellable, though no
    movement says so; the run's replay marks those days (the ledger's own rule: sellable through
    the expiry date)."""
    await api.store("sh-9")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=20)
    expiry = (first + timedelta(days=9)).date()
    await book(api.maker, "sh-9", StockDelta(
        id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.RECEIPT, qty=12, zone=Zone.FLOOR,
        occurred_at=first + timedelta(hours=2), source=Source.MANUAL, lot="L1", expiry=expiry))
    async with api.maker() as session:
        facts = await read_facts(session, today.date(), 20, OpeningHours(time(9), time(21), UTC))
    assert facts.stocked_out is not None
    i = ([loc.id for loc in facts.locations].index("sh-9") * len(facts.skus)
         + [s.sku for s in facts.skus].index(A))
    assert np.flatnonzero(facts.stocked_out[i]).tolist() == list(range(10, 20))


async def test_a_book_below_zero_is_not_read_as_an_empty_shelf(api: Api) -> None:
    """Sales booked with no receipt or count before them drive the book below zero: the book was
    wrong, the shelf was not empty (the till sold), so none of those days is a stock-out."""
    await chain_with_history(api, warehouse=False)  # 56 days of sales, counted only today
    today = datetime.now(UTC).date()
    async with api.maker() as session:
        facts = await read_facts(session, today, DAYS, OpeningHours(time(9), time(21), UTC))
    assert facts.stocked_out is not None and facts.sales.sum() > 0
    assert not facts.stocked_out.any()
