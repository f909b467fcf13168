"""Orders through the real HTTP API on SQLite and PostgreSQL: reserve, retry, short, cancel, fulfil,
expire, nearest store, pickup, split, channel SKUs, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from cloud.db import reads
from cloud.db.models import Movement
from cloud.keys import ORDERS
from tests.orders.chain import Api, gtin

A, B = gtin(1), gtin(2)


async def _chain(api: Api) -> None:
    await api.store("sh-1", 31.23, 121.47)   # Shanghai
    await api.store("sh-2", 31.30, 121.50)   # ~8 km north
    await api.store("bj-1", 39.90, 116.40)   # Beijing
    await api.channel("taobao", ["sh-1", "sh-2", "bj-1"], pickup=["sh-1"])


async def test_an_order_reserves_in_one_store_and_a_retry_returns_the_same_order(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 5, lot="L-late", expiry=date(2027, 9, 1))
    await api.count("sh-1", A, 3, lot="L-early", expiry=date(2027, 3, 1))
    status, order = await api.order("taobao", "TB-1", [(A, 4)])
    assert status == 201, order
    assert order["status"] == "reserved" and order["stores"] == ["sh-1"]
    # FEFO: the early lot is held first
    assert [(r["lot"], r["qty"]) for r in order["reservations"]] == [("L-early", 3), ("L-late", 1)]
    assert await api.available("sh-1", A) == 4
    again_status, again = await api.order("taobao", "TB-1", [(A, 4)])
    assert again_status == 200 and again["id"] == order["id"]
    assert await api.available("sh-1", A) == 4  # held once, not twice


async def test_short_stock_is_409_with_what_is_missing_and_holds_nothing(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 2)
    await api.count("sh-2", A, 1)
    status, body = await api.order("taobao", "TB-2", [(A, 5), (B, 1)])
    assert status == 409
    assert {s["sku"]: (s["wanted"], s["available"]) for s in body["short"]} == {A: (5, 3), B: (1, 0)}
    assert await api.available("sh-1", A) == 2 and await api.available("sh-2", A) == 1
    status, body = await api.get("/v1/orders/nope")
    assert status == 404


async def test_nearest_store_that_can_fill_the_whole_order_is_chosen(api: Api) -> None:
    await _chain(api)
    for store in ("sh-1", "sh-2", "bj-1"):
        await api.count(store, A, 10)
    await api.count("sh-1", B, 1)
    await api.count("bj-1", B, 5)
    near_beijing = {"address": {"lat": 39.95, "lon": 116.30}}
    _, order = await api.order("taobao", "TB-3", [(A, 1)], **near_beijing)
    assert order["stores"] == ["bj-1"]
    near_sh2 = {"address": {"lat": 31.31, "lon": 121.51}}
    _, order = await api.order("taobao", "TB-4", [(A, 1)], **near_sh2)
    assert order["stores"] == ["sh-2"]
    # sh-2 is nearest but has no B: the nearest store that has everything is sh-1
    _, order = await api.order("taobao", "TB-5", [(A, 1), (B, 1)], **near_sh2)
    assert order["stores"] == ["sh-1"]


async def test_split_only_where_the_channel_allows_it(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 2)
    await api.count("sh-2", A, 2)
    status, body = await api.order("taobao", "TB-6", [(A, 3)])
    assert status == 409 and body["short"] == [{"sku": A, "wanted": 3, "available": 2}]
    await api.channel("jd", ["sh-1", "sh-2"], split=True)
    status, order = await api.order("jd", "JD-1", [(A, 3)], address={"lat": 31.23, "lon": 121.47})
    assert status == 201
    assert sorted((r["store"], r["qty"]) for r in order["reservations"]) == [("sh-1", 2), ("sh-2", 1)]


async def test_pickup_goes_to_the_named_store_only(api: Api) -> None:
    await _chain(api)
    await api.count("sh-2", A, 9)
    status, body = await api.order("taobao", "TB-7", [(A, 1)], type="pickup", store="sh-1")
    assert status == 409  # sh-1 has none; sh-2's stock is not offered for a pickup at sh-1
    status, body = await api.order("taobao", "TB-8", [(A, 1)], type="pickup", store="sh-2")
    assert status == 422 and "pickup" in body["error"]
    status, body = await api.order("taobao", "TB-9", [(A, 1)], type="pickup")
    assert status == 400


async def test_cancel_releases_and_fulfil_books_one_sale_however_often_it_is_called(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 5)
    _, o1 = await api.order("taobao", "TB-10", [(A, 2)])
    _, o2 = await api.order("taobao", "TB-11", [(A, 2)])
    assert await api.available("sh-1", A) == 1
    status, body = await api.post(f"/v1/orders/{o1['id']}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    assert await api.available("sh-1", A) == 3
    for _ in range(3):
        status, body = await api.post(f"/v1/orders/{o2['id']}/fulfil")
        assert status == 200 and body["status"] == "fulfilled"
    assert await api.on_hand("sh-1", A) == 3 and await api.available("sh-1", A) == 3
    async with api.maker() as session:
        sales = await session.scalar(select(func.count()).where(Movement.ref.like(f"order:{o2['id']}:%")))
    assert sales == 1
    status, body = await api.post(f"/v1/orders/{o2['id']}/cancel")
    assert status == 409 and "fulfilled" in body["error"]
    status, body = await api.post(f"/v1/orders/{o1['id']}/fulfil")
    assert status == 409
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_unpaid_orders_expire_and_give_their_stock_back(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 2)
    _, order = await api.order("taobao", "TB-12", [(A, 2)])
    assert await api.available("sh-1", A) == 0
    orders = api.app[ORDERS]
    assert await orders.expire_due(datetime.now(UTC)) == []  # the hold (900 s) has not passed
    assert await orders.expire_due(datetime.now(UTC) + timedelta(seconds=901)) == [order["id"]]
    assert await api.available("sh-1", A) == 2
    _, body = await api.get(f"/v1/orders/{order['id']}")
    assert body["status"] == "expired" and body["closed_by"] == "api"
    status, _ = await api.post(f"/v1/orders/{order['id']}/fulfil")
    assert status == 409  # too late: it has to be ordered again


async def test_channel_skus_resolve_through_listings(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 3)
    await api.put("/v1/channels/taobao/listings", {"listings": [{"channel_sku": "5011", "item_id": "66001",
                                                                  "sku": A}]})
    status, order = await api.post("/v1/orders", {"channel": "taobao", "order_id": "TB-13",
                                                  "lines": [{"channel_sku": "5011", "qty": 1}]})
    assert status == 201 and order["reservations"][0]["sku"] == A
    status, body = await api.post("/v1/orders", {"channel": "taobao", "order_id": "TB-14",
                                                 "lines": [{"channel_sku": "9999", "qty": 1}]})
    assert status == 422 and "9999" in body["error"]
    _, figures = await api.get("/v1/channels/taobao/availability")
    assert figures["items"] == [{"sku": A, "channel_sku": "5011", "item_id": "66001", "qty": 2}]


async def test_channel_availability_applies_safety_share_min_and_max(api: Api) -> None:
    for s in ("s-1", "s-2"):
        await api.store(s)
    await api.count("s-1", A, 10)
    await api.count("s-2", A, 3)
    await api.channel("douyin", ["s-1", "s-2"], safety=2, share_pct=50)
    _, body = await api.get(f"/v1/channels/douyin/availability?sku={A}")
    assert body["items"][0]["qty"] == (8 + 1) * 50 // 100  # 4
    await api.channel("douyin", ["s-1", "s-2"], safety=2, share_pct=50, max_qty=3)
    _, body = await api.get(f"/v1/channels/douyin/availability?sku={A}")
    assert body["items"][0]["qty"] == 3
    await api.channel("douyin", ["s-2"], share_pct=10, min_qty=2)  # 10 % of 3 is 0; min lists 2
    _, body = await api.get(f"/v1/channels/douyin/availability?sku={A}")
    assert body["items"][0]["qty"] == 2
    status, _ = await api.get("/v1/channels/nope/availability")
    assert status == 404


async def test_bad_order_requests_are_400_and_change_nothing(api: Api) -> None:
    await _chain(api)
    await api.count("sh-1", A, 3)
    bad = [
        {"channel": "taobao", "order_id": "X", "lines": []},
        {"channel": "taobao", "order_id": "X", "lines": [{"sku": "123", "qty": 1}]},
        {"channel": "taobao", "order_id": "X", "lines": [{"sku": A, "qty": 0}]},
        {"channel": "taobao", "order_id": "X", "lines": [{"sku": A, "channel_sku": "1", "qty": 1}]},
        {"channel": "taobao", "order_id": "", "lines": [{"sku": A, "qty": 1}]},
        {"channel": "taobao", "order_id": "X", "lines": [{"sku": A, "qty": 1}], "fulfilment": {"type": "fly"}},
        {"channel": "taobao", "order_id": "X", "lines": [{"sku": A, "qty": 1}],
         "fulfilment": {"type": "ship", "address": {"lat": 91, "lon": 0}}},
        ["not", "an", "object"],
    ]
    for body in bad:
        status, answer = await api.post("/v1/orders", body)
        assert status == 400, (body, answer)
        assert answer["error"]
    async with api.session.post(api.url + "/v1/orders", data=b"{not json",
                                headers={"Authorization": "Bearer hq-token-for-tests"}) as r:
        assert r.status == 400
    status, _ = await api.order("nope", "X", [(A, 1)])
    assert status == 404
    assert await api.available("sh-1", A) == 3
