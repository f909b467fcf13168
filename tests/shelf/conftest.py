"""Fixtures for the weight-shelf tests: the simulator on Modbus TCP or RTU over a pty pair."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from shelfsync.cli import repo_root
from tests.shelf.helpers import Bus, start_bus


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


SIM_PROCESS = """
import asyncio, sys
from firmware_sim.weight_shelf import ShelfSim
from tests.shelf.helpers import SKU, UNIT_G

async def main():
    sim = ShelfSim("dini-dgt4x", seed=3)
    sim.add_bin("A1-1", SKU, UNIT_G, 0)
    sim.add_bin("A1-2", SKU, UNIT_G, 3)
    print(await sim.serve_tcp(), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):  # "set BIN COUNT HAND_S"
        _, bin_id, count, hand = line.split()
        sim.set_count(bin_id, int(count), hand_s=float(hand))
    await sim.close()

asyncio.run(main())
"""


class SimProcess:
    """The simulator in its own process, driven over stdin, for the synchronous CLI tests (which
    run the CLI's own event loop in this process)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SIM_PROCESS], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=repo_root())
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def set_count(self, bin_id: str, count: int, hand_s: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"set {bin_id} {count} {hand_s}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        finally:
            self.proc.stdout.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sim_process() -> Iterator[SimProcess]:
    sim = SimProcess()
    yield sim
    sim.close()
    assert sim.proc.returncode == 0, "the simulator did not shut down cleanly"
