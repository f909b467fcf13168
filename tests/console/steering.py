"""A chain to steer from the console's channels, orders and transfers pages: the cloud app on a real
database (the console included; platform sync when channels are given, against the platform
simulators over HTTP), stock booked through the ledger's own write path, and the API to set the
chain up and read the ledger back.

Stock booked here does what the ingest does after a batch: its changed keys go to the app's stock
events, so the platform sync and the consoles' live updates hear of it."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
from aiohttp import web

from cloud.app import create_app
from cloud.auth import Role, create_token
from cloud.channels.config import ChannelConfig
from cloud.channels.sync import SyncOptions
from cloud.db import audit
from cloud.keys import CHANNELS, EVENTS, SYNC_OPTIONS
from cloud.settings import Settings
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import ADMIN, Api, book, gtin
from tests.support.services import free_port


@dataclass
class Chain(Api):
    """The API client of tests/orders/chain.py, with stock that announces itself and tokens."""

    async def counted(self, store: str, sku: str, qty: int, *, lot: str | None = None,
                      expiry: date | None = None, zone: Zone = Zone.BACKROOM) -> None:
        """An absolute count booked through the ledger's write path, announced as the ingest does."""
        applied = await book(self.maker, store, StockDelta(
            id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.COUNT, qty=qty, zone=zone,
            occurred_at=datetime.now(UTC), source=Source.MANUAL, lot=lot, expiry=expiry))
        self.app[EVENTS].publish(set(applied.changed))

    async def token(self, name: str, role: Role, store: str | None = None) -> str:
        return await create_token(self.maker, name, role, store)

    async def stock(self, store: str, sku: str) -> tuple[int, int]:
        """(on hand, reserved) of a SKU in a store, from the API."""
        status, body = await self.get(f"/v1/stores/{store}/stock?sku={sku}")
        assert status == 200, body
        items = body["items"]
        return (int(items[0]["on_hand"]), int(items[0]["reserved"])) if items else (0, 0)

    async def audit(self, kind: str) -> list[audit.AuditView]:
        """The audit's entries of one kind of thing ("transfer", "order", "push"), newest first."""
        async with self.maker() as session:
            return [e for e in await audit.entries(session) if e.action.startswith(kind + ".")]


@contextlib.asynccontextmanager
async def signed_in(chain: Chain, token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client signed in to the console with `token` (the sign-in form and its cookie), for
    reading pages where a browser adds nothing."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # 127.0.0.1
        async with session.get(f"{chain.url}/signin") as r:
            form = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert form is not None
        async with session.post(f"{chain.url}/signin", data={"csrf": form.group(1), "token": token, "next": "/"},
                                allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        yield session


@contextlib.asynccontextmanager
async def serve(db_url: str, channels: dict[str, ChannelConfig] | None = None,
                options: SyncOptions | None = None) -> AsyncIterator[Chain]:
    """The cloud with its console on a free port (no broker: stock is booked directly); with
    `channels`, platform sync drives them, and this waits for its first reconciliation."""
    port = free_port()
    app = create_app(Settings(db_url=db_url, mqtt=None, port=port, admin_token=ADMIN, worker_id=f"c{port}"))
    if channels is not None:
        app[CHANNELS] = channels
        app[SYNC_OPTIONS] = options or SyncOptions()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as session:
            yield Chain(f"http://127.0.0.1:{port}", app, session)
    finally:
        await runner.cleanup()


def named(config: ChannelConfig, name: str) -> ChannelConfig:
    """A simulator's channel config under the name the chain gives the channel."""
    return replace(config, name=name)


async def csrf_post(page: Any, path: str, form: dict[str, str], *, with_token: bool = True) -> int:
    """POST a form from inside the signed-in page, as a form or htmx would, with the page's CSRF
    token (the X-CSRF-Token header htmx sends, from <body hx-headers>) or without it; the status."""
    status: int = await page.evaluate(
        """async ([path, form, withToken]) => {
            const headers = {"Content-Type": "application/x-www-form-urlencoded"};
            if (withToken) {
                headers["X-CSRF-Token"] = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
            }
            const r = await fetch(path, {method: "POST", headers, body: new URLSearchParams(form),
                                         redirect: "manual"});
            return r.status;
        }""", [path, form, with_token])
    return status


__all__ = ["ADMIN", "Chain", "csrf_post", "gtin", "named", "serve", "signed_in"]
