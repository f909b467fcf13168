"""The reports read from small hand-made ledgers, their answers worked out by hand here: stock-out
rate from the book's hours with nothing sellable, stock age first-in-first-out, shrink by reason
with its value, fill rate of online orders, sell-through per channel; the levels of the drill-down
add up; a store token sees its own store and no values; bad parameters are a 400 naming the field."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import ADMIN, Api, book, gtin

A, B, C = gtin(51), gtin(52), gtin(53)
D = datetime.now(UTC).date() - timedelta(days=10)  # the day the hand-made ledgers happen on


def at(hour: float, day: date = D) -> datetime:
    return datetime.combine(day, time(), UTC) + timedelta(hours=hour)


def delta(sku: str, kind: Kind, qty: int, when: datetime, source: Source = Source.MANUAL,
          **more: Any) -> StockDelta:
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=kind, qty=qty, zone=Zone.FLOOR,
                      occurred_at=when, source=source, **more)


async def _products(api: Api, costs: dict[str, float] | None = None) -> None:
    await api.store("sh-1")
    await api.store("sh-2")
    for sku, cat in ((A, "food"), (B, "food"), (C, "toys")):
        cost = (costs or {}).get(sku)
        await api.put(f"/v1/products/{sku}", {"name": f"item {sku[-3:]}", "category": cat,
                                              **({"unit_cost": cost} if cost is not None else {})})


async def _store_token(api: Api, store: str = "sh-1") -> str:
    status, body = await api.post("/v1/tokens", {"name": f"shop-{store}", "role": "store", "store": store})
    assert status == 201, body
    return str(body["token"])


def _one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


async def test_stock_out_rate_is_the_share_of_sku_store_hours_with_nothing_sellable(api: Api) -> None:
    await _products(api)
    await book(api.maker, "sh-1",
               # A: 5 from midnight, all sold at 12:00, 3 back at 18:00: empty 6 of 24 hours
               delta(A, Kind.COUNT, 5, at(0)), delta(A, Kind.SALE, -5, at(12)),
               delta(A, Kind.RECEIPT, 3, at(18)),
               # B: first seen at 06:00 with 2, never empty: 18 hours ranged, none empty
               delta(B, Kind.COUNT, 2, at(6)),
               # C: 4 of a lot that may be sold through D and is expired from D+1: empty all of D+1
               delta(C, Kind.RECEIPT, 4, at(0), lot="L1", expiry=D))
    # sh-2, A: empty from the day before the period until 20:00 on D: 20 of 24 hours
    await book(api.maker, "sh-2", delta(A, Kind.COUNT, 0, at(-30)), delta(A, Kind.RECEIPT, 2, at(20)))
    # a warehouse without A all day: not a shelf, so not in the rate unless asked for by name
    await api.put("/v1/stores/wh", {"name": "wh", "lat": 31.2, "lon": 121.4, "kind": "warehouse"})
    await book(api.maker, "wh", delta(A, Kind.COUNT, 0, at(-1)))
    _, house = await api.get(f"/v1/reports/stock-out?from={D}&to={D}&by=sku&store=wh")
    assert [(r["sku"], r["stock_out_rate"]) for r in house["rows"]] == [(A, 1.0)]
    day = f"from={D}&to={D}"
    _, skus = await api.get(f"/v1/reports/stock-out?{day}&by=sku")
    rate = {(r["store"], r["sku"]): (r["hours"], r["empty_hours"], r["stock_out_rate"]) for r in skus["rows"]}
    assert rate[("sh-1", A)] == (24.0, 6.0, 0.25)
    assert rate[("sh-1", B)] == (18.0, 0.0, 0.0)
    assert rate[("sh-1", C)] == (24.0, 0.0, 0.0)  # sold through its expiry date
    assert rate[("sh-2", A)] == (24.0, 20.0, round(20 / 24, 4))
    _, two_days = await api.get(f"/v1/reports/stock-out?from={D}&to={D + timedelta(days=1)}&by=sku&store=sh-1")
    assert _one(two_days["rows"], sku=C)["stock_out_rate"] == 0.5  # expired the second day
    # the levels are sums of their parts: food in sh-1 = A + B = 6 of 42 hours
    _, stores = await api.get(f"/v1/reports/stock-out?{day}&by=store")
    assert _one(stores["rows"], store="sh-1", category="food")["stock_out_rate"] == round(6 / 42, 4)
    _, cats = await api.get(f"/v1/reports/stock-out?{day}&by=category")
    food = _one(cats["rows"], category="food")
    assert (food["pairs"], food["hours"], food["empty_hours"]) == (3, 66.0, 26.0)
    assert "store" not in food and food["stock_out_rate"] == round(26 / 66, 4)
    _, drilled = await api.get(f"/v1/reports/stock-out?{day}&by=store&category=food")
    assert {r["store"] for r in drilled["rows"]} == {"sh-1", "sh-2"}
    assert {r["category"] for r in drilled["rows"]} == {"food"}
    # a store token sees its own store only, and may not ask for another
    shop = await _store_token(api)
    _, own = await api.get(f"/v1/reports/stock-out?{day}&by=sku", token=shop)
    assert {r["store"] for r in own["rows"]} == {"sh-1"}
    status, refused = await api.get(f"/v1/reports/stock-out?{day}&store=sh-2", token=shop)
    assert status == 403 and refused["field"] == "store"


async def test_stock_age_is_first_in_first_out_and_its_value_is_for_hq_and_finance(api: Api) -> None:
    await _products(api, {A: 2.0})
    now = datetime.now(UTC)
    await book(api.maker, "sh-1", delta(A, Kind.RECEIPT, 10, now - timedelta(days=100)),
               delta(A, Kind.RECEIPT, 5, now - timedelta(days=20)),
               delta(A, Kind.SALE, -8, now - timedelta(days=10)),
               delta(C, Kind.RECEIPT, 3, now - timedelta(days=200)))
    # A: 7 left, the newest first: 5 from 20 days ago, 2 of the 10 from 100 days ago
    _, age = await api.get("/v1/reports/stock-age?by=sku")
    a = _one(age["rows"], sku=A)
    assert (a["units"], a["age_0_30"], a["age_31_90"], a["age_91_180"], a["age_over_180"]) == (7, 5, 0, 2, 0)
    assert a["mean_age_days"] == round((5 * 20 + 2 * 100) / 7, 1) and a["value"] == 14.0
    c = _one(age["rows"], sku=C)
    assert (c["units"], c["age_over_180"], c["value"]) == (3, 3, None)  # C has no unit cost
    _, cats = await api.get("/v1/reports/stock-age?by=category")
    assert _one(cats["rows"], category="food")["units"] == 7
    # as of the end of a past period: 40 days ago A had its first 10 only, 60 days old
    end = (now - timedelta(days=40)).date()
    _, then = await api.get(f"/v1/reports/stock-age?from={end - timedelta(days=6)}&to={end}&by=sku")
    a_then = _one(then["rows"], sku=A)
    assert (a_then["units"], a_then["age_31_90"]) == (10, 10)
    shop = await _store_token(api)
    _, seen = await api.get("/v1/reports/stock-age?by=sku", token=shop)
    assert "value" not in _one(seen["rows"], sku=A)
    _, body = await api.post("/v1/tokens", {"name": "books", "role": "finance"})
    _, finance = await api.get("/v1/reports/stock-age?by=sku", token=body["token"])
    assert _one(finance["rows"], sku=A)["value"] == 14.0


async def test_shrink_by_reason_with_units_and_value(api: Api) -> None:
    await _products(api, {A: 2.5, C: 4.0})
    await book(api.maker, "sh-1", delta(A, Kind.COUNT, 10, at(1)),
               delta(A, Kind.SHRINK, -2, at(2), evidence={"reason": "theft"}),
               delta(A, Kind.ADJUST, -1, at(3), evidence={"reason": "damaged"}),
               delta(A, Kind.SALE, -1, at(4)),  # a sale is not shrink
               delta(A, Kind.COUNT, 4, at(5)),  # the book said 6: a count that found 2 fewer
               delta(A, Kind.ADJUST, 3, at(6)))  # found units are not negative shrink
    await book(api.maker, "sh-2", delta(C, Kind.RECEIPT, 5, at(1)), delta(C, Kind.SHRINK, -1, at(2)))
    _, rows = await api.get(f"/v1/reports/shrink?from={D}&to={D}&by=sku")
    a = _one(rows["rows"], sku=A)
    assert (a["units"], a["value"], a["reasons"]) == (5, 12.5, {"theft": 2, "count": 2, "damaged": 1})
    c = _one(rows["rows"], sku=C)
    assert (c["units"], c["value"], c["reasons"]) == (1, 4.0, {"unstated": 1})
    _, cats = await api.get(f"/v1/reports/shrink?from={D}&to={D}&by=category")
    assert [(r["category"], r["units"]) for r in cats["rows"]] == [("food", 5), ("toys", 1)]
    _, before = await api.get(f"/v1/reports/shrink?from={D - timedelta(days=3)}&to={D - timedelta(days=1)}")
    assert before["rows"] == []
    async with api.session.get(f"{api.url}/v1/reports/shrink/csv?from={D}&to={D}&by=sku",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status == 200
        table = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert [(x["store"], x["sku"], x["units"], x["reasons"]) for x in table] == [
        ("sh-1", A, "5", "count:2; theft:2; damaged:1"), ("sh-2", C, "1", "unstated:1")]


async def _orders(api: Api) -> dict[str, str]:
    """sh-1 holds A 10 (food) and C 5 (toys); orders on channel `web`:
    o1 A×2 + C×1 fulfilled; o2 A×3 released when a count finds A 2; o3 C×1 cancelled; o4 A×1 open;
    and the till sells A×1."""
    await _products(api)
    await api.channel("web", ["sh-1"])
    await api.count("sh-1", A, 10)
    await api.count("sh-1", C, 5)
    ids = {}
    for name, lines in (("o1", [(A, 2), (C, 1)]), ("o2", [(A, 3)])):
        status, body = await api.order("web", name, lines)
        assert status == 201, body
        ids[name] = body["id"]
    status, _ = await api.post(f"/v1/orders/{ids['o1']}/fulfil")
    assert status == 200
    await book(api.maker, "sh-1", delta(A, Kind.SALE, -1, datetime.now(UTC), Source.POS))
    await api.count("sh-1", A, 2)  # 7 on the book, o2 holds 3: o2 is released
    _, o2 = await api.get(f"/v1/orders/{ids['o2']}")
    assert o2["status"] == "released"
    for name, lines in (("o3", [(C, 1)]), ("o4", [(A, 1)])):
        status, body = await api.order("web", name, lines)
        assert status == 201, body
        ids[name] = body["id"]
    status, _ = await api.post(f"/v1/orders/{ids['o3']}/cancel")
    assert status == 200
    return ids


async def test_fill_rate_counts_fulfilled_against_fulfilled_and_released_orders(api: Api) -> None:
    await _orders(api)
    # asked: o1 (2 lines, 3 units, filled) and o2 (1 line, 3 units, released); o3 cancelled, o4 open
    _, chain = await api.get("/v1/reports/fill-rate?days=1&by=category")
    food, toys = _one(chain["rows"], category="food"), _one(chain["rows"], category="toys")
    assert (food["lines_asked"], food["lines_filled"], food["units_asked"], food["units_filled"]) == (2, 1, 5, 2)
    assert (food["line_fill_rate"], food["unit_fill_rate"]) == (0.5, 0.4)
    assert (toys["lines_asked"], toys["lines_filled"], toys["unit_fill_rate"]) == (1, 1, 1.0)
    _, skus = await api.get("/v1/reports/fill-rate?days=1&by=sku&channel=web")
    assert _one(skus["rows"], sku=A)["units_asked"] == 5
    _, other = await api.get("/v1/reports/fill-rate?days=1&channel=tmall")
    assert other["rows"] == []
    _, earlier = await api.get(f"/v1/reports/fill-rate?from={D}&to={D}")
    assert earlier["rows"] == []  # placed today, not on D


async def test_sell_through_per_channel_adds_up_to_the_total(api: Api) -> None:
    await _orders(api)
    # available in the last day: nothing before it, A arrived 10 (the first count), C 5;
    # sold: A 2 on web and 1 at the till, C 1 on web
    _, skus = await api.get("/v1/reports/sell-through?days=1&by=sku")
    got = {(r["sku"], r["channel"]): (r["sold"], r["available"], r["sell_through"]) for r in skus["rows"]}
    assert got == {(A, "web"): (2, 10, 0.2), (A, "till"): (1, 10, 0.1), (C, "web"): (1, 5, 0.2)}
    _, cats = await api.get("/v1/reports/sell-through?days=1&by=category&channel=till")
    # toys sold nothing at the till: a row of 0, not no row
    assert [(r["category"], r["channel"], r["sold"], r["sell_through"]) for r in cats["rows"]] == [
        ("food", "till", 1, 0.1), ("toys", "till", 0, 0.0)]
    await book(api.maker, "sh-2", delta(B, Kind.COUNT, 4, datetime.now(UTC) - timedelta(hours=2)))
    _, unsold = await api.get("/v1/reports/sell-through?days=1&by=sku&store=sh-2")
    assert [(r["sku"], r["channel"], r["sold"], r["available"]) for r in unsold["rows"]] == [(B, None, 0, 4)]


async def test_turnover_levels_drill_down_from_category_to_store_to_sku(api: Api) -> None:
    await _products(api)
    now = datetime.now(UTC)
    await book(api.maker, "sh-1", delta(A, Kind.COUNT, 20, now - timedelta(days=5)),
               delta(A, Kind.SALE, -6, now - timedelta(days=2)), delta(B, Kind.COUNT, 6, now - timedelta(days=5)))
    await book(api.maker, "sh-2", delta(A, Kind.COUNT, 8, now - timedelta(days=5)),
               delta(A, Kind.SALE, -4, now - timedelta(days=1)))
    _, cats = await api.get("/v1/reports/turnover?days=10&by=category")
    food = _one(cats["rows"], category="food")
    assert (food["sold"], food["on_hand"], food["turnover"]) == (10, 24, round(10 / 24, 3))
    _, stores = await api.get("/v1/reports/turnover?days=10&by=store&category=food")
    assert [(r["store"], r["sold"], r["on_hand"]) for r in stores["rows"]] == [("sh-1", 6, 20), ("sh-2", 4, 4)]
    _, skus = await api.get("/v1/reports/turnover?days=10&by=sku&category=food&store=sh-1")
    assert [(r["sku"], r["sold"], r["on_hand"]) for r in skus["rows"]] == [(A, 6, 14), (B, 0, 6)]
    # a past period reads the book at its end: 3 days ago sh-1 still held 20 of A
    end = (now - timedelta(days=3)).date()
    _, past = await api.get(f"/v1/reports/turnover?from={end - timedelta(days=4)}&to={end}&by=sku&store=sh-1")
    assert [(r["sku"], r["sold"], r["on_hand"]) for r in past["rows"]] == [(A, 0, 20), (B, 0, 6)]
    _, slow = await api.get("/v1/reports/slow-movers?days=10&by=category")
    assert [(r["category"], r["stocked"], r["slow"], r["slow_share"]) for r in slow["rows"]] == [
        ("food", 3, 1, round(1 / 3, 4))]


@pytest.mark.parametrize(("query", "field"), [
    ("days=0", "days"),
    ("days=731", "days"),
    ("from=2026-13-01", "from"),
    ("to=2026-01-01", "from"),  # to needs from
    ("days=7&from=2026-01-01", "days"),
    ("from=2026-02-01&to=2026-01-01", "to"),
    ("from=2020-01-01&to=2026-01-01", "from"),  # longer than 730 days
    (f"from={datetime.now(UTC).date() + timedelta(days=3)}", "from"),  # in the future
    ("by=region", "by"),
    ("store=SH_1", "store"),
    ("channel=web", "channel"),  # turnover takes no channel
])
async def test_bad_parameters_are_a_400_naming_the_field(api: Api, query: str, field: str) -> None:
    status, body = await api.get(f"/v1/reports/turnover?{query}")
    assert status == 400, body
    assert body["field"] == field and field in body["error"]
    async with api.session.get(f"{api.url}/v1/reports/turnover/csv?{query}",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status == 400 and (await r.json())["field"] == field


async def test_an_unknown_report_is_a_400_naming_it(api: Api) -> None:
    status, body = await api.get("/v1/reports/margins")
    assert status == 400 and body["field"] == "report"
