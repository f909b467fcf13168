"""MQTT → ledger: the cloud worker's consumer of every gateway's deltas, status and stocktake reports.

Joins the shared subscription (ARCHITECTURE §5) so the load splits across workers. Each message
is acknowledged only after its effect is committed: a worker that dies mid-batch leaves the
message unacknowledged and the broker redelivers it. A payload that breaks the contract goes to
the dead-letter table with the reason and is acknowledged, so it never blocks the stream; the seqs
that can still be read from it count as received (db/seqs.py), since a resend would be refused
the same way. A delta dated beyond this worker's clock plus its skew (`--max-clock-ahead`) is
dead-lettered on its own and the rest of its batch is booked (db/posting.py): it would sort after
every later count of its SKU, and no count could ever correct it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import gateway_snapshots, posting, seqs, stocktakes, store_alerts
from shared import contract
from shared.backoff import Backoff
from shared.contract import ClockSkew, ContractError, Stream
from shared.mqtt import BrokerUrl, Message, MqttClient, MqttError

log = logging.getLogger(__name__)

# A gateway refuses a till's time more than 5 min ahead of its own clock; its clock may itself be
# ahead of ours by a few minutes, so the cloud allows more. Late deltas are fine: any age passes.
CLOUD_SKEW = ClockSkew(ahead=timedelta(minutes=15))


@dataclass
class IngestStats:
    batches: int = 0
    deltas: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    statuses: int = 0
    resend_requests: int = 0
    last_commit: float = 0.0
    connected: bool = False
    commit_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StocktakeReported:
    """A gateway's stocktake result, with the store and gateway its topic names (contract §5)."""

    store: str
    gateway: str
    result: contract.StocktakeResult


def decode_message(topic_name: str, payload: bytes
                   ) -> contract.DeltaBatch | contract.GatewayStatus | StocktakeReported | None:
    """What one gateway message says: a batch, a status, or None (a stream not handled yet, or an
    empty retained status, which clears one). Raises ContractError only: that message is then
    dead-lettered, and any other exception here would block the worker on it for ever."""
    topic = contract.GatewayTopic.parse(topic_name)
    if topic.stream is Stream.DELTAS:
        batch = contract.decode_batch(payload)
        if (batch.store, batch.gateway) != (topic.store, topic.gateway):
            raise ContractError("store", f"payload says {batch.store}/{batch.gateway}, "
                                         f"topic says {topic.store}/{topic.gateway}")
        return batch
    if topic.stream is Stream.STATUS:
        return contract.decode_status(payload) if payload else None
    if topic.stream is Stream.STOCKTAKES:
        return StocktakeReported(topic.store, topic.gateway, contract.decode_stocktake_result(payload))
    log.debug("ingest: %s not handled yet", topic.stream)
    return None


def _same_source(topic: contract.GatewayTopic, store: str, gateway: str) -> None:
    """A payload names the store and gateway of the topic it came on (the broker's ACL vouches
    only for the topic): else ContractError, and it is dead-lettered."""
    if (store, gateway) != (topic.store, topic.gateway):
        raise ContractError("store", f"payload says {store}/{gateway}, "
                                     f"topic says {topic.store}/{topic.gateway}")


def readable_seqs(topic_name: str, payload: bytes, reason: str) -> list[seqs.SetAside]:
    """The seqs (and ids) that can be read from a batch the contract rejected whole, to count as
    received: a resend would be rejected the same way. Read by hand, leniently, because the
    contract's decoder has just refused this payload; only what is plainly a seq is taken
    (an integer a BIGINT holds, at most a batch's worth), under the gateway the topic names
    (the broker's ACL vouches for the topic, not for the payload)."""
    try:
        topic = contract.GatewayTopic.parse(topic_name)
        doc = json.loads(payload)
    except (ContractError, ValueError):
        return []
    deltas = doc.get("deltas") if isinstance(doc, dict) else None
    if topic.stream is not Stream.DELTAS or not isinstance(deltas, list):
        return []
    out = []
    for d in deltas[:contract.MAX_DELTAS_PER_BATCH]:
        seq = d.get("seq") if isinstance(d, dict) else None
        if type(seq) is not int or not 0 < seq < 2**63:
            continue
        delta_id = d.get("id")
        readable = delta_id if _storable_id(delta_id) else None
        out.append(seqs.SetAside(topic.store, topic.gateway, seq, readable,
                                 f"batch rejected whole: {reason}"))
    return out


