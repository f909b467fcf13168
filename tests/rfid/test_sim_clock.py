"""The simulated reader's clock on a loaded machine. An inventory timed by the reader's clock (a
stocktake's quiet period and deadline) must cover the same air time however busy the machine is:
air time the simulator could not simulate is not air time. At time_scale 1 the clock is the wall
clock unless `air_time_only`, so that reads pair with a till's times."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from edge.rfid.driver import LLRPReader, ReaderSettings
from firmware_sim.llrp.air import LATE_TICK_S
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings

STALL_S = 0.5


async def air_time_across_a_stall(settings: SimSettings) -> float:
    """Air seconds the reader's clock advances while the whole process gets no CPU for STALL_S,
    with the gateway's driver inventorying."""
    async with LLRPReaderSim(settings) as sim:
        reader = LLRPReader(ReaderSettings("r1", "127.0.0.1", sim.port), lambda read: None)
        task = asyncio.create_task(reader.run())
        try:
            await sim.wait_until(lambda s: s.stats.reads > 0)  # the inventory's ticks are running
            before = sim.air_now()
            time.sleep(STALL_S)  # the stimulus: a machine too busy to run this process at all
            return sim.air_now() - before
        finally:
            await reader.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.parametrize("settings", [SimSettings(tags=50, rate=2000, air_time_only=True),
                                      SimSettings(tags=50, rate=200, time_scale=10)],
                         ids=["air-time-only", "time-scale-10"])
async def test_a_stalled_machine_stops_the_readers_clock_while_it_inventories(settings: SimSettings) -> None:
    """Even when asked before the inventory's late tick has run (a stocktake checking whether it
    has been quiet long enough), the clock has moved at most one late tick."""
    assert await air_time_across_a_stall(settings) <= LATE_TICK_S * settings.time_scale + 1e-6


async def test_at_time_scale_1_the_readers_clock_is_the_wall_clock() -> None:
    assert await air_time_across_a_stall(SimSettings(tags=50, rate=2000)) >= STALL_S
