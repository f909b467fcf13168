"""`shelfsync demo`: the whole system on one machine, checked against the world's ground truth.

Starts a private Mosquitto on a free port, the cloud on SQLite, and for each store a gateway and a
simulated POS; trades for the given minutes (in accelerated simulated time), waits until every
gateway's outbox has drained into the ledger, then compares the ledger with the truth.

Six simulated sales platforms (Taobao, JD, Pinduoduo, Douyin, Shopify, the
mini-program) run too, each a channel every store ships for with the whole catalogue listed; the
cloud pushes every channel's stock to them as the stores trade, and the summary says whether each
platform holds what the ledger says the channel may sell (--no-platforms leaves them out).

While it runs it prints the console's address and a head-office token to sign in with (the
cloud's admin token, made for this run); `--stay` keeps every process running after the summary,
so the console can be looked at, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from edge.fusion.reconciler import UNSEEN_WAIT
from firmware_sim import procs, store_sim
from firmware_sim.platforms import fleet
from firmware_sim.pos import PosStats, run_pos, world_start
from firmware_sim.world import StoreWorld, WorldConfig, catalog

EPILOG = """examples:
  shelfsync demo                                  2 stores, 1 minute
  shelfsync demo --stores 5 --minutes 3 --seed 7
  shelfsync demo --stores 2 --minutes 1 --json    machine-readable summary
  shelfsync demo --no-platforms                   the stores and the ledger only
  shelfsync demo --stay                           keep everything running after the summary (the
                                                  console stays up) until Ctrl-C
  shelfsync demo --store-sim --stores 1           each store a `shelfsync sim store`: scales, reader,
                                                  camera and tills on real protocols
  shelfsync demo --store-sim --stores 1 --minutes 10 --speed 1 --shoppers 240 --reconcile-window 120
                                                  the 10-minute real-time check with the reconciler
"""


def say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


async def _get(session: aiohttp.ClientSession, url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(url, headers=headers) as r:
        r.raise_for_status()
        return await r.json()


async def wait_drained(session: aiohttp.ClientSession, gateways: dict[str, int], cloud: str, token: str,
                       expected: dict[str, int], timeout: float = 120.0) -> bool:
    """True once every gateway's outbox is empty and the ledger holds every delta it accepted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        depths = [(await _get(session, f"http://127.0.0.1:{p}/healthz"))["outbox_depth"]
                  for p in gateways.values()]
        known = (await _get(session, f"{cloud}/v1/gateways", token))["gateways"]
        rows = {g["store"]: g["deltas"] for g in known}
        if not any(depths) and all(rows.get(s, 0) >= n for s, n in expected.items()):
            return True
        await asyncio.sleep(0.2)
    return False


