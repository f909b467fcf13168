"""Reports from the ledger: turnover and days of cover per store and category with a drill-down to
SKUs, slow movers, near-expiry lots; JSON and the same rows as CSV; a store sees its own."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin

A, B, C = gtin(41), gtin(42), gtin(43)


def _sale(sku: str, qty: int, days_ago: int) -> StockDelta:
    at = datetime.now(UTC) - timedelta(days=days_ago, hours=1)
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.SALE, qty=-qty, zone=Zone.FLOOR,
                      occurred_at=at, source=Source.POS)


async def _chain(api: Api) -> None:
    await api.store("sh-1")
    await api.store("sh-2")
    for sku, cat in ((A, "food"), (B, "food"), (C, "toys")):
        await api.put(f"/v1/products/{sku}", {"name": sku, "category": cat})
    # sh-1: A sold 3 a day on 10 of the last 30 days, and 5 forty days ago (outside the period); B 4 once
    await book(api.maker, "sh-1", _sale(A, 5, 40), *(_sale(A, 3, d) for d in range(1, 11)), _sale(B, 4, 2))
    await api.count("sh-1", A, 45)
    await api.count("sh-1", B, 5)
    # sh-2: C last sold 50 days ago, 7 left: a slow mover
    await book(api.maker, "sh-2", _sale(C, 1, 50))
    await api.count("sh-2", C, 7)
    soon = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()
    await api.count("sh-2", A, 4, lot="L-soon", expiry=date.fromisoformat(soon))
    await api.count("sh-2", A, 6, lot="L-late", expiry=date.fromisoformat(soon) + timedelta(days=200),
                    zone=Zone.BACKROOM)


async def test_turnover_and_cover_per_category_and_per_sku(api: Api) -> None:
    await _chain(api)
    _, cats = await api.get("/v1/reports/turnover")
    food = next(r for r in cats["rows"] if (r["store"], r["category"]) == ("sh-1", "food"))
    assert (food["sold"], food["on_hand"]) == (34, 50) and food["turnover"] == 0.68
    _, skus = await api.get("/v1/reports/turnover?by=sku&store=sh-1&category=food")
    a = next(r for r in skus["rows"] if r["sku"] == A)
    assert (a["sold"], a["on_hand"], a["turnover"], a["days_of_cover"]) == (30, 45, 0.667, 45.0)
    assert {r["sku"] for r in skus["rows"]} == {A, B}
    _, cover = await api.get("/v1/reports/days-of-cover?store=sh-1")
    assert [(r["sku"], r["days_of_cover"]) for r in cover["rows"]] == [(B, 37.5), (A, 45.0)]


async def test_slow_movers_and_near_expiry_and_their_csv(api: Api) -> None:
    await _chain(api)
    _, slow = await api.get("/v1/reports/slow-movers")
    assert [(r["store"], r["sku"], r["on_hand"]) for r in slow["rows"]] == [("sh-2", A, 10), ("sh-2", C, 7)]
    assert slow["rows"][1]["last_sale"] is not None and slow["rows"][0]["last_sale"] is None
    _, near = await api.get("/v1/reports/near-expiry")
    assert [(r["store"], r["sku"], r["lot"], r["days_left"], r["units"]) for r in near["rows"]] == [
        ("sh-2", A, "L-soon", 20, 4)]
    async with api.session.get(api.url + "/v1/reports/near-expiry/csv",
                               headers={"Authorization": "Bearer hq-token-for-tests"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert [(x["sku"], x["lot"], x["units"]) for x in rows] == [(A, "L-soon", "4")]
    status, body = await api.post("/v1/tokens", {"name": "shop-1", "role": "store", "store": "sh-1"})
    shop = body["token"]
    _, own = await api.get("/v1/reports/slow-movers", token=shop)
    assert own["rows"] == []
    status, _ = await api.get("/v1/reports/near-expiry?store=sh-2", token=shop)
    assert status == 403