def _storable_id(value: object) -> bool:
    """An id a database column holds: text of at most 64 characters, valid UTF-8 (JSON can carry
    a lone surrogate), no NUL (PostgreSQL text cannot). Anything else is kept as no id: the
    dead letter must never fail to be stored, or its message would block the stream for ever."""
    if not isinstance(value, str) or len(value) > 64 or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Ingest:
    def __init__(self, maker: async_sessionmaker[AsyncSession], broker: BrokerUrl, client_id: str,
                 group: str = "cloud", concurrency: int = 1) -> None:
        self.maker = maker
        self.broker = broker
        self.client_id = client_id
        self.group = group
        self.stats = IngestStats()
        self.ready = asyncio.Event()
        self.resend_interval = 5.0  # at most one resend request per gateway per interval
        self.clock = CLOUD_SKEW  # how far ahead of our clock a delta may be dated
        self._asked: dict[tuple[str, str], float] = {}
        self._client: MqttClient | None = None
        self.max_group = 200  # messages applied in one transaction at most
        self.concurrency = concurrency  # groups in their transactions at once
        self._suspect: dict[tuple[str, str], int] = {}
        self.on_applied: Callable[[set[tuple[str, str]]], None] | None = None  # changed (store, sku)
        # (stream, store) once a gateway's status, shelves, alert or stocktake report is recorded
        self.on_recorded: Callable[[Stream, str], None] | None = None
        # after a status is recorded (cloud/shelf_settings.py: a gateway behind the console's settings)
        self.on_status: Callable[[contract.GatewayStatus], Awaitable[None]] | None = None

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            client = MqttClient(self.broker, self.client_id, clean_start=False, manual_ack=True,
                                session_expiry=7 * 24 * 3600, max_inflight=100)
            try:
                await client.connect()
                await client.subscribe(contract.cloud_subscription(self.group), qos=1)
                self._client = client
                log.info("ingest %s subscribed on %s", self.client_id, self.broker.redacted())
                self.stats.connected = True
                self.ready.set()
                backoff.reset()
                await self._consume(client)
            except (MqttError, TimeoutError, OSError) as e:
                log.warning("ingest: broker %s: %s", self.broker.redacted(), e)
            except Exception:
                # The ledger is unreachable or failing: the unacknowledged message is redelivered
                # after we reconnect, so drop the link and retry rather than lose or skip it.
                log.exception("ingest: applying a message failed; reconnecting")
            finally:
                self._client = None
                self.stats.connected = False
                with contextlib.suppress(Exception):
                    await client.disconnect()
            await asyncio.sleep(backoff.next_delay())

    async def _consume(self, client: MqttClient) -> None:
        """Take what has arrived as one group, apply it, acknowledge it; with concurrency > 1 the
        next group's transaction runs while the previous one commits, and acks stay in order."""
        closed = asyncio.ensure_future(client.closed.wait())
        running: deque[tuple[list[Message], asyncio.Task[None]]] = deque()
        getter: asyncio.Future[Message] | None = None
        try:
            while True:
                while running and running[0][1].done():
                    group, task = running.popleft()
                    task.result()  # a failed group ends the session: nothing after it is acked
                    for message in group:  # MQTT 5 §4.6: PUBACKs in the order the PUBLISHes came
                        client.ack(message)
                if closed.done():
                    raise MqttError("connection lost")
                waits: set[asyncio.Future[Any]] = {closed}
                if running:
                    waits.add(running[0][1])
                getter = None
                if len(running) < self.concurrency:
                    getter = asyncio.ensure_future(client.messages.get())
                    waits.add(getter)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if getter is None:
                    continue
                if not getter.done():
                    getter.cancel()
                    continue
                group = [getter.result()]
                # Whatever else has already arrived is applied in the same transaction.
                while len(group) < self.max_group and not client.messages.empty():
                    group.append(client.messages.get_nowait())
                running.append((group, asyncio.create_task(self.handle(group))))
        finally:
            closed.cancel()
            if getter is not None:  # cancelled while waiting (shutdown): the get must not outlive us
                getter.cancel()
            for _, task in running:
                task.cancel()
            await asyncio.gather(*(t for _, t in running), return_exceptions=True)

    async def handle(self, messages: list[Message]) -> None:
        """Apply messages. Raises only for infrastructure faults (DB down): then none is acked."""
        batches: list[contract.DeltaBatch] = []
        statuses: list[contract.GatewayStatus] = []
        reports: list[StocktakeReported] = []
        for message in messages:
            try:
                decoded = decode_message(message.topic, message.payload)
                if isinstance(decoded, contract.DeltaBatch):
                    batches.append(decoded)
                elif isinstance(decoded, contract.GatewayStatus):
                    statuses.append(decoded)
                elif isinstance(decoded, StocktakeReported):
                    reports.append(decoded)
            except ContractError as e:
                log.warning("dead letter from %s: %s", message.topic, e)
                await posting.dead_letter(self.maker, message.topic, message.payload, str(e),
                                          readable_seqs(message.topic, message.payload, str(e)))
                self.stats.dead_letters += 1
        if batches:
            await self._apply(batches)
        for status in statuses:  # after the batches that came with them
            await self._status(status)
        for r in reports:  # the record people read; the counts came as deltas
            await stocktakes.record_result(self.maker, r.store, r.gateway, r.result, datetime.now(UTC))
        await self._record_views(messages)

    async def _apply(self, batches: list[contract.DeltaBatch]) -> None:
        started = time.perf_counter()
        results = await posting.apply_batches(self.maker, batches, clock=self.clock)
        self.stats.batches += len(batches)
        self.stats.dead_letters += sum(r.dead_letters for r in results)
        self.stats.deltas += sum(r.applied for r in results)
        self.stats.duplicates += sum(r.duplicates for r in results)
        if self.on_applied is not None:
            self.on_applied(set().union(*(r.changed for r in results)))
        self.stats.last_commit = time.time()
        self.stats.commit_ms.append((time.perf_counter() - started) * 1000)
        del self.stats.commit_ms[:-1000]

    async def _status(self, status: contract.GatewayStatus) -> None:
        """Record a gateway's status and look for seqs the ledger lacks.

        Batches still in flight (in another worker, or behind this status) look like gaps for a
        moment, so a gap is acted on only when the next status shows it still open."""
        missing = await seqs.record_status(self.maker, status)
        await gateway_snapshots.record_status(self.maker, status, datetime.now(UTC))
        self._recorded(Stream.STATUS, status.store)
        if self.on_status is not None:
            await self.on_status(status)
        self.stats.statuses += 1
        key = (status.store, status.gateway)
        if missing is None:
            self._suspect.pop(key, None)
            return
        seen_before = self._suspect.get(key)
        if seen_before is not None and missing <= seen_before:
            self._suspect.pop(key, None)
            await self._ask_resend(status.store, status.gateway, missing)
        else:
            self._suspect[key] = missing

    async def _record_views(self, messages: list[Message]) -> None:
        """What only people read, kept for the console: each gateway's retained shelves snapshot and
        its staff alerts with their history; and a word to the console about stocktake reports."""
        for message in messages:
            try:
                topic = contract.GatewayTopic.parse(message.topic)
            except ContractError:
                continue  # dead-lettered with the deltas and statuses
            try:
                if topic.stream is Stream.SHELVES and message.payload:
                    snapshot = contract.decode_snapshot(message.payload)
                    _same_source(topic, snapshot.store, snapshot.gateway)
                    await gateway_snapshots.record_shelves(self.maker, snapshot)
                elif topic.stream is Stream.ALERTS:
                    notice = contract.decode_alert(message.payload)
                    _same_source(topic, notice.store, notice.gateway)
                    await store_alerts.record(self.maker, notice)
                elif topic.stream is not Stream.STOCKTAKES:
                    continue
            except ContractError as e:
                log.warning("dead letter from %s: %s", message.topic, e)
                await posting.dead_letter(self.maker, message.topic, message.payload, str(e))
                self.stats.dead_letters += 1
                continue
            self._recorded(topic.stream, topic.store)

    def _recorded(self, stream: Stream, store: str) -> None:
        if self.on_recorded is not None:
            self.on_recorded(stream, store)

    async def command(self, store: str, gateway: str, name: str, payload: bytes) -> None:
        """Publish a command to one gateway (QoS 1: its persistent session keeps it while offline)."""
        if self._client is None:
            raise MqttError("not connected to the broker")
        await self._client.publish(contract.command_topic(store, gateway, name), payload, qos=1)

    async def _ask_resend(self, store: str, gateway: str, from_seq: int) -> None:
        """Ask a gateway to publish again from the first seq the ledger lacks (idempotent)."""
        now = time.monotonic()
        if now - self._asked.get((store, gateway), -1e9) < self.resend_interval or self._client is None:
            return
        self._asked[(store, gateway)] = now
        log.warning("gap in %s/%s: asking for a resend from seq %d", store, gateway, from_seq)
        topic = contract.command_topic(store, gateway, "resend")
        await self._client.publish(topic, contract.encode(contract.ResendRequest(from_seq)), qos=1)
        self.stats.resend_requests += 1
