"""Live updates for open consoles: what changed, per store, as server-sent events.

Sources of change, all after their commit:
- the ledger's stock events (cloud/events.py StockEvents: a sale, a count, an order's hold),
- the ingest's records of a gateway's status, shelves snapshot, alert or stocktake report
  (cloud/ingest.py `on_recorded`),
- the platform sync's push records (channels/records.py PushLog `on_written`).

Each becomes a `Notice(topic, store, sku)`. Every open console's `/events` stream gets the notices
it may see (a store token: its store only) as named events — `stock-{store}`, `sku-{sku}`,
`shelves-{store}`, `alerts-{store}`, `gateway-{store}`, `stocktakes-{store}`, `pushes-{sku}`,
`pushes` for any push, `store-{store}` for any of a store's figures and `chain` for any store's —
and the page's htmx elements re-fetch their own partial on the event they name
(`hx-trigger="sse:stock-sh-0042"`). The stream carries no figures: every partial is rendered by
the normal request path, with the person's role checked there, so a notice cannot leak what its
reader may not see.

Notices coalesce like stock events do: while a stream is busy sending, new notices join one
pending set, so a burst of 500 sales is one refresh, not 500.

Several workers: a change is noticed on the worker that committed it, but consoles are connected
to every worker. On PostgreSQL each worker forwards its own notices as NOTIFY payloads on
`shelfsync_console` and listens there for the others' (channels/relay.py's `listen`, the same
mechanism the platform sync's stock relay uses; that relay carries SKUs only and runs only with
--channels, so the console has its own channel). "Push now" asked on a worker that does not drive
platform sync travels the same way to the one that does. The forwarding is paced like the streams:
the first notice after a quiet spell goes at once, the rest of a burst in one NOTIFY a pace later.
Every order is a stock change, and one NOTIFY per change was a database round trip per order
(bench orders) for streams that refresh at this pace anyway.

The SSE response is aiohttp-sse's EventSourceResponse (keep-alive pings, a send timeout that drops
stalled clients) rather than a hand-written stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from aiohttp_sse import EventSourceResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.auth import Principal, Role, require_read
from cloud.channels.relay import listen
from cloud.console.web import ConsoleRoutes, principal
from cloud.events import StockEvents
from cloud.keys import LIVE

log = logging.getLogger(__name__)

CHANNEL = "shelfsync_console"
NOTICES_PER_NOTIFY = 120  # NOTIFY payloads stay under 8000 bytes; a notice takes at most ~60 in JSON
PACE_S = 0.1  # a stream sends at most this often: a burst becomes one refresh


class Topic(StrEnum):
    STOCK = "stock"
    GATEWAY = "gateway"
    SHELVES = "shelves"
    ALERTS = "alerts"
    STOCKTAKES = "stocktakes"
    PUSHES = "pushes"


# What the overview's row of a store shows: any of these refreshes it.
STORE_FIGURES = frozenset({Topic.STOCK, Topic.GATEWAY, Topic.SHELVES, Topic.ALERTS})


@dataclass(frozen=True, slots=True)
class Notice:
    topic: Topic
    store: str = ""  # "" when chain-wide (a listing, a push)
    sku: str = ""

    def events(self) -> list[str]:
        """The SSE event names a page listens for."""
        names = []
        if self.store:
            names.append(f"{self.topic.value}-{self.store}")
            if self.topic in STORE_FIGURES:
                names.append(f"store-{self.store}")
        if self.sku and self.topic in (Topic.STOCK, Topic.PUSHES):
            names.append(f"{'sku' if self.topic is Topic.STOCK else 'pushes'}-{self.sku}")
        if self.topic is Topic.PUSHES:
            names.append("pushes")  # any listing's push: the channels page
        if self.topic in STORE_FIGURES:
            names.append("chain")
        return names

    def visible_to(self, who: Principal) -> bool:
        if who.role is not Role.STORE:
            return True
        return self.store == who.store  # chain-wide notices are not a store's business


@dataclass
class Live:
    """The worker's hub of console notices, and its NOTIFY bridge to the other workers."""

    worker: str
    on_push: Callable[[str, str, str], bool] | None = None  # (channel, sku, channel_sku) → driven here
    forwarded: int = 0
    received: int = 0
    generation: int = 0  # notices published so far: what console.shared_reads tags its reads with
    pace_s: float = PACE_S  # NOTIFYs to the other workers at most this often
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    _subscribers: dict[asyncio.Queue[set[Notice]], set[Notice]] = field(default_factory=dict)
    _outgoing: set[Notice] = field(default_factory=set)
    _pushes: list[tuple[str, str, str]] = field(default_factory=list)
    _outgoing_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _streams: set[EventSourceResponse] = field(default_factory=set)
    _bridged: bool = False

    def publish(self, notices: Iterable[Notice], *, remote: bool = False) -> None:
        fresh = set(notices)
        if not fresh:
            return
        self.generation += 1
        for queue, pending in self._subscribers.items():
            if queue.empty():
                batch = set(fresh)
                self._subscribers[queue] = batch
                queue.put_nowait(batch)
            else:
                pending.update(fresh)
        if not remote and self._bridged:
            self._outgoing |= fresh
            self._outgoing_ready.set()

    def stock_changed(self, keys: Iterable[tuple[str, str]]) -> None:
        self.publish(Notice(Topic.STOCK, store, sku) for store, sku in keys)

    def recorded(self, topic: Topic, store: str) -> None:
        self.publish([Notice(topic, store)])

    def push_now(self, channel: str, sku: str, channel_sku: str) -> bool:
        """Ask the platform sync driver to push one listing now. True when this worker drives;
        otherwise the request goes to the others (False when there are none to ask)."""
        if self.on_push is not None and self.on_push(channel, sku, channel_sku):
            return True
        if self._bridged:
            self._pushes.append((channel, sku, channel_sku))
            self._outgoing_ready.set()
            return True
        return False

    def subscribe(self) -> asyncio.Queue[set[Notice]]:
        queue: asyncio.Queue[set[Notice]] = asyncio.Queue(maxsize=1)
        self._subscribers[queue] = set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[set[Notice]]) -> None:
        self._subscribers.pop(queue, None)

    @property
    def streams(self) -> int:
        return len(self._streams)

    # -- sources ---------------------------------------------------------------------------------
    async def follow_stock(self, events: StockEvents) -> None:
        queue = events.subscribe()
        try:
            while True:
                self.stock_changed(await queue.get())
        finally:
            events.unsubscribe(queue)

    # -- the bridge to other workers (PostgreSQL) --------------------------------------------
    async def bridge(self, engine: AsyncEngine) -> None:
        self._bridged = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._forward(engine), name="console-forward")
                group.create_task(listen(engine, CHANNEL, self._heard, self.listening), name="console-listen")
        finally:
            self._bridged = False

    async def _forward(self, engine: AsyncEngine) -> None:
        """Send what is outgoing, then wait a pace: what arrives meanwhile goes in the next NOTIFY.
        Autocommit: a NOTIFY alone needs no BEGIN and COMMIT around it (one round trip, not three)."""
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                await self._outgoing_ready.wait()
                self._outgoing_ready.clear()
                notices, self._outgoing = sorted(self._outgoing, key=_order), set()
                pushes, self._pushes = self._pushes, []
                self.forwarded += 1  # counted first: the others may hear it before execute() returns
                for payload in payloads(self.worker, notices, pushes):
                    await conn.execute(_NOTIFY, {"c": CHANNEL, "p": payload})
                await asyncio.sleep(self.pace_s)

    def _heard(self, payload: str) -> None:
        try:
            body = json.loads(payload)
            if body["w"] == self.worker:
                return
            notices = [Notice(Topic(t), str(s), str(k)) for t, s, k in body.get("n", [])]
            pushes = [(str(c), str(s), str(k)) for c, s, k in body.get("push", [])]
        except (ValueError, KeyError, TypeError) as e:
            log.warning("console relay: ignoring a bad payload (%s)", e)
            return
        self.received += 1
        self.publish(notices, remote=True)
        for channel, sku, channel_sku in pushes:
            if self.on_push is not None:
                self.on_push(channel, sku, channel_sku)

    # -- the stream to a browser -------------------------------------------------------------
    async def stream(self, request: web.Request, who: Principal,
                     wanted: Callable[[Notice], bool]) -> EventSourceResponse:
        """Send the notices `who` may see and `wanted` picks until the browser goes away."""
        queue = self.subscribe()  # before the first event: nothing falls between
        sse = EventSourceResponse(ping_interval=15)
        try:
            await sse.prepare(request)
            self._streams.add(sse)
            async with sse:
                await sse.send("ready", event="ready")
                closed = asyncio.ensure_future(sse.wait())  # ends when a ping finds it gone
                getter: asyncio.Future[set[Notice]] | None = None
                try:
                    while True:
                        getter = asyncio.ensure_future(queue.get())
                        await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                        if not getter.done():
                            break
                        names = sorted({name for n in getter.result() if n.visible_to(who) and wanted(n)
                                        for name in n.events()})
                        for name in names:
                            await sse.send(name, event=name)
                        await asyncio.sleep(PACE_S)
                finally:
                    for waiting in (closed, getter):
                        if waiting is not None and not waiting.done():
                            waiting.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await waiting
        except (ConnectionResetError, TimeoutError):
            pass  # the browser went away
        finally:
            self._streams.discard(sse)
            self.unsubscribe(queue)
        return sse

    def close_streams(self) -> None:
        for sse in list(self._streams):
            with contextlib.suppress(RuntimeError):
                sse.stop_streaming()


