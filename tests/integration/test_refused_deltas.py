"""Deltas the cloud refuses do not make it ask for them again and again (issue 14 follow-up).

A refused delta leaves a hole in the gateway's seqs. The gap detector used to ask the gateway to
resend from that hole about every second heartbeat: a delta dated years ahead came back, was
refused again, and everything after it was re-sent each time; the valid deltas sharing its batch
never landed. Now a delta refused for its time is dead-lettered on its own and the rest of its
batch is booked; a batch that breaks the contract is still rejected whole, and the seqs that can be
read from it count as received. Through a real Mosquitto, the gateway's own publisher and outbox,
and the ledger on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.keys import INGEST
from edge.delivery.outbox import Outbox
from edge.delivery.publisher import Publisher
from shared import contract
from shared.contract import DeltaBatch, GatewayState, GatewayStatus, Kind, Source, StockDelta, Stream, Zone
from shared.mqtt import BrokerUrl, MqttClient
from tests.integration.conftest import Cloud, RawPublisher, until
from tests.support.services import Mosquitto

SKU = "06923450000106"
HEARTBEAT_S = 0.2


def receipt(id: str, qty: int, at: datetime, seq: int = 0) -> StockDelta:
    return StockDelta(id=id, seq=seq, sku=SKU, kind=Kind.RECEIPT, qty=qty, zone=Zone.FLOOR, occurred_at=at,
                      source=Source.MANUAL)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    async with Outbox(tmp_path / "outbox.sqlite3") as box:
        yield box


async def _floor_is(cloud: Cloud, store: str, qty: int) -> bool:
    return await cloud.floor(store, SKU) == qty


async def _heartbeats(cloud: Cloud, n: int) -> None:
    """Wait until the cloud has recorded `n` more gateway statuses: each one is a chance for the
    gap detector to ask for a resend (it asks when a gap outlives two of them)."""
    target = cloud.ingest_stats.statuses + n
    await until(lambda: cloud.ingest_stats.statuses >= target, what=f"{n} more heartbeats")


async def test_a_future_dated_delta_is_dead_lettered_alone_its_batch_lands_and_no_resend_is_asked(
        cloud: Cloud, broker: Mosquitto, outbox: Outbox) -> None:
    store = "sh-0130"
    cloud.app[INGEST].resend_interval = 0.0  # every request the detector makes is sent and counted
    now = datetime.now(UTC)
    await outbox.append([receipt("before", 5, now - timedelta(hours=1)),
                         receipt("ten-years-ahead", 7, now + timedelta(days=3653)),
                         receipt("after", 3, now)])
    publisher = Publisher(outbox, BrokerUrl.parse(broker.url), store, "gw-1", status_interval=HEARTBEAT_S)
    running = asyncio.create_task(publisher.run())
    try:
        await until(lambda: _floor_is(cloud, store, 8), what="the batch's valid deltas booked")
        assert publisher.acked_seq == 3  # one batch, seqs 1-3
        await _heartbeats(cloud, 6)
        assert cloud.ingest_stats.resend_requests == 0
        assert publisher.resends == 0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    _, body = await cloud.get("/v1/dead-letters")
    [letter] = body["dead_letters"]
    assert letter["reason"].startswith("deltas[1].occurred_at") and "ahead" in letter["reason"], letter
    assert letter["topic"] == contract.gateway_topic(store, "gw-1", Stream.DELTAS)
    [refused] = contract.decode_batch(letter["payload"]).deltas  # a batch of that delta alone
    assert (refused.id, refused.seq, refused.qty) == ("ten-years-ahead", 2, 7)
    assert cloud.ingest_stats.dead_letters == 1
    _, gws = await cloud.get("/v1/gateways")
    [gw] = [g for g in gws["gateways"] if g["store"] == store]
    assert (gw["max_seq"], gw["deltas"], gw["set_aside"], gw["seq_gaps"]) == (3, 2, 1, 0)


def _batch(store: str, *deltas: StockDelta) -> bytes:
    return contract.encode(DeltaBatch(store, "gw-1", datetime.now(UTC), deltas))


async def test_a_batch_rejected_whole_counts_its_seqs_as_received(cloud: Cloud, raw: RawPublisher) -> None:
    """The contract rejects a batch that breaks it whole (ARCHITECTURE §5), so a resend would be
    rejected the same way: its seqs, read from the payload, are not asked for again."""
    store = "sh-0131"
    cloud.app[INGEST].resend_interval = 0.0
    topic = contract.gateway_topic(store, "gw-1", Stream.DELTAS)
    now = datetime.now(UTC)
    raw.publish(topic, _batch(store, receipt("one", 5, now, seq=1)))
    broken = json.loads(_batch(store, receipt("two", 1, now, seq=2), receipt("three", 100, now, seq=3)))
    broken["deltas"][0]["qty"] = -1  # a receipt takes units in: qty > 0
    raw.publish(topic, json.dumps(broken).encode())
    raw.publish(topic, _batch(store, receipt("four", 2, now, seq=4)))
    await until(lambda: _floor_is(cloud, store, 7), what="the batches either side of the broken one")
    status = contract.gateway_topic(store, "gw-1", Stream.STATUS)
    for _ in range(4):  # the gateway says the broker has had everything up to seq 4
        before = cloud.ingest_stats.statuses
        raw.publish(status, contract.encode(GatewayStatus(store, "gw-1", GatewayState.ONLINE,
                                                          at=datetime.now(UTC), last_seq=4)))
        await until(lambda b=before: cloud.ingest_stats.statuses > b, what="the status recorded")
    assert cloud.ingest_stats.resend_requests == 0
    _, body = await cloud.get("/v1/dead-letters")
    [letter] = body["dead_letters"]
    assert letter["reason"].startswith("deltas[0].qty"), letter
    _, gws = await cloud.get("/v1/gateways")
    [gw] = [g for g in gws["gateways"] if g["store"] == store]
    assert (gw["max_seq"], gw["deltas"], gw["set_aside"], gw["seq_gaps"]) == (4, 2, 2, 0)


async def test_a_real_gap_is_still_asked_for(cloud: Cloud, broker: Mosquitto, raw: RawPublisher) -> None:
    """What the ledger never received is still asked for: setting refused seqs aside must not
    hide a batch the broker dropped."""
    store = "sh-0132"
    topic = contract.gateway_topic(store, "gw-1", Stream.DELTAS)
    now = datetime.now(UTC)
    async with MqttClient(BrokerUrl.parse(broker.url), "test-gateway-commands", clean_start=True) as gateway:
        await gateway.subscribe(contract.command_topic(store, "gw-1", "resend"), qos=1)
        raw.publish(topic, _batch(store, receipt("one", 5, now, seq=1)))
        raw.publish(topic, _batch(store, receipt("ahead", 1, now + timedelta(days=400), seq=2)))
        raw.publish(topic, _batch(store, receipt("four", 2, now, seq=4)))  # seq 3 never came
        await until(lambda: _floor_is(cloud, store, 7), what="seqs 1 and 4")
        status = contract.gateway_topic(store, "gw-1", Stream.STATUS)
        for _ in range(2):  # a gap is acted on when the next status shows it still open
            before = cloud.ingest_stats.statuses
            raw.publish(status, contract.encode(GatewayStatus(store, "gw-1", GatewayState.ONLINE,
                                                              at=datetime.now(UTC), last_seq=4)))
            await until(lambda b=before: cloud.ingest_stats.statuses > b, what="the status recorded")
        asked = await asyncio.wait_for(gateway.messages.get(), 20)
    assert contract.decode_resend(asked.payload).from_seq == 3
    assert cloud.ingest_stats.resend_requests == 1
