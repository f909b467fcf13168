"""A store gateway set up for staff alerts over a Modbus shelf simulator (tests and `bench alerts`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from firmware_sim import procs
from firmware_sim.weight_shelf import ShelfSim, print_config

SKU = "00950123456782"
PRODUCT = "Royal Canin Indoor 2 kg"
POS = "pos-token-for-tests"


@contextlib.asynccontextmanager
async def shelf_sim(units: int = 5, seed: int = 5) -> AsyncIterator[tuple[ShelfSim, int]]:
    """One bin, A1-1, of 400 g units on Modbus TCP; yields the simulator and its port."""
    sim = ShelfSim("dini-dgt4x", seed=seed)
    sim.add_bin("A1-1", SKU, 400.0, units)
    port = await sim.serve_tcp()
    try:
        yield sim, port
    finally:
        await sim.close()


def store_config(workdir: Path, store: str, broker_url: str, http_port: int, sim: ShelfSim, sim_port: int,
                 receiver_port: int, *, fast_detector: bool = True, tick_s: float = 0.2,
                 rate_per_hour: int = 30, ntfy: bool = False) -> Path:
    """The store TOML: the simulator's bus, and [alerts] to json:// (and ntfy:// when asked) on the
    receiver; the bin is to be refilled at 1 unit."""
    path = procs.gateway_config(workdir, store, broker_url, POS, http_port, status_interval=1.0)
    ntfy_url = f', "ntfy://127.0.0.1:{receiver_port}/{store}-alerts"' if ntfy else ""
    detector = "[shelf.detector]\nwindow_s = 0.5\nsettle_s = 0.2\n" if fast_detector else ""
    path.write_text(path.read_text() + "\n" + print_config(sim, f"127.0.0.1:{sim_port}", rtu=False) + f"""
{detector}
[alerts]
timezone = "Asia/Shanghai"
staff = ["json://127.0.0.1:{receiver_port}/staff"{ntfy_url}]
manager = ["json://127.0.0.1:{receiver_port}/manager"]
escalate_after_s = 3600
tick_s = {tick_s}
rate_per_hour = {rate_per_hour}

[alerts.bins.A1-1]
product = "{PRODUCT}"
refill_at = 1
""")
    return path
