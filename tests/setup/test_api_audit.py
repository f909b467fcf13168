"""Every change through the API's settings endpoints is in the audit log (who, what, before →
after), over real HTTP on SQLite and PostgreSQL: the audit is complete whichever door a change
came through."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.db import audit
from tests.orders.chain import ADMIN, Api, gtin, serve

A = gtin(1)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with serve(db_url) as a:
        yield a


async def _log(api: Api) -> list[audit.AuditView]:
    async with api.maker() as session:
        return list(reversed(await audit.entries(session)))


async def test_store_product_channel_and_listing_puts_are_audited_with_before_and_after(api: Api) -> None:
    status, body = await api.post("/v1/tokens", {"name": "ops", "role": "hq"})
    assert status == 201, body
    ops = body["token"]
    await api.put("/v1/stores/sh-1", {"name": "Jing'an", "lat": 31.2, "lon": 121.4})
    await api.put("/v1/stores/sh-1", {"name": "Jing'an Temple", "lat": 31.2, "lon": 121.4}, token=ops)
    await api.put("/v1/stores/sh-1", {"name": "Jing'an Temple", "lat": 31.2, "lon": 121.4})  # no change
    await api.put(f"/v1/products/{A}", {"name": "Kibble 2 kg", "unit_cost": 50.0})
    await api.put("/v1/channels/tmall", {"platform": "taobao", "share_pct": 80,
                                         "stores": [{"store": "sh-1", "ship": True}]})
    await api.put("/v1/channels/tmall", {"platform": "taobao", "share_pct": 60,
                                         "stores": [{"store": "sh-1", "ship": True, "pickup": True}]})
    await api.put("/v1/channels/tmall/listings", {"listings": [{"channel_sku": "TB-1", "sku": A}]})
    await api.put("/v1/channels/tmall/listings", {"listings": [{"channel_sku": "TB-1", "item_id": "9", "sku": A}]})

    log = await _log(api)
    assert [(e.who, e.action, e.target) for e in log] == [
        ("admin (hq)", "store.put", "store:sh-1"),
        ("ops (hq)", "store.put", "store:sh-1"),
        ("admin (hq)", "product.put", f"product:{A}"),
        ("admin (hq)", "channel.put", "channel:tmall"),
        ("admin (hq)", "channel.put", "channel:tmall"),
        ("admin (hq)", "listing.put", "listing:tmall/TB-1"),
        ("admin (hq)", "listing.put", "listing:tmall/TB-1"),
    ]
    assert log[0].before is None and log[0].after == {"name": "Jing'an", "lat": 31.2, "lon": 121.4}
    assert [(c.field, c.before, c.after) for c in log[1].changes] == [("name", "Jing'an", "Jing'an Temple")]
    assert log[2].after is not None and log[2].after["unit_cost"] == 50.0
    assert [(c.field, c.before, c.after) for c in log[4].changes] == [
        ("share_pct", 80, 60),
        ("stores", [{"store": "sh-1", "ship": True, "pickup": False}],
         [{"store": "sh-1", "ship": True, "pickup": True}])]
    assert log[5].after == {"item_id": "", "sku": A}
    assert [(c.field, c.before, c.after) for c in log[6].changes] == [("item_id", "", "9")]


async def test_a_refused_put_leaves_no_audit_entry(api: Api) -> None:
    status, _ = await api.call("PUT", "/v1/channels/nowhere/listings", {"listings": [{"channel_sku": "X", "sku": A}]})
    assert status == 404
    status, _ = await api.call("PUT", "/v1/stores/sh-2", {"name": "x"}, token="not-a-token")
    assert status == 401
    assert await _log(api) == []
    assert ADMIN  # the admin token is an hq token named "admin"
