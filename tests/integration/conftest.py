"""The real system for integration tests: cloud in this process, gateways as OS processes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from cloud.app import create_app
from cloud.keys import INGEST, MAKER
from cloud.settings import Settings
from firmware_sim import procs
from shared.mqtt import BrokerUrl
from tests.support.mqtt_clients import release
from tests.support.services import Mosquitto, free_port

ADMIN = "admin-token-for-tests"
POS = "pos-token-for-tests"


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, what: str = "") -> None:
    """Poll a condition (plain or async) with a deadline: the system is asynchronous end to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


@dataclass
class Cloud:
    url: str
    app: web.Application
    session: aiohttp.ClientSession

    async def get(self, path: str, token: str | None = ADMIN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.url + path, headers=headers) as r:
            return r.status, await r.json()

    async def floor(self, store: str, sku: str) -> int | None:
        _, body = await self.get(f"/v1/stores/{store}/stock?sku={sku}")
        return body["items"][0]["zones"]["floor"] if body["items"] else None

    async def deltas(self, store: str) -> int:
        _, body = await self.get("/v1/gateways")
        return sum(g["deltas"] for g in body["gateways"] if g["store"] == store)

    @property
    def ingest_stats(self) -> Any:
        return self.app[INGEST].stats


@contextlib.asynccontextmanager
async def running_cloud(db_url: str, broker: Mosquitto) -> AsyncIterator[Cloud]:
    port = free_port()
    settings = Settings(db_url=db_url, mqtt=BrokerUrl.parse(broker.url), port=port, admin_token=ADMIN,
                        worker_id=f"test-{port}")
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(app[INGEST].ready.wait(), 10)
        async with aiohttp.ClientSession() as session:
            yield Cloud(f"http://127.0.0.1:{port}", app, session)
    finally:
        await runner.cleanup()


@pytest.fixture
async def cloud(db_url: str, broker: Mosquitto) -> AsyncIterator[Cloud]:
    async with running_cloud(db_url, broker) as c:
        yield c


@dataclass
class Gateway:
    store: str
    port: int
    config: Path
    proc: procs.Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart(self) -> None:
        self.proc = procs.gateway(self.config, self.port, self.proc.name)

    async def post(self, session: aiohttp.ClientSession, path: str, body: Any,
                   token: str = POS) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with session.post(self.url + path, data=data,
                                headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()

    async def health(self, session: aiohttp.ClientSession) -> Any:
        async with session.get(self.url + "/healthz") as r:
            return await r.json()


@pytest.fixture
def start_gateway(tmp_path: Path, broker: Mosquitto) -> Iterator[Callable[[str], Gateway]]:
    started: list[Gateway] = []

    def start(store: str) -> Gateway:
        port = free_port()
        config = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
        gw = Gateway(store, port, config, procs.gateway(config, port, f"gateway-{store}"))
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.proc.stop()


class RawPublisher:
    """A bare MQTT client for injecting hand-made payloads (duplicates, garbage, old deltas)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{free_port()}",
                                  protocol=paho.MQTTv5)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)

    def close(self) -> None:
        release(self.client)


@pytest.fixture
def raw(broker: Mosquitto) -> Iterator[RawPublisher]:
    pub = RawPublisher(broker)
    yield pub
    pub.close()


__all__ = ["ADMIN", "MAKER", "POS", "Cloud", "Gateway", "RawPublisher", "until"]