def compare(truth: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ledger = {i["sku"]: i["zones"] for i in items}
    mismatches = []
    for sku in sorted(set(truth) | set(ledger)):
        want = truth.get(sku, {"floor": 0, "backroom": 0})
        have = ledger.get(sku, {"floor": 0, "backroom": 0})
        for zone in ("floor", "backroom"):
            if want.get(zone, 0) != have.get(zone, 0):
                mismatches.append({"sku": sku, "zone": zone, "truth": want.get(zone, 0),
                                   "ledger": have.get(zone, 0)})
    return mismatches


STORE_NAMES = ("Jing'an", "Xuhui", "Pudong", "Minhang", "Changning", "Putuo", "Hongkou", "Yangpu")


async def name_the_chain(session: aiohttp.ClientSession, cloud: str, token: str, stores: list[str]) -> None:
    """The stores' names and the world's catalogue (name, category, cost) in the cloud, as head
    office would set them up: the console then shows names, not only ids and GTINs."""
    headers = {"Authorization": f"Bearer {token}"}
    names = {s: f"{STORE_NAMES[i % len(STORE_NAMES)]}{'' if i < len(STORE_NAMES) else f' {i + 1}'}"
             for i, s in enumerate(stores)}
    bodies: list[tuple[str, dict[str, object]]] = [(f"/v1/stores/{s}", {"name": name})
                                                   for s, name in names.items()]
    bodies += [(f"/v1/products/{p.gtin}", {
        "name": f"{p.brand} {p.name}", "category": p.category.replace("_", "-"),
        "unit_cost": round(p.price_cents * 0.6 / 100, 2)})  # a cost of 60 % of the shelf price
        for p in catalog()]
    for path, body in bodies:
        async with session.put(cloud + path, json=body, headers=headers) as r:
            if r.status >= 300:
                raise procs.ProcessError(f"the cloud refused PUT {path}: {r.status} {await r.text()}")


def console_line(console: dict[str, str]) -> str:
    return f"demo: the console: {console['url']}  (sign in with the token {console['token']})"


async def until_interrupted() -> None:
    """Wait for Ctrl-C or SIGTERM (the processes were started in sessions of their own, so the
    terminal's Ctrl-C reaches only us, and we stop them)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_demo(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    quiet = args.json
    token, pos_token = secrets.token_hex(16), secrets.token_hex(16)
    started: list[procs.Proc] = []
    try:
        broker = procs.mosquitto(workdir / "broker")
        started.append(broker)
        mqtt = f"mqtt://127.0.0.1:{broker.env['PORT']}"
        say(quiet, f"demo: broker on {mqtt}")
        platforms = fleet.start(workdir, started) if args.platforms else None
        cloud_proc, cloud_port = procs.cloud(
            workdir, f"sqlite:///{workdir / 'ledger.db'}", mqtt, token,
            extra=("--channels", str(platforms.channels)) if platforms else (),
            env=platforms.env if platforms else None)
        started.append(cloud_proc)
        cloud = f"http://127.0.0.1:{cloud_port}"
        say(quiet, f"demo: cloud on {cloud} (SQLite {workdir / 'ledger.db'})")
        console = {"url": f"{cloud}/", "token": token}
        stores = [f"sh-{i + 1:04d}" for i in range(args.stores)]
        gateways: dict[str, int] = {}
        store_sims: dict[str, procs.Proc] = {}
        for store in stores:
            port = procs.free_port()
            config = procs.gateway_config(workdir, store, mqtt, pos_token, port)
            if args.store_sim:  # the store's devices and tills first; its gateway reads them
                reconcile: tuple[str, ...] = ("--world", args.world)
                if args.reconcile_window:
                    reconcile += ("--reconcile-window", str(args.reconcile_window))
                if args.reconcile_window or args.stay:  # devices up after trading: the last window,
                    reconcile += ("--linger",)         # or someone looking at the shelf map
                if args.door:
                    reconcile += ("--door", str(args.door))
                store_sims[store], config = store_sim.launch(
                    config, *reconcile, "--seed", str(args.seed), "--minutes", str(args.minutes), "--speed",
                    str(args.speed), "--shoppers", str(args.shoppers), "--bins", str(args.bins),
                    "--truth-out", str(workdir / f"{store}.truth.json"), name=f"store-sim-{store}")
                started.append(store_sims[store])
            started.append(procs.gateway(config, port, f"gateway-{store}"))
            gateways[store] = port
        async with aiohttp.ClientSession() as session:
            if platforms:
                await fleet.list_catalogue(session, cloud, token, stores)
                say(quiet, f"demo: channels {', '.join(platforms.ports)} on simulated platforms")
            await name_the_chain(session, cloud, token, stores)
        say(quiet, f"demo: {len(stores)} gateways up; trading for {args.minutes} min "
                   f"({args.minutes * args.speed / 60:.1f} simulated hours)")
        say(False, console_line(console))  # with --json too: stdout has the summary only

        # In the past by as much as the accelerated clock gains: no till time from the future.
        start = world_start(args.minutes, args.speed, datetime.now(UTC).replace(microsecond=0))
        worlds = {s: StoreWorld(store=s, seed=args.seed, start=start,
                                config=WorldConfig(bins=args.bins, shoppers_per_hour=args.shoppers))
                  for s in stores}
        began = time.monotonic()
        watcher = asyncio.create_task(_watch_platforms(platforms, quiet)) if platforms else None
        try:
            truths: dict[str, dict[str, Any]]
            if store_sims:
                sums = [await asyncio.to_thread(_store_sim_done, store_sims[s], workdir / f"{s}.truth.json")
                        for s in stores]
                stats = [PosStats(x["transactions"], x["movements"], x["deltas"]) for x in sums]
                truths = {s: x["truth"] for s, x in zip(stores, sums, strict=True)}
            else:
                stats = await asyncio.gather(*(
                    run_pos(worlds[s], f"http://127.0.0.1:{gateways[s]}", pos_token, minutes=args.minutes,
                            speed=args.speed, progress=not quiet) for s in stores))
                # truth() is JSON-shaped (dict[str, object]); its "items" are the per-SKU counts
                truths = {s: worlds[s].truth()["items"] for s in stores}  # type: ignore[misc]
        finally:
            if watcher is not None:
                watcher.cancel()
        trading_s = time.monotonic() - began

        if args.reconcile_window:  # a pick no sale claimed is shrink only once its window closes
            # (with a door antenna, a pick the door saw nothing of waits the window and a fifth)
            wait = args.reconcile_window * (UNSEEN_WAIT if args.door else 1.0)
            say(quiet, f"demo: waiting {wait:g} s for the last shrink window to close")
            await asyncio.sleep(wait + 2 * store_sim.reconcile_tick(args.reconcile_window) + 3)
        async with aiohttp.ClientSession() as session:
            expected = {s: st.deltas for s, st in zip(stores, stats, strict=True)}
            drained = await wait_drained(session, gateways, cloud, token, expected)
            say(quiet, "demo: all outboxes drained into the ledger" if drained
                else "demo: WARNING: not everything reached the ledger in time")
            per_store = []
            for store, st in zip(stores, stats, strict=True):
                items = (await _get(session, f"{cloud}/v1/stores/{store}/stock", token))["items"]
                truth = truths[store]
                mismatches = compare(truth, items)
                per_store.append({
                    "store": store, "transactions": st.transactions, "staff_movements": st.movements,
                    "deltas": st.deltas, "skus": len(truth),
                    "ledger_units": sum(i["on_hand"] for i in items),
                    "truth_units": sum(v["floor"] + v["backroom"] for v in truth.values()),
                    "mismatches": mismatches,
                })
            gw = (await _get(session, f"{cloud}/v1/gateways", token))["gateways"]
            on_platforms = await fleet.in_sync(session, cloud, token, platforms) if platforms else None
        summary = {
            "console": console,
            "platforms": on_platforms,
            "stores": per_store,
            "total_deltas": sum(s["deltas"] for s in per_store),
            "total_mismatches": sum(len(s["mismatches"]) for s in per_store),
            "trading_seconds": round(trading_s, 1),
            "drained": drained,
            "seq_gaps": sum(g["seq_gaps"] for g in gw),
            "workdir": str(workdir),
        }
        if args.stay:
            print_summary(summary, args.json)
            say(False, f"{console_line(console)}\ndemo: everything keeps running; Ctrl-C stops it")
            await until_interrupted()
            say(quiet, "demo: stopping")
        return summary
    finally:
        for proc in reversed(started):
            proc.stop()


def _store_sim_done(proc: procs.Proc, truth: Path) -> dict[str, Any]:
    """Waits for a `shelfsync sim store` to finish trading (and exit, or linger with its devices
    up); its summary (tills' figures, truth)."""
    assert proc.popen is not None
    while proc.alive and "trading done" not in proc.tail(5):
        time.sleep(0.2)
    code = proc.popen.poll()
    if code not in (0, None) or not truth.exists():
        raise procs.ProcessError(f"{proc.name} failed (exit {code}):\n{proc.tail()}")
    summary: dict[str, Any] = json.loads(truth.read_text())
    return summary


async def _watch_platforms(platforms: fleet.SimPlatforms, quiet: bool, every: float = 10.0) -> None:
    """While the stores trade: the units each platform lists now, as the shoppers buy them."""
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(every)
            listed = []
            for kind, port in platforms.ports.items():
                try:
                    stock = (await _get(session, f"http://127.0.0.1:{port}/_sim/stock"))["stock"]
                    listed.append(f"{kind} {sum(row['qty'] for row in stock)}")
                except aiohttp.ClientError:
                    listed.append(f"{kind} ?")
            say(quiet, "demo: units listed on the platforms now: " + ", ".join(listed))


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2), flush=True)
        return
    for s in summary["stores"]:
        print(f"{s['store']}: {s['transactions']} transactions, {s['deltas']} deltas, "
              f"ledger {s['ledger_units']} units vs truth {s['truth_units']}, "
              f"{len(s['mismatches'])} mismatches")
    print(f"total: {summary['total_deltas']} deltas, {summary['total_mismatches']} mismatches, "
          f"{summary['seq_gaps']} sequence gaps")
    for kind, p in (summary["platforms"] or {}).items():
        print(f"{kind}: {p['in_sync']}/{p['listings']} listings hold the channel's figure, "
              f"{p['units']} units listed")
    sys.stdout.flush()


