"""Stock-change events inside one cloud worker: who changed which (store, sku), after commit.

The ledger writers (ingest, orders, transfers, the expiry sweep) publish the keys they changed
once their transaction has committed; consumers (the platform sync driver) subscribe and get sets
of keys, coalesced while they are busy. A slow consumer never blocks a writer: its pending set
just grows (bounded by the number of SKU-store pairs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

Key = tuple[str, str]  # (store, sku)


class StockEvents:
    def __init__(self) -> None:
        self._subscribers: dict[asyncio.Queue[set[Key]], set[Key]] = {}

    def publish(self, keys: Iterable[Key]) -> None:
        changed = set(keys)
        if not changed:
            return
        for queue in self._subscribers:
            if queue.empty():  # the consumer took the last set: start a new one
                fresh = set(changed)
                self._subscribers[queue] = fresh
                queue.put_nowait(fresh)
            else:
                self._subscribers[queue].update(changed)  # the queued set grows: bursts coalesce

    def subscribe(self) -> asyncio.Queue[set[Key]]:
        """A queue that yields sets of changed keys; sets queued but not yet taken keep growing."""
        queue: asyncio.Queue[set[Key]] = asyncio.Queue(maxsize=1)
        self._subscribers[queue] = set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[set[Key]]) -> None:
        self._subscribers.pop(queue, None)


