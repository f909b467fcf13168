"""Stock events across cloud workers, over PostgreSQL LISTEN/NOTIFY.

`StockEvents` lives inside one worker, but with several workers a sale is ingested, or an order
placed, on any of them while one drives platform sync. Every worker forwards the SKUs of its own
events as NOTIFY payloads on one channel; every worker listens, and hands the SKUs changed on
*other* workers (its own are already delivered in process) to a callback: the sync driver's
`changed_elsewhere`. NOTIFY is delivered after the sender's commit, in order, to every listening
session; a notification lost while no worker listened is covered by the reconciliation at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.events import StockEvents

log = logging.getLogger(__name__)

CHANNEL = "shelfsync_stock_events"
SKUS_PER_NOTIFY = 300  # NOTIFY payloads must stay under 8000 bytes; a GTIN-14 takes 17 in JSON


def payloads(worker: str, skus: set[str]) -> Iterator[str]:
    ordered = sorted(skus)
    for i in range(0, len(ordered), SKUS_PER_NOTIFY):
        yield json.dumps({"w": worker, "skus": ordered[i:i + SKUS_PER_NOTIFY]}, separators=(",", ":"))


class EventRelay:
    def __init__(self, engine: AsyncEngine, events: StockEvents, worker: str,
                 on_remote: Callable[[set[str]], None]) -> None:
        self.engine, self.events, self.worker, self.on_remote = engine, events, worker, on_remote
        self.listening = asyncio.Event()
        self.forwarded = 0
        self.received = 0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._forward(), name="relay-forward")
            group.create_task(self._listen(), name="relay-listen")

    async def _forward(self) -> None:
        queue = self.events.subscribe()
        try:
            async with self.engine.connect() as conn:
                while True:
                    keys = await queue.get()
                    for payload in payloads(self.worker, {sku for _, sku in keys}):
                        await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})
                    await conn.commit()
                    self.forwarded += 1
        finally:
            self.events.unsubscribe(queue)

    async def _listen(self) -> None:
        def heard(payload: str) -> None:
            try:
                body = json.loads(payload)
                worker, skus = str(body["w"]), {str(s) for s in body["skus"]}
            except (ValueError, KeyError, TypeError) as e:
                log.warning("stock event relay: ignoring a bad payload (%s)", e)
                return
            if worker != self.worker:
                self.received += 1
                self.on_remote(skus)

        await listen(self.engine, CHANNEL, heard, self.listening)


async def listen(engine: AsyncEngine, channel: str, heard: Callable[[str], None],
                 listening: asyncio.Event) -> None:
    """LISTEN on `channel` until cancelled, handing each NOTIFY payload to `heard`; `listening`
    is set once the listener is in place. (The console's live updates use it too.)"""
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's own connection

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            heard(payload)

        await raw.add_listener(channel, on_notify)
        listening.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(raw.remove_listener(channel, on_notify))
