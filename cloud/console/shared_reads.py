"""Reads that many open consoles make at the same moment, made once and shared.

A sale in one store sends an event to every open console, and each console's page re-fetches the
partials that event names: with 100 consoles on the chain overview, 100 requests for the whole
chain's figures arrive within milliseconds of each other. Each would read the same rows. Here the
first starts the read and the others wait for it ("single flight").

A shared result is only as old as the live updates allow: it is tagged with the live hub's
generation (live.Live counts every notice it publishes) when its read starts, and a request takes
it only while no notice has come since — a console that heard of a change gets figures read after
it. A `max_age` bounds what notices do not cover (the clock of "today", a renamed store).

Some figures may be a little old by design (`stale_for`): a request then gets the last result at
once while a fresh read runs in the background for the next one (the stores list's stock value,
summed over every balance row of the chain; the transfer suggestions). Old, never outdated: a
result is only given stale within its generation. Such reads are tagged with a generation of their
own, which the actions that outdate them move on (`changed`, `version`): after a transfer is made
here, its page reads the suggestions again and waits for them.

A read runs in its own task, so a console that goes away while it waits does not cancel it for the
others. One `SharedReads` per worker (cloud.keys.CONSOLE_READS).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

FORGET_AFTER_S = 3600.0  # a key nobody asked for in this long is dropped (yesterday's "today")


@dataclass
class _Read:
    task: asyncio.Future[Any]
    started: float
    generation: int
    number: int  # reads start in this order (two may start on the same tick of the clock)

    @property
    def failed(self) -> bool:
        return self.task.done() and (self.task.cancelled() or self.task.exception() is not None)


@dataclass(frozen=True, slots=True)
class _Now:
    result: Any  # an answer given without waiting


@dataclass
class _Slot:
    latest: _Read  # the newest read, running or done
    ready: _Read | None = None  # the newest read that succeeded
    asked: float = 0.0


@dataclass
class SharedReads:
    clock: Callable[[], float] = time.monotonic
    reads: int = 0  # reads started; every other request shared one
    _slots: dict[Hashable, _Slot] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)

    def version(self, topic: str) -> int:
        """How often `topic` was `changed` in this worker: a generation for reads it outdates."""
        return self._versions.get(topic, 0)

    def changed(self, topic: str) -> None:
        self._versions[topic] = self.version(topic) + 1

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]], *, generation: int,
                  max_age: float, stale_for: float = 0.0) -> Any:
        """`read()`'s result for `key`: one started at most `max_age` seconds ago and since the
        last notice (`generation`), running or done; else a new read. With `stale_for`, the last
        good result of this generation up to that old comes back at once while the new read runs."""
        answer = self._answer(key, read, generation, max_age, stale_for)
        if isinstance(answer, _Now):
            return answer.result
        return await asyncio.shield(answer)

    def at_once(self, key: Hashable, read: Callable[[], Awaitable[Any]], *, generation: int,
                max_age: float, stale_for: float = 0.0) -> tuple[bool, Any]:
        """(True, result) when `get` with the same arguments would answer without waiting; else
        (False, None), and the read it would wait for is under way (a page can show the rest at
        once and fetch this part when it is ready)."""
        answer = self._answer(key, read, generation, max_age, stale_for)
        if isinstance(answer, _Now):
            return True, answer.result
        if answer.done() and not answer.cancelled() and answer.exception() is None:
            return True, answer.result()
        return False, None

    def _answer(self, key: Hashable, read: Callable[[], Awaitable[Any]], generation: int, max_age: float,
                stale_for: float) -> _Now | asyncio.Future[Any]:
        now = self.clock()
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(self._start(key, read, now, generation))
        latest = slot.latest
        usable = not latest.failed and latest.generation == generation and now - latest.started <= max_age
        running = not latest.task.done() and latest.generation == generation  # an older read of this news
        if not usable and not running:
            slot.latest = self._start(key, read, now, generation)
        slot.asked = now
        ready = slot.ready
        if stale_for > 0 and ready is not None and ready.generation == generation \
                and now - ready.started <= stale_for:
            return _Now(ready.task.result())
        return slot.latest.task

    def _start(self, key: Hashable, read: Callable[[], Awaitable[Any]], now: float, generation: int) -> _Read:
        self.reads += 1
        for old in [k for k, s in self._slots.items() if now - s.asked > FORGET_AFTER_S and k != key]:
            del self._slots[old]
        made = _Read(asyncio.ensure_future(read()), now, generation, self.reads)

        def done(task: asyncio.Future[Any]) -> None:
            if task.cancelled() or task.exception() is not None:  # retrieved: nobody may await it
                return
            slot = self._slots.get(key)
            if slot is not None and (slot.ready is None or slot.ready.number < made.number):
                slot.ready = made

        made.task.add_done_callback(done)
        return made

    def forget(self) -> None:
        for slot in self._slots.values():
            slot.latest.task.cancel()
        self._slots.clear()


__all__ = ["SharedReads"]
