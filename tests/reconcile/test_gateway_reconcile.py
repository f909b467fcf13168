"""A running gateway with `[reconcile]`: a pick on a Modbus weighing module that no sale claims
becomes a shrink delta in the outbox; a pick the POS webhook sells does not (simulator over TCP,
real Mosquitto, the real POS webhook)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from edge.config import load_config
from edge.delivery.outbox import Outbox
from edge.rfid.devices import Presence, RfidConfig
from edge.rfid.driver import ReaderSettings
from edge.runtime import attach_reconciler, run_gateway
from firmware_sim import procs
from firmware_sim.llrp.air import sgtin96
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from firmware_sim.weight_shelf import print_config
from shared import contract
from tests.alerts.gateway import POS, SKU, shelf_sim
from tests.integration.conftest import until
from tests.integration.test_devices import Retained
from tests.support.services import Mosquitto, free_port


async def door(http_port: int) -> tuple[float, float]:
    """The gateway's /metrics: (tag reads at the door antenna, units read leaving whose verdict is
    still open)."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{http_port}/metrics") as r:
        text = await r.text()
    value = {sample.name: sample.value for family in text_string_to_metric_families(text)
             for sample in family.samples}
    return value["shelfsync_gateway_door_reads_total"], value["shelfsync_gateway_door_reads_waiting"]


def kinds(outbox: Path) -> list[tuple[str, int]]:
    if not outbox.exists():
        return []
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        rows = db.execute("SELECT body FROM deltas ORDER BY seq").fetchall()
    return [(json.loads(b)["kind"], json.loads(b)["qty"]) for (b,) in rows]


