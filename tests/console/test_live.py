"""A sale at a simulated till reaches the open console within 2 s, without a reload: the till posts
to the real gateway process, which publishes through a real Mosquitto to the cloud's ingest; the
ledger's stock event becomes a server-sent event and the page re-fetches what changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from firmware_sim.pos import PosClient
from firmware_sim.world import catalog
from shared.contract import format_ts
from tests.console.conftest import DESKTOP, PHONE, STORE, Tokens, live, sign_in
from tests.integration.conftest import ADMIN, POS, Cloud, Gateway, start_gateway, until

__all__ = ["start_gateway"]

FOOD = catalog()[0]
LIVE_S = 2.0  # the bound: a till sale shows within 2 s


async def _floor(cloud: Cloud, sku: str) -> int | None:
    return await cloud.floor(STORE, sku)


async def test_a_till_sale_shows_on_the_store_page_and_the_overview_within_2_s(
        console: Cloud, tokens: Tokens, new_page: Any, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway(STORE)
    async with console.session.put(f"{console.url}/v1/products/{FOOD.gtin}", json={"name": FOOD.name},
                                   headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status in (200, 201)
    async with aiohttp.ClientSession() as http:
        till = PosClient(http, gw.url, POS)
        now = format_ts(datetime.now(UTC))
        await till.post("/v1/stock/movements", {"ref": "open", "at": now, "lines": [
            {"sku": FOOD.gtin, "kind": "receipt", "qty": 10, "zone": "floor"}]})
        await until(lambda: _is(_floor(console, FOOD.gtin), 10), what="the receipt in the ledger")

        store_page = await new_page(PHONE)
        await sign_in(store_page, console.url, tokens.store, then=f"/stores/{STORE}")
        overview = await new_page(DESKTOP)
        await sign_in(overview, console.url, tokens.hq)
        floor = store_page.locator(f"#stock tr[data-sku='{FOOD.gtin}'] td[data-zone=floor]")
        assert (await floor.inner_text()).strip() == "10"
        sold = overview.locator(f"tr[data-store='{STORE}'] td[data-figure=sold]")
        assert (await sold.inner_text()).strip() == "0"
        for page in (store_page, overview):
            await live(page)
            await page.evaluate("window.__not_reloaded = true")

        await till.post("/v1/pos/transactions", {"txn": "T-1", "at": format_ts(datetime.now(UTC)), "kind": "sale",
                                                 "lines": [{"sku": FOOD.gtin, "qty": 2}]})
        rang = time.monotonic()
        await store_page.wait_for_function(
            f"document.querySelector(\"#stock tr[data-sku='{FOOD.gtin}'] td[data-zone=floor]\")"
            ".textContent.trim() === '8'", timeout=LIVE_S * 1000)
        on_store_page = time.monotonic() - rang
        await overview.wait_for_function(
            f"document.querySelector(\"tr[data-store='{STORE}'] td[data-figure=sold]\").textContent.trim() === '2'",
            timeout=max(100, (LIVE_S - (time.monotonic() - rang)) * 1000))
        on_overview = time.monotonic() - rang
        assert on_store_page < LIVE_S and on_overview < LIVE_S
        # the movement is in the feed, with the till's reference
        sale = store_page.locator("#movements li[data-kind=sale]").first
        assert FOOD.name in await sale.inner_text()
        assert await sale.locator(".qty").inner_text() == "-2"
        for page in (store_page, overview):
            assert await page.evaluate("window.__not_reloaded === true")  # no page load happened
        print(f"\nsale on the store page after {on_store_page:.2f} s, on the overview after {on_overview:.2f} s")


async def _is(value: Any, expected: object) -> bool:
    return await value == expected
