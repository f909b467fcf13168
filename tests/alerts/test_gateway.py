"""Staff alerts in the real `shelfsync gateway` process: a Modbus shelf simulator over TCP, apprise
json:// to a local receiver, the staff page's HTTP API, the `alerts` topic on a real Mosquitto."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim import procs
from shared import contract
from tests.alerts.gateway import POS, PRODUCT, shelf_sim, store_config
from tests.alerts.receiver import Receiver
from tests.integration.conftest import until
from tests.support.mqtt_clients import release
from tests.support.services import Mosquitto, free_port


class Topic:
    """Every payload published on one MQTT topic, collected by a real subscriber."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{free_port()}",
                                  protocol=paho.MQTTv5)
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _message(self, _c: object, _u: object, m: paho.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append(m.payload)

    def notices(self) -> list[contract.AlertNotice]:
        with self._lock:
            return [contract.decode_alert(p) for p in self.payloads]

    def close(self) -> None:
        release(self.client)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def settled(session: aiohttp.ClientSession, base: str) -> None:
    """Nothing left to deliver to phones nor to publish: a restart now cannot duplicate."""

    async def check() -> bool:
        h = await get_json(session, base + "/healthz")
        return bool(h["alerts_undelivered"] == 0 and h["alerts_unpublished"] == 0)

    await until(check, timeout=20, what="alerts delivered and published")


async def test_gateway_alerts_once_acknowledged_on_staff_page_resolved_and_durable_over_restart(
        tmp_path: Path, broker: Mosquitto) -> None:
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    topic = Topic(broker, contract.gateway_topic("sh-0077", "gw-1", contract.Stream.ALERTS))
    async with Receiver() as rx, shelf_sim() as (sim, sim_port), aiohttp.ClientSession() as session:
        config = store_config(tmp_path, "sh-0077", broker.url, http_port, sim, sim_port, rx.port, ntfy=True)
        # The simulator answers from this event loop: start and stop the gateway off the loop.
        gw = await asyncio.to_thread(procs.gateway, config, http_port, "gateway-sh-0077")
        try:
            assert (await get_json(session, base + "/staff/api/alerts"))["aisles"] == {}

            sim.set_count("A1-1", 1, hand_s=0.2)  # the shelf empties down to its last unit
            raised = dict(await rx.take(2, within=20))
            assert sorted(raised) == ["/", "/staff"]  # ntfy posts its topic in the JSON body to "/"
            assert raised["/"]["topic"] == "sh-0077-alerts"
            for body in raised.values():
                assert body["title"] == f"Refill A1-1: {PRODUCT} — 1 left on shelf, backroom count unknown"
                assert f"补货 A1-1：{PRODUCT} — 货架剩 1 件，仓库数量未知" in str(body["message"])
            await until(lambda: [n.status for n in topic.notices()] == ["open"], what="open on alerts topic")
            notice = topic.notices()[0]
            assert (notice.store, notice.key, notice.kind, notice.aisle) == ("sh-0077", "refill:A1-1",
                                                                             "refill", "A1")

            # The phone holds no POS token: the staff API answers without one, the POS API does not.
            async with session.post(base + "/v1/pos/transactions", json={}) as r:
                assert r.status == 401
            async with session.post(base + "/staff/api/alerts/refill%3AA1-1/ack") as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["status"] == "acked"
            await until(lambda: [n.status for n in topic.notices()] == ["open", "acked"], what="acked")
            await settled(session, base)

            # A phone keeps the live stream open; SIGTERM still ends the gateway cleanly and soon.
            async with session.get(base + "/staff/api/events") as events:
                assert await events.content.readline() == b": hello\n"
                assert gw.popen is not None
                gw.signal(signal.SIGTERM)
                assert await asyncio.to_thread(gw.popen.wait, 10) == 0
                assert await events.content.read() == b"\n"  # the stream was closed, not cut
            await asyncio.to_thread(gw.stop)  # restart: the book comes back from disk
            gw = await asyncio.to_thread(procs.gateway, config, http_port, "gateway-sh-0077")
            listed = await get_json(session, base + "/staff/api/alerts")
            assert [a["status"] for a in listed["aisles"]["A1"]] == ["acked"]

            sim.set_count("A1-1", 5, hand_s=0.2)  # refilled
            resolved = dict(await rx.take(2, within=20))  # a re-sent "raised" would arrive first
            assert sorted(resolved) == ["/", "/staff"]
            for body in resolved.values():
                assert body["title"].startswith("[Resolved] Refill A1-1")
                assert "【已解决】补货 A1-1" in str(body["message"])
            await until(lambda: [n.status for n in topic.notices()] == ["open", "acked", "resolved"],
                        what="resolved on alerts topic")
            await settled(session, base)
            assert sorted(p for p, _ in rx.all) == ["/", "/", "/staff", "/staff"]  # raised, resolved: once each
            assert len(topic.payloads) == 3
            assert (await get_json(session, base + "/staff/api/alerts"))["aisles"] == {}
        finally:
            await asyncio.to_thread(gw.stop)
            topic.close()


async def test_gateway_refuses_a_bad_alerts_section_at_start(tmp_path: Path, broker: Mosquitto) -> None:
    path = procs.gateway_config(tmp_path, "sh-0078", broker.url, POS, free_port())
    path.write_text(path.read_text() + '\n[alerts]\ntimezone = "Mars/Olympus"\n')
    proc = await asyncio.create_subprocess_exec(*procs.shelfsync("gateway", "--config", str(path)),
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"unknown time zone 'Mars/Olympus'" in err


async def test_an_undeliverable_alert_stays_queued_and_shows_in_health_and_metrics(
        tmp_path: Path, broker: Mosquitto) -> None:
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    async with Receiver() as rx, shelf_sim() as (sim, sim_port), aiohttp.ClientSession() as session:
        config = store_config(tmp_path, "sh-0079", broker.url, http_port, sim, sim_port, rx.port)
        gw = await asyncio.to_thread(procs.gateway, config, http_port, "gateway-sh-0079")
        try:
            rx.fail = True  # the staff phones' service is down
            sim.set_count("A1-1", 1, hand_s=0.2)

            async def failing() -> bool:
                h = await get_json(session, base + "/healthz")
                return bool(h["alerts_undelivered"] == 1 and h["alerts_delivery_failures"] >= 2)

            await until(failing, timeout=30, what="the alert retried and still queued")
            async with session.get(base + "/metrics") as r:
                metrics = await r.text()
            assert "shelfsync_gateway_alerts_undelivered 1.0" in metrics
            failures = [line for line in metrics.splitlines()
                        if line.startswith("shelfsync_gateway_alert_delivery_failures_total ")]
            assert failures and float(failures[0].split()[1]) >= 2

            rx.fail = False  # back: the queued alert goes out, once
            [(path, body)] = await rx.take(1, within=30)
            assert path == "/staff" and body["title"].startswith("Refill A1-1")
            await settled(session, base)
        finally:
            await asyncio.to_thread(gw.stop)


async def test_gateway_refuses_an_alert_route_apprise_cannot_use(tmp_path: Path, broker: Mosquitto) -> None:
    path = procs.gateway_config(tmp_path, "sh-0080", broker.url, POS, free_port())
    path.write_text(path.read_text() + '\n[alerts]\nstaff = ["jsno://127.0.0.1:8080/staff"]\n')
    proc = await asyncio.create_subprocess_exec(*procs.shelfsync("gateway", "--config", str(path)),
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert err.decode().strip().splitlines() == [
        f'shelfsync gateway: {path}: [alerts] staff[0]: not a URL apprise can send to '
        '(unknown scheme "jsno" — did you mean "json"?)']
