"""Platform sync end to end: a gateway process takes POS sales and receipts over HTTP, the cloud
ingests them from a real broker into SQLite or PostgreSQL, and its sync driver pushes each
channel's figure to the six platform simulators over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cloud.app import create_app
from cloud.channels import records
from cloud.channels.base import Listing
from cloud.channels.sync import ALERT_BOOK, SyncOptions
from cloud.keys import CHAIN_ALERTS, CHANNELS, INGEST, RELAY, SYNC, SYNC_OPTIONS
from cloud.settings import Settings
from firmware_sim.platforms.core import BuyerConfig, buy
from firmware_sim.procs import free_port
from firmware_sim.world import catalog
from shared.mqtt import BrokerUrl
from tests.channels.conftest import KINDS, Sim
from tests.integration.conftest import ADMIN, Gateway, start_gateway, until
from tests.support.services import Mosquitto

__all__ = ["start_gateway"]

SKU_A, SKU_B = catalog()[0].gtin, catalog()[1].gtin
STORE = "sync-e2e"
OPTIONS = SyncOptions(hold_increases_s=0.2, backoff_s=0.05, backoff_max_s=0.2, reconcile_every_s=3600,
                      retry_failed_s=0.5, record_every_s=0.1)


@dataclass
class World:
    url: str
    app: web.Application
    session: aiohttp.ClientSession
    sims: dict[str, Sim]
    gateway: Gateway

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body,
                                        headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            return r.status, await r.json()

    def listing(self, kind: str, sku: str) -> Listing:
        n = 1 if sku == SKU_A else 2
        return Listing(kind, sku, f"{n}0001", f"{n}0002")

    def holds_a(self, qty: int) -> bool:
        return self.holds(SKU_A, qty)

    def holds(self, sku: str, qty: int) -> bool:
        return all(sim.held(self.listing(kind, sku)) == qty for kind, sim in self.sims.items())

    async def movement(self, lines: list[dict[str, Any]], ref: str) -> None:
        status, body = await self.gateway.post(self.session, "/v1/stock/movements",
                                               {"ref": ref, "at": _now(), "lines": lines})
        assert status == 200, body

    async def sale(self, sku: str, qty: int, txn: str) -> None:
        status, body = await self.gateway.post(self.session, "/v1/pos/transactions", {
            "txn": txn, "at": _now(), "kind": "sale", "lines": [{"sku": sku, "qty": qty}]})
        assert status == 200, body


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@contextlib.asynccontextmanager
async def cloud_with_sync(db_url: str, broker: Mosquitto, sims: dict[str, Sim],
                          alerts: Path | None = None) -> AsyncIterator[tuple[str, web.Application]]:
    port = free_port()
    app = create_app(Settings(db_url=db_url, mqtt=BrokerUrl.parse(broker.url), port=port, admin_token=ADMIN,
                              worker_id=f"sync-{port}", alerts=alerts))
    app[CHANNELS] = {kind: sim.config.__class__(**{**_fields(sim.config), "name": kind})
                     for kind, sim in sims.items()}
    app[SYNC_OPTIONS] = OPTIONS
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(app[INGEST].ready.wait(), 10)
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


def _fields(config: object) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}  # type: ignore[attr-defined]


@pytest.fixture
async def world(db_url: str, broker: Mosquitto, start_sim: Callable[..., Any],
                start_gateway: Callable[[str], Gateway], tmp_path: Path) -> AsyncIterator[World]:
    sims = {kind: await start_sim(kind) for kind in KINDS}
    gateway = start_gateway(STORE)
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(f'dir = "{tmp_path / "alert-books"}"\n[stores."*"]\nhq = []\n')
    async with cloud_with_sync(db_url, broker, sims, alerts) as (url, app), aiohttp.ClientSession() as session:
        w = World(url, app, session, sims, gateway)
        assert (await w.call("PUT", f"/v1/stores/{STORE}", {"name": "E2E"}))[0] in (200, 201)
        for kind in KINDS:
            status, body = await w.call("PUT", f"/v1/channels/{kind}",
                                        {"platform": kind, "stores": [{"store": STORE, "ship": True}]})
            assert status in (200, 201), body
            status, body = await w.call("PUT", f"/v1/channels/{kind}/listings", {"listings": [
                {"sku": sku, "channel_sku": w.listing(kind, sku).sku_id, "item_id": w.listing(kind, sku).item_id}
                for sku in (SKU_A, SKU_B)]})
            assert status in (200, 201), body
        await asyncio.wait_for(app[SYNC].ready.wait(), 10)
        yield w


async def test_stock_changes_reach_every_platform(world: World) -> None:
    await world.movement([{"sku": SKU_A, "kind": "receipt", "qty": 10, "zone": "floor"},
                          {"sku": SKU_B, "kind": "receipt", "qty": 4, "zone": "floor"}], "recv-1")
    await until(lambda: world.holds(SKU_A, 10) and world.holds(SKU_B, 4), 20, "received stock on every platform")
    await world.sale(SKU_A, 3, "T-1")
    await until(lambda: world.holds(SKU_A, 7), 20, "the sale on every platform")
    status, body = await world.call("POST", "/v1/orders", {
        "channel": "taobao", "order_id": "tb-1", "lines": [{"channel_sku": world.listing("taobao", SKU_A).sku_id,
                                                            "qty": 2}],
        "fulfilment": {"type": "ship"}})
    assert status == 201, body
    await until(lambda: world.holds(SKU_A, 5), 20, "the reservation on every platform")
    await world.app[SYNC].records.flush()
    pushes = await records.recent(world.app[SYNC].records.maker, "jd", limit=50)
    assert [p["qty"] for p in reversed(pushes) if p["sku"] == SKU_A][-3:] == [10, 7, 5]
    assert all(p["result"] == "ok" for p in pushes)


async def test_a_douyin_push_retried_with_its_idempotent_id_is_a_success(world: World) -> None:
    """A till sale reaches Douyin through the gateway, the broker and the ledger; the push's answer
    is lost (the platform finishes it after the adapter gave up), and the retry with the same
    idempotent_id is answered 40003 isv.idempotent-id-existed: the push happened, so it is recorded
    as a success, the platform holds the figure once, and no alert is raised."""
    await world.movement([{"sku": SKU_A, "kind": "receipt", "qty": 10, "zone": "floor"}], "recv-1")
    await until(lambda: world.holds(SKU_A, 10), 20, "received stock on every platform")
    douyin = world.sims["douyin"]
    await douyin.faults({"next": ["slow"], "hang_s": 1.0})
    await world.sale(SKU_A, 3, "T-1")
    await until(lambda: world.holds(SKU_A, 7), 20, "the sale on every platform")
    await world.app[SYNC].records.flush()
    pushes = [p for p in await records.recent(world.app[SYNC].records.maker, "douyin", limit=50)
              if p["sku"] == SKU_A and p["qty"] == 7]
    assert [p["result"] for p in pushes] == ["ok"] and int(str(pushes[0]["attempts"])) >= 2
    assert douyin.platform.counts["replays"] == 1
    sku_id = world.listing("douyin", SKU_A).sku_id
    changes = [h[3] for h in douyin.platform.history if h[2] == sku_id]
    assert changes[-2:] == [10, 7] and changes.count(7) == 1, changes  # the figure was written once
    stats = world.app[SYNC].stats
    assert stats.rejected == 0 and stats.failures == 0 and stats.replays == 1
    chain = world.app[CHAIN_ALERTS].books.get(ALERT_BOOK)  # made with the first chain alert
    assert chain is None or not chain.book.alerts


async def test_a_listing_added_later_gets_its_figure_without_a_stock_change(world: World) -> None:
    await world.movement([{"sku": SKU_A, "kind": "receipt", "qty": 6, "zone": "floor"}], "recv-1")
    await until(lambda: world.holds(SKU_A, 6), 20, "received stock everywhere")
    status, body = await world.call("PUT", "/v1/channels/jd/listings", {"listings": [
        {"sku": SKU_A, "channel_sku": "90002", "item_id": "90001"}]})
    assert status == 200, body
    extra = Listing("jd", SKU_A, "90001", "90002")
    await until(lambda: world.sims["jd"].held(extra) == 6, 20, "the new listing's figure on JD")
    status, body = await world.call("PUT", "/v1/channels/jd", {"platform": "jd", "max_qty": 4,
                                                                "stores": [{"store": STORE}]})
    assert status == 200, body
    await until(lambda: world.sims["jd"].held(extra) == 4 and world.sims["jd"].held(world.listing("jd", SKU_A)) == 4,
                20, "a new cap on JD's listings")
    assert world.sims["taobao"].held(world.listing("taobao", SKU_A)) == 6


async def test_platforms_down_for_a_while_converge_with_no_lost_or_doubled_update(world: World) -> None:
    await world.movement([{"sku": SKU_A, "kind": "receipt", "qty": 20, "zone": "floor"}], "recv-1")
    await until(lambda: world.holds(SKU_A, 20), 20, "received stock on every platform")
    for sim in world.sims.values():
        await sim.faults({"down_for": 3})
    for n in range(3):
        await world.sale(SKU_A, 2, f"T-{n}")
    await until(lambda: world.app[SYNC].stats.failures >= len(KINDS), 20, "visible failures while down")
    await until(lambda: world.holds(SKU_A, 14), 30, "every platform converged after the outage")
    for kind, sim in world.sims.items():
        sku_id = world.listing(kind, SKU_A).sku_id
        changes = [h[3] for h in sim.platform.history if h[2].endswith(sku_id)]
        assert changes[-1] == 14 and set(changes) <= {0, 20, 18, 16, 14}, (kind, changes)
        assert len(changes) == len(set(changes)), (kind, changes)
    # while they were down, chain alerts said so; each is resolved by the channel's next success
    book = world.app[CHAIN_ALERTS].books[ALERT_BOOK].book
    assert all(not book.is_open(f"offline:platform:{kind}") for kind in KINDS)
    assert {a.key for a in book.alerts.values()} >= {f"offline:platform:{kind}" for kind in KINDS}


async def test_buyers_on_one_platform_become_orders_and_every_platform_follows(world: World) -> None:
    """Simulated buyers take units on Pinduoduo and post the orders to the cloud; the reservations
    lower what every channel may sell, and every platform (Pinduoduo too) is brought to it."""
    await world.movement([{"sku": SKU_A, "kind": "receipt", "qty": 10, "zone": "floor"},
                          {"sku": SKU_B, "kind": "receipt", "qty": 10, "zone": "floor"}], "recv-1")
    await until(lambda: world.holds(SKU_A, 10) and world.holds(SKU_B, 10), 20, "received stock everywhere")
    pdd = world.sims["pdd"].platform
    buyers = asyncio.create_task(buy(pdd, BuyerConfig(world.url, ADMIN, 20.0, "pdd")))
    try:
        await until(lambda: pdd.counts["orders"] >= 4, 20, "four orders accepted by the cloud")
    finally:
        buyers.cancel()
        await asyncio.gather(buyers, return_exceptions=True)
    assert pdd.counts["oversold"] == 0

    async def settled() -> bool:
        _, body = await world.call("GET", "/v1/channels/jd/availability")
        want = {item["sku"]: item["qty"] for item in body["items"]}
        return world.holds(SKU_A, want[SKU_A]) and world.holds(SKU_B, want[SKU_B])

    await until(settled, 20, "every platform holds the figure after the orders")
    _, body = await world.call("GET", "/v1/channels/jd/availability")
    assert sum(item["qty"] for item in body["items"]) <= 20 - 4


@pytest.mark.postgres
async def test_with_two_workers_one_drives_and_hears_the_others_changes(
        pg_url: str, broker: Mosquitto, start_sim: Callable[..., Any],
        start_gateway: Callable[[str], Gateway]) -> None:
    """Two cloud workers on one PostgreSQL database: one holds the sync lock; an order placed on
    the other worker reaches every platform through the NOTIFY relay, well before any
    reconciliation (an hour away here)."""
    sims = {kind: await start_sim(kind) for kind in KINDS}
    gateway = start_gateway(STORE)
    async with cloud_with_sync(pg_url, broker, sims) as (url_1, app_1), \
            cloud_with_sync(pg_url, broker, sims) as (url_2, app_2), aiohttp.ClientSession() as session:
        await until(lambda: app_1[SYNC].stats.leader or app_2[SYNC].stats.leader, 10, "a leader")
        assert not (app_1[SYNC].stats.leader and app_2[SYNC].stats.leader)
        leader, other_url = (app_1, url_2) if app_1[SYNC].stats.leader else (app_2, url_1)
        w = World(other_url, leader, session, sims, gateway)
        assert (await w.call("PUT", f"/v1/stores/{STORE}", {"name": "E2E"}))[0] in (200, 201)
        for kind in KINDS:
            assert (await w.call("PUT", f"/v1/channels/{kind}", {
                "platform": kind, "stores": [{"store": STORE}]}))[0] == 200
            assert (await w.call("PUT", f"/v1/channels/{kind}/listings", {"listings": [
                {"sku": SKU_A, "channel_sku": w.listing(kind, SKU_A).sku_id,
                 "item_id": w.listing(kind, SKU_A).item_id}]}))[0] == 200
        await w.movement([{"sku": SKU_A, "kind": "receipt", "qty": 9, "zone": "floor"}], "recv-1")
        await until(lambda: w.holds_a(9), 20, "received stock everywhere")
        status, body = await w.call("POST", "/v1/orders", {   # on the worker that does not drive sync
            "channel": "jd", "order_id": "jd-1", "lines": [{"sku": SKU_A, "qty": 4}],
            "fulfilment": {"type": "ship"}})
        assert status == 201, body
        await until(lambda: w.holds_a(5), 20, "the other worker's order on every platform")
        assert leader[RELAY].received >= 1
