"""A POS sale travels edge → MQTT → ledger, through a real Mosquitto, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from cloud.keys import INGEST
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone
from tests.integration.conftest import ADMIN, Cloud, Gateway, RawPublisher, running_cloud, until
from tests.support.services import Mosquitto

SKU = "06923450000106"
SKU2 = "06923450000113"
# Yesterday, on the hour: the gateway refuses a till's time more than 30 days old or 5 min ahead.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def ts(minutes: float) -> str:
    return contract.format_ts(T0 + timedelta(minutes=minutes))


def sale(txn: str, qty: int = 1, minute: float = 10, sku: str = SKU) -> dict[str, object]:
    return {"txn": txn, "at": ts(minute), "kind": "sale", "lines": [{"sku": sku, "qty": qty}]}


def receipt(ref: str, qty: int, minute: float = 0, sku: str = SKU, zone: str = "floor") -> dict[str, object]:
    return {"ref": ref, "at": ts(minute), "lines": [{"sku": sku, "kind": "receipt", "qty": qty, "zone": zone}]}


async def test_a_pos_sale_reaches_the_ledger(cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0042")
    async with aiohttp.ClientSession() as s:
        assert (await gw.post(s, "/v1/stock/movements", receipt("open", 10)))[0] == 200
        status, body = await gw.post(s, "/v1/pos/transactions", sale("T1001", 2))
        assert status == 200 and body["accepted"] == 1 and not body["duplicate"]
    await until(lambda: _eq(cloud.floor("sh-0042", SKU), 8), what="the sale in the ledger")
    status, body = await cloud.get("/v1/stores/sh-0042/stock")
    assert status == 200
    [item] = body["items"]
    assert (item["sku"], item["on_hand"], item["available"]) == (SKU, 8, 8)
    assert item["zones"] == {"floor": 8, "backroom": 0}
    status, total = await cloud.get(f"/v1/stock/{SKU}")
    assert total["on_hand"] == 8 and total["stores"] == [{"store": "sh-0042", "on_hand": 8, "reserved": 0, "available": 8}]
    status, moves = await cloud.get("/v1/stores/sh-0042/movements?since=0")
    assert [m["kind"] for m in moves["movements"]] == ["receipt", "sale"]
    assert moves["movements"][1]["ref"] == "T1001/1"
    status, later = await cloud.get(f"/v1/stores/sh-0042/movements?since={moves['next']}")
    assert later["movements"] == []
    # The status topic is retained with the gateway's state.
    _, gws = await cloud.get("/v1/gateways")
    assert gws["gateways"][0]["state"] == "online"


async def _eq(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_both_services_refuse_requests_without_the_token(cloud: Cloud,
                                                               start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0001")
    assert (await cloud.get("/v1/stores/sh-0001/stock", token=None))[0] == 401
    assert (await cloud.get("/v1/stores/sh-0001/stock", token="wrong"))[0] == 401
    assert (await cloud.get("/healthz", token=None))[0] == 200
    async with aiohttp.ClientSession() as s:
        assert (await gw.post(s, "/v1/pos/transactions", sale("T1"), token="wrong"))[0] == 401
        assert (await gw.health(s))["outbox_depth"] == 0


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"),
    ({"txn": "T1", "at": ts(0), "kind": "sale", "lines": []}, "lines"),
    ({"txn": "T1", "at": "yesterday", "kind": "sale", "lines": [{"sku": SKU, "qty": 1}]}, "at"),
    ({"txn": "T1", "at": ts(0), "kind": "refund", "lines": [{"sku": SKU, "qty": 1}]}, "kind"),
    ({"txn": "T1", "at": ts(0), "kind": "sale",
      "lines": [{"sku": SKU, "qty": 1}, {"sku": "06923450000107", "qty": 1}]}, "lines[1].sku"),
    ({"txn": "T1", "at": ts(0), "kind": "sale", "lines": [{"sku": SKU, "qty": 0}]},
     "lines[0].qty"),
    ({"txn": "T1", "at": ts(0), "kind": "sale",
      "lines": [{"sku": SKU, "qty": 1, "expiry": "31/12/2027"}]}, "lines[0].expiry"),
])
async def test_a_bad_pos_body_is_a_400_naming_the_field_and_writes_nothing(
        broker: Mosquitto, start_gateway: Callable[[str], Gateway], body: object, field: str) -> None:
    gw = start_gateway("sh-0002")
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, "/v1/pos/transactions", body)  # type: ignore[arg-type]
        assert status == 400
        assert answer["field"] == field
        health = await gw.health(s)
        assert health["outbox_depth"] == 0 and health["published"] == 0


async def test_a_repeated_txn_changes_nothing_and_a_reused_txn_is_a_conflict(
        cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0003")
    async with aiohttp.ClientSession() as s:
        await gw.post(s, "/v1/stock/movements", receipt("open", 10))
        first = await gw.post(s, "/v1/pos/transactions", sale("T7", 3))
        again = await gw.post(s, "/v1/pos/transactions", sale("T7", 3))
        assert again[0] == 200 and again[1]["duplicate"] and again[1]["seqs"] == first[1]["seqs"]
        clash = await gw.post(s, "/v1/pos/transactions", sale("T7", 5))
        assert clash[0] == 409
    await until(lambda: _eq(cloud.floor("sh-0003", SKU), 7))
    assert await cloud.deltas("sh-0003") == 2


def _batch(store: str, *deltas: StockDelta) -> bytes:
    return contract.encode(DeltaBatch(store, "gw-1", datetime.now(UTC), tuple(deltas)))


def _delta(id: str, seq: int, kind: Kind, qty: int, minute: float, sku: str = SKU) -> StockDelta:
    return StockDelta(id=id, seq=seq, sku=sku, kind=kind, qty=qty, zone=Zone.FLOOR,
                      occurred_at=T0 + timedelta(minutes=minute), source=Source.POS)


async def test_duplicate_and_out_of_order_deliveries_give_the_same_ledger(cloud: Cloud, raw: RawPublisher) -> None:
    topic = contract.gateway_topic("sh-0010", "gw-1", Stream.DELTAS)
    deltas = [_delta("r", 1, Kind.RECEIPT, 20, 0)] + [
        _delta(f"s{i}", i + 2, Kind.SALE, -1, 1 + i) for i in range(10)]
    batches = [_batch("sh-0010", *deltas[i:i + 3]) for i in range(0, len(deltas), 3)]
    order = list(reversed(batches)) + batches[:2] + [batches[1]]  # reversed, then redelivered
    for payload in order:
        raw.publish(topic, payload)
    await until(lambda: _eq(cloud.floor("sh-0010", SKU), 10), what="10 on the floor")
    await until(lambda: _ge(cloud.ingest_stats.batches, len(order)))
    assert cloud.ingest_stats.duplicates >= 9
    assert await cloud.floor("sh-0010", SKU) == 10


async def _ge(a: int, b: int) -> bool:
    return a >= b


async def test_a_late_pre_count_sale_is_absorbed_by_the_count(cloud: Cloud, raw: RawPublisher) -> None:
    topic = contract.gateway_topic("sh-0011", "gw-1", Stream.DELTAS)
    raw.publish(topic, _batch("sh-0011", _delta("r", 1, Kind.RECEIPT, 10, 0), _delta("c", 2, Kind.COUNT, 8, 30)))
    await until(lambda: _eq(cloud.floor("sh-0011", SKU), 8))
    raw.publish(topic, _batch("sh-0011", _delta("late", 3, Kind.SALE, -3, 20)))  # rang up at :20, offline
    raw.publish(topic, _batch("sh-0011", _delta("after", 4, Kind.SALE, -1, 40)))
    await until(lambda: _eq(cloud.deltas("sh-0011"), 4))
    assert await cloud.floor("sh-0011", SKU) == 7  # the count absorbed the late sale; the later one applied


async def test_malformed_payloads_are_dead_lettered_and_the_stream_goes_on(cloud: Cloud, raw: RawPublisher) -> None:
    topic = contract.gateway_topic("sh-0012", "gw-1", Stream.DELTAS)
    good = _batch("sh-0012", _delta("ok", 1, Kind.RECEIPT, 5, 0))
    bad_sku = json.loads(good)
    bad_sku["deltas"][0]["sku"] = "06923450000107"
    bad_sku["deltas"][0]["id"] = "bad"
    half_bad = json.loads(_batch("sh-0012", _delta("fine", 2, Kind.RECEIPT, 1, 0), _delta("x", 3, Kind.RECEIPT, 1, 0)))
    half_bad["deltas"][1]["kind"] = "teleport"
    for payload in [b"\x00\xff garbage", b"{}", json.dumps(bad_sku).encode(), json.dumps(half_bad).encode(),
                    _batch("sh-9999", _delta("spoof", 1, Kind.RECEIPT, 99, 0))]:
        raw.publish(topic, payload)
    raw.publish(topic, good)
    await until(lambda: _eq(cloud.floor("sh-0012", SKU), 5), what="the good batch")
    _, body = await cloud.get("/v1/dead-letters")
    reasons = sorted(d["reason"] for d in body["dead_letters"])
    assert len(reasons) == 5
    assert any(r.startswith("deltas[0].sku") for r in reasons)
    assert any(r.startswith("deltas[1].kind") for r in reasons)  # rejected whole: "fine" not applied
    assert any(r.startswith("store") for r in reasons)
    assert await cloud.deltas("sh-0012") == 1


async def test_a_gateway_killed_mid_stream_loses_no_acked_sale_and_doubles_none(
        cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0020")
    n = 300
    acked: set[str] = set()
    async with aiohttp.ClientSession() as s:
        await gw.post(s, "/v1/stock/movements", receipt("open", 10_000))

        a_third_acked = asyncio.Event()

        async def till(i: int) -> None:
            try:
                status, _ = await gw.post(s, "/v1/pos/transactions", sale(f"T{i:05d}", 1, minute=10 + i / 100))
                if status == 200:
                    acked.add(f"T{i:05d}")
                    if len(acked) >= n // 3:
                        a_third_acked.set()
            except (TimeoutError, aiohttp.ClientError):
                pass

        async def killer() -> None:
            await a_third_acked.wait()
            gw.proc.signal(signal.SIGKILL)

        await asyncio.gather(killer(), *(till(i) for i in range(n)))
        assert n // 3 <= len(acked) < n, "the kill must land mid-stream"
        gw.proc.kill9()
        gw.restart()
        # The till retries whatever it was not told was stored, and a few it was (duplicates).
        retry = [i for i in range(n) if f"T{i:05d}" not in acked] + random.sample(range(n), 20)
        for i in retry:
            status, _ = await gw.post(s, "/v1/pos/transactions", sale(f"T{i:05d}", 1, minute=10 + i / 100))
            assert status == 200
    await until(lambda: _eq(cloud.floor("sh-0020", SKU), 10_000 - n), timeout=60,
                what="every sale exactly once")
    assert await cloud.deltas("sh-0020") == n + 1
    _, gws = await cloud.get("/v1/gateways")
    assert gws["gateways"][0]["seq_gaps"] == 0


async def test_a_broker_outage_delays_but_loses_nothing(cloud: Cloud, broker: Mosquitto,
                                                        start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0030")
    async with aiohttp.ClientSession() as s:
        await gw.post(s, "/v1/stock/movements", receipt("open", 100))
        await until(lambda: _eq(cloud.floor("sh-0030", SKU), 100))
        broker.stop()
        for i in range(40):
            assert (await gw.post(s, "/v1/pos/transactions", sale(f"T{i}", 1, minute=20 + i)))[0] == 200
        health = await gw.health(s)
        assert health["outbox_depth"] == 40 and not health["mqtt_connected"]
        broker.start()  # same port, persistent sessions
        await until(lambda: _eq(cloud.floor("sh-0030", SKU), 60), timeout=60, what="delivery after the outage")
        await until(lambda: _outbox_empty(gw, s), timeout=10)
    assert await cloud.deltas("sh-0030") == 41


async def _outbox_empty(gw: Gateway, s: aiohttp.ClientSession) -> bool:
    return (await gw.health(s))["outbox_depth"] == 0


async def test_status_goes_offline_when_a_gateway_dies(cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0040")
    await until(lambda: _state(cloud, "online"), what="online status")
    gw.proc.kill9()  # no clean goodbye: the broker publishes the will after the keepalive lapses
    await until(lambda: _state(cloud, "offline"), timeout=30, what="the offline will")


async def _state(cloud: Cloud, state: str) -> bool:
    _, body = await cloud.get("/v1/gateways")
    return any(g["store"] == "sh-0040" and g["state"] == state for g in body["gateways"])


__all__ = ["ADMIN"]


async def test_the_cloud_asks_a_gateway_to_resend_what_the_broker_dropped(
        db_url: str, broker: Mosquitto, start_gateway: Callable[[str], Gateway]) -> None:
    """PUBACK only says the broker had it: deltas published while no cloud session exists are
    dropped. The gateway's status heartbeat carries its last acknowledged seq, so the cloud sees
    the gap when it arrives and asks for it again."""
    gw = start_gateway("sh-0050")
    async with aiohttp.ClientSession() as s:
        await gw.post(s, "/v1/stock/movements", receipt("open", 50))
        for i in range(5):
            assert (await gw.post(s, "/v1/pos/transactions", sale(f"L{i}", 1, minute=30 + i)))[0] == 200
        await until(lambda: _outbox_empty(gw, s), timeout=30, what="the broker to acknowledge all")
    async with running_cloud(db_url, broker) as cloud:  # nobody was subscribed: all 6 were dropped
        await until(lambda: _eq(cloud.floor("sh-0050", SKU), 45), timeout=60, what="the resent deltas")
        assert cloud.app[INGEST].stats.resend_requests >= 1
        _, gws = await cloud.get("/v1/gateways")
        assert [(g["deltas"], g["seq_gaps"]) for g in gws["gateways"] if g["store"] == "sh-0050"] == [(6, 0)]


async def test_both_services_expose_prometheus_metrics(cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0060")
    async with aiohttp.ClientSession() as s:
        await gw.post(s, "/v1/stock/movements", receipt("open", 5))
        await until(lambda: _eq(cloud.floor("sh-0060", SKU), 5))
        async with s.get(gw.url + "/metrics") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            text = await r.text()
        assert "shelfsync_gateway_deltas_accepted_total 1.0" in text
        assert "shelfsync_gateway_outbox_depth" in text
        async with s.get(cloud.url + "/metrics") as r:
            text = await r.text()
        assert "shelfsync_cloud_deltas_applied_total 1.0" in text
        assert "shelfsync_cloud_ingest_connected 1.0" in text
