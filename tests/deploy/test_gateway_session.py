"""The gateway's own MQTT code lives with a broker that binds client ids to usernames (issue 14).

On the production broker a store's client id is its username, whatever the client sends: every
connection the gateway makes is the same session. The real edge Publisher against a real
Mosquitto with the files of deploy/mosquitto, the cloud played by shared.mqtt with the cloud's own
credential on the cloud listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.delivery.outbox import Outbox
from edge.delivery.publisher import Publisher
from shared import contract
from shared.contract import Stream
from shared.mqtt import BrokerUrl, MqttClient

from .broker import Broker
from .clients import forget_session

WAIT = 10.0


def gateway_url(broker: Broker, store: str) -> BrokerUrl:
    password = broker.pki.stores[store].password
    return BrokerUrl.parse(f"mqtts://{store}:{password}@127.0.0.1:{broker.password_port}"
                           f"?ca={broker.pki.ca}")


def cloud_url(broker: Broker) -> BrokerUrl:
    return BrokerUrl.parse(f"mqtts://cloud:{broker.pki.cloud_password}@127.0.0.1:"
                           f"{broker.cloud_port}?ca={broker.pki.ca}")


class Gateway:
    """One run of store sh-a's gateway publisher, as edge/runtime.py starts and stops it."""

    def __init__(self, broker: Broker, outbox: Outbox) -> None:
        self.publisher = Publisher(outbox, gateway_url(broker, "sh-a"), "sh-a", "gw-1")
        self.snapshots: asyncio.Queue[bytes] = asyncio.Queue()
        self.publisher.commands["snapshot"] = self.snapshots.put
        self._run: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._run = asyncio.create_task(self.publisher.run())
        await asyncio.wait_for(self.publisher.connected.wait(), WAIT)

    async def stop(self) -> None:
        """A clean shutdown: the publisher is cancelled, then says offline (edge/runtime.py)."""
        assert self._run is not None
        self._run.cancel()
        await asyncio.gather(self._run, return_exceptions=True)
        await self.publisher.announce_offline()


@pytest.fixture
async def outbox(tmp_path: Path, broker: Broker) -> AsyncIterator[Outbox]:
    async with Outbox(tmp_path / "outbox.sqlite3") as box:
        yield box
    await asyncio.to_thread(forget_session, broker, "sh-a")


async def test_a_gateway_restarted_cleanly_gets_the_command_sent_while_it_was_down(
    broker: Broker, outbox: Outbox
) -> None:
    first = Gateway(broker, outbox)
    await first.start()
    await first.stop()
    status = contract.gateway_topic("sh-a", "gw-1", Stream.STATUS)
    async with MqttClient(cloud_url(broker), "cloud-test-cmd", clean_start=True) as cloud:
        # The gateway said it is offline ...
        await cloud.subscribe(status)
        said = await asyncio.wait_for(cloud.messages.get(), WAIT)
        assert contract.decode_status(said.payload).state is contract.GatewayState.OFFLINE
        # ... and a command for it waits in its session until it is back.
        await cloud.publish(contract.command_topic("sh-a", "gw-1", "snapshot"), b"while away")
    again = Gateway(broker, outbox)
    await again.start()
    try:
        assert await asyncio.wait_for(again.snapshots.get(), WAIT) == b"while away"
    finally:
        await again.stop()
