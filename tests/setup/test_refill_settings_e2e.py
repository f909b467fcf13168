"""A refill threshold changed in Setup changes a real gateway's staff alerts: the `shelfsync gateway`
process over the Modbus shelf simulator (TCP), a real Mosquitto, the cloud app with its console in
this process, Chromium for the change, apprise json:// to a local receiver for the alerts.

The TOML says refill at 1. With 3 on the shelf nothing is asked; once Setup says 3, the refill
alert fires at that same count, without a restart. A change made while the gateway is offline
reaches it when it is back: from its persistent broker session, or — when the broker lost that
session — because its status says it runs an older version and the cloud sends the settings again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from cloud.db import shelf_settings
from cloud.db.gateway_snapshots import gateway_views
from cloud.keys import MAKER
from firmware_sim import procs
from tests.alerts.gateway import PRODUCT, shelf_sim, store_config
from tests.alerts.receiver import Receiver
from tests.alerts.test_gateway import settled
from tests.integration.conftest import ADMIN, Cloud, until
from tests.setup.conftest import running, sign_in
from tests.support.services import Mosquitto, free_port

STORE = "sh-0091"


async def _applied(cloud: Cloud) -> int | None:
    async with cloud.app[MAKER]() as session:
        found = await shelf_settings.gateways(session, STORE)
    return found[0].applied if found else None


async def _shelf_count(cloud: Cloud) -> int | None:
    async with cloud.app[MAKER]() as session:
        views = await gateway_views(session, [STORE])
    return next((b.count for g in views for b in g.bins if b.bin == "A1-1"), None)


async def _set_refill_at(page: Any, cloud: Cloud, refill_at: int) -> None:
    await page.goto(f"{cloud.url}/setup/shelves?store={STORE}&kind=bin&key=A1-1")
    form = page.locator("#shelf-form form")
    await form.locator("input[name=refill_at]").fill(str(refill_at))
    await form.locator("#save-shelf").click()
    await page.wait_for_selector(".notice.ok")


async def _staff_alerts(session: aiohttp.ClientSession, base: str) -> Any:
    async with session.get(base + "/staff/api/alerts") as r:
        assert r.status == 200
        return (await r.json())["aisles"]


async def _start(config: Path, port: int) -> procs.Proc:
    # The simulator answers from this event loop: start and stop the gateway off the loop.
    return await asyncio.to_thread(procs.gateway, config, port, f"gateway-{STORE}")


async def _scenario(tmp_path: Path, broker: Mosquitto, new_page: Any, lose_session: bool) -> None:
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    async with running(f"sqlite:///{tmp_path / 'ledger.db'}", broker) as cloud, Receiver() as rx, \
            shelf_sim(units=5) as (sim, sim_port), aiohttp.ClientSession() as session:
        await cloud.session.put(f"{cloud.url}/v1/stores/{STORE}", json={"name": "Pudong"},
                                headers={"Authorization": f"Bearer {ADMIN}"})
        config = store_config(tmp_path, STORE, broker.url, http_port, sim, sim_port, rx.port)  # refill at 1
        gw = await _start(config, http_port)
        try:
            await until(lambda: _applied_is(cloud, 0), what="the gateway's status: settings version 0")
            sim.set_count("A1-1", 3, hand_s=0.2)
            await until(lambda: _shelf_count_is(cloud, 3), what="3 on the shelf, in the cloud's snapshot")
            assert await _staff_alerts(session, base) == {} and rx.all == []  # the TOML's 1: no refill yet

            page = await new_page()
            await sign_in(page, cloud.url, ADMIN, f"/setup/shelves?store={STORE}")
            await _set_refill_at(page, cloud, 3)
            [(_, raised)] = await rx.take(1, within=20)
            assert raised["title"] == f"Refill A1-1: {PRODUCT} — 3 left on shelf, backroom count unknown"
            await until(lambda: _applied_is(cloud, 1), what="the gateway reports settings version 1")
            await until(lambda: _refill_in_force(cloud, 3), what="the snapshot shows refill at 3")
            await page.reload()
            assert await page.locator("li[data-gateway='gw-1'] .badge").inner_text() == "Applied"

            sim.set_count("A1-1", 8, hand_s=0.2)  # refilled: 8 is clear of 3 (and its margin)
            [(_, resolved)] = await rx.take(1, within=20)
            assert str(resolved["title"]).startswith("[Resolved] Refill A1-1")

            await settled(session, base)  # delivered: a stop now cannot send it twice
            await asyncio.to_thread(gw.stop)  # the gateway goes away
            await until(lambda: _state_is(cloud, "offline"), what="the gateway offline")
            await _set_refill_at(page, cloud, 8)  # changed while it is offline
            await page.reload()
            assert await page.locator("li[data-gateway='gw-1'] .badge").inner_text() == "Waiting for the gateway"
            if lose_session:  # the broker restarts without its store: the queued command is gone
                broker.stop()
                (broker.workdir / "mosquitto.db").unlink(missing_ok=True)  # (none where it runs as root)
                broker.start()
            await page.wait_for_selector("#live[data-state=open]")  # the page listens for the gateway
            gw = await _start(config, http_port)
            [(_, raised)] = await rx.take(1, within=40)
            assert raised["title"] == f"Refill A1-1: {PRODUCT} — 8 left on shelf, backroom count unknown"
            await until(lambda: _applied_is(cloud, 2), timeout=30, what="the gateway reports version 2")
            # the page turns to Applied by itself (server-sent events), no reload
            await page.locator("li[data-gateway='gw-1'] .badge", has_text="Applied").wait_for(timeout=15_000)
            assert [a["key"] for a in (await _staff_alerts(session, base))["A1"]] == ["refill:A1-1"]
        finally:
            await asyncio.to_thread(gw.stop)


async def _shelf_count_is(cloud: Cloud, n: int) -> bool:
    return await _shelf_count(cloud) == n


async def _applied_is(cloud: Cloud, version: int) -> bool:
    return await _applied(cloud) == version


async def _refill_in_force(cloud: Cloud, n: int) -> bool:
    async with cloud.app[MAKER]() as session:
        views = await gateway_views(session, [STORE])
    return any(b.refill_at == n for g in views for b in g.bins if b.bin == "A1-1")


async def _state_is(cloud: Cloud, state: str) -> bool:
    async with cloud.app[MAKER]() as session:
        views = await gateway_views(session, [STORE])
    return bool(views) and views[0].state == state


async def test_a_threshold_set_in_setup_fires_the_refill_alert_online_and_after_the_gateway_was_offline(
        tmp_path: Path, broker: Mosquitto, new_page: Any) -> None:
    await _scenario(tmp_path, broker, new_page, lose_session=False)


async def test_a_gateway_whose_broker_session_was_lost_is_brought_up_to_date_from_its_status(
        tmp_path: Path, broker: Mosquitto, new_page: Any) -> None:
    await _scenario(tmp_path, broker, new_page, lose_session=True)