async def test_an_unsold_pick_becomes_shrink_and_a_sold_one_does_not(tmp_path: Path, broker: Mosquitto) -> None:
    http_port = free_port()
    async with shelf_sim(units=5) as (sim, sim_port):
        path = procs.gateway_config(tmp_path, "sh-0009", broker.url, POS, http_port, status_interval=1.0)
        path.write_text(path.read_text() + "\n" + print_config(sim, f"127.0.0.1:{sim_port}", rtu=False)
                        + "\n[shelf.detector]\nwindow_s = 0.5\nsettle_s = 0.2\n"
                        + "\n[reconcile]\nwindow_s = 5\ntick_s = 0.1\n")
        config = load_config(path)
        ready, stop = asyncio.Event(), asyncio.Event()
        gateway = asyncio.create_task(run_gateway(config, ready=ready, stop=stop))
        watcher = Retained(broker, contract.gateway_topic("sh-0009", "gw-1", contract.Stream.SHELVES))
        try:
            await asyncio.wait_for(ready.wait(), 20)

            def counted(n: int) -> bool:  # the scale's reading is in the shelves snapshot
                return bool(watcher.payloads) and contract.decode_snapshot(watcher.payloads[-1]).bins[0].count == n

            await until(lambda: counted(5), what="the bin counted")
            # A sold pick: one unit off the bin, then rung up.
            sim.set_count("A1-1", 4, hand_s=0.1)
            await until(lambda: counted(4), what="the pick seen")
            sale = {"txn": "T1", "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "kind": "sale", "lines": [{"sku": SKU, "qty": 1}]}
            async with aiohttp.ClientSession() as s, s.post(
                    f"http://127.0.0.1:{http_port}/v1/pos/transactions", json=sale,
                    headers={"Authorization": f"Bearer {POS}"}) as r:
                assert r.status == 200, await r.text()
            await until(lambda: ("sale", -1) in kinds(config.outbox_path), what="the sale in the outbox")
            # An unpaid pick: two more units leave; nobody pays within the 5 s window.
            sim.set_count("A1-1", 2, hand_s=0.1)
            await until(lambda: ("shrink", -2) in kinds(config.outbox_path), what="shrink in the outbox")
            assert kinds(config.outbox_path).count(("sale", -1)) == 1  # the sale was booked once
            assert ("shrink", -1) not in kinds(config.outbox_path)
        finally:
            watcher.close()
            stop.set()
            await asyncio.wait_for(gateway, 30)


async def test_a_unit_carried_out_unpaid_past_the_door_antenna_is_shrink_and_a_paid_one_is_not(
        tmp_path: Path, broker: Mosquitto) -> None:
    """The LLRP simulator with an antenna over the exit (zone "exit"): a unit sold at the till
    and carried out changes nothing more; one carried out without a sale is shrink at once, with
    its EPC as evidence — no scale involved."""
    http_port = free_port()
    sim = LLRPReaderSim(SimSettings(antennas=4, door=4, seed=3, tags=60, rate=2000))
    await sim.start("127.0.0.1", 0)
    floor = [u for u in sim.world.units.values() if u.zone == "floor" and u.tagged]
    paid, stolen = floor[0], next(u for u in floor if u.gtin != floor[0].gtin)
    path = procs.gateway_config(tmp_path, "sh-0019", broker.url, POS, http_port, status_interval=1.0)
    path.write_text(path.read_text()
                    + '\n[rfid]\nquiet_s = 2.0\n[[rfid.reader]]\nname = "shop"\nhost = "127.0.0.1"\n'
                    + f'port = {sim.port}\nzones = {{1 = "floor", 2 = "floor", 3 = "backroom", 4 = "exit"}}\n'
                    + "\n[reconcile]\nwindow_s = 5\ntick_s = 0.1\nexit_grace_s = 1\n")
    config = load_config(path)
    ready, stop = asyncio.Event(), asyncio.Event()
    gateway = asyncio.create_task(run_gateway(config, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        await until(lambda: sim.stats.reads > 0, what="the reader inventorying for the gateway")
        sale = {"txn": "T1", "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "kind": "sale", "lines": [{"sku": paid.gtin, "qty": 1}]}
        async with aiohttp.ClientSession() as s, s.post(
                f"http://127.0.0.1:{http_port}/v1/pos/transactions", json=sale,
                headers={"Authorization": f"Bearer {POS}"}) as r:
            assert r.status == 200, await r.text()
        sim.walk_out([paid.uid])
        epc = sgtin96(stolen.gtin, stolen.serial, len(sim.world.sgtin(stolen)[0])).hex().upper()
        async def paid_unit_judged() -> bool:  # read at the door, and its 1 s grace over
            reads, waiting = await door(http_port)
            return reads > 0 and waiting == 0

        await until(paid_unit_judged, what="the paid unit's door read judged")
        assert kinds(config.outbox_path) == [("sale", -1)]
        sim.walk_out([stolen.uid])
        await until(lambda: ("shrink", -1) in kinds(config.outbox_path), what="the shrink in the outbox")
        with contextlib.closing(sqlite3.connect(config.outbox_path)) as db:
            bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM deltas ORDER BY seq")]
        [shrink] = [b for b in bodies if b["kind"] == "shrink"]
        assert shrink["sku"] == stolen.gtin and shrink["evidence"]["exit_epc"] == epc
        assert kinds(config.outbox_path) == [("sale", -1), ("shrink", -1)]
    finally:
        stop.set()
        await asyncio.wait_for(gateway, 30)
        await sim.close()


async def metric(http_port: int, name: str) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{http_port}/metrics") as r:
        text = await r.text()
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples if sample.name == name)


async def test_two_door_antennas_tell_a_unit_carried_in_from_one_carried_out(
        tmp_path: Path, broker: Mosquitto) -> None:
    """The LLRP simulator with an antenna inside the door and one outside: a customer's return
    carried in passes the outer one first and is no shrink; a unit carried out unpaid passes the
    inner one first and is shrink, with its EPC as evidence."""
    http_port = free_port()
    sim = LLRPReaderSim(SimSettings(antennas=5, door=4, door_out=5, seed=3, tags=60, rate=2000))
    await sim.start("127.0.0.1", 0)
    floor = [u for u in sim.world.units.values() if u.zone == "floor" and u.tagged]
    returned, stolen = floor[0], next(u for u in floor if u.gtin != floor[0].gtin)
    path = procs.gateway_config(tmp_path, "sh-0029", broker.url, POS, http_port, status_interval=1.0)
    path.write_text(path.read_text()
                    + '\n[rfid]\nquiet_s = 2.0\n[[rfid.reader]]\nname = "shop"\nhost = "127.0.0.1"\n'
                    + f'port = {sim.port}\nzones = {{1 = "floor", 2 = "floor", 3 = "backroom", '
                    + '4 = "door_in", 5 = "door_out"}\n'
                    + "\n[reconcile]\nwindow_s = 5\ntick_s = 0.1\nexit_grace_s = 1\n")
    config = load_config(path)
    ready, stop = asyncio.Event(), asyncio.Event()
    gateway = asyncio.create_task(run_gateway(config, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        await until(lambda: sim.stats.reads > 0, what="the reader inventorying for the gateway")
        sim.walk_in([returned.uid])

        async def came_in() -> bool:
            return await metric(http_port, "shelfsync_gateway_door_in_total") == 1

        await until(came_in, what="the return seen coming in")
        sim.walk_out([stolen.uid])
        epc = sgtin96(stolen.gtin, stolen.serial, len(sim.world.sgtin(stolen)[0])).hex().upper()
        await until(lambda: ("shrink", -1) in kinds(config.outbox_path), what="the shrink in the outbox")
        assert await metric(http_port, "shelfsync_gateway_door_out_total") == 1
        with contextlib.closing(sqlite3.connect(config.outbox_path)) as db:
            bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM deltas ORDER BY seq")]
        assert [(b["kind"], b["sku"], b["evidence"]["exit_epc"]) for b in bodies] == [("shrink", stolen.gtin, epc)]
    finally:
        stop.set()
        await asyncio.wait_for(gateway, 30)
        await sim.close()


async def test_the_skus_a_stocktake_counts_are_the_reconciler_s_tagged_ones_with_a_door(tmp_path: Path) -> None:
    """`[rfid].skus` (what a stocktake counts: the SKUs whose units carry tags) reach the
    reconciler as its tagged SKUs once an antenna watches the door; without one they mean nothing
    to it (every pick waits its window, as the reconciler's own tests pin)."""
    door = ReaderSettings("door", "127.0.0.1", zones={1: "floor", 2: "exit"})
    shelf_only = ReaderSettings("floor", "127.0.0.1", zones={1: "floor", 2: "backroom"})
    async with Outbox(tmp_path / "outbox.db") as box:
        for reader, tagged, portal in ((door, frozenset({SKU}), True), (shelf_only, None, False)):
            presence = Presence(RfidConfig((reader,), skus=(SKU,), presence=True), box)
            pipeline, _ = attach_reconciler({"window_s": 1500}, [presence], lambda deltas: None, None)
            assert pipeline is not None
            assert (pipeline.reconciler.tagged, pipeline.reconciler.portal) == (tagged, portal)
