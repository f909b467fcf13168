"""Double 11: five channels, hundreds of concurrent buyers racing for the last units across stores,
through the real HTTP API on SQLite and PostgreSQL. No order beyond stock, every accepted order
reserved exactly once, every unit of a hot SKU sold, balances equal to a rebuild afterwards."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select

from cloud.db import reads
from cloud.db.models import Order, Reservation, StockLevel
from tests.orders.chain import Api, gtin

CHANNELS = ["taobao", "jd", "pdd", "douyin", "wechat-mp"]
STORES = {"sh-1": (31.23, 121.47), "sh-2": (31.30, 121.50), "hz-1": (30.27, 120.15)}
HOT = [gtin(11), gtin(12)]        # a handful of units each: everyone wants them
WARM = [gtin(21), gtin(22)]       # more units, multi-line orders
STOCK = {HOT[0]: {"sh-1": 3, "sh-2": 2, "hz-1": 1}, HOT[1]: {"sh-1": 1, "hz-1": 4},
         WARM[0]: {"sh-1": 20, "sh-2": 15, "hz-1": 10}, WARM[1]: {"sh-2": 12, "hz-1": 8}}
BUYERS = 400


async def test_double_11_flood_never_oversells(api: Api) -> None:
    for store, (lat, lon) in STORES.items():
        await api.store(store, lat, lon)
    for i, ch in enumerate(CHANNELS):
        await api.channel(ch, list(STORES), split=i % 2 == 0, hold_s=3600)
    for sku, per_store in STOCK.items():
        for store, n in per_store.items():
            await api.count(store, sku, n)

    rng = random.Random(11)
    requests: list[dict[str, Any]] = []
    for b in range(BUYERS):
        if rng.random() < 0.6:
            lines = [{"sku": rng.choice(HOT), "qty": 1}]
        else:
            lines = [{"sku": sku, "qty": rng.randint(1, 3)} for sku in rng.sample(WARM, rng.randint(1, 2))]
        lat, lon = rng.choice(list(STORES.values()))
        requests.append({"channel": rng.choice(CHANNELS), "order_id": f"D11-{b}", "lines": lines,
                         "fulfilment": {"type": "ship", "address": {"lat": lat + rng.uniform(-0.1, 0.1),
                                                                    "lon": lon + rng.uniform(-0.1, 0.1)}}})
    retried = requests[::10]  # an impatient tenth of the buyers press "pay" twice at once

    results = await asyncio.gather(*(api.post("/v1/orders", body) for body in requests + retried))
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 201, 409}, statuses
    assert statuses[409] > 0 and statuses[201] > 0
    accepted: dict[str, dict[str, Any]] = {}
    for (status, order), body in zip(results, requests + retried, strict=True):
        if status in (200, 201):
            key = f"{body['channel']}/{body['order_id']}"
            assert accepted.setdefault(key, order)["id"] == order["id"]  # a retry is the same order
            wanted = Counter()
            for line in body["lines"]:
                wanted[line["sku"]] += line["qty"]
            got = Counter()
            for r in order["reservations"]:
                got[r["sku"]] += r["qty"]
            assert got == wanted, (body, order)  # reserved exactly what was asked, once

    held: dict[tuple[str, str], int] = defaultdict(int)
    for order in accepted.values():
        for r in order["reservations"]:
            held[(r["store"], r["sku"])] += r["qty"]
    for (store, sku), n in held.items():
        assert n <= STOCK[sku].get(store, 0), (store, sku, n)  # zero orders beyond stock
    for sku in HOT:  # demand far beyond supply: every unit went, none twice
        assert sum(n for (_, s), n in held.items() if s == sku) == sum(STOCK[sku].values())

    async with api.maker() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == len(accepted)
        levels = {(lv.store, lv.sku): lv.reserved for lv in (await session.scalars(select(StockLevel))).all()}
        rows = (await session.execute(select(Reservation.store, Reservation.sku,
                                             func.sum(Reservation.qty)).group_by(Reservation.store,
                                                                                 Reservation.sku))).all()
    assert {(s, k): int(n) for s, k, n in rows} == dict(held)
    assert {k: v for k, v in levels.items() if v} == dict(held)

    # the stores ship every accepted order: stock falls by exactly what was sold
    done = await asyncio.gather(*(api.post(f"/v1/orders/{o['id']}/fulfil") for o in accepted.values()))
    assert all(status == 200 for status, _ in done)
    for sku, per_store in STOCK.items():
        for store, n in per_store.items():
            assert await api.on_hand(store, sku) == n - held.get((store, sku), 0)
    assert await reads.rebuild_mismatches(api.maker) == []
