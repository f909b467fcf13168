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
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge import contract
from edge.contract import GatewayState, GatewayStatus, Stream
from edge.mqtt import BrokerUrl, MqttClient, MqttError, Will
from edge.outbox import Outbox, OutboxError, Pending

log = logging.getLogger(__name__)
VERSION = "0.1.0"


@dataclass
class Backoff:
    """Exponential backoff with full jitter; reset() after a connection that worked."""

    initial: float = 0.5
    maximum: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** self.attempt)
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


def batch_payload(store: str, gateway: str, rows: list[Pending], sent_at: datetime) -> bytes:
    """A DeltaBatch built from stored JSON bodies without decoding them again."""
    head = '{"v":%d,"store":"%s","gateway":"%s","sent_at":"%s","deltas":[' % (
        contract.VERSION, store, gateway, contract.format_ts(sent_at))
    return (head + ",".join(r.wire_json() for r in rows) + "]}").encode()


class Publisher:
    def __init__(self, outbox: Outbox, broker: BrokerUrl, store: str, gateway: str, *,
                 batch_max: int = 500, keepalive: int = 30) -> None:
        self.outbox = outbox
        self.broker = broker
        self.store = store
        self.gateway = gateway
        self.batch_max = batch_max
        self.keepalive = keepalive
        self.connected = asyncio.Event()
        self.published = 0  # deltas acknowledged by the broker since start
        self.last_error: str | None = None
        self._deltas_topic = contract.gateway_topic(store, gateway, Stream.DELTAS)
        self._status_topic = contract.gateway_topic(store, gateway, Stream.STATUS)

    def _status(self, state: GatewayState) -> bytes:
        return contract.encode(GatewayStatus(self.store, self.gateway, state, at=datetime.now(UTC),
                                             version=VERSION, outbox_depth=self.outbox.depth))

    async def run(self) -> None:
        backoff = Backoff()
        will = Will(self._status_topic, self._status(GatewayState.OFFLINE))
        while True:
            client = MqttClient(self.broker, f"{self.store}-{self.gateway}", clean_start=False,
                                keepalive=self.keepalive, will=will)
            try:
                await client.connect()
                log.info("connected to %s", self.broker.redacted())
                await client.publish(self._status_topic, self._status(GatewayState.ONLINE), retain=True)
                self.connected.set()
                self.last_error = None
                backoff.reset()
                await self._drain(client)
            except (MqttError, TimeoutError, OSError) as e:
                self.last_error = str(e)
                log.warning("broker %s: %s", self.broker.redacted(), e)
            except OutboxError as e:
                self.last_error = str(e)
                log.error("outbox: %s", e)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await client.disconnect()
            await asyncio.sleep(backoff.next_delay())

    async def _drain(self, client: MqttClient) -> None:
        while True:
            rows = await self.outbox.pending(self.batch_max)
            if not rows:
                self.outbox.appended.clear()
                rows = await self.outbox.pending(self.batch_max)  # an append may have raced the clear
                if not rows:
                    closed = asyncio.ensure_future(client.closed.wait())
                    appended = asyncio.ensure_future(self.outbox.appended.wait())
                    try:
                        await asyncio.wait({closed, appended}, timeout=self.keepalive,
                                           return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        closed.cancel()
                        appended.cancel()
                    if client.closed.is_set():
                        raise MqttError("connection lost")
                    continue
            started = time.perf_counter()
            await client.publish(self._deltas_topic,
                                 batch_payload(self.store, self.gateway, rows, datetime.now(UTC)))
            await self.outbox.mark_sent([r.seq for r in rows])
            self.published += len(rows)
            log.debug("published %d deltas (seq %d..%d) in %.1f ms", len(rows), rows[0].seq,
                      rows[-1].seq, (time.perf_counter() - started) * 1000)

    async def announce_offline(self) -> None:
        """On a clean shutdown: say offline ourselves (the will covers crashes)."""
        client = MqttClient(self.broker, f"{self.store}-{self.gateway}-bye", clean_start=True,
                            session_expiry=0)
        with contextlib.suppress(MqttError, TimeoutError, OSError):
            await client.connect(timeout=2.0)
            await client.publish(self._status_topic, self._status(GatewayState.OFFLINE), retain=True,
                                 timeout=2.0)
        with contextlib.suppress(Exception):
            await client.disconnect()