def main(argv: list[str], prog: str = "shelfsync demo") -> int:
    parser = argparse.ArgumentParser(prog=prog, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Run the whole system on this machine and check the "
                                                 "ledger against the simulated stores' ground truth.")
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=1.0, help="wall-clock minutes of trading")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    parser.add_argument("--shoppers", type=float, default=240.0, help="shoppers per simulated hour")
    parser.add_argument("--bins", type=int, default=12)
    parser.add_argument("--workdir", type=Path, help="keep logs and databases here (default: a temp dir)")
    parser.add_argument("--platforms", action=argparse.BooleanOptionalAction, default=True,
                        help="push channel stock to six simulated sales platforms (default: on)")
    parser.add_argument("--store-sim", action="store_true",
                        help="run each store as `shelfsync sim store` (LLRP reader, Modbus scales, camera "
                             "and tills on real protocols, read by its gateway) instead of tills only")
    parser.add_argument("--reconcile-window", type=float, metavar="S",
                        help="with --store-sim and --speed 1: the gateways reconcile (shrink after S s), "
                             "and the check waits for the last window to close")
    parser.add_argument("--world", choices=("simple", "trading"), default="simple",
                        help="with --store-sim: the shop `shelfsync sim store --world` runs (default simple)")
    parser.add_argument("--door", type=int, metavar="ANTENNA",
                        help="with --store-sim: that reader antenna is over the exit (a door antenna)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--stay", action="store_true",
                        help="after the summary, keep everything running (the console too) until Ctrl-C")
    args = parser.parse_args(argv)
    if not 1 <= args.stores <= 200:
        parser.error("--stores must be within 1..200")
    window = args.reconcile_window
    if window is not None and (not args.store_sim or args.speed != 1 or window <= 0):
        parser.error("--reconcile-window S needs --store-sim, --speed 1 and S > 0")
    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            summary = asyncio.run(run_demo(args, args.workdir.resolve()))
        else:
            with tempfile.TemporaryDirectory(prefix="shelfsync-demo-") as tmp:
                summary = asyncio.run(run_demo(args, Path(tmp)))
    except procs.ProcessError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the summary: everything it started is stopped
        print(f"{prog}: interrupted; stopped", file=sys.stderr)
        return 130
    if not args.stay:  # with --stay it was printed before the wait
        print_summary(summary, args.json)
    platforms_ok = all(p["in_sync"] == p["listings"] for p in (summary["platforms"] or {}).values())
    return 0 if summary["total_mismatches"] == 0 and summary["drained"] and platforms_ok else 1