_NOTIFY = text("SELECT pg_notify(:c, :p)")


def _order(n: Notice) -> tuple[str, str, str]:
    return (n.topic.value, n.store, n.sku)


def payloads(worker: str, notices: list[Notice], pushes: list[tuple[str, str, str]]) -> Iterable[str]:
    for i in range(0, max(len(notices), 1), NOTICES_PER_NOTIFY):
        chunk = notices[i:i + NOTICES_PER_NOTIFY]
        body: dict[str, object] = {"w": worker, "n": [[n.topic.value, n.store, n.sku] for n in chunk]}
        if i == 0 and pushes:
            body["push"] = [list(p) for p in pushes]
        if chunk or pushes:
            yield json.dumps(body, separators=(",", ":"))




async def events(request: web.Request) -> web.StreamResponse:
    """GET /events[?store=S][&sku=G]: the notices this page cares about (a store page names its
    store, a product page its SKU; the overview takes every store it may see)."""
    who = principal(request)
    store, sku = request.query.get("store"), request.query.get("sku")
    if store:
        require_read(request, store)

    def wanted(n: Notice) -> bool:
        if store and n.store != store:
            return False
        return not sku or n.sku == sku

    return await request.app[LIVE].stream(request, who, wanted)


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/events", events, "events")


__all__ = ["CHANNEL", "Live", "Notice", "Topic", "add_routes", "payloads"]
