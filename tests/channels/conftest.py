"""Simulated platforms on real TCP, and adapters configured to talk to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import aiohttp
import pytest

from cloud.channels.base import Listing, StockAdapter
from cloud.channels.config import ChannelConfig, Secret
from cloud.channels.http import utcnow
from cloud.channels.platforms import adapter_for
from firmware_sim.platforms import api_url, serving
from firmware_sim.platforms.core import Credentials, Platform
from firmware_sim.procs import free_port

CREDS = Credentials("test-app", "test-secret-value", "test-session-value")
KINDS = ("taobao", "jd", "pdd", "douyin", "shopify", "wechat")


@dataclass
class Sim:
    platform: Platform
    config: ChannelConfig
    port: int
    adapters: list[StockAdapter]

    def adapter(self, *, skew: timedelta = timedelta(0), **changes: object) -> StockAdapter:
        config = replace(self.config, **changes)  # type: ignore[arg-type]
        adapter = adapter_for(config, clock=(lambda: utcnow() + skew) if skew else utcnow)
        self.adapters.append(adapter)
        return adapter

    def listing(self, n: int = 1) -> Listing:
        return Listing(self.config.name, f"0400000000{n:03d}", f"5{n:05d}", f"7{n:05d}")

    def held(self, listing: Listing) -> int | None:
        found = [q for (_, s), q in self.platform.stock.items() if s == listing.sku_id or s.endswith(
            "/" + listing.sku_id)]
        return found[0] if found else None

    async def faults(self, body: dict[str, object]) -> None:
        async with aiohttp.ClientSession() as s, \
                s.post(f"http://127.0.0.1:{self.port}/_sim/faults", json=body) as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def start_sim() -> AsyncIterator[Callable[..., Awaitable[Sim]]]:
    stack: list[tuple[object, Sim]] = []

    async def start(kind: str, limit: float = 1000.0) -> Sim:
        port = free_port()
        platform = Platform(kind, CREDS, limit)
        platform.hang_s = 1.0
        ctx = serving(platform, port)
        await ctx.__aenter__()
        config = ChannelConfig(name=f"{kind}-test", platform=kind, url=api_url(kind, port), app_key=CREDS.app_key,
                               secret=Secret(CREDS.secret), session=Secret(CREDS.session), rate=limit,
                               timeout=0.5, location_id="88", store_id="9")
        sim = Sim(platform, config, port, [])
        stack.append((ctx, sim))
        return sim

    yield start
    for ctx, sim in reversed(stack):
        for adapter in sim.adapters:
            await adapter.close()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


def now() -> datetime:
    return utcnow()
