"""Several cloud workers: a console connected to one hears what another committed (PostgreSQL
LISTEN/NOTIFY), e.g. a sale the broker handed to the other worker's ingest."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from cloud.app import create_app
from cloud.keys import LIVE, MAKER
from cloud.settings import Settings
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone, new_delta_id
from tests.integration.conftest import ADMIN, RawPublisher, raw, running_cloud, until
from tests.support.services import Mosquitto, free_port

pytestmark = pytest.mark.postgres
STORE = "sh-0088"
SKU = "06923450000106"


@contextlib.asynccontextmanager
async def api_worker(pg_url: str) -> AsyncIterator[tuple[str, web.Application]]:
    """A second worker without a broker connection: whatever it shows came from the database."""
    port = free_port()
    app = create_app(Settings(db_url=pg_url, mqtt=None, port=port, admin_token=ADMIN, worker_id=f"w2-{port}"))
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def _sign_in(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url + "/signin") as r:
        token = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert token is not None
    async with http.post(url + "/signin", data={"csrf": token.group(1), "token": ADMIN, "next": "/"}) as r:
        assert r.status == 200 and str(r.url) == url + "/"


async def test_a_sale_ingested_on_one_worker_reaches_a_console_on_another(
        pg_url: str, broker: Mosquitto, raw: RawPublisher) -> None:
    async with running_cloud(pg_url, broker) as ingesting, api_worker(pg_url) as (url, other), \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await until(lambda: ingesting.app[LIVE].listening.is_set() and other[LIVE].listening.is_set(),
                    what="both workers listening")
        await _sign_in(http, url)
        async with http.get(f"{url}/events?store={STORE}") as events:
            assert events.status == 200 and events.content_type == "text/event-stream"
            assert await _next_event(events) == "ready"
            batch = DeltaBatch(STORE, "gw-1", datetime.now(UTC), (StockDelta(
                id=new_delta_id(), seq=1, sku=SKU, kind=Kind.RECEIPT, qty=5, zone=Zone.FLOOR,
                occurred_at=datetime.now(UTC), source=Source.MANUAL, confidence=1.0),))
            raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.DELTAS), contract.encode(batch))
            names: set[str] = set()
            wanted = {f"stock-{STORE}", f"sku-{SKU}", f"store-{STORE}", "chain"}
            async with asyncio.timeout(10):
                while not wanted <= names:
                    names.add(await _next_event(events))
        assert other[LIVE].received >= 1 and ingesting.app[LIVE].forwarded >= 1
        # and the other worker's page shows the figure (it reads the shared database)
        async with http.get(f"{url}/stores/{STORE}/stock") as r:
            assert f'data-sku="{SKU}"' in await r.text()


async def test_a_burst_of_changes_reaches_the_other_workers_in_one_notify_per_pace(pg_url: str) -> None:
    """Every order and every sale is a stock change. Forwarded one NOTIFY each, they cost the worker
    a database round trip per order (bench orders); the consoles' streams refresh once per pace
    anyway. The first change after a quiet spell goes at once, the rest of a burst in one NOTIFY
    a pace later, and the other worker hears every one of them."""
    async with api_worker(pg_url) as (_, one), api_worker(pg_url) as (_, other):
        await until(lambda: one[LIVE].listening.is_set() and other[LIVE].listening.is_set(),
                    what="both workers listening")
        hub = one[LIVE]
        hub.pace_s = 2.0  # longer than the burst takes, however loaded the machine
        heard = other[LIVE].subscribe()
        skus = [f"0692345000{i:04d}" for i in range(10)]
        async with one[MAKER]() as session:
            for sku in skus:
                hub.stock_changed({(STORE, sku)})
                for _ in range(3):  # what a writer does between two changes: its next transaction
                    await session.execute(text("SELECT 1"))
        got: set[str] = set()
        async with asyncio.timeout(15):
            while not set(skus) <= got:
                got |= {n.sku for n in await heard.get()}
        assert hub.forwarded <= 2, f"{hub.forwarded} NOTIFYs for a burst of {len(skus)} changes"
        assert other[LIVE].received <= 2


async def _next_event(response: aiohttp.ClientResponse) -> str:
    """The next SSE event's name (pings and data lines skipped)."""
    while True:
        line = (await response.content.readline()).decode().strip()
        if line.startswith("event: "):
            return line.removeprefix("event: ")


__all__ = ["raw"]
