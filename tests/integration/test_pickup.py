"""A pickup order rung up at the store's POS counts once, through a real gateway, Mosquitto and ledger —
whether the till or the API closes the order first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from tests.integration.conftest import ADMIN, Cloud, Gateway, until
from tests.integration.test_spine import receipt, ts

SKU = "06923450000106"
STORE = "sh-0042"


async def _call(cloud: Cloud, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with cloud.session.request(method, cloud.url + path, json=body,
                                     headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        return r.status, await r.json()


async def _on_hand(cloud: Cloud) -> int:
    _, body = await cloud.get(f"/v1/stores/{STORE}/stock?sku={SKU}")
    return int(body["items"][0]["on_hand"]) if body["items"] else 0


async def _pickup(cloud: Cloud, order_id: str) -> dict[str, Any]:
    status, order = await _call(cloud, "POST", "/v1/orders", {
        "channel": "wechat-mp", "order_id": order_id, "lines": [{"sku": SKU, "qty": 2}],
        "fulfilment": {"type": "pickup", "store": STORE}})
    assert status == 201, order
    return order


def _till(txn: str, order: str) -> dict[str, object]:
    return {"txn": txn, "at": ts(30), "kind": "sale", "order": order, "lines": [{"sku": SKU, "qty": 2}]}


async def test_a_pickup_counts_once_whichever_closes_it_first(
        cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway(STORE)
    await _call(cloud, "PUT", "/v1/channels/wechat-mp",
                {"platform": "wechat", "stores": [{"store": STORE, "ship": False, "pickup": True}]})
    async with aiohttp.ClientSession() as s:
        await until(lambda: gw.health(s), what="gateway up")
        assert (await gw.post(s, "/v1/stock/movements", receipt("DEL-1", 10)))[0] in (200, 202)
        await until(lambda: _is(cloud, 10), what="receipt booked")

        # 1. the till first: the POS line is the sale, the hold is released, the API sees it closed
        first = await _pickup(cloud, "WX-1")
        assert (await gw.post(s, "/v1/pos/transactions", _till("T-1", first["id"])))[0] in (200, 202)
        await until(lambda: _status(cloud, first["id"], "fulfilled"), what="order closed by the till")
        _, order = await cloud.get(f"/v1/orders/{first['id']}")
        assert order["closed_by"] == "pos"
        status, again = await _call(cloud, "POST", f"/v1/orders/{first['id']}/fulfil")
        assert status == 200 and again["closed_by"] == "pos"
        assert await _on_hand(cloud) == 8
        _, stock = await cloud.get(f"/v1/stores/{STORE}/stock?sku={SKU}")
        assert stock["items"][0]["reserved"] == 0 and stock["items"][0]["available"] == 8

        # 2. the API first: the cloud books the sale, the till's later line is absorbed
        second = await _pickup(cloud, "WX-2")
        status, done = await _call(cloud, "POST", f"/v1/orders/{second['id']}/fulfil")
        assert status == 200 and done["status"] == "fulfilled"
        assert await _on_hand(cloud) == 6
        before = cloud.ingest_stats.duplicates
        assert (await gw.post(s, "/v1/pos/transactions", _till("T-2", second["id"])))[0] in (200, 202)
        await until(lambda: cloud.ingest_stats.duplicates > before, what="till line absorbed")
        assert await _on_hand(cloud) == 6


async def _is(cloud: Cloud, n: int) -> bool:
    return await _on_hand(cloud) == n


async def _status(cloud: Cloud, oid: str, status: str) -> bool:
    _, order = await cloud.get(f"/v1/orders/{oid}")
    return bool(order["status"] == status)
