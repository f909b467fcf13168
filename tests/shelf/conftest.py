"""Fixtures for the weight-shelf tests: the simulator on Modbus TCP or RTU over a pty pair."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from firmware_sim.weight_shelf import ShelfSim
from tests.shelf.helpers import SKU, UNIT_G, Bus, start_bus


@pytest.fixture(
    params=[
        ("dini-dgt4x", "tcp"),
        ("flintec-dad141", "tcp"),
        ("dini-dgt4x", "rtu"),
        ("flintec-dad141", "rtu"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
async def shelf_bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    bus, modem = await start_bus(*request.param)
    yield bus
    await bus.sim.close()
    if modem:
        modem.close()


@pytest.fixture
async def tcp_bus() -> AsyncIterator[Bus]:
    bus, _ = await start_bus("dini-dgt4x", "tcp")
    yield bus
    await bus.sim.close()


@pytest.fixture
def sim_in_thread() -> Iterator[tuple[ShelfSim, int, asyncio.AbstractEventLoop]]:
    """A TCP simulator on its own event loop in a thread, for the synchronous CLI tests."""
    loop = asyncio.new_event_loop()
    sim = ShelfSim("dini-dgt4x", seed=3)
    sim.add_bin("A1-1", SKU, UNIT_G, 0)
    sim.add_bin("A1-2", SKU, UNIT_G, 3)
    ready = threading.Event()
    port: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            port.append(await sim.serve_tcp())
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(sim.close())
        loop.close()

    thread = threading.Thread(target=run, name="shelf-sim", daemon=True)
    thread.start()
    assert ready.wait(10)
    yield sim, port[0], loop
    loop.call_soon_threadsafe(loop.stop)
    # Generous: on a loaded 2-core machine the simulator's shutdown has taken over 10 s.
    thread.join(30)
    assert not thread.is_alive()
