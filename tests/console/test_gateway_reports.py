"""What a real gateway process now reports for the console: each bin's refill threshold (from its
[alerts.bins]) in the shelves snapshot, and its RFID reader up or down in the status — through the
Modbus and LLRP simulators over TCP, a real Mosquitto and the cloud's ingest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.db.gateway_snapshots import GatewayView, gateway_views
from cloud.keys import MAKER
from firmware_sim import procs
from tests.integration.conftest import POS, Cloud, cloud, until
from tests.integration.test_devices import Sim
from tests.support.services import Mosquitto, free_port

__all__ = ["cloud"]
STORE = "sh-0091"


@pytest.fixture
def sims() -> Iterator[list[Sim]]:
    started: list[Sim] = []
    yield started
    for sim in started:
        sim.stop()


async def _view(c: Cloud) -> GatewayView | None:
    async with c.app[MAKER]() as session:
        views = await gateway_views(session, [STORE])
    return views[0] if views else None


async def test_the_snapshot_names_refill_thresholds_and_the_status_the_reader(
        tmp_path: Path, broker: Mosquitto, cloud: Cloud, sims: list[Sim]) -> None:
    shelf = Sim("sim", "shelf", "--tcp", "127.0.0.1:0", "--bins", "3", "--seed", "2", "--print-config")
    reader = Sim("sim", "llrp", "--port", "0", "--tags", "20", "--seed", "5", "--rate", "200")
    sims += [shelf, reader]
    shelf.wait_for(lambda lines: any("Ctrl-C" in x for x in lines))
    reader.wait_for(lambda lines: any("listening on" in x for x in lines))
    section = "\n".join(x for x in shelf.lines if not x.startswith(("shelf sim:", "20")) and "pymodbus" not in x)
    llrp_port = int(next(x for x in reader.lines if "listening on" in x).split(":")[1].split()[0].rstrip(":"))
    port = free_port()
    config = procs.gateway_config(tmp_path, STORE, broker.url, POS, port, status_interval=1.0)
    config.write_text(config.read_text() + "\n" + section + f"""
[rfid]
presence = true
[[rfid.reader]]
name = "door"
host = "127.0.0.1"
port = {llrp_port}
zones = {{1 = "floor", 2 = "floor", 3 = "floor", 4 = "backroom"}}

[alerts]
staff = []

[alerts.bins.A1-2]
product = "Mini Adult Dog 2 kg"
refill_at = 3
""")
    gw = procs.gateway(config, port, f"gateway-{STORE}")
    try:
        async def reported() -> bool:
            view = await _view(cloud)
            return view is not None and len(view.bins) == 3 and view.devices.get("reader:door") == "online"

        await until(reported, 60, "the snapshot and the reader in the cloud")
        view = await _view(cloud)
        assert view is not None
        assert {b.bin: b.refill_at for b in view.bins} == {"A1-1": None, "A1-2": 3, "A1-3": None}
        assert view.devices_of("reader") == (1, 0) and view.devices_of("scale-bus") == (1, 0)

        reader.stop()  # the reader goes away: the gateway says so at once, not at its next heartbeat

        async def reader_down() -> bool:
            v = await _view(cloud)
            return v is not None and v.devices.get("reader:door") == "offline"

        await until(reader_down, 30, "the reader reported down")
    finally:
        gw.stop()
