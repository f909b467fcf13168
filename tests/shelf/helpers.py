"""Helpers for the weight-shelf tests: the simulator on Modbus TCP or RTU over a pty pair."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from edge.fusion.domain import BinLevel, Observation
from edge.shelf.detector import DetectorConfig
from edge.shelf.poller import BinConfig, BusConfig, ShelfPoller
from edge.shelf.registers import builtin_map
from firmware_sim.weight_shelf import NullModem, ShelfSim

SKU = "00950123456789"
UNIT_G = 400.0
DEAD_LOAD_G = 1200.0  # CellSpec default: the tray on the cell


@dataclass
class Bus:
    sim: ShelfSim
    bus: BusConfig
    bins: tuple[BinConfig, ...]


async def start_bus(
    map_name: str, transport: str, bins: int = 2, seed: int = 1
) -> tuple[Bus, NullModem | None]:
    sim = ShelfSim(map_name, seed=seed)
    for i in range(bins):
        sim.add_bin(f"A1-{i + 1}", SKU, UNIT_G, 5)
    modem = None
    if transport == "tcp":
        port = await sim.serve_tcp()
        bus = BusConfig(
            "bus-1", builtin_map(map_name), tcp=("127.0.0.1", port), poll_hz=20, timeout_s=0.2
        )
    else:
        modem = NullModem()
        modem.start()
        await sim.serve_rtu(modem.server_path)
        bus = BusConfig(
            "bus-1",
            builtin_map(map_name),
            serial=modem.client_path,
            poll_hz=20,
            timeout_s=0.2,
            baudrate=115200,
        )
    cfgs = tuple(
        BinConfig(b.id, "bus-1", b.device_id, SKU, UNIT_G, DEAD_LOAD_G, bus.map)
        for b in sim.bins.values()
    )
    return Bus(sim, bus, cfgs), modem


# Half-second windows at 20 polls/s keep each live test to a few seconds.
FAST = DetectorConfig(window_s=0.5, settle_s=0.2)


class Watcher:
    """A running ShelfPoller whose observations land in a queue."""

    def __init__(self, bus: Bus, detector: DetectorConfig = FAST) -> None:
        self.queue: asyncio.Queue[Observation] = asyncio.Queue()
        self.seen: list[Observation] = []
        self.poller = ShelfPoller(bus.bus, bus.bins, detector, self.queue.put_nowait)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self.poller.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def next(self, kind: type, within: float = 10.0) -> Observation:
        """The next observation of this kind (others are kept in `seen`)."""
        async with asyncio.timeout(within):
            while True:
                obs = await self.queue.get()
                self.seen.append(obs)
                if isinstance(obs, kind):
                    return obs

    async def settled(self, within: float = 10.0) -> None:
        """Wait until every bin has reported its first trusted stable level."""
        levels: set[str] = set()
        while levels != set(self.poller.states):
            obs = await self.next(BinLevel, within)
            assert isinstance(obs, BinLevel)
            levels.add(obs.bin)
