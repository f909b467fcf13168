"""What every simulated platform shares: stock state, idempotency replays, rate limit, faults,
the admin endpoints tests and demos use, and simulated buyers posting orders to the cloud.

Admin endpoints (no auth; a simulator on localhost):

    GET  /_sim/stock                      {"stock": [{"item_id", "sku_id", "qty"}], "counts": {...}}
    PUT  /_sim/stock   {"item_id", "sku_id", "qty"}      set a listing's stock on the platform
    POST /_sim/faults  {"next": ["5xx", "timeout", "ratelimit", "stale", "slow", "backend"],
                        "down_for": seconds, "hang_s": seconds, "release": true}
         the next API requests fail in the listed ways, one each; down_for makes every API request
         answer 503 for that long (0: the outage ends now). Every platform knows 5xx, timeout (a
         hang of hang_s, then 504, nothing done) and ratelimit (its own rate-limit error); some know
         more (`Platform.extra`):
         stale: a buyer takes one unit just before a compare-and-set, so the caller's `previous`
                is out of date (Shopify, the mini-program);
         slow:  the write is done, but only after hang_s (or once "release" comes, whichever is
                first), so the caller has given up on its answer
                and retries with the same idempotency key (Shopify, Douyin);
         backend: the platform's own "unknown backend error" (JD 67, Douyin 20000).

Listings are created at 0 the first time a request names them (a simulator convenience: the
real platforms require the listing to exist).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)

FAULTS = ("5xx", "timeout", "ratelimit", "stale", "slow", "backend")
COMMON_FAULTS = ("5xx", "timeout", "ratelimit")


@dataclass(frozen=True)
class Credentials:
    app_key: str = "sim-app"
    secret: str = "sim-secret"
    session: str = "sim-session"


class Platform:
    """One simulated platform's state, shared by its API handlers and the admin endpoints."""

    def __init__(self, kind: str, creds: Credentials, rate: float, *, fault_rate: float = 0.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.kind, self.creds, self.clock = kind, creds, clock
        self.stock: dict[tuple[str, str], int] = {}
        self.replies: dict[str, Any] = {}  # idempotency key -> the first answer
        self.faults: deque[str] = deque()
        self.down_until = 0.0
        self.hang_s = 30.0
        self._release = asyncio.Event()  # set by {"release": true}: slow writes finish now
        self.fault_rate = fault_rate
        self.limiter = AsyncLimiter(rate, 1.0)
        self.rate = rate
        self.counts: Counter[str] = Counter()
        # (wall time, item_id, sku_id, qty) of every change, for latency measurements and tests
        self.history: deque[tuple[float, str, str, int]] = deque(maxlen=1_000_000)
        self.extra: set[str] = set()  # faults beyond COMMON_FAULTS this platform's module models

    def qty(self, item_id: str, sku_id: str) -> int:
        return self.stock.setdefault((item_id, sku_id), 0)

    def put(self, item_id: str, sku_id: str, qty: int) -> None:
        self.stock[(item_id, sku_id)] = qty
        self.counts["updates"] += 1
        self.history.append((time.time(), item_id, sku_id, qty))

    def take_fault(self, kind: str) -> bool:
        """Consume a queued fault of this kind (used for 'stale', which the handler applies)."""
        if self.faults and self.faults[0] == kind:
            self.faults.popleft()
            self.counts[f"fault_{kind}"] += 1
            return True
        return False

    async def slow_write(self) -> None:
        """The wait of a "slow" write: hang_s, or until a test sends "release" (so a test that needs
        the write still running while it retries does not race the clock)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.hang_s)

    async def gate(self) -> web.Response | str | None:
        """Run before every API request. Returns a response to send instead (down, 5xx, a hang
        that ends in 504), "ratelimit" when the platform's own rate-limit error is due, "slow" or
        "backend" when the platform's module is to act them out, or None."""
        self.counts["requests"] += 1
        if self.clock() < self.down_until:
            self.counts["down"] += 1
            return web.json_response({"error": "service unavailable"}, status=503)
        fault = self.faults[0] if self.faults else None
        if fault in ("5xx", "timeout", "ratelimit"):
            self.faults.popleft()
            self.counts[f"fault_{fault}"] += 1
            if fault == "5xx":
                return web.json_response({"error": "injected fault"}, status=502)
            if fault == "timeout":
                await asyncio.sleep(self.hang_s)
                return web.json_response({"error": "gateway timeout"}, status=504)
            return "ratelimit"
        if fault in ("slow", "backend"):
            self.faults.popleft()
            self.counts[f"fault_{fault}"] += 1
            return fault
        if self.fault_rate and random.random() < self.fault_rate:
            self.counts["fault_random"] += 1
            return web.json_response({"error": "random fault"}, status=502)
        if not self.limiter.has_capacity():
            self.counts["rate_limited"] += 1
            return "ratelimit"
        await self.limiter.acquire()
        return None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/_sim/stock", self._get_stock), web.put("/_sim/stock", self._put_stock),
                web.post("/_sim/faults", self._faults)]

    async def _get_stock(self, request: web.Request) -> web.Response:
        rows = [{"item_id": i, "sku_id": s, "qty": q} for (i, s), q in sorted(self.stock.items())]
        return web.json_response({"kind": self.kind, "stock": rows, "counts": dict(self.counts)})

    async def _put_stock(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.stock[(str(body.get("item_id", "")), str(body["sku_id"]))] = int(body["qty"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return web.json_response({"error": f"want item_id, sku_id, qty: {e}"}, status=400)
        return web.json_response({"ok": True})

    async def _faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            faults = [str(f) for f in body.get("next", [])]
            if bad := [f for f in faults if f not in FAULTS]:
                raise ValueError(f"unknown fault(s) {bad}; choose from {', '.join(FAULTS)}")
            if unknown := [f for f in faults if f not in COMMON_FAULTS and f not in self.extra]:
                raise ValueError(f"the {self.kind} simulator does not model {', '.join(unknown)}; "
                                 f"it knows {', '.join([*COMMON_FAULTS, *sorted(self.extra)])}")
            down_for = float(body.get("down_for", 0))
            hang_s = float(body.get("hang_s", self.hang_s))
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"error": str(e)}, status=400)
        self.faults.extend(faults)
        self.hang_s = hang_s
        if body.get("release"):
            self._release.set()
            self._release = asyncio.Event()
        if "down_for" in body:  # 0 ends an outage now
            self.down_until = self.clock() + down_for
        log.info("%s sim: faults queued %s, down for %ss", self.kind, faults, down_for)
        return web.json_response({"queued": list(self.faults), "down_until": self.down_until})


@dataclass(frozen=True)
class BuyerConfig:
    cloud: str  # the cloud's base URL
    token: str
    rate: float  # orders per second
    channel: str


def buyers_ctx(platform: Platform, config: BuyerConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that runs simulated buyers: each order takes one unit of a listing with stock
    on the platform, then is posted to the cloud's order API (POST /v1/orders), as a platform's
    order feed would deliver it. An order the cloud refuses as short (409) was an oversell: it is
    counted and the unit goes back."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(buy(platform, config), name=f"{platform.kind}-buyers")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def buy(platform: Platform, config: BuyerConfig) -> None:
    """Simulated buyers until cancelled (see buyers_ctx)."""
    headers = {"Authorization": f"Bearer {config.token}"}
    n = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            await asyncio.sleep(random.expovariate(config.rate))
            in_stock = [k for k, q in platform.stock.items() if q > 0]
            if not in_stock:
                continue
            item_id, sku_id = random.choice(in_stock)
            platform.stock[(item_id, sku_id)] -= 1
            n += 1
            order = {"channel": config.channel, "order_id": f"{platform.kind}-{int(time.time())}-{n}",
                     "lines": [{"channel_sku": sku_id, "qty": 1}], "fulfilment": {"type": "ship"}}
            try:
                async with session.post(config.cloud.rstrip("/") + "/v1/orders", json=order,
                                        headers=headers) as r:
                    status = r.status
                    await r.read()
            except (TimeoutError, aiohttp.ClientError) as e:
                platform.counts["orders_undelivered"] += 1
                log.warning("%s sim: order %s not delivered: %s", platform.kind, order["order_id"], e)
                continue
            if status == 201 or status == 200:
                platform.counts["orders"] += 1
            elif status == 409:
                platform.counts["oversold"] += 1
                platform.stock[(item_id, sku_id)] += 1
            else:
                platform.counts["orders_refused"] += 1
                log.warning("%s sim: the cloud answered %s to order %s", platform.kind, status,
                            order["order_id"])
