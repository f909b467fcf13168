"""The ledger in a real database (SQLite and PostgreSQL): atomic batches, dedupe, late arrivals."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import engines, posting, reads
from cloud.db.migrate import upgrade
from cloud.db.models import Checkpoint
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone
from tests.support.services import postgres_database

T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
SKU_A = "06923450000106"
SKU_B = "06923450000113"
TODAY = date(2026, 11, 26)


def d(id: str, kind: Kind, qty: int, minute: float, sku: str = SKU_A, zone: Zone = Zone.FLOOR,
      lot: str | None = None, expiry: date | None = None, seq: int = 1,
      from_zone: Zone | None = None) -> StockDelta:
    return StockDelta(id=id, seq=seq, sku=sku, kind=kind, qty=qty, zone=zone,
                      occurred_at=T0 + timedelta(minutes=minute), source=Source.POS,
                      lot=lot, expiry=expiry, from_zone=from_zone)


def batch(*deltas: StockDelta, store: str = "sh-1") -> DeltaBatch:
    return DeltaBatch(store, "gw-1", T0, tuple(deltas))


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.get_running_loop().run_in_executor(None, upgrade, db_url)
    engine = engines.make_engine(db_url)
    yield engines.sessionmaker(engine)
    await engine.dispose()


async def floor(maker: async_sessionmaker[AsyncSession], sku: str = SKU_A, store: str = "sh-1") -> int:
    items = await reads.store_stock(maker, store, sku, TODAY)
    return items[0]["zones"]["floor"] if items else 0


async def test_a_sale_lowers_the_balance(maker: async_sessionmaker[AsyncSession]) -> None:
    await posting.apply_batch(maker, batch(d("r", Kind.RECEIPT, 10, 0)))
    result = await posting.apply_batch(maker, batch(d("s", Kind.SALE, -3, 1)))
    assert (result.applied, result.duplicates) == (1, 0)
    assert await floor(maker) == 7


async def test_a_redelivered_batch_changes_nothing(maker: async_sessionmaker[AsyncSession]) -> None:
    b = batch(d("r", Kind.RECEIPT, 10, 0), d("s", Kind.SALE, -3, 1))
    await posting.apply_batch(maker, b)
    again = await posting.apply_batch(maker, b)
    assert (again.applied, again.duplicates) == (0, 2)
    assert await floor(maker) == 7
    assert len(await reads.movements(maker, "sh-1", 0, 100)) == 2


async def test_a_late_pre_count_sale_is_absorbed_by_the_count(maker: async_sessionmaker[AsyncSession]) -> None:
    await posting.apply_batch(maker, batch(d("r", Kind.RECEIPT, 10, 0), d("c", Kind.COUNT, 8, 30)))
    late = await posting.apply_batch(maker, batch(d("s", Kind.SALE, -3, 20)))
    assert late.replayed_skus == 1
    assert await floor(maker) == 8
    await posting.apply_batch(maker, batch(d("s2", Kind.SALE, -1, 40)))
    assert await floor(maker) == 7


async def test_stock_shows_zones_lots_and_fefo(maker: async_sessionmaker[AsyncSession]) -> None:
    await posting.apply_batch(maker, batch(
        d("r1", Kind.RECEIPT, 5, 0, lot="SOON", expiry=date(2026, 12, 1)),
        d("r2", Kind.RECEIPT, 5, 0, lot="LATE", expiry=date(2027, 6, 1)),
        d("r3", Kind.RECEIPT, 4, 0, zone=Zone.BACKROOM, lot="LATE", expiry=date(2027, 6, 1)),
        d("s", Kind.SALE, -6, 5)))
    [item] = await reads.store_stock(maker, "sh-1", None, TODAY)
    assert item["on_hand"] == 8
    assert item["zones"] == {"floor": 4, "backroom": 4}
    assert item["lots"] == [{"lot": "LATE", "expiry": "2027-06-01", "qty": 8}]
    total = await reads.sku_stock(maker, SKU_A, TODAY)
    assert total["on_hand"] == 8 and total["stores"][0]["store"] == "sh-1"


async def test_gateway_sequence_and_gaps_are_tracked(maker: async_sessionmaker[AsyncSession]) -> None:
    await posting.apply_batch(maker, batch(d("a", Kind.RECEIPT, 1, 0, seq=1), d("b", Kind.RECEIPT, 1, 0, seq=2)))
    await posting.apply_batch(maker, batch(d("c", Kind.RECEIPT, 1, 0, seq=5)))
    [gw] = await reads.gateways(maker)
    assert (gw["max_seq"], gw["deltas"], gw["seq_gaps"]) == (5, 3, 2)


async def test_workers_racing_on_one_sku_lose_nothing(maker: async_sessionmaker[AsyncSession]) -> None:
    await posting.apply_batch(maker, batch(d("r", Kind.RECEIPT, 1000, 0)))
    sales = [batch(d(f"s{i}", Kind.SALE, -1, 1 + i / 100, seq=i + 2)) for i in range(60)]
    await asyncio.gather(*(posting.apply_batch(maker, b) for b in sales))
    assert await floor(maker) == 940
    assert await reads.rebuild_mismatches(maker) == []


# --- property: any order, any duplication, same balances; rebuild equals cache ---------------

@st.composite
def histories(draw: st.DrawFn) -> list[StockDelta]:
    out = []
    for i in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from([Kind.SALE, Kind.RETURN, Kind.RECEIPT, Kind.COUNT, Kind.MOVE]))
        qty = draw(st.integers(1, 6))
        qty = -qty if kind is Kind.SALE else (qty - 1 if kind is Kind.COUNT else qty)
        zone = draw(st.sampled_from([Zone.FLOOR, Zone.BACKROOM]))
        lot = draw(st.sampled_from([None, "L1", "L2"]))
        out.append(d(f"h{i:02d}", kind, qty, draw(st.integers(0, 10)), sku=draw(st.sampled_from([SKU_A, SKU_B])),
                     zone=zone, lot=lot, expiry={"L1": date(2027, 1, 1), "L2": date(2027, 2, 1)}.get(lot or ""),
                     seq=i + 1, from_zone=(Zone.BACKROOM if zone is Zone.FLOOR else Zone.FLOOR)
                     if kind is Kind.MOVE else None))
    return out


def _chunks(items: list[StockDelta], rnd: random.Random) -> list[DeltaBatch]:
    batches, i = [], 0
    while i < len(items):
        n = rnd.randint(1, 4)
        part = list({x.id: x for x in items[i:i + n]}.values())
        batches.append(batch(*part))
        i += n
    return batches


async def _check_orders(db_url: str, history: list[StockDelta], seed: int) -> None:
    rnd = random.Random(seed)
    results = []
    for order in range(2):
        engine = engines.make_engine(db_url)
        maker = engines.sessionmaker(engine)
        store = f"p{seed}-{order}"
        items = list(history) + rnd.sample(history, k=min(len(history), 3))  # redeliveries
        if order:
            rnd.shuffle(items)
        else:
            items.sort(key=lambda x: (x.occurred_at, x.id))
        # Delta ids are unique forever, across stores too: give each run its own.
        items = [dataclasses.replace(x, id=f"{store}-{x.id}") for x in items]
        for b in _chunks(items, rnd):
            await posting.apply_batch(maker, DeltaBatch(store, b.gateway, b.sent_at, b.deltas))
        stock = await reads.store_stock(maker, store, None, TODAY)
        results.append([{k: v for k, v in it.items()} for it in stock])
        assert [m for m in await reads.rebuild_mismatches(maker) if m["store"] == store] == []
        await engine.dispose()
    assert results[0] == results[1]


@given(histories(), st.integers(0, 10**6))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_delivery_order_gives_the_same_balances_in_sqlite(tmp_path_factory: pytest.TempPathFactory,
                                                              history: list[StockDelta], seed: int) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'l.db'}"
    upgrade(url)
    asyncio.run(_check_orders(url, history, seed))


@pytest.mark.postgres
@given(histories(), st.integers(0, 10**6))
@settings(max_examples=10, deadline=None)
def test_any_delivery_order_gives_the_same_balances_in_postgres(history: list[StockDelta], seed: int) -> None:
    with postgres_database(migrated=True, drop_later=True) as url:  # a database per example, at head
        upgrade(url)
        asyncio.run(_check_orders(url, history, seed))


@pytest.mark.parametrize("seed", range(6))
async def test_late_arrivals_replay_from_checkpoints_and_match_a_rebuild(
        maker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """With a checkpoint every 3 movements, shuffled deliveries (late ones replay from the newest
    checkpoint before them and drop the later ones) still give exactly the full replay."""
    monkeypatch.setattr(posting, "CHECKPOINT_EVERY", 3)
    rnd = random.Random(seed)
    history: list[StockDelta] = []
    for i in range(80):
        kind = rnd.choice([Kind.SALE, Kind.SALE, Kind.RECEIPT, Kind.COUNT, Kind.RETURN])
        qty = {Kind.SALE: -rnd.randint(1, 3), Kind.COUNT: rnd.randint(0, 20)}.get(kind, rnd.randint(1, 5))
        lot = rnd.choice([None, "L1", "L2"])
        history.append(d(f"c{seed}-{i:03d}", kind, qty, i, lot=lot,
                         expiry={"L1": date(2027, 1, 1), "L2": date(2027, 3, 1)}.get(lot or ""), seq=i + 1))
    # Mostly in order, with a fifth of the deltas held back and delivered late.
    late = set(rnd.sample(range(80), 16))
    order = [x for i, x in enumerate(history) if i not in late] + [history[i] for i in sorted(late, reverse=True)]
    replayed = 0
    for i in range(0, len(order), 4):
        replayed += (await posting.apply_batch(maker, batch(*order[i:i + 4]))).replayed_skus
    assert replayed >= 3
    async with maker() as session:
        assert await session.scalar(select(func.count()).select_from(Checkpoint)) >= 1
    assert await reads.rebuild_mismatches(maker) == []
