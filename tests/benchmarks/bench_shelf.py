"""`shelfsync bench shelf`: weight-shelf polling cost over Modbus TCP and event accuracy.

1. Polling: the simulator (`shelfsync sim shelf`, its own process) serves N bins on Modbus TCP;
   this process polls them with the real driver (`ShelfPoller`: read, decode, detect) at the
   configured rate for a few seconds per round. Reported: bins polled per second and this
   process's CPU use in cores (process CPU time / wall time). Baseline from the same run: a bare
   pymodbus read loop over the same bins (no decode, no detector), the library's own floor.
   Target (issue 4): 100 bins at 10 Hz using under a quarter of a core.
2. Accuracy: scripted shelves in simulated time (tests/shelf/accuracy.py): exact count on
   stable events, event F1 (anchor: CMU AutoCheckout weight trigger F1 0.844), and phantom
   events on idle shelves over a simulated hour.

Prints medians of several rounds; --json prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import tomllib

from pymodbus.exceptions import ModbusException

from edge.fusion.domain import Observation
from edge.shelf.detector import DetectorConfig
from edge.shelf.poller import ShelfPoller, make_client, parse_shelf_config
from shelfsync.cli import repo_root

sys.path.insert(0, str(repo_root()))
from tests.shelf.accuracy import HARSH, STANDARD
from tests.shelf.accuracy import run as accuracy_run


def start_sim(bins: int, map_name: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfsync.cli",
            "sim",
            "shelf",
            "--tcp",
            "127.0.0.1:0",
            "--bins",
            str(bins),
            "--map",
            map_name,
            "--seed",
            "1",
            "--print-config",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    watchdog = threading.Timer(30.0, proc.kill)  # a simulator that never starts must not hang us
    watchdog.start()
    try:
        while sum(line.startswith("[[shelf.bin]]") for line in lines) < bins or lines[-1] != "":
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before printing its config")
            lines.append(line.rstrip("\n"))
    finally:
        watchdog.cancel()
    return proc, "\n".join(lines)


BARE_UNANSWERED: list[int] = []  # device ids whose read got no answer in the bare rounds


async def poll_round(
    config_text: str, hz: float, seconds: float, bare: bool, connections: int = 1
) -> tuple[float, float]:
    """(bins polled per second, cores used by this process)."""
    text = config_text.replace("poll_hz = 10", f"poll_hz = {hz}\nconnections = {connections}")
    cfg = parse_shelf_config(tomllib.loads(text)["shelf"])
    bus = cfg.buses[0]
    observations: list[Observation] = []
    if bare:
        client = make_client(bus)
        await client.connect()
        start, count = bus.map.block
        reads = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            while time.perf_counter() - wall0 < seconds:
                cycle0 = time.perf_counter()
                for b in cfg.bins:
                    try:
                        await client.read_holding_registers(start, count=count, device_id=b.device_id)
                    except ModbusException:  # unanswered in time (a loaded machine): not a read
                        BARE_UNANSWERED.append(b.device_id)
                        continue
                    reads += 1
                await asyncio.sleep(max(0.0, 1 / hz - (time.perf_counter() - cycle0)))
        finally:
            client.close()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        return reads / wall, cpu / wall
    poller = ShelfPoller(bus, cfg.bins, DetectorConfig(), observations.append)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(1.0)  # connect and warm up before measuring
    polls0, wall0, cpu0 = poller.polls, time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)  # the measured period
    polls, wall, cpu = (
        poller.polls - polls0,
        time.perf_counter() - wall0,
        time.process_time() - cpu0,
    )
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return polls / wall, cpu / wall


def main(argv: list[str], prog: str = "shelfsync bench shelf") -> int:
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog=f"example: {prog} --json --bins 100 --hz 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--bins", type=int, default=100)
    p.add_argument("--hz", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per polling round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--map", default="dini-dgt4x")
    p.add_argument("--connections", type=int, default=2, help="TCP connections of the driver")
    p.add_argument("--accuracy-bins", type=int, default=40, help="bins per simulated hour")
    args = p.parse_args(argv)

    proc, config_text = start_sim(args.bins, args.map)
    driver: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    try:
        for r in range(args.rounds):
            print(f"{prog}: polling round {r + 1}/{args.rounds}…", file=sys.stderr, flush=True)
            limit = args.seconds + 30  # a stuck round fails loudly instead of hanging
            bare.append(
                asyncio.run(
                    asyncio.wait_for(poll_round(config_text, args.hz, args.seconds, True), limit)
                )
            )
            driver.append(
                asyncio.run(
                    asyncio.wait_for(
                        poll_round(config_text, args.hz, args.seconds, False, args.connections),
                        limit,
                    )
                )
            )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)

    print(
        f"{prog}: accuracy run ({args.accuracy_bins} bins x 1 simulated hour: busy, harsh, idle)…",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    busy = accuracy_run(args.accuracy_bins, 3600, 40, seed=1, **STANDARD)
    harsh = accuracy_run(args.accuracy_bins, 3600, 120, seed=3, **HARSH)
    idle = accuracy_run(args.accuracy_bins, 3600, 0, seed=2, **HARSH)
    accuracy_s = time.perf_counter() - t0

    result = {
        "machine": f"{os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}",
        "bins": args.bins,
        "target_hz": args.hz,
        "map": args.map,
        "connections": args.connections,
        "driver_bins_polled_per_s": round(statistics.median(x for x, _ in driver), 1),
        "driver_cores": round(statistics.median(c for _, c in driver), 3),
        "bare_pymodbus_reads_per_s": round(statistics.median(x for x, _ in bare), 1),
        "bare_pymodbus_cores": round(statistics.median(c for _, c in bare), 3),
        "bare_pymodbus_unanswered": len(BARE_UNANSWERED),
        "accuracy": {
            "stable_events": busy.matched,
            "true_events": busy.truth,
            "detected": busy.detected,
            "exact_count_share": round(busy.exact_share, 4),
            "event_f1": round(busy.f1, 4),
            "precision": round(busy.precision, 4),
            "recall": round(busy.recall, 4),
            "idle_bin_hours": round(idle.duration_h, 1),
            "idle_phantom_events": idle.detected,
            "simulated_seconds_per_wall_second": round(
                (busy.duration_h + harsh.duration_h + idle.duration_h) * 3600 / accuracy_s
            ),
        },
        "accuracy_harsh": {
            "true_events": harsh.truth,
            "detected": harsh.detected,
            "exact_count_share": round(harsh.exact_share, 4),
            "event_f1": round(harsh.f1, 4),
            "precision": round(harsh.precision, 4),
            "recall": round(harsh.recall, 4),
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        a = result["accuracy"]
        assert isinstance(a, dict)
        print(
            f"polling {args.bins} bins at {args.hz:g} Hz over Modbus TCP ({args.map}), median of "
            f"{args.rounds}:\n"
            f"  driver (read+decode+detect): {result['driver_bins_polled_per_s']} bins/s, "
            f"{result['driver_cores']} cores\n"
            f"  bare pymodbus reads:         {result['bare_pymodbus_reads_per_s']} reads/s, "
            f"{result['bare_pymodbus_cores']} cores\n"
            f"accuracy ({a['true_events']} true events): exact count {a['exact_count_share']:.2%} "
            f"of {a['stable_events']} stable events, F1 {a['event_f1']}, "
            f"phantoms idle {a['idle_phantom_events']} in {a['idle_bin_hours']} bin-hours\n"
            f"harsh (shoppers 5 s apart, 30 bumps/h; {harsh.truth} events): exact count "
            f"{harsh.exact_share:.2%}, F1 {harsh.f1:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], "bench_shelf"))
