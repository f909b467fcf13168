"""`shelfsync demo`: the whole system on one machine, checked against the world's ground truth.

Starts a private Mosquitto on a free port, the cloud on SQLite, and for each store a whole
simulated shop (`shelfsync sim store --world trading`: an LLRP reader with two antennas over the
door, Modbus scales under the bins, a shelf camera, the tills, staff handhelds scanning online
orders' picks) and a gateway reading it with the reconciler on, on the shop's own clock. It trades
four simulated hours in two minutes (120x; `--minutes 6` is a whole day), waits until every
gateway's last shrink window has closed and its outbox has drained into the ledger, then compares
the ledger with the world's truth and says what the sensors caught (shelfsync/demo_report.py):
each theft with the evidence that flagged it (the EPC read at the door, or the scale's pick no sale
claimed), the shrink flagged that nobody stole, misplacements, refills and the staff alerts sent.
`--pos-only` runs the stores' tills alone, as the demo did before (the ledger from sales, returns
and deliveries; no sensors).

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
import contextlib
import json
import secrets
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from firmware_sim import procs, store_sim
from firmware_sim.platforms import fleet
from firmware_sim.pos import PosStats, run_pos, world_start
from firmware_sim.world import StoreWorld, WorldConfig, catalog
from shelfsync import demo_report

EPILOG = """examples:
  shelfsync demo                                  2 whole shops, 4 simulated hours in 2 minutes
  shelfsync demo --minutes 6                      a whole trading day (12 h)
  shelfsync demo --stores 1 --seed 7 --json       one shop, another day, a machine-readable summary
  shelfsync demo --stay                           keep everything running after the summary (the
                                                  console, the shops' devices) until Ctrl-C
  shelfsync demo --no-platforms                   the stores and the ledger only
  shelfsync demo --pos-only --stores 5 --minutes 3
                                                  tills only (no sensors, no reconciler)
  shelfsync demo --stores 1 --minutes 10 --speed 1 --shoppers 240 --reconcile-window 120
                                                  the 10-minute real-time check
"""

# The shop: two antennas over the door (4 inside it, 5 outside) tell units carried out from units
# carried in; 1-2 cover the floor, 3 the backroom.
ANTENNAS, DOOR, DOOR_OUT = 5, 4, 5
# A pick no sale claims within this many of the shop's seconds is shrink (the gateway's default).
WINDOW_S = 1500.0
# Four hours of the trading world in two minutes (120 shop seconds a second; `--minutes 6` is the
# whole 12-hour day). Faster, the scales read hands at one bin that come within a real half second
# of each other as one (their detector's window), and a refill and a pick as one smaller refill:
# at 180x the book ended 20 SKU x zone figures off the truth, at 360x (a day in two minutes) 26,
# against 1 at 120x (seed 0, a loaded 2-core machine).
SHOP_MINUTES, SHOP_SPEED = 2.0, 120.0


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


def store_names(stores: list[str]) -> dict[str, str]:
    return {s: f"{STORE_NAMES[i % len(STORE_NAMES)]}{'' if i < len(STORE_NAMES) else f' {i + 1}'}"
            for i, s in enumerate(stores)}


async def name_the_chain(session: aiohttp.ClientSession, cloud: str, token: str,
                         names: dict[str, str]) -> None:
    """The stores' names and the world's catalogue (name, category, cost) in the cloud, as head
    office would set them up: the console then shows names, not only ids and GTINs."""
    headers = {"Authorization": f"Bearer {token}"}
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


class StaffPhones:
    """The staff's phones: an HTTP endpoint on this machine that the gateways' alerts are sent to
    (apprise json://, one path per store), counting the messages each store sent."""

    def __init__(self) -> None:
        self.messages: Counter[str] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            await request.read()
            self.messages[request.match_info["store"]] += 1
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/{store}", receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # bound now

    def url(self, store: str) -> str:
        return f"json://127.0.0.1:{self.port}/{store}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _shop_args(args: argparse.Namespace, store: str, workdir: Path, phones: StaffPhones) -> list[str]:
    """`shelfsync sim store` arguments for one demo shop."""
    out = ["--world", args.world, "--seed", str(args.seed), "--minutes", str(args.minutes),
           "--speed", str(args.speed), "--truth-out", str(workdir / f"{store}.truth.json"),
           "--alerts", phones.url(store)]
    if args.reconcile_window:  # devices up after trading: the last window is judged on them
        out += ["--reconcile-window", str(args.reconcile_window), "--linger"]
    elif args.stay:  # or someone looks at the shelf map
        out += ["--linger"]
    if args.door is not None:
        out += ["--antennas", str(ANTENNAS), "--door", str(args.door), "--door-out", str(DOOR_OUT)]
    for flag, value in (("--shoppers", args.shoppers), ("--bins", args.bins), ("--orders", args.orders)):
        if value is not None:
            out += [flag, str(value)]
    return out


def last_window_s(args: argparse.Namespace) -> float:
    """Real seconds after trading until the reconciler may have booked its last shrink and
    re-anchored a floor its scales disagree with: the window (a fifth longer where the door saw
    nothing of a pick), the scales' `settle` and ticks on the shop's clock, the observations'
    allowed lateness (real seconds) and a margin for the outbox."""
    if not args.reconcile_window:
        return 0.0
    window, speed = float(args.reconcile_window), float(args.speed)
    late = float(store_sim.LATE_S) if speed != 1 else 0.0
    return float(store_sim.settled_wait(window)) / speed + late + 3.0


def ledger_rows(db: Path, store: str) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The store's movements with their evidence, and its staff alerts by kind, from the ledger file
    this demo's cloud writes (the movements API leaves the evidence out; the console shows it). Read
    only, with SQLite's own reader beside the cloud's writer (WAL)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        moves = [dict(r) for r in conn.execute(
            "SELECT id, sku, kind, qty, zone, from_zone, occurred_at, source, bin, evidence FROM movements "
            "WHERE store = ? ORDER BY pos", (store,))]
        kinds = Counter({str(r[0]): int(r[1]) for r in conn.execute(
            "SELECT kind, count(*) FROM store_alerts WHERE store = ? GROUP BY kind", (store,))})
    return moves, kinds


def caught(truth: dict[str, Any], rows: list[dict[str, Any]], kinds: Counter[str],
           messages: int) -> dict[str, Any]:
    """The sensors' figures of one shop (shelfsync/demo_report.py)."""
    happened = truth["happened"]
    moves = demo_report.booked(rows)
    opened = datetime.fromisoformat(truth["start"])
    return {"caught": demo_report.thefts(happened["thefts"], moves, opened),
            "misplacements": demo_report.misplacements(happened["misplaced"], kinds),
            "refills": demo_report.refills(happened["refills"], moves),
            "alerts": {"raised": dict(sorted(kinds.items())), "messages": messages}}


async def run_demo(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    quiet = args.json
    token, pos_token = secrets.token_hex(16), secrets.token_hex(16)
    started: list[procs.Proc] = []
    phones = StaffPhones()
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
        names = store_names(stores)
        gateways: dict[str, int] = {}
        shops: dict[str, procs.Proc] = {}
        if not args.pos_only:
            await phones.start()
        for store in stores:
            port = procs.free_port()
            config = procs.gateway_config(workdir, store, mqtt, pos_token, port)
            if not args.pos_only:  # the shop's devices and tills first; its gateway reads them
                shops[store], config = store_sim.launch(config, *_shop_args(args, store, workdir, phones),
                                                        name=f"store-sim-{store}")
                started.append(shops[store])
            started.append(procs.gateway(config, port, f"gateway-{store}"))
            gateways[store] = port
        async with aiohttp.ClientSession() as session:
            if platforms:
                await fleet.list_catalogue(session, cloud, token, stores)
                say(quiet, f"demo: channels {', '.join(platforms.ports)} on simulated platforms")
            await name_the_chain(session, cloud, token, names)
        what = ("tills only" if args.pos_only else
                "whole shops: RFID reader and door, scales, camera, tills, handhelds; the reconciler "
                + ("on" if args.reconcile_window else "off"))
        say(quiet, f"demo: {len(stores)} gateways up ({what}); trading for {args.minutes:g} min "
                   f"({args.minutes * args.speed / 60:.1f} simulated hours)")
        say(False, console_line(console))  # with --json too: stdout has the summary only

        began = time.monotonic()
        watcher = asyncio.create_task(_watch_platforms(platforms, quiet)) if platforms else None
        try:
            truths: dict[str, dict[str, Any]]
            if shops:
                sums = [await asyncio.to_thread(_store_sim_done, shops[s], workdir / f"{s}.truth.json")
                        for s in stores]
                stats = [PosStats(x["transactions"], x["movements"], x["deltas"]) for x in sums]
                truths = dict(zip(stores, sums, strict=True))
            else:
                # In the past by as much as the accelerated clock gains: no till time from the future.
                start = world_start(args.minutes, args.speed, datetime.now(UTC).replace(microsecond=0))
                worlds = {s: StoreWorld(store=s, seed=args.seed, start=start,
                                        config=WorldConfig(bins=args.bins, shoppers_per_hour=args.shoppers))
                          for s in stores}
                stats = await asyncio.gather(*(
                    run_pos(worlds[s], f"http://127.0.0.1:{gateways[s]}", pos_token, minutes=args.minutes,
                            speed=args.speed, progress=not quiet) for s in stores))
                # truth() is JSON-shaped (dict[str, object]); its "items" are the per-SKU counts
                truths = {s: {"truth": worlds[s].truth()["items"]} for s in stores}
        finally:
            if watcher is not None:
                watcher.cancel()
        trading_s = time.monotonic() - began

        if (wait := last_window_s(args)) > 0:  # a pick no sale claimed is shrink once its window closes
            say(quiet, f"demo: waiting {wait:.0f} s for the last shrink window to close")
            await asyncio.sleep(wait)
        async with aiohttp.ClientSession() as session:
            expected = {s: st.deltas for s, st in zip(stores, stats, strict=True)}
            drained = await wait_drained(session, gateways, cloud, token, expected)
            say(quiet, "demo: all outboxes drained into the ledger" if drained
                else "demo: WARNING: not everything reached the ledger in time")
            if shops:
                await asyncio.sleep(2.0)  # the alerts' notices travel on their own topic: a moment
            per_store = []
            for store, st in zip(stores, stats, strict=True):
                items = (await _get(session, f"{cloud}/v1/stores/{store}/stock", token))["items"]
                truth = truths[store]["truth"]
                mismatches = compare(truth, items)
                row: dict[str, Any] = {
                    "store": store, "name": names[store], "transactions": st.transactions,
                    "staff_movements": st.movements, "deltas": st.deltas, "skus": len(truth),
                    "ledger_units": sum(i["on_hand"] for i in items),
                    "truth_units": sum(v["floor"] + v["backroom"] for v in truth.values()),
                    "mismatches": mismatches,
                }
                if shops:
                    rows, kinds = await asyncio.to_thread(ledger_rows, workdir / "ledger.db", store)
                    row["picks"], row["opened"] = truths[store].get("picks", 0), truths[store]["start"]
                    row.update(caught(truths[store], rows, kinds, phones.messages[store]))
                per_store.append(row)
            gw = (await _get(session, f"{cloud}/v1/gateways", token))["gateways"]
            on_platforms = await fleet.in_sync(session, cloud, token, platforms) if platforms else None
        summary = {
            "mode": "pos-only" if args.pos_only else "shop",
            "seed": args.seed,
            "simulated_hours": round(args.minutes * args.speed / 60, 2),
            "console": console,
            "platforms": on_platforms,
            "stores": per_store,
            "total_deltas": sum(s["deltas"] for s in per_store),
            "total_mismatches": sum(len(s["mismatches"]) for s in per_store),
            "trading_seconds": round(trading_s, 1),
            "seconds": round(time.monotonic() - began, 1),
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
        # A second Ctrl-C while stopping would leave the rest running: it waits for the stop.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            procs.stop_all(reversed(started))
            await phones.close()
        finally:
            signal.signal(signal.SIGINT, previous)


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
    if summary["mode"] == "shop":
        print(f"{summary['simulated_hours']:g} simulated hours of trading (seed {summary['seed']}) in "
              f"{summary['trading_seconds']:.0f} s; the book against the world's truth, "
              "and what the sensors caught:")
        names = {p.gtin: f"{p.brand} {p.name}" for p in catalog()}
        for s in summary["stores"]:
            print("\n".join(demo_report.shop_table(s, names)))
    else:
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
                                     description="Run the whole system on this machine: whole simulated "
                                                 "shops on real protocols, their gateways, the cloud; check "
                                                 "the ledger against the shops' ground truth and say what "
                                                 "the sensors caught.")
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--minutes", type=float,
                        help=f"wall-clock minutes of trading (default {SHOP_MINUTES:g}; --pos-only 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, help="simulated seconds per second "
                        f"(default {SHOP_SPEED:g}: 4 hours in {SHOP_MINUTES:g} minutes; --pos-only 60)")
    parser.add_argument("--shoppers", type=float,
                        help="shoppers per simulated hour (default: the trading world's 30; --pos-only 240)")
    parser.add_argument("--bins", type=int,
                        help="shelf bins (default: the trading world's 24; --pos-only 12)")
    parser.add_argument("--orders", type=float,
                        help="online orders per simulated hour, picked by staff on a handheld (default 2)")
    parser.add_argument("--workdir", type=Path, help="keep logs and databases here (default: a temp dir)")
    parser.add_argument("--platforms", action=argparse.BooleanOptionalAction, default=True,
                        help="push channel stock to six simulated sales platforms (default: on)")
    parser.add_argument("--pos-only", action="store_true",
                        help="each store's tills only (sales, returns, deliveries to the POS webhook): "
                             "no devices, no reconciler")
    parser.add_argument("--store-sim", action="store_true",
                        help="each store a whole simulated shop (`shelfsync sim store`): the default; "
                             "kept for scripts that name it")
    parser.add_argument("--reconcile-window", type=float, metavar="S",
                        help="a pick no sale claims within S simulated seconds is shrink "
                             f"(default {WINDOW_S:g}); 0: the reconciler off")
    parser.add_argument("--world", choices=("simple", "trading"), default="trading",
                        help="the shop `shelfsync sim store --world` runs (default trading: shopping trips, "
                             "thefts, online orders, returns carried in, staff rounds)")
    parser.add_argument("--door", type=int, nargs="?", const=DOOR, default=DOOR, metavar="ANTENNA",
                        help=f"the RFID reader's antenna over the shop's door, inside it (default {DOOR}; "
                             f"antenna {DOOR_OUT} is outside it, so units carried in are told from units "
                             "carried out)")
    parser.add_argument("--no-door", dest="door", action="store_const", const=None,
                        help="no antenna over the door: only the scales' windows book shrink")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--stay", action="store_true",
                        help="after the summary, keep everything running (the console too) until Ctrl-C")
    args = parser.parse_args(argv)
    if not 1 <= args.stores <= 200:
        parser.error("--stores must be within 1..200")
    if args.pos_only and args.store_sim:
        parser.error("--pos-only and --store-sim contradict each other")
    shop = not args.pos_only
    args.minutes = args.minutes if args.minutes is not None else (SHOP_MINUTES if shop else 1.0)
    args.speed = args.speed if args.speed is not None else (SHOP_SPEED if shop else 60.0)
    if not args.minutes > 0 or not 0 < args.speed <= 3600:
        parser.error("--minutes must be > 0 and --speed within (0, 3600]")
    if shop:
        args.orders = args.orders if args.orders is not None else 2.0
        window = args.reconcile_window if args.reconcile_window is not None else WINDOW_S
        if window < 0:
            parser.error("--reconcile-window must be >= 0 (0: off)")
        args.reconcile_window = window or None
        if args.door is not None and not 1 <= args.door < DOOR_OUT:
            parser.error(f"--door must be one of the reader's antennas 1..{DOOR_OUT - 1} "
                         f"({DOOR_OUT} is outside the door)")
    else:
        if args.reconcile_window is not None:
            parser.error("--reconcile-window needs the shops' sensors: leave out --pos-only")
        args.shoppers = args.shoppers if args.shoppers is not None else 240.0
        args.bins = args.bins if args.bins is not None else 12
    # SIGTERM stops what the demo started, as Ctrl-C does (its children run in sessions of their own).
    # SIGINT too when the demo was started with it ignored — a script's background job inherits
    # that, and Python then leaves it ignored: `kill -INT` stopped nothing while the shops traded
    # (with --stay it always stopped the demo).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
