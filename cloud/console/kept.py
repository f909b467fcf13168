"""What the figures a worker keeps for the console's pages share (the overview's today figures,
cloud/console/queries_today.py; the channels page's figures, cloud/console/queries_channels.py):
a full read made behind the pages, and a task that follows the live hub's notices for the app's
lifetime.

Each keeps its figures up to date from the notices at each read, and bounds what no notice names
(another process writing the ledger without the relay) by reading everything again now and then.
That full read runs in a task of its own (`ReadBehind`): the pages keep reading the kept figures
meanwhile, the keys (stores, SKUs) changed while it runs are noted, and when it is done its figures
are taken under the keeper's lock with those keys marked to read again. A full read made in the
foreground meanwhile (a new day, a change naming nothing) cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from aiohttp import web

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReadBehind(Generic[T]):
    """One full read at a time, in a task named `name`; `what` names the figures in the log."""

    def __init__(self, name: str, what: str) -> None:
        self.name, self.what = name, what
        self.task: asyncio.Task[None] | None = None
        self.changed: set[str] | None = None  # while a read runs: the keys changed since it began

    def note(self, keys: set[str]) -> None:
        """Keys changed: if a read is running, they are read again after it."""
        if self.changed is not None:
            self.changed |= keys

    def start(self, read: Callable[[], Awaitable[T]], lock: asyncio.Lock,
              take: Callable[[T, set[str]], None]) -> None:
        """Run `read()`; then, under `lock`, `take(its result, the keys changed meanwhile)` unless
        the read was cancelled or overtaken by a full read under the lock meanwhile (`cancel`)."""
        self.changed = set()

        async def run() -> None:
            fresh = await read()
            async with lock:
                if self.changed is None:  # a full read was made under the lock meanwhile
                    return
                changed, self.changed = self.changed, None
                take(fresh, changed)

        def done(task: asyncio.Task[None]) -> None:
            if self.task is task:
                self.task = None
            if not task.cancelled() and task.exception() is not None:
                log.warning("%s: the full read behind the pages failed: %s", self.what, task.exception())
                self.changed = None  # the next read past its interval tries again

        self.task = asyncio.create_task(run(), name=self.name)
        self.task.add_done_callback(done)

    def cancel(self) -> None:
        """Stop the read running behind (at shutdown, or when a full read is made in the foreground)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.changed = None


def follow_while_serving(app: web.Application, follow: Callable[[], Coroutine[Any, Any, None]], name: str,
                                stop: Callable[[], None]) -> None:
    """Run `follow()` in a task from the app's start-up; at its shutdown call `stop()` (stop the
    keeper's own tasks, unsubscribe from the hub) and cancel the task."""
    following: list[asyncio.Task[None]] = []

    async def start(_app: web.Application) -> None:
        following.append(asyncio.create_task(follow(), name=name))

    async def shut(_app: web.Application) -> None:
        stop()
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)

    app.on_startup.append(start)
    app.on_shutdown.append(shut)


__all__ = ["ReadBehind", "follow_while_serving"]
