"""`shelfsync sim store` against a real gateway and the cloud: one world drives the LLRP reader,
the Modbus scales, the camera and the POS webhook; the gateway reads them all (with the reconciler
on), and once its outbox has drained and the last shrink window has closed the ledger must equal
the world's truth per SKU and zone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from firmware_sim import procs, store_sim
from shared import contract
from shelfsync.demo import compare
from tests.integration.conftest import ADMIN, POS, Cloud, until
from tests.integration.test_devices import Retained, Sim
from tests.support.services import Mosquitto, free_port

# The reconciler's shrink window in this run, and its tick as `sim store` writes it. The till's
# lines must reach the gateway within the window: 10 s was too tight on a loaded 2-core machine.
WINDOW_S = 20.0
TICK_S = store_sim.reconcile_tick(WINDOW_S)


def _lines_with(sim: Sim, text: str) -> list[str]:
    return [x for x in sim.lines if text in x]


async def test_a_simulated_store_read_by_a_real_gateway_ends_with_the_ledger_equal_to_the_truth(
        tmp_path: Path, broker: Mosquitto, cloud: Cloud) -> None:
    store, port = "sh-0090", free_port()
    config = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
    truth_path = tmp_path / "truth.json"
    # Real time (the reconciler pairs the till's times with the scales' on the wall clock), a busy
    # shop instead of an accelerated one: 900 shoppers an hour is one every 4 s.
    sim = Sim("sim", "store", "--config", str(config), "--seed", "4", "--minutes", "0.6", "--speed", "1",
              "--shoppers", "900", "--reconcile-window", str(WINDOW_S), "--linger",
              "--truth-out", str(truth_path), "--progress-s", "5")
    gw: procs.Proc | None = None
    shelves = Retained(broker, contract.gateway_topic(store, "gw-1", contract.Stream.SHELVES))
    reports = Retained(broker, contract.gateway_topic(store, "gw-1", contract.Stream.STOCKTAKES))
    try:
        sim.wait_for(lambda lines: any("ready:" in x for x in lines), timeout=60)
        gw_config = tmp_path / f"{store}.sim.toml"
        written = gw_config.read_text()
        for section in ("[rfid]", "[[rfid.reader]]", "[[shelf.bus]]", "[[shelf.bin]]", "[[camera.feed]]",
                        "[[camera.lane]]", "[reconcile]"):
            assert section in written, section
        # procs.gateway logs at WARNING; at INFO the log shows the reconciler attached to the scales
        gw = procs.Proc(f"gateway-{store}", procs.shelfsync("gateway", "--config", str(gw_config),
                                                            "--log-level", "INFO"), tmp_path / "gateway.log").start()
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", gw)
        sim.wait_for(lambda lines: any("trading done" in x for x in lines), timeout=120)
        closed_at = time.monotonic() + WINDOW_S + 2 * TICK_S + 3.0  # window + two ticks + settling
        summary = json.loads(truth_path.read_text())
        assert summary["complete"] and summary["pos_failed"] == 0, summary
        assert summary["events"].get("Pick", 0) >= 5 and summary["transactions"] >= 5, summary
        assert summary["shelf_changes"] > 0
        assert _lines_with(sim, "simulated,"), "progress lines on stderr"

        async with aiohttp.ClientSession() as session:
            # Not a sleep: the reconciler may book shrink only after its window, so the check waits
            # for the window to close as well as for the outbox to drain.
            await _drained_and_window_closed(session, cloud, store, port, summary["deltas"], closed_at, 90)
            async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert (await r.json())["outbox_depth"] == 0

        _, stock = await cloud.get(f"/v1/stores/{store}/stock")
        mismatches = compare(summary["truth"], stock["items"])
        assert mismatches == [], mismatches

        # The scales the gateway reads count what lies on every bin (the retained snapshot).
        def scales_agree() -> bool:
            if not shelves.payloads:
                return False
            snap = contract.decode_snapshot(shelves.payloads[-1])
            counts = {b.bin: b.count for b in snap.bins if b.source is contract.Source.WEIGHT}
            return counts == summary["bins"]

        try:
            await until(scales_agree, timeout=30, what="the shelves snapshot's scale counts = the world's bins")
        except AssertionError:
            snap = contract.decode_snapshot(shelves.payloads[-1]) if shelves.payloads else None
            raise AssertionError(f"world bins {summary['bins']}; snapshot {snap}") from None
        snap = contract.decode_snapshot(shelves.payloads[-1])
        assert {b.bin for b in snap.bins if b.source is contract.Source.VISION} == set(summary["bins"])

        # The RFID reader: a stocktake the cloud asks for counts every tagged unit where the world
        # has it (every unit is tagged in this world), and its counts leave the ledger true.
        before = await cloud.deltas(store)
        async with cloud.session.post(f"{cloud.url}/v1/stores/{store}/stocktakes",
                                      json={"gateway": "gw-1", "seconds": 60},
                                      headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            assert r.status == 202, await r.text()
        await until(lambda: bool(reports.payloads), timeout=90, what="the stocktake report")
        report = json.loads(reports.payloads[-1])
        assert "error" not in report, report
        counted = {(c["sku"], c["zone"]): c["qty"] for c in report["counts"]}
        want = {(sku, zone): n for sku, zones in summary["truth"].items() for zone, n in zones.items()}
        assert {k: v for k, v in counted.items() if v} == {k: v for k, v in want.items() if v}
        await until(lambda: _counts_in(cloud, store, port, before), timeout=30, what="the counts in the ledger")
        _, stock = await cloud.get(f"/v1/stores/{store}/stock")
        assert compare(summary["truth"], stock["items"]) == []
        assert gw.alive
        assert "reconciler on 12 scale bins" in gw.log.read_text()
    finally:
        shelves.close()
        reports.close()
        if gw is not None:
            gw.stop()
        sim.stop()
    assert sim.proc.returncode == 0, sim.lines[-10:]  # SIGTERM: a clean shutdown


async def _drained_and_window_closed(session: aiohttp.ClientSession, cloud: Cloud, store: str, port: int,
                                     deltas: int, closed_at: float, timeout: float) -> None:
    """Until the gateway's outbox is empty, the cloud holds the sim's `deltas` and the monotonic
    clock has passed `closed_at` (the reconciler's last window)."""
    async def done() -> bool:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
            depth = (await r.json())["outbox_depth"]
        return depth == 0 and await cloud.deltas(store) >= deltas and time.monotonic() >= closed_at

    await until(done, timeout=timeout, what="the outbox drained, the window closed")


async def _counts_in(cloud: Cloud, store: str, port: int, before: int) -> bool:
    async with cloud.session.get(f"http://127.0.0.1:{port}/healthz") as r:
        depth = (await r.json())["outbox_depth"]
    return depth == 0 and await cloud.deltas(store) > before


def test_bad_arguments_and_configs_get_clear_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shelfsync.cli", "sim", "store", *args],
                              capture_output=True, text=True, timeout=60)

    missing = run("--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr
    config = procs.gateway_config(tmp_path, "sh-0091", "mqtt://127.0.0.1:1883", POS, free_port())
    no_door = run("--config", str(config), "--door-out", "4")
    assert no_door.returncode == 2 and "--door-out needs --door" in no_door.stderr
    config.write_text(config.read_text() + '\n[rfid]\npresence = true\n')
    taken = run("--config", str(config), "--minutes", "0.01")
    assert taken.returncode == 2 and "already has [rfid]" in taken.stderr
    config.write_text("[store]\nid = 'sh-0091'\n")
    no_token = run("--config", str(config))
    assert no_token.returncode == 2 and "[http].token" in no_token.stderr
    helped = run("--help")
    assert helped.returncode == 0 and "shelfsync sim store --config store.toml" in helped.stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the gateway's clock is under test, not the ledger's
async def test_a_store_trading_at_60x_reconciles_on_its_own_clock_and_ends_true(
        tmp_path: Path, broker: Mosquitto, cloud: Cloud) -> None:
    """Half an hour of the trading world in half a real minute, the reconciler on: a theft,
    put-backs, an online order picked by staff and scanned on the handheld (POST /v1/picks),
    customers' returns carried in through a door with antennas inside and outside it. The gateway
    runs on the shop's clock from the [clock] section `sim store` writes, and once the last window
    has closed the ledger equals the world's truth. (The world opens on a half hour, and seed 205
    has all of these in its first half hour at any of the day's, no line voided at the till — the
    webhook takes no voids, so a voided pick is shrink until staff put the unit back — and no unit
    put back on a wrong bin, which the scales may count as the bin's own where two products weigh
    within 3 % of each other. 60 shoppers an hour: at 60x a scale's detector reads hands at one
    bin less than about a real second apart as one.)"""
    store, port = "sh-0092", free_port()
    config = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
    truth_path = tmp_path / "truth.json"
    speed, window_s = 60.0, 1500.0
    sim = Sim("sim", "store", "--config", str(config), "--seed", "205", "--minutes", "0.5", "--speed", str(speed),
              "--world", "trading", "--shoppers", "60", "--orders", "6", "--reconcile-window", str(window_s),
              "--antennas", "5", "--door", "4", "--door-out", "5", "--linger", "--truth-out", str(truth_path),
              "--progress-s", "5")
    gw: procs.Proc | None = None
    try:
        sim.wait_for(lambda lines: any("ready:" in x for x in lines), timeout=60)
        gw_config = tmp_path / f"{store}.sim.toml"
        written = gw_config.read_text()
        assert "[clock]" in written and "speed = 60" in written and 'door_out' in written and "late_s" in written
        gw = procs.Proc(f"gateway-{store}", procs.shelfsync("gateway", "--config", str(gw_config),
                                                            "--log-level", "INFO"), tmp_path / "gateway.log").start()
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", gw)
        sim.wait_for(lambda lines: any("trading done" in x for x in lines), timeout=180)
        summary = json.loads(truth_path.read_text())
        assert summary["complete"] and summary["pos_failed"] == 0, summary
        events = summary["events"]
        assert summary["picks"] > 0 and events.get("Theft", 0) > 0 and events.get("CarriedIn", 0) > 0, summary
        # The last pick may become shrink only once its window (a fifth longer: the door saw
        # nothing of it) has passed on the shop's clock, and its lateness after that.
        closed_at = time.monotonic() + store_sim.reconcile_wait(window_s) / speed + store_sim.LATE_S + 3.0

        async with aiohttp.ClientSession() as session:
            await _drained_and_window_closed(session, cloud, store, port, summary["deltas"], closed_at, 120)
        _, stock = await cloud.get(f"/v1/stores/{store}/stock")
        mismatches = compare(summary["truth"], stock["items"])
        assert mismatches == [], (mismatches, summary["events"])
    finally:
        if gw is not None:
            gw.stop()
        sim.stop()
