"""Chain-level alerts from the real cloud app on a real Mosquitto and ledger (SQLite, PostgreSQL):
a gateway process killed (its last will says offline) and started again, and lots near or past
expiry booked through that gateway's staff movements API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from cloud.alerts import ChainAlerts, ChainAlertsError, load_chain_alerts
from cloud.app import create_app
from cloud.keys import CHAIN_ALERTS, INGEST
from cloud.settings import Settings
from firmware_sim import procs
from firmware_sim.weight_shelf import print_config
from shared.mqtt import BrokerUrl
from tests.alerts.gateway import shelf_sim
from tests.alerts.receiver import Receiver
from tests.integration.conftest import ADMIN, POS, until
from tests.support.services import Mosquitto, free_port

STORE = "sh-0081"
KIBBLE = "00950123456782"


@contextlib.asynccontextmanager
async def cloud(db_url: str, broker: Mosquitto, alerts: Path) -> AsyncIterator[web.Application]:
    port = free_port()
    settings = Settings(db_url=db_url, mqtt=BrokerUrl.parse(broker.url), port=port, admin_token=ADMIN,
                        worker_id=f"test-{port}", alerts=alerts)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(app[INGEST].ready.wait(), 10)
        yield app
    finally:
        await runner.cleanup()


def alerts_file(tmp_path: Path, receiver_port: int) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(f"""
dir = "books"
timezone = "Asia/Shanghai"
offline_grace_s = 0
expiry_every_s = 0.3
tick_s = 0.2
[expiry_days]
treats = 30
[products.{KIBBLE}]
name = "Royal Canin Indoor 2 kg"
category = "dry-food"
[stores."*"]
hq = ["json://127.0.0.1:{receiver_port}/hq"]
[stores.{STORE}]
staff = ["json://127.0.0.1:{receiver_port}/staff"]
""")
    return path


def gateway_config(tmp_path: Path, broker: Mosquitto, port: int) -> Path:
    path = procs.gateway_config(tmp_path, STORE, broker.url, POS, port, status_interval=1.0)
    # A short keepalive: the broker gives up on a killed gateway (and publishes its will) in ~1.5 s.
    path.write_text(path.read_text().replace("keepalive = 10", "keepalive = 1"))
    return path


def titles(rx: Receiver) -> list[tuple[str, Any]]:
    return [(p, b["title"]) for p, b in rx.all]


async def test_gateway_offline_then_back_is_raised_and_resolved_once_even_across_a_cloud_restart(
        tmp_path: Path, broker: Mosquitto, db_url: str) -> None:
    async with Receiver() as rx:
        alerts = alerts_file(tmp_path, rx.port)
        port = free_port()
        config = gateway_config(tmp_path, broker, port)
        gw = await asyncio.to_thread(procs.gateway, config, port, f"gateway-{STORE}")
        try:
            async with cloud(db_url, broker, alerts):
                gw.kill9()  # no goodbye: the broker publishes the retained last will
                raised = await rx.take(2, within=20)  # the store's staff and HQ
                assert sorted(p for p, _ in raised) == ["/hq", "/staff"]
                for _, body in raised:
                    assert body["title"] == f"Store {STORE}: gateway gw-1 is offline (stock updates are " \
                                            "queued in the store)"
                    assert f"门店 {STORE}：网关 gw-1 已离线" in body["message"]
            async with cloud(db_url, broker, alerts) as app:  # restarted: the retained offline again
                gw = await asyncio.to_thread(procs.gateway, config, port, f"gateway-{STORE}")
                resolved = await rx.take(2, within=20)  # a re-sent "offline" would arrive first
                assert all(b["title"].startswith("[Resolved] Store") for _, b in resolved)
                assert all("【已解决】" in b["message"] for _, b in resolved)
                await until(lambda: app[CHAIN_ALERTS].books[STORE].store.pending() == 0, what="drained")
            assert len(rx.all) == 4
        finally:
            await asyncio.to_thread(gw.stop)


async def test_lots_near_and_past_expiry_from_the_ledger_alert_and_close(
        tmp_path: Path, broker: Mosquitto, db_url: str) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the store's date, not UTC's
    async with Receiver() as rx:
        alerts = alerts_file(tmp_path, rx.port)
        port = free_port()
        config = gateway_config(tmp_path, broker, port)
        gw = await asyncio.to_thread(procs.gateway, config, port, f"gateway-{STORE}")
        try:
            async with cloud(db_url, broker, alerts) as app, aiohttp.ClientSession() as session:
                lines = [
                    {"sku": KIBBLE, "kind": "receipt", "qty": 4, "zone": "backroom", "lot": "L-NEAR",
                     "expiry": (today + timedelta(days=20)).isoformat()},
                    {"sku": KIBBLE, "kind": "receipt", "qty": 2, "zone": "floor", "lot": "L-OLD",
                     "expiry": (today - timedelta(days=1)).isoformat()},
                    {"sku": KIBBLE, "kind": "receipt", "qty": 5, "zone": "floor", "lot": "L-FAR",
                     "expiry": (today + timedelta(days=200)).isoformat()},
                ]
                status, _ = await post(session, port, "/v1/stock/movements",
                                       {"ref": "GRN-1", "at": now_ts(), "lines": lines})
                assert status == 200
                got = await rx.take(4, within=30)  # two lots, to staff and HQ each
                assert sorted({b["title"] for _, b in got}) == [
                    f"Expired: Royal Canin Indoor 2 kg lot L-OLD ({today - timedelta(days=1)}) — pull 2",
                    "Expiring in 20 days: Royal Canin Indoor 2 kg lot L-NEAR — 4 on hand",
                ]
                # Staff pull the expired lot: its alert resolves; the near one stays open.
                status, _ = await post(session, port, "/v1/stock/movements", {
                    "ref": "PULL-1", "at": now_ts(),
                    "lines": [{"sku": KIBBLE, "kind": "shrink", "qty": -2, "zone": "floor", "lot": "L-OLD"}]})
                assert status == 200
                resolved = await rx.take(2, within=30)
                assert {b["title"] for _, b in resolved} == {
                    f"[Resolved] Expired: Royal Canin Indoor 2 kg lot L-OLD ({today - timedelta(days=1)})"
                    " — pull 2"}
                chain = app[CHAIN_ALERTS]
                rounds = chain.lot_rounds
                await until(lambda: chain.lot_rounds >= rounds + 2 and chain.books[STORE].store.pending() == 0,
                            what="two more rounds of the lots check")
            assert len(rx.all) == 6  # nothing raised twice
        finally:
            await asyncio.to_thread(gw.stop)


def test_a_bad_alerts_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('[stores.sh-1]\npager = ["json://x"]\n')
    with pytest.raises(ChainAlertsError) as e:
        load_chain_alerts(path)
    assert str(e.value) == f'{path}: [stores.sh-1] unknown key "pager" — did you mean "manager"?'
    path.write_text('timezone = "Nowhere/Land"\n')
    with pytest.raises(ChainAlertsError, match="unknown time zone 'Nowhere/Land'"):
        load_chain_alerts(path)


async def post(session: aiohttp.ClientSession, port: int, path: str, body: Any) -> tuple[int, Any]:
    async with session.post(f"http://127.0.0.1:{port}{path}", json=body,
                            headers={"Authorization": f"Bearer {POS}"}) as r:
        return r.status, await r.json()


def now_ts() -> str:
    from shared.contract import format_ts

    return format_ts(datetime.now(ZoneInfo("UTC")))


async def test_a_gateway_back_within_the_grace_period_raises_nothing(tmp_path: Path) -> None:
    from shared.contract import GatewayState, GatewayStatus

    config = load_chain_alerts(alerts_file(tmp_path, free_port()))
    config = dataclasses.replace(config, offline_grace_s=60.0)
    now = [0.0]
    chain = ChainAlerts(config, clock=lambda: now[0])
    try:
        chain.on_status(GatewayStatus(STORE, "gw-1", GatewayState.OFFLINE))
        now[0] = 59.0
        chain.check_offline()
        assert chain.books == {}  # a reboot is not an alert
        chain.on_status(GatewayStatus(STORE, "gw-1", GatewayState.ONLINE))
        chain.on_status(GatewayStatus(STORE, "gw-1", GatewayState.OFFLINE))
        now[0] = 118.0
        chain.check_offline()
        assert chain.books == {}  # the grace period starts again at each offline
        now[0] = 119.0
        chain.check_offline()
        assert [a.key for a in chain.books[STORE].book.open_alerts()] == ["offline:gateway:gw-1"]
        chain.on_status(GatewayStatus(STORE, "gw-1", GatewayState.ONLINE))
        assert chain.books[STORE].book.open_alerts() == []
    finally:
        await chain.close()


async def test_a_scale_bus_reported_offline_in_the_status_alerts_hq_and_resolves(
        tmp_path: Path, broker: Mosquitto) -> None:
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with Receiver() as rx, shelf_sim() as (sim, sim_port):
        alerts = alerts_file(tmp_path, rx.port)
        port = free_port()
        config = gateway_config(tmp_path, broker, port)
        config.write_text(config.read_text() + "\n" + print_config(sim, f"127.0.0.1:{sim_port}", rtu=False))
        # The simulator answers from this event loop: start and stop the gateway off the loop.
        gw = await asyncio.to_thread(procs.gateway, config, port, f"gateway-{STORE}")
        try:
            async with cloud(db_url, broker, alerts) as app:
                sim.faults.timeout_rate = 1.0  # the bus stops answering
                [(path, body)] = await rx.take(1, within=20)
                assert path == "/hq"  # the gateway's own [alerts] tell the store's staff
                assert body["title"] == f"Store {STORE}: scale bus sim-1 on gateway gw-1 is offline"
                assert f"门店 {STORE}：网关 gw-1 的称重总线 sim-1 已离线" in body["message"]
                sim.faults.timeout_rate = 0.0
                [(path, body)] = await rx.take(1, within=20)
                assert path == "/hq"
                assert body["title"] == f"[Resolved] Store {STORE}: scale bus sim-1 on gateway gw-1 is offline"
                await until(lambda: app[CHAIN_ALERTS].books[f"{STORE}.hq"].store.pending() == 0, what="drained")
            assert len(rx.all) == 2
        finally:
            await asyncio.to_thread(gw.stop)


async def test_lots_on_hand_take_their_names_from_the_chain_catalogue(tmp_path: Path) -> None:
    """A lot of a product the alerts file does not list is named from PUT /v1/products."""
    from cloud.alerts import lots_on_hand
    from tests.orders.chain import serve

    async with serve(f"sqlite:///{tmp_path / 'ledger.db'}") as api:
        await api.put(f"/v1/products/{KIBBLE}", {"name": "Royal Canin Indoor 2 kg", "category": "dry food"})
        await api.count("sh-1", KIBBLE, 3, lot="L-1", expiry=date(2027, 1, 1))
        lots = await lots_on_hand(api.maker)
    assert [(lot.store, lot.name, lot.category, lot.qty) for lot in lots] == [
        ("sh-1", "Royal Canin Indoor 2 kg", "dry food", 3)]
