"""Stocktakes through the cloud API: only for a gateway the cloud has heard from; each one's state
and the gateway's report (the `stocktakes` stream) are there to read. Real Mosquitto, real HTTP."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from shared import contract
from shared.contract import GatewayState, GatewayStatus, Stream
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, until
from tests.support.mqtt_clients import release
from tests.support.services import Mosquitto, free_port

STORE = "sh-0090"
SKU = "06900000000014"


def _commands(broker: Mosquitto) -> tuple[paho.Client, queue.Queue[tuple[str, bytes]]]:
    """What the cloud sends to STORE's gateways, as a gateway would receive it."""
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{free_port()}", protocol=paho.MQTTv5)
    client.on_message = lambda _c, _u, m: got.put((m.topic, m.payload))
    subscribed: queue.Queue[bool] = queue.Queue()
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.subscribe(f"shelfsync/v1/store/{STORE}/cmd/#", qos=1)
    subscribed.get(timeout=10)
    return client, got


async def _post(cloud: Cloud, path: str, body: Any, token: str = ADMIN) -> tuple[int, Any]:
    async with cloud.session.post(cloud.url + path, json=body,
                                  headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def _state(cloud: Cloud, sid: str, want: str) -> bool:
    status, body = await cloud.get(f"/v1/stores/{STORE}/stocktakes/{sid}")
    return status == 200 and body["state"] == want


async def test_a_stocktake_for_a_gateway_the_cloud_has_not_heard_from_is_refused(
        cloud: Cloud, broker: Mosquitto) -> None:
    status, body = await _post(cloud, f"/v1/stores/{STORE}/stocktakes", {"gateway": "gw-9", "seconds": 30})
    assert status == 422 and body["field"] == "gateway" and "gw-9" in body["error"], body
    _, listed = await cloud.get(f"/v1/stores/{STORE}/stocktakes")
    assert listed == {"store": STORE, "stocktakes": []}


async def test_a_stocktake_shows_its_state_and_the_gateway_s_report(
        cloud: Cloud, broker: Mosquitto, raw: RawPublisher) -> None:
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STATUS), contract.encode(
        GatewayStatus(STORE, "gw-1", GatewayState.ONLINE, datetime.now(UTC))))

    async def known() -> bool:
        _, body = await cloud.get("/v1/gateways")
        return any(g["store"] == STORE for g in body["gateways"])

    await until(known, what="the gateway's status in the cloud")
    client, commands = _commands(broker)
    try:
        status, made = await _post(cloud, f"/v1/stores/{STORE}/stocktakes",
                                   {"gateway": "gw-1", "seconds": 30, "zone": "floor"})
        assert status == 202, made
        topic, payload = commands.get(timeout=10)
        assert topic == f"shelfsync/v1/store/{STORE}/cmd/gw-1/stocktake"
        assert contract.decode_stocktake(payload).id == made["id"]
        status, shown = await cloud.get(f"/v1/stores/{STORE}/stocktakes/{made['id']}")
        assert status == 200, shown
        assert (shown["state"], shown["gateway"], shown["zone"], shown["seconds"]) == ("requested", "gw-1", "floor", 30)
        assert shown["report"] is None

        report = {"v": 1, "id": made["id"], "unique_tags": 12, "reads": 340, "seconds": 21.5,
                  "started_at": "2026-12-01T02:00:00.000Z", "ended_at": "2026-12-01T02:00:21.500Z",
                  "sold_during": 1, "counts": [{"sku": SKU, "zone": "floor", "qty": 11, "expected": 0}]}
        raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STOCKTAKES), json.dumps(report).encode())
        await until(lambda: _state(cloud, made["id"], "done"), what="the report in the cloud")
        _, shown = await cloud.get(f"/v1/stores/{STORE}/stocktakes/{made['id']}")
        assert shown["report"]["unique_tags"] == 12 and shown["report"]["counts"] == report["counts"]
        assert shown["reported_at"] and shown["error"] is None

        # a count that failed on the gateway says why
        status, failing = await _post(cloud, f"/v1/stores/{STORE}/stocktakes", {"gateway": "gw-1"})
        assert status == 202
        raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STOCKTAKES),
                    json.dumps({"v": 1, "id": failing["id"], "error": "reader door: connection refused"}).encode())
        await until(lambda: _state(cloud, failing["id"], "failed"), what="the failure in the cloud")
        _, listed = await cloud.get(f"/v1/stores/{STORE}/stocktakes")
        assert [(s["id"], s["state"]) for s in listed["stocktakes"]] == [(failing["id"], "failed"),
                                                                         (made["id"], "done")]
        assert listed["stocktakes"][0]["error"] == "reader door: connection refused"

        # a report that breaks the contract is a dead letter, and changes nothing
        raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STOCKTAKES),
                    json.dumps({"v": 1, "id": made["id"], "unique_tags": -1}).encode())
        await until(lambda: cloud.ingest_stats.dead_letters == 1, what="the dead letter")
        assert await _state(cloud, made["id"], "done")
    finally:
        release(client)

    status, body = await cloud.get(f"/v1/stores/{STORE}/stocktakes/st-nope")
    assert status == 404 and body["error"]
