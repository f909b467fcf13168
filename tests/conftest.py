"""Fixtures shared by every test directory: real broker, real databases; and two that keep the
async code honest in every test: no task left running, no coroutine left never awaited."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.services import Mosquitto, mosquitto, postgres_database


def pytest_collection_finish(session: pytest.Session) -> None:
    """What importing the code and the tests made (some 170,000 objects) lives for the session:
    frozen out of the garbage collections `_no_stray_async_work` runs after every test, each of
    which then scans what the tests made since (a millisecond, not a fifth of a second)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_stray_async_work(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that leaves a coroutine never awaited or (an async test) a task running.

    A coroutine never awaited warns when it is freed: at once if nothing else holds it, which
    `filterwarnings = error` already fails; but one caught in a reference cycle is freed by the
    garbage collector whenever it next runs, in a later test or after the session, where the
    warning blames no one. Collecting here, inside this test's teardown (set up first, so torn
    down after every other fixture of the test), makes it this test's failure (pytest reports
    what the collection raises through sys.unraisablehook at the end of the teardown).
    """
    if pytest_asyncio.is_async_test(request.node):
        request.getfixturevalue("_no_leaked_tasks")
    yield
    gc.collect()
    # What survived lives on (modules a test imported late, such as statsforecast's pandas and
    # SciPy: some 100,000 objects, a tenth of a second per collection): frozen too, so the next
    # test's collection scans only what that test made.
    gc.freeze()


@pytest.fixture
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """In the test's own loop, after every other fixture of the test is torn down: any task still
    pending was started and never awaited or cancelled, so it would run into the next test or be
    cancelled unseen when pytest-asyncio closes the loop. Those are cancelled here and named.

    A pending task that nothing refers to (waiting on a future only it holds) is garbage: the
    collector destroys it, and asyncio only logs "Task was destroyed but it is pending!" through
    the loop's exception handler. So the handler listens, and garbage is collected first."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    destroyed: list[str] = []

    def listen(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "Task was destroyed but it is pending!":
            destroyed.append(_described(context["task"]))
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(listen)
    before = asyncio.all_tasks()
    try:
        yield
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    leaked = asyncio.all_tasks() - before - {asyncio.current_task()}
    if not leaked and not destroyed:
        return
    where = [_described(t) for t in leaked] + [f"{d} (destroyed while pending)" for d in destroyed]
    for t in leaked:
        t.cancel()
    await asyncio.gather(*leaked, return_exceptions=True)
    pytest.fail(f"the test left {len(where)} task(s) running: " + "; ".join(sorted(where)), pytrace=False)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with mosquitto(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with postgres_database() as url:
            yield url


def _described(task: asyncio.Task[object]) -> str:
    """The task's name, its coroutine and where that is suspended (file:line)."""
    coro = task.get_coro()
    frames = task.get_stack(limit=1)
    at = f" at {frames[-1].f_code.co_filename}:{frames[-1].f_lineno}" if frames else ""
    return f"{task.get_name()} {getattr(coro, '__qualname__', coro)}{at}"
