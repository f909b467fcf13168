"""Reads many consoles make at once are made once (cloud/console/shared_reads.py): concurrent asks
share one read; a notice since the read began, or its age, makes a new one; `stale_for` answers
at once with the last result while the next read runs, never one a change outdated; a failure
is not shared afterwards; a console that goes away does not cancel the read for the others."""

from __future__ import annotations

import asyncio

import pytest

from cloud.console.shared_reads import SharedReads


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A read that waits until released, counting how often it was made."""

    def __init__(self) -> None:
        self.made = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def __call__(self) -> int:
        self.made += 1
        mine = self.made
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("the database went away")
        return mine


async def test_concurrent_asks_share_one_read() -> None:
    shared, source = SharedReads(), Source()
    asks = [asyncio.ensure_future(shared.get("chain", source, generation=1, max_age=5)) for _ in range(100)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*asks) == [1] * 100
    assert source.made == 1 and shared.reads == 1


async def test_a_notice_or_age_makes_a_new_read() -> None:
    clock = Clock()
    shared, source = SharedReads(clock), Source()
    source.gate.set()
    assert await shared.get("chain", source, generation=1, max_age=5) == 1
    assert await shared.get("chain", source, generation=1, max_age=5) == 1  # nothing new: shared
    assert await shared.get("chain", source, generation=2, max_age=5) == 2  # a notice came since
    clock.now += 6
    assert await shared.get("chain", source, generation=2, max_age=5) == 3  # too old
    assert await shared.get("other", source, generation=2, max_age=5) == 4  # another key, its own read


async def test_stale_for_answers_at_once_and_refreshes_behind() -> None:
    clock = Clock()
    shared, source = SharedReads(clock), Source()
    source.gate.set()
    assert await shared.get("values", source, generation=0, max_age=15, stale_for=300) == 1
    clock.now += 20
    source.gate.clear()  # the next read hangs: the answer must not wait for it
    assert await asyncio.wait_for(shared.get("values", source, generation=0, max_age=15, stale_for=300), 1) == 1
    assert source.made == 2
    assert await shared.get("values", source, generation=0, max_age=15, stale_for=300) == 1  # one read behind
    assert source.made == 2
    source.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await shared.get("values", source, generation=0, max_age=15, stale_for=300) == 2
    clock.now += 400  # older than stale_for: wait for a new read
    assert await shared.get("values", source, generation=0, max_age=15, stale_for=300) == 3



async def test_a_stale_result_is_never_given_after_what_outdated_it() -> None:
    """A transfer made here moves the suggestions' topic on: the next ask waits for a new read,
    however young the last result is, and that new read is what `stale_for` gives from then on."""
    clock = Clock()
    shared, source = SharedReads(clock), Source()
    source.gate.set()
    ask = lambda: shared.get("suggestions", source, generation=shared.version("transfers"),  # noqa: E731
                             max_age=30, stale_for=600)
    assert shared.version("transfers") == 0 and await ask() == 1
    clock.now += 40
    assert await ask() == 1  # old, not outdated: at once, a read behind
    await asyncio.sleep(0)
    shared.changed("transfers")
    assert shared.version("transfers") == 1 and shared.version("other") == 0
    source.gate.clear()
    waiting = asyncio.ensure_future(ask())
    await asyncio.sleep(0)
    assert not waiting.done()  # the result before the change is not given
    source.gate.set()
    assert await waiting == 3 and source.made == 3
    for _ in range(3):  # its done callback
        await asyncio.sleep(0)
    clock.now += 40
    assert await ask() == 3

async def test_a_failed_read_reaches_its_waiters_and_is_not_shared_afterwards() -> None:
    shared, source = SharedReads(), Source()
    source.fail = True
    source.gate.set()
    with pytest.raises(RuntimeError, match="went away"):
        await shared.get("chain", source, generation=1, max_age=5)
    source.fail = False
    assert await shared.get("chain", source, generation=1, max_age=5) == 2


async def test_a_console_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    shared, source = SharedReads(), Source()
    leaving = asyncio.ensure_future(shared.get("chain", source, generation=1, max_age=5))
    staying = asyncio.ensure_future(shared.get("chain", source, generation=1, max_age=5))
    await asyncio.sleep(0)
    leaving.cancel()
    source.gate.set()
    assert await staying == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_at_once_answers_only_what_get_would_answer_without_waiting_and_starts_the_read() -> None:
    """What a transfer action's answer uses: a read under way is not waited for, but started once
    and shared with the `get` that fetches the part afterwards; a result of an older generation
    (outdated by the action) is never given."""
    clock = Clock()
    shared, source = SharedReads(clock), Source()
    source.gate.set()
    assert await shared.get("s", source, generation=0, max_age=30, stale_for=600) == 1
    assert shared.at_once("s", source, generation=0, max_age=30, stale_for=600) == (True, 1)
    source.gate.clear()
    assert shared.at_once("s", source, generation=1, max_age=30, stale_for=600) == (False, None)  # outdated
    assert shared.at_once("s", source, generation=1, max_age=30, stale_for=600) == (False, None)
    await asyncio.sleep(0)
    assert source.made == 2  # one read started, not one per ask
    waiting = asyncio.ensure_future(shared.get("s", source, generation=1, max_age=30, stale_for=600))
    source.gate.set()
    assert await waiting == 2 and source.made == 2  # the part's fetch took the read the answer started
    assert shared.at_once("s", source, generation=1, max_age=30, stale_for=600) == (True, 2)
    clock.now += 60  # older than max_age, within stale_for: at once, and refreshed behind
    source.gate.clear()
    assert shared.at_once("s", source, generation=1, max_age=30, stale_for=600) == (True, 2)
    await asyncio.sleep(0)
    assert source.made == 3
    source.gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert shared.at_once("s", source, generation=1, max_age=30, stale_for=600) == (True, 3)
