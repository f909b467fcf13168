"""Roles on every endpoint: hq everything, a store its own store only, finance reads (with cost)."""

from __future__ import annotations

from typing import Any

from tests.orders.chain import Api, gtin

A = gtin(1)


async def _token(api: Api, name: str, role: str, store: str | None = None) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": role, "store": store})
    assert status == 201, body
    return str(body["token"])


async def _setup(api: Api) -> dict[str, str]:
    for s in ("sh-1", "sh-2"):
        await api.store(s)
        await api.count(s, A, 5)
    await api.channel("taobao", ["sh-1", "sh-2"], pickup=["sh-1", "sh-2"])
    await api.put(f"/v1/products/{A}", {"name": "Royal Canin Indoor 2 kg", "unit_cost": 80.5})
    return {"sh1": await _token(api, "staff-sh-1", "store", "sh-1"),
            "fin": await _token(api, "finance", "finance")}


async def test_a_store_token_cannot_read_or_write_another_store(api: Api) -> None:
    t = await _setup(api)
    sh1 = t["sh1"]
    assert (await api.get("/v1/stores/sh-1/stock", sh1))[0] == 200
    reads = ["/v1/stores/sh-2/stock", "/v1/stores/sh-2/movements", "/v1/transfers?store=sh-2",
             "/v1/channels/taobao/availability", "/v1/channels", "/v1/dead-letters", "/v1/tokens"]
    for path in reads:
        status, body = await api.get(path, sh1)
        assert status == 403, (path, status, body)
    writes: list[tuple[str, Any]] = [
        ("/v1/stores/sh-2/stocktakes", {"gateway": "gw-1"}),
        ("/v1/transfers", {"from": "sh-2", "to": "sh-1", "lines": [{"sku": A, "qty": 1}]}),
        ("/v1/tokens", {"name": "x", "role": "hq"}),
    ]
    for path, body in writes:
        status, answer = await api.post(path, body, sh1)
        assert status == 403, (path, status, answer)
    status, _ = await api.order("taobao", "O-1", [(A, 1)], token=sh1, type="pickup", store="sh-2")
    assert status == 403
    status, _ = await api.call("PUT", "/v1/channels/taobao", {"stores": []}, sh1)
    assert status == 403
    # its own pickups it may place and close; another store's order does not exist for it
    status, own = await api.order("taobao", "O-2", [(A, 1)], token=sh1, type="pickup", store="sh-1")
    assert status == 201
    status, other = await api.order("taobao", "O-3", [(A, 1)], type="pickup", store="sh-2")
    assert status == 201
    assert (await api.get(f"/v1/orders/{own['id']}", sh1))[0] == 200
    assert (await api.get(f"/v1/orders/{other['id']}", sh1))[0] == 404
    assert (await api.post(f"/v1/orders/{other['id']}/fulfil", None, sh1))[0] == 404
    assert (await api.post(f"/v1/orders/{own['id']}/fulfil", None, sh1))[0] == 200
    # the chain-wide SKU view shows it only its own store
    _, body = await api.get(f"/v1/stock/{A}", sh1)
    assert [s["store"] for s in body["stores"]] == ["sh-1"]
    # and the stock it sees carries no cost
    _, body = await api.get("/v1/stores/sh-1/stock", sh1)
    assert "unit_cost" not in body["items"][0]


async def test_finance_reads_everything_with_cost_and_writes_nothing(api: Api) -> None:
    t = await _setup(api)
    fin = t["fin"]
    status, body = await api.get("/v1/stores/sh-2/stock", fin)
    assert status == 200 and body["items"][0]["unit_cost"] == 80.5 and body["items"][0]["value"] == 402.5
    assert (await api.get("/v1/channels/taobao/availability", fin))[0] == 200
    assert (await api.get("/v1/transfers", fin))[0] == 200
    assert (await api.order("taobao", "F-1", [(A, 1)], token=fin))[0] == 403
    assert (await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2",
                                             "lines": [{"sku": A, "qty": 1}]}, fin))[0] == 403
    assert (await api.post("/v1/stores/sh-1/stocktakes", {}, fin))[0] == 403
    assert (await api.call("PUT", f"/v1/products/{A}", {"unit_cost": 1.0}, fin))[0] == 403


async def test_unknown_and_revoked_tokens_are_401(api: Api) -> None:
    await _setup(api)
    assert (await api.get("/v1/stores/sh-1/stock", None))[0] == 401
    assert (await api.get("/v1/stores/sh-1/stock", "made-up"))[0] == 401
    token = await _token(api, "temp", "hq")
    assert (await api.get("/v1/stores/sh-1/stock", token))[0] == 200
    status, _ = await api.call("DELETE", "/v1/tokens/temp")
    assert status == 200
    from cloud.auth import TOKENS

    api.app[TOKENS]._cache.clear()  # a revocation reaches each worker within auth.CACHE_S
    assert (await api.get("/v1/stores/sh-1/stock", token))[0] == 401
    status, body = await api.post("/v1/tokens", {"name": "bad", "role": "store"})
    assert status == 400 and "store" in body["error"]


async def test_every_route_but_health_and_metrics_wants_a_token(api: Api) -> None:
    from cloud.auth import OPEN_PATHS

    checked = 0
    for route in api.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter", "")
        if not path or path in OPEN_PATHS or route.method == "HEAD":
            continue
        url = path.replace("{store}", "sh-1").replace("{sku}", A).replace("{channel}", "taobao") \
            .replace("{id}", "x").replace("{action:cancel|fulfil}", "cancel").replace("{action}", "cancel") \
            .replace("{name}", "x")
        status, _ = await api.call(route.method, url, {} if route.method != "GET" else None, token=None)
        assert status == 401, (route.method, url, status)
        checked += 1
    assert checked >= 20
