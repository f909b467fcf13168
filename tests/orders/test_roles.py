"""Roles on every endpoint: hq everything, a store its own store only, finance reads (with cost)."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from aiohttp import web

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
    from cloud.keys import TOKENS

    api.app[TOKENS]._cache.clear()  # a revocation reaches each worker within auth.CACHE_S
    assert (await api.get("/v1/stores/sh-1/stock", token))[0] == 401
    status, body = await api.post("/v1/tokens", {"name": "bad", "role": "store"})
    assert status == 400 and "store" in body["error"]


# What may be reached without a token or a session, and why. Anything else is closed: an API
# route answers 401 JSON, a console route sends the browser to sign in.
PUBLIC_API_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})  # probes, scrape, doc
PUBLIC_CONSOLE_ROUTES = frozenset({
    "console.static",       # the CSS/JS the sign-in page itself needs
    "console.signin",       # the sign-in form
    "console.signin_post",  # signing in (checked by its double-submit CSRF cookie)
    "console.lang",         # choosing the language, a cookie only (the sign-in page links it)
})
EVENT_STREAM = "console.events"  # an EventSource cannot follow a redirect: it gets 401 and the page reloads
_VALUES = {"store": "sh-1", "sku": A, "channel": "taobao", "id": "x", "name": "x", "lang": "en",
           "report": "turnover"}
_ANY_PART = "[^{}/]+"  # aiohttp's pattern for a plain {name}


def _example_url(route: web.AbstractRoute) -> str:
    """A URL the route matches: each {name} filled in from _VALUES, a {name:a|b} with its first
    choice, the static files by one of theirs."""
    info = route.resource.get_info() if route.resource is not None else {}
    if "prefix" in info:
        return f"{info['prefix']}/console.css"
    if "path" in info:
        return str(info["path"])

    def fill(part: re.Match[str]) -> str:
        name, pattern = part.group(1), part.group(2)
        return _VALUES[name] if pattern == _ANY_PART else pattern.split("|")[0]

    return re.sub(r"\(\?P<(\w+)>([^()]*)\)", fill, info["pattern"].pattern).replace("\\.", ".")


async def test_api_routes_want_a_token_and_console_routes_a_session(api: Api) -> None:
    """Without credentials: every /v1 route answers 401 JSON; every console page sends the
    browser to /signin (its event stream answers 401); only the routes named public above open,
    and no route is neither API nor console."""
    from cloud.auth import OPEN_PATHS

    assert OPEN_PATHS == PUBLIC_API_PATHS
    seen = {"api": 0, "console": 0, "public": 0}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anonymous:
        for route in api.app.router.routes():
            url = _example_url(route)
            body: Any = None if route.method in ("GET", "HEAD") else {}
            async with anonymous.request(route.method, api.url + url, json=body, allow_redirects=False) as r:
                status, location, kind, text = r.status, r.headers.get("Location", ""), r.content_type, await r.text()
            where = (route.method, url, status, location, text[:200])
            name = route.name or ""
            if url in PUBLIC_API_PATHS or name in PUBLIC_CONSOLE_ROUTES:
                assert status != 401 and not location.startswith("/signin"), where
                assert status < 500, where
                seen["public"] += 1
            elif name.startswith("console."):
                assert not url.startswith("/v1/"), f"{route.method} {url}: a console route under the API's /v1"
                if name == EVENT_STREAM:
                    assert status == 401, where
                else:
                    assert status == 303 and location.startswith("/signin?next="), where
                seen["console"] += 1
            else:
                assert url.startswith("/v1/"), f"{route.method} {url}: neither an API nor a console route"
                assert status == 401 and kind == "application/json", where
                assert json.loads(text)["error"], where
                seen["api"] += 1
    assert seen["api"] >= 25 and seen["console"] >= 40 and seen["public"] == 9, seen
