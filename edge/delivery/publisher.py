"""Drains the outbox to MQTT: QoS 1 through a persistent session, marked sent only on PUBACK.

One batch is in flight at a time, so deltas reach the broker in seq order. When the broker is
away the publisher backs off exponentially (reset after a good connection) and the outbox keeps
growing; nothing is lost and nothing is marked sent without a PUBACK. The retained status topic
says "online" while connected; the broker publishes the "offline" will when the link dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from edge.delivery.outbox import Outbox, OutboxError, Pending
from shared import contract
from shared.backoff import Backoff
from shared.contract import GatewayState, GatewayStatus, Stream
from shared.mqtt import BrokerUrl, MqttClient, MqttError, Will

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def batch_payload(store: str, gateway: str, rows: list[Pending], sent_at: datetime) -> bytes:
    """A DeltaBatch built from stored JSON bodies without decoding them again."""
    head = '{"v":%d,"store":"%s","gateway":"%s","sent_at":"%s","deltas":[' % (
        contract.VERSION, store, gateway, contract.format_ts(sent_at))
    return (head + ",".join(r.wire_json() for r in rows) + "]}").encode()


class Feed(Protocol):
    """A durable queue of payloads for one stream (the alert book's, edge/alerts.py): published in
    order, each removed only after its PUBACK, so they survive a broker outage or a restart."""

    stream: Stream
    queued: asyncio.Event  # set whenever something is added

    def unpublished(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest `limit` payloads not yet acknowledged, with their ids, in order."""
        ...

    def published(self, upto: int) -> None:
        """The broker acknowledged every payload up to id `upto`."""
        ...


class Publisher:
    def __init__(self, outbox: Outbox, broker: BrokerUrl, store: str, gateway: str, *,
                 batch_max: int = 500, keepalive: int = 30, status_interval: float = 30.0) -> None:
        self.outbox = outbox
        self.broker = broker
        self.store = store
        self.gateway = gateway
        self.batch_max = batch_max
        self.keepalive = keepalive
        self.status_interval = status_interval
        self.connected = asyncio.Event()
        self._down_since: float | None = time.monotonic()  # down from the start until connected
        self.published = 0  # deltas acknowledged by the broker since start
        self.acked_seq = 0  # the highest seq the broker acknowledged
        self.resends = 0
        self.max_inflight = 4
        self._rewind: int | None = None
        # Other streams (shelves, stocktakes): the newest payload per stream waits for the link.
        self._extras: dict[Stream, tuple[bytes, bool]] = {}
        self._extra_ready = asyncio.Event()
        self.commands: dict[str, Callable[[bytes], Coroutine[Any, Any, None]]] = {}
        self.feeds: list[Feed] = []  # added before run()
        # Each device's state ("scale-bus:bus-1": "offline", ...) for the status topic, from which
        # the cloud raises chain-level device alerts; devices_changed() publishes it at once.
        self.devices: Callable[[], Mapping[str, str]] = dict
        # The console's shelf settings version in force (staff alerts), for the status; None: none kept.
        self.settings_version: Callable[[], int | None] = lambda: None
        self._status_due = asyncio.Event()
        self._command_tasks: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None
        self._deltas_topic = contract.gateway_topic(store, gateway, Stream.DELTAS)
        self._status_topic = contract.gateway_topic(store, gateway, Stream.STATUS)
        self._commands = contract.command_topic(store, gateway, "resend").rsplit("/", 1)[0] + "/#"

    def _status(self, state: GatewayState) -> bytes:
        # The will (offline) is written at connect time: device states in it would be stale.
        online = state is GatewayState.ONLINE
        devices = self.devices() if online else {}
        # The outbox refreshes its oldest unsent delta's age every few seconds (runtime); a will
        # says nothing about it, since it is read out long after it was written.
        oldest = (self.outbox.oldest_unsent_age_s if self.outbox.depth else 0.0) if online else None
        return contract.encode(GatewayStatus(self.store, self.gateway, state, at=datetime.now(UTC),
                                             version=VERSION, outbox_depth=self.outbox.depth,
                                             last_seq=self.acked_seq or None, devices=devices,
                                             oldest_unsent_s=oldest,
                                             settings_version=self.settings_version() if online else None))

    def down_for(self) -> float | None:
        """Seconds the broker link has been down (since start, before the first connection); None
        while it is up. /healthz turns unhealthy past a threshold of this (edge/health.py)."""
        return None if self._down_since is None else time.monotonic() - self._down_since

    def devices_changed(self) -> None:
        """A device went away or came back: publish the status now, not at the next heartbeat."""
        self._status_due.set()

    async def run(self) -> None:
        backoff = Backoff()
        self.acked_seq = await self.outbox.last_sent_seq()
        will = Will(self._status_topic, self._status(GatewayState.OFFLINE))
        while True:
            client = MqttClient(self.broker, self.client_id, clean_start=False,
                                keepalive=self.keepalive, will=will)
            try:
                await client.connect()
                log.info("connected to %s", self.broker.redacted())
                await client.subscribe(self._commands, qos=1)
                await self._publish_status(client)
                self.connected.set()
                self._down_since = None
                self.last_error = None
                backoff.reset()
                await _first_failure(self._drain(client), self._heartbeat(client), self._obey(client),
                                     self._send_extras(client),
                                     *(self._send_feed(client, feed) for feed in self.feeds))
            except (MqttError, TimeoutError, OSError) as e:
                self.last_error = str(e) or type(e).__name__
                log.warning("broker %s: %s", self.broker.redacted(), self.last_error)
            except OutboxError as e:
                self.last_error = str(e)
                log.error("outbox: %s", e)
            finally:
                self.connected.clear()
                if self._down_since is None:
                    self._down_since = time.monotonic()
                with contextlib.suppress(Exception):
                    await client.disconnect()
            await asyncio.sleep(backoff.next_delay())

    async def _publish_status(self, client: MqttClient) -> None:
        await client.publish(self._status_topic, self._status(GatewayState.ONLINE), retain=True)

    async def _heartbeat(self, client: MqttClient) -> None:
        """The retained status, refreshed: it carries last_seq, so the cloud sees lost batches."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_due.wait(), self.status_interval)
            self._status_due.clear()
            await self._publish_status(client)

    def publish_latest(self, stream: Stream, payload: bytes, retain: bool = False) -> None:
        """Queue a payload for another stream; a newer one for the same stream replaces it."""
        self._extras[stream] = (payload, retain)
        self._extra_ready.set()

    async def _send_extras(self, client: MqttClient) -> None:
        while True:
            await self._extra_ready.wait()
            self._extra_ready.clear()
            while self._extras:
                stream, (payload, retain) = next(iter(self._extras.items()))
                await client.publish(contract.gateway_topic(self.store, self.gateway, stream), payload,
                                     retain=retain)
                if self._extras.get(stream) == (payload, retain):
                    del self._extras[stream]

    async def _send_feed(self, client: MqttClient, feed: Feed) -> None:
        topic = contract.gateway_topic(self.store, self.gateway, feed.stream)
        while True:
            feed.queued.clear()
            rows = feed.unpublished(100)
            if not rows:
                await feed.queued.wait()
                continue
            for i, payload in rows:
                await client.publish(topic, payload)
                feed.published(i)

    async def _obey(self, client: MqttClient) -> None:
        while True:
            message = await client.messages.get()
            command = message.topic.rsplit("/", 1)[-1]
            if command in self.commands:
                # Handlers run on their own: a long stocktake must not stall the command stream.
                task = asyncio.create_task(self.commands[command](message.payload), name=f"cmd-{command}")
                self._command_tasks.add(task)
                task.add_done_callback(self._command_tasks.discard)
                continue
            try:
                request = contract.decode_resend(message.payload)
            except contract.ContractError as e:
                log.warning("ignoring command on %s: %s", message.topic, e)
                continue
            count = await self.outbox.requeue(request.from_seq)
            self._rewind = request.from_seq - 1
            self.resends += 1
            log.warning("cloud asked to resend from seq %d: %d deltas requeued", request.from_seq, count)
            self.outbox.appended.set()

    async def _drain(self, client: MqttClient) -> None:
        """Publish unsent deltas in seq order, up to `max_inflight` batches awaiting PUBACK.

        A batch is marked sent only once the broker acknowledged it (and every batch before it).
        The cursor is in memory: after a reconnect everything not yet marked is published again,
        and the cloud drops what it already has.
        """
        cursor = 0
        inflight: deque[tuple[list[Pending], asyncio.Future[None]]] = deque()
        closed = asyncio.ensure_future(client.closed.wait())
        try:
            while True:
                while inflight and inflight[0][1].done():
                    rows, fut = inflight.popleft()
                    fut.result()  # a refused or lost publish ends this connection
                    self.outbox.mark_sent_soon([r.seq for r in rows])
                    self.published += len(rows)
                    self.acked_seq = max(self.acked_seq, rows[-1].seq)
                if self._rewind is not None:
                    cursor, self._rewind = min(cursor, self._rewind), None
                if client.closed.is_set():
                    raise MqttError("connection lost")
                if len(inflight) >= self.max_inflight:
                    head: asyncio.Future[Any] = inflight[0][1]
                    await asyncio.wait({head, closed}, return_when=asyncio.FIRST_COMPLETED)
                    continue
                self.outbox.appended.clear()
                rows = await self.outbox.pending(self.batch_max, after=cursor)
                if not rows:
                    appended = asyncio.ensure_future(self.outbox.appended.wait())
                    waits: set[asyncio.Future[Any]] = {closed, appended}
                    if inflight:
                        waits.add(inflight[0][1])
                    try:
                        await asyncio.wait(waits, timeout=self.keepalive, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for w in waits - {closed} - {f for _, f in inflight}:
                            w.cancel()
                    continue
                cursor = rows[-1].seq
                payload = batch_payload(self.store, self.gateway, rows, datetime.now(UTC))
                inflight.append((rows, asyncio.ensure_future(client.publish(self._deltas_topic, payload))))
        finally:
            closed.cancel()
            for _, fut in inflight:
                fut.cancel()
            await asyncio.gather(*(f for _, f in inflight), return_exceptions=True)

    @property
    def client_id(self) -> str:
        """The store id: the production broker binds a store's client id to its username, the
        store id (deploy/mosquitto/mosquitto.conf, use_username_as_clientid), whatever the
        gateway sends, so that no store can take over another client's session. Sending it
        ourselves keeps the session the same on any broker."""
        return self.store

    async def announce_offline(self) -> None:
        """On a clean shutdown: say offline ourselves (the will covers crashes).

        Through the gateway's own session, resumed (Clean Start 0) and kept: with the id bound to
        the store, any other connection would be this session anyway, and a clean one would
        discard the commands waiting for the gateway. Commands that arrive meanwhile are left
        unacknowledged, so the broker delivers them again at the next start."""
        client = MqttClient(self.broker, self.client_id, clean_start=False, manual_ack=True)
        with contextlib.suppress(MqttError, TimeoutError, OSError):
            await client.connect(timeout=2.0)
            await client.publish(self._status_topic, self._status(GatewayState.OFFLINE), retain=True,
                                 timeout=2.0)
        with contextlib.suppress(Exception):
            await client.disconnect()


async def _first_failure(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run jobs until one ends or fails; cancel the rest; re-raise the first failure."""
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        if not t.cancelled() and (error := t.exception()) is not None:
            raise error
    raise MqttError("connection ended")
