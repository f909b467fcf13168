"""The store page names every product it shows: the shelf map's bins by the catalogue's names even
when those products are not in the recent movements (each part of the page looks its names up
for itself; one part's names must not replace another's)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import aiohttp

from cloud.db import posting
from cloud.db.gateway_snapshots import gateway_views
from cloud.keys import MAKER
from shared import contract
from shared.contract import (
    BinView,
    DeltaBatch,
    GatewayState,
    GatewayStatus,
    Kind,
    ShelfSnapshot,
    Source,
    StockDelta,
    Stream,
    Zone,
)
from tests.console.conftest import STORE, Tokens
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, raw, until

__all__ = ["raw"]
ON_SHELF, SOLD = "06923450000106", "06923450000113"  # the shelf's product; the one the feed shows


async def _session(http: aiohttp.ClientSession, url: str, token: str) -> str:
    async with http.get(url + "/signin") as r:
        form = r.cookies["shelfsync_signin"].value
    async with http.post(url + "/signin", allow_redirects=False, data={"csrf": form, "token": token, "next": "/"},
                         headers={"Cookie": f"shelfsync_signin={form}"}) as r:
        assert r.status == 303, await r.text()
        return r.cookies["shelfsync_session"].value


async def test_the_shelf_map_names_products_the_movements_feed_does_not_show(
        console: Cloud, tokens: Tokens, raw: RawPublisher) -> None:
    now = datetime.now(UTC)
    for sku, name in ((ON_SHELF, "Royal Canin Indoor Adult Cat 2 kg"), (SOLD, "Royal Canin Mini Adult Dog 2 kg")):
        async with console.session.put(f"{console.url}/v1/products/{sku}", json={"name": name},
                                       headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            assert r.status in (200, 201), await r.text()
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STATUS),
                contract.encode(GatewayStatus(STORE, "gw-1", GatewayState.ONLINE, now)))
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.SHELVES), contract.encode(
        ShelfSnapshot(STORE, "gw-1", now, (BinView("A1-1", ON_SHELF, 4, True, Source.WEIGHT, 8000.0, 2),))))

    async def recorded() -> bool:
        async with console.app[MAKER]() as session:
            return any(g.bins for g in await gateway_views(session, [STORE]))

    await until(recorded, what="the shelves snapshot recorded")
    await posting.apply_batches(console.app[MAKER], [DeltaBatch(STORE, "gw-1", now, (StockDelta(
        str(uuid.uuid4()), 1, SOLD, Kind.SALE, -1, Zone.FLOOR, now, Source.POS),))])

    async with aiohttp.ClientSession() as http:
        cookie = {"Cookie": f"shelfsync_session={await _session(http, console.url, tokens.hq)}"}
        async with http.get(f"{console.url}/stores/{STORE}", headers=cookie) as r:
            assert r.status == 200
            page = await r.text()
    shelves = re.search(r'<section class="card" id="shelves".*?</section>', page, re.S)
    movements = re.search(r'<section class="card" id="movements".*?</section>', page, re.S)
    assert shelves is not None and movements is not None
    assert "Royal Canin Mini Adult Dog 2 kg" in movements.group(0)  # the feed names its product ...
    assert f'<a href="/products/{ON_SHELF}">Royal Canin Indoor Adult Cat 2 kg</a>' in shelves.group(0)  # ... and the bin its
