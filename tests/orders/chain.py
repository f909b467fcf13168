"""A chain to take orders against: the cloud API on a real database, stock booked through the
ledger's own write path, and a small HTTP client with tokens."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.app import create_app
from cloud.db import posting
from cloud.keys import MAKER
from cloud.settings import Settings
from firmware_sim.world import make_gtin14
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone
from tests.support.services import free_port

ADMIN = "hq-token-for-tests"


def gtin(n: int) -> str:
    """The n-th test GTIN-14."""
    return make_gtin14("6900000", n)


@dataclass
class Api:
    url: str
    app: web.Application
    session: aiohttp.ClientSession

    @property
    def maker(self) -> async_sessionmaker[AsyncSession]:
        return self.app[MAKER]

    async def call(self, method: str, path: str, body: Any = None, token: str | None = ADMIN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def get(self, path: str, token: str | None = ADMIN) -> tuple[int, Any]:
        return await self.call("GET", path, None, token)

    async def post(self, path: str, body: Any = None, token: str | None = ADMIN) -> tuple[int, Any]:
        return await self.call("POST", path, body, token)

    async def put(self, path: str, body: Any, token: str | None = ADMIN) -> tuple[int, Any]:
        status, answer = await self.call("PUT", path, body, token)
        assert status == 200, answer
        return status, answer

    async def store(self, store: str, lat: float | None = None, lon: float | None = None) -> None:
        await self.put(f"/v1/stores/{store}", {"name": store, "lat": lat, "lon": lon})

    async def channel(self, name: str, stores: list[str], *, pickup: list[str] | None = None,
                      **rules: Any) -> None:
        links = [{"store": s, "ship": True, "pickup": s in (pickup or [])} for s in stores]
        links += [{"store": s, "ship": False, "pickup": True} for s in (pickup or []) if s not in stores]
        await self.put(f"/v1/channels/{name}", {"platform": "none", "stores": links, **rules})

    async def count(self, store: str, sku: str, qty: int, *, lot: str | None = None,
                    expiry: date | None = None, zone: Zone = Zone.FLOOR) -> None:
        """Book an absolute count through the ledger's write path (as a stocktake would)."""
        await book(self.maker, store, StockDelta(
            id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.COUNT, qty=qty, zone=zone,
            occurred_at=datetime.now(UTC), source=Source.MANUAL, lot=lot, expiry=expiry))

    async def order(self, channel: str, order_id: str, lines: list[tuple[str, int]], token: str | None = ADMIN,
                    **fulfilment: Any) -> tuple[int, Any]:
        return await self.post("/v1/orders", {
            "channel": channel, "order_id": order_id,
            "lines": [{"sku": sku, "qty": q} for sku, q in lines],
            "fulfilment": {"type": "ship", **fulfilment}}, token)

    async def available(self, store: str, sku: str) -> int:
        status, body = await self.get(f"/v1/stores/{store}/stock?sku={sku}")
        assert status == 200, body
        return int(body["items"][0]["available"]) if body["items"] else 0

    async def on_hand(self, store: str, sku: str) -> int:
        _, body = await self.get(f"/v1/stores/{store}/stock?sku={sku}")
        return int(body["items"][0]["on_hand"]) if body["items"] else 0


_seq = iter(range(1, 10**9))


async def book(maker: async_sessionmaker[AsyncSession], store: str, *deltas: StockDelta) -> posting.Applied:
    """Apply deltas as gateway gw-test of `store` would deliver them (seq numbers made unique)."""
    from dataclasses import replace

    numbered = tuple(replace(d, seq=next(_seq)) for d in deltas)
    return await posting.apply_batch(maker, DeltaBatch(store, "gw-test", datetime.now(UTC), numbered))


@contextlib.asynccontextmanager
async def serve(db_url: str) -> AsyncIterator[Api]:
    port = free_port()
    app = create_app(Settings(db_url=db_url, mqtt=None, port=port, admin_token=ADMIN, worker_id=f"t{port}"))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as session:
            yield Api(f"http://127.0.0.1:{port}", app, session)
    finally:
        await runner.cleanup()
