"""Devices in a running gateway: the retained shelves snapshot from Modbus weighing modules, and an
RFID stocktake the cloud asks for, whose counts land in the ledger (simulators over TCP)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim import procs
from shared import contract
from shelfsync.cli import repo_root
from tests.integration.conftest import ADMIN, POS, Cloud, until
from tests.support.mqtt_clients import release
from tests.support.services import Mosquitto, free_port


class Sim:
    """A simulator CLI in its own process; the lines it prints are collected."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "shelfsync.cli", *args], cwd=repo_root(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, predicate: object, timeout: float = 30) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.lines), timeout), self.lines[-5:]  # type: ignore[operator]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def sims() -> Iterator[list[Sim]]:
    started: list[Sim] = []
    yield started
    for sim in started:
        sim.stop()


class Retained:
    """Subscribes to one topic and keeps the last payload."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.payloads: list[bytes] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{free_port()}", protocol=paho.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.payloads.append(m.payload)
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def close(self) -> None:
        release(self.client)


def _gateway_config(tmp_path: Path, store: str, broker: Mosquitto, port: int, extra: str) -> Path:
    path = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
    path.write_text(path.read_text() + "\n" + extra)
    return path


async def test_the_gateway_keeps_a_retained_shelves_snapshot_from_its_scales(
        tmp_path: Path, broker: Mosquitto, sims: list[Sim]) -> None:
    shelf = Sim("sim", "shelf", "--tcp", "127.0.0.1:0", "--bins", "3", "--seed", "2", "--print-config")
    sims.append(shelf)
    shelf.wait_for(lambda lines: any("Ctrl-C" in x for x in lines))
    section = "\n".join(x for x in shelf.lines if not x.startswith(("shelf sim:", "20")) and "pymodbus" not in x)
    port = free_port()
    config = _gateway_config(tmp_path, "sh-0070", broker, port, section)
    gw = procs.gateway(config, port, "gateway-sh-0070")
    watcher = Retained(broker, contract.gateway_topic("sh-0070", "gw-1", contract.Stream.SHELVES))
    try:
        def all_counted() -> bool:
            if not watcher.payloads:
                return False
            snap = contract.decode_snapshot(watcher.payloads[-1])
            return len(snap.bins) == 3 and all(b.count is not None and b.available for b in snap.bins)

        await until(all_counted, timeout=30, what="a snapshot with every bin counted")
        snap = contract.decode_snapshot(watcher.payloads[-1])
        assert [b.bin for b in snap.bins] == ["A1-1", "A1-2", "A1-3"]
        assert all(b.source is contract.Source.WEIGHT and b.grams is not None for b in snap.bins)
    finally:
        watcher.close()
        gw.stop()


async def test_camera_lanes_join_the_snapshot_with_counts_from_the_model(
        tmp_path: Path, broker: Mosquitto, sims: list[Sim]) -> None:
    # The world held still (no shoppers between the frame counted and the truth read) and no
    # passing hands: this pins the wiring; the model's accuracy is measured by `bench vision`.
    camera = Sim("sim", "camera", "--port", "0", "--lanes", "3", "--seed", "1", "--speed", "0.001",
                 "--hands", "0", "--print-config")
    sims.append(camera)
    camera.wait_for(lambda lines: any("Ctrl-C" in x for x in lines))
    section = "\n".join(x for x in camera.lines if not x.startswith("camera sim:"))
    port = free_port()
    gw = procs.gateway(_gateway_config(tmp_path, "sh-0075", broker, port, section), port, "gateway-sh-0075")
    watcher = Retained(broker, contract.gateway_topic("sh-0075", "gw-1", contract.Stream.SHELVES))
    try:
        def lanes_counted() -> bool:
            if not watcher.payloads:
                return False
            snap = contract.decode_snapshot(watcher.payloads[-1])
            return len(snap.bins) == 3 and all(b.count is not None for b in snap.bins)

        await until(lanes_counted, timeout=40, what="three counted lanes")
        snap = contract.decode_snapshot(watcher.payloads[-1])
        assert {b.source for b in snap.bins} == {contract.Source.VISION}
        truth = json.loads(_http_get(section.split('url = "')[1].split('"')[0].replace("frame.jpg", "truth.json")))
        true_counts = {lane["id"]: lane["count"] for lane in truth["lanes"]}
        assert {b.bin: b.count for b in snap.bins} == true_counts
    finally:
        watcher.close()
        gw.stop()


def _http_get(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


@pytest.mark.parametrize(("presence", "vendor"), [(False, "impinj"), (True, "impinj"), (True, "generic")],
                         ids=["stocktake-only", "with-presence", "with-presence-generic-reader"])
async def test_a_stocktake_asked_by_the_cloud_lands_in_the_ledger(
        tmp_path: Path, broker: Mosquitto, cloud: Cloud, sims: list[Sim], presence: bool,
        vendor: str) -> None:
    """With presence on, the gateway reads continuously and must hand the reader (LLRP allows one
    client) to the stocktake and take it back. The generic reader is not an Impinj: standard LLRP
    only."""
    reader = Sim("sim", "llrp", "--port", "0", "--tags", "300", "--seed", "5", "--rate", "2000",
                 "--vendor", vendor)
    sims.append(reader)
    reader.wait_for(lambda lines: any("listening on" in x for x in lines))
    llrp_port = int(next(x for x in reader.lines if "listening on" in x).split(":")[1].split()[0].rstrip(":"))
    port = free_port()
    config = _gateway_config(tmp_path, "sh-0080", broker, port,
                             f'[rfid]\nquiet_s = 2.0\npresence = {str(presence).lower()}\n'
                             f'[[rfid.reader]]\nname = "door"\nhost = "127.0.0.1"\n'
                             f'port = {llrp_port}\nzones = {{1 = "floor", 2 = "floor", 3 = "floor", 4 = "backroom"}}\n')
    gw = procs.gateway(config, port, "gateway-sh-0080")
    reports = Retained(broker, contract.gateway_topic("sh-0080", "gw-1", contract.Stream.STOCKTAKES))
    try:
        await until(lambda: _state_online(cloud, "sh-0080"), what="the gateway online")
        async with cloud.session.post(f"{cloud.url}/v1/stores/sh-0080/stocktakes",
                                      json={"gateway": "gw-1", "seconds": 60},
                                      headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            assert r.status == 202, await r.text()
            request_id = (await r.json())["id"]
        await until(lambda: bool(reports.payloads), timeout=90, what="the stocktake report")
        report = json.loads(reports.payloads[-1])
        assert report["id"] == request_id and "error" not in report
        assert report["unique_tags"] == 300  # every tag in the reader's field
        counted = {(c["sku"], c["zone"]): c["qty"] for c in report["counts"]}
        await until(lambda: _ledger_has(cloud, "sh-0080", len(counted)), timeout=30, what="the counts in the ledger")
        _, stock = await cloud.get("/v1/stores/sh-0080/stock")
        ledger = {(i["sku"], z): q for i in stock["items"] for z, q in i["zones"].items() if q}
        assert ledger == {k: v for k, v in counted.items() if v}
        assert sum(counted.values()) == 300
    finally:
        reports.close()
        gw.stop()


async def _state_online(cloud: Cloud, store: str) -> bool:
    _, body = await cloud.get("/v1/gateways")
    return any(g["store"] == store and g["state"] == "online" for g in body["gateways"])


async def _ledger_has(cloud: Cloud, store: str, n: int) -> bool:
    _, body = await cloud.get("/v1/gateways")
    return sum(g["deltas"] for g in body["gateways"] if g["store"] == store) >= n


__all__ = ["aiohttp", "asyncio"]
