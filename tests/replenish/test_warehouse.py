"""A central warehouse as a ledger location: goods received into it, transfers to stores, online
orders shipped from it with the stores' never-oversell guarantee, and no pickup counter."""

from __future__ import annotations

import asyncio

from cloud.db import reads
from tests.orders.chain import Api, gtin

A, B = gtin(11), gtin(12)


async def _chain(api: Api) -> None:
    await api.put("/v1/stores/wh-east", {"name": "East DC", "lat": 31.0, "lon": 121.0, "kind": "warehouse"})
    await api.store("sh-1", 31.23, 121.47)


async def test_a_warehouse_is_a_location_without_a_gateway(api: Api) -> None:
    await _chain(api)
    _, listed = await api.get("/v1/stores")
    assert [(s["store"], s["kind"]) for s in listed["stores"]] == [("sh-1", "store"), ("wh-east", "warehouse")]
    # a PUT without kind (the console's store form) keeps it a warehouse
    _, kept = await api.put("/v1/stores/wh-east", {"name": "East DC 2", "lat": 31.0, "lon": 121.0})
    assert kept["kind"] == "warehouse"
    body = {"ref": "DN-1", "lines": [{"sku": A, "qty": 40, "lot": "L7", "expiry": "2027-06-01"}]}
    status, got = await api.post("/v1/stores/wh-east/receipts", body)
    assert status == 201 and got["booked"] == 1, got
    status, again = await api.post("/v1/stores/wh-east/receipts", body)  # the same delivery note
    assert status == 200 and again["booked"] == 0
    assert await api.on_hand("wh-east", A) == 40
    status, missing = await api.post("/v1/stores/wh-nowhere/receipts", body)
    assert status == 422 and missing["field"] == "store"
    # warehouse → store with the transfers of the stores
    status, t = await api.post("/v1/transfers", {"from": "wh-east", "to": "sh-1", "lines": [{"sku": A, "qty": 15}]})
    assert status == 201, t
    assert [(ln["lot"], ln["expiry"]) for ln in t["lines"]] == [("L7", "2027-06-01")]
    assert await api.on_hand("wh-east", A) == 25
    status, _ = await api.post(f"/v1/transfers/{t['id']}/receive")
    assert status == 200
    assert await api.on_hand("sh-1", A) == 15
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_a_warehouse_ships_online_orders_and_never_oversells(api: Api) -> None:
    await _chain(api)
    await api.channel("tmall", ["wh-east", "sh-1"], safety=2)
    await api.post("/v1/stores/wh-east/receipts", {"ref": "DN-2", "lines": [{"sku": B, "qty": 12}]})
    # sh-1 has none: the warehouse fills it
    status, order = await api.order("tmall", "T-1", [(B, 3)], address={"lat": 31.2, "lon": 121.4})
    assert status == 201 and order["stores"] == ["wh-east"], order
    # 12 units, 2 kept back by the channel's safety, 3 held: 7 free. 20 buyers race for 1 each.
    results = await asyncio.gather(*(api.order("tmall", f"R-{i}", [(B, 1)]) for i in range(20)))
    won = [o for s, o in results if s == 201]
    assert len(won) == 7 and all(s in (201, 409) for s, _ in results)
    _, figures = await api.get(f"/v1/channels/tmall/availability?sku={B}")
    assert figures["items"][0]["qty"] == 0
    status, done = await api.post(f"/v1/orders/{order['id']}/fulfil")
    assert status == 200 and done["status"] == "fulfilled"
    assert await api.on_hand("wh-east", B) == 9
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_a_warehouse_has_no_pickup_counter(api: Api) -> None:
    await _chain(api)
    status, body = await api.call("PUT", "/v1/channels/tmall", {
        "platform": "none", "stores": [{"store": "wh-east", "ship": True, "pickup": True}]})
    assert status == 422 and body["field"] == "stores[0].pickup", body
    await api.channel("tmall", ["sh-1"], pickup=["sh-1"])
    status, body = await api.call("PUT", "/v1/stores/sh-1", {"name": "x", "kind": "warehouse"})
    assert status == 409 and body["field"] == "kind"
    _, listed = await api.get("/v1/stores")
    assert {s["store"]: s["kind"] for s in listed["stores"]}["sh-1"] == "store"
