"""`shelfsync sim store`: one whole simulated store on real protocols, for a real gateway to read.

ONE seeded StoreWorld (firmware_sim/world.py) drives every simulator of the store at once, in this
process, so they cannot disagree about the shop:

- an LLRP 1.0.1 RFID reader on TCP (firmware_sim/llrp/; antennas 1-3 the floor, 4 the
  backroom; with --door one over the shop's door, with --door-out a second outside it), which
  sees every tagged unit where the world has put it, and what is carried out and in by the door;
- a bus of Modbus TCP weighing modules, one device id per bin (firmware_sim/weight_shelf.py), whose
  load cells follow the world's picks, put-backs (misplaced ones too) and restocks;
- a shelf camera on HTTP (firmware_sim/camera.py), one lane per bin;
- the store's tills and back office (firmware_sim/pos.py): the opening count, sales, returns,
  deliveries and transfers posted to the gateway's POS webhook named in store.toml, in order,
  retried while the gateway is down (a real till queues offline);
- a staff handheld (firmware_sim/handheld.py): every online-order pick scanned and posted to the
  gateway's POST /v1/picks as staff take the units; with --reconcile-window every refill too
  (POST /v1/refills).

It reads the gateway's own store.toml (for the store id, the webhook address and its token) and
writes a copy with the device sections the gateway needs to find the simulators ([rfid], [shelf],
[camera], [reconcile] with --reconcile-window, [alerts] with --alerts (staff alerts to an apprise
URL, a refill rule per bin), and [clock] when the shop runs faster or slower than life, so that the
gateway keeps the shop's time), by default beside it as NAME.sim.toml, so:

    shelfsync sim store --config store.toml --seed 7 &
    shelfsync gateway --config store.sim.toml

A single driver advances the world on its clock and hands each event to the device it concerns
(the reader's field is refreshed, the touched bins' load changes, the POS request is queued); the
camera only looks at the world, it never advances it. At the end it prints a JSON summary with the
world's truth per SKU and zone (the book should equal it once the gateway's outbox has drained)
and what happened that the sensors should catch (`happened`: each theft with its units' EPCs, each
unit a shopper left on a wrong bin, each staff refill), and `--truth-out` writes the same to a file.

RFID presence is left off in the written [rfid] section: presence books tag moves itself, and the
back office already posts every restock as a move, so both on would book each restock twice. The
reader serves the stocktakes the cloud asks for. With --reconcile-window the back office does not
post restocks either: staff scan them on the handheld, and the reconciler books them from the
scales, or from the scan where no sensor watches the shelf (see README "Devices").

This module imports nothing from edge or cloud: it speaks only the wire protocols.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim import procs
from firmware_sim.camera import CameraServer, CameraSim
from firmware_sim.camera import print_config as camera_config
from firmware_sim.handheld import Handheld
from firmware_sim.llrp.air import DOOR_IN, DOOR_OUT, EXIT, sgtin96, zone_antennas
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from firmware_sim.loadcell import CellSpec
from firmware_sim.pos import PosClient, opening_count, requests_for, ts, world_start
from firmware_sim.weight_shelf import ShelfSim, WorldFeed
from firmware_sim.weight_shelf import print_config as shelf_config
from firmware_sim.world import (
    BACKROOM,
    FLOOR,
    Pick,
    PutBack,
    Restock,
    StoreWorld,
    Theft,
    WorldConfig,
)

log = logging.getLogger("shelfsync.sim.store")

DEVICE_SECTIONS = ("rfid", "shelf", "camera", "reconcile", "clock", "alerts")
# Faster or slower than life, the shop opens this many real seconds after the gateway's config is
# written: a gateway starts in a few (7 on a loaded 2-core machine), and at 60x each is a minute of
# the shop's that it would not see.
OPENS_AFTER_S = 10.0
# ... and its gateway's reconciler waits this many real seconds for an observation to come in
# (edge/fusion/pipeline.py late_s, 5 by default): at 60x a scale whose bin a hand touches every
# real second settles, and reports the first hand's pick, many seconds later.
LATE_S = 15.0

EPILOG = """examples:
  shelfsync sim store --config store.toml --seed 7 &      # writes store.sim.toml beside it
  shelfsync gateway --config store.sim.toml
  shelfsync sim store --config store.toml --minutes 10 --speed 1 --reconcile-window 120 --linger
  shelfsync sim store --config store.toml --world trading --minutes 10 --speed 60 \
      --reconcile-window 1500 --door 4 --door-out 5 --antennas 5 --truth-out truth.json

--world simple is the shop the device simulators grew up with (a shopper picks and pays in the
same instant); --world trading is WorldConfig.trading() (trips of minutes, thefts, abandoned
baskets, online orders picked by staff with handhelds, returns and transfers carried in, tidy
rounds). At --speed other than 1 the written config has a [clock] section: the gateway then
keeps the shop's time (edge/clock.py) and reconciles on it.
"""


class StoreSimError(Exception):
    """Bad arguments or config; the message says what to change."""


# --- the gateway's store.toml ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    store: str
    webhook: str  # base URL of the gateway's POS webhook
    token: str
    text: str  # the store.toml as written
    path: Path


def read_store_config(path: Path, env: dict[str, str] | None = None) -> GatewayTarget:
    """The store id, webhook URL and POS token from a gateway's store.toml."""
    env = dict(os.environ) if env is None else env
    try:
        text = path.read_text()
        doc = tomllib.loads(text)
    except FileNotFoundError:
        raise StoreSimError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreSimError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise StoreSimError(f"{path}: not valid TOML: {e}") from None
    store_t, http_t = doc.get("store", {}), doc.get("http", {})
    if not isinstance(store_t, dict) or not isinstance(store_t.get("id"), str):
        raise StoreSimError(f"{path}: [store].id is required")
    if not isinstance(http_t, dict):
        raise StoreSimError(f"{path}: [http] must be a table")
    listen = http_t.get("listen", "127.0.0.1:8081")
    host, sep, port = str(listen).rpartition(":")
    if not sep or not port.isdigit():
        raise StoreSimError(f"{path}: [http].listen must be HOST:PORT, got {listen!r}")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"  # listening on every address: reach it on this machine
    token = http_t.get("token")
    if token is None and "token_env" in http_t:
        token = env.get(str(http_t["token_env"]))
        if not token:
            raise StoreSimError(f"{path}: [http].token_env names {http_t['token_env']!r}, which is not set")
    if not isinstance(token, str) or not token:
        raise StoreSimError(f"{path}: [http].token (or token_env) is required: the POS sends it")
    return GatewayTarget(store_t["id"], f"http://{host}:{port}", token, text, path)


def gateway_config_text(target: GatewayTarget, sections: Iterable[str]) -> str:
    """store.toml with the simulators' device sections appended; refuses a config that has its own."""
    doc = tomllib.loads(target.text)
    taken = [s for s in DEVICE_SECTIONS if s in doc]
    if taken:
        raise StoreSimError(f"{target.path} already has [{'], ['.join(taken)}]: the store sim writes "
                            "those for its own devices; give it a config without them")
    body = (target.text.rstrip("\n")
            + "\n\n# --- written by `shelfsync sim store`: its simulated devices ---\n\n")
    return body + "\n\n".join(s.strip("\n") for s in sections) + "\n"


# --- the shop's devices on one world ----------------------------------------------------------


def rfid_section(world: StoreWorld, host: str, port: int, antennas: int, door: int | None = None,
                 door_out: int | None = None) -> str:
    zones = zone_antennas(antennas, door, door_out)
    ants = ", ".join(f'{a} = "{zone}"' for zone in (FLOOR, BACKROOM, EXIT, DOOR_IN, DOOR_OUT)
                     for a in zones.get(zone, ()))
    skus = ", ".join(f'"{g}"' for g in sorted({b.gtin for b in world.bins.values()}))
    return (
        "[rfid]\n"
        "# presence off: the back office posts every restock as a move already\n"
        f"presence = false\nquiet_s = 3.0\nskus = [{skus}]\n\n"
        f'[[rfid.reader]]\nname = "sim-reader"\nhost = "{host}"\nport = {port}\nzones = {{{ants}}}\n'
    )


def reconcile_tick(window_s: float) -> float:
    """How often the gateway's reconciler ticks for a window: a fifth of it, 1-10 s."""
    return max(1.0, min(10.0, window_s / 5))


def opens_on_the_half_hour(at: datetime) -> datetime:
    """The half hour at or before `at`. The world's staff rounds keep to the half hours of the day,
    so a world opening on one meets them as every other does: the same seed, the same shop."""
    return at.replace(minute=at.minute - at.minute % 30, second=0, microsecond=0)


def reconcile_wait(window_s: float) -> float:
    """How long after the last pick the gateway may still book its shrink: a fifth longer than the
    window where the door saw nothing of it (edge/fusion/state.py UNSEEN_WAIT), and two ticks."""
    return window_s * 1.2 + 2 * reconcile_tick(window_s)


# The reconciler re-anchors a SKU whose scales have shown more units than its book for this long
# with nothing pending (edge/fusion/state.py `settle`, 10 minutes of the shop's time): a
# refill the scales read short (a shopper's hand in it) is booked then.
SETTLE_S = 600.0


def settled_wait(window_s: float) -> float:
    """How long after the last pick the gateway may still book: its shrink (`reconcile_wait`), then
    the re-anchoring of a floor the scales disagree with, a `settle` and a tick later."""
    return reconcile_wait(window_s) + SETTLE_S + reconcile_tick(window_s)


def reconcile_section(window_s: float, late_s: float | None = None) -> str:
    late = f"late_s = {late_s:g}\n" if late_s is not None else ""
    return f"[reconcile]\nwindow_s = {window_s:g}\ntick_s = {reconcile_tick(window_s):g}\n{late}"


def clock_section(start: datetime, wall: float, speed: float) -> str:
    """The shop's clock for the gateway (edge/clock.py): `start` when this machine said `wall`."""
    return (f'[clock]\nstart = "{ts(start)}"\nwall = "{ts(datetime.fromtimestamp(wall, UTC))}"\n'
            f"speed = {speed:g}\n")


def alerts_section(world: StoreWorld, url: str) -> str:
    """Staff alerts to `url` (an apprise URL), a refill rule per bin at the world's own refill
    level (as staff keep it) and the product's name. The rate limit is the gateway's (wall-clock)
    hour, so it is lifted: a shop at 60x has a day's alerts in minutes."""
    names = {p.gtin: f"{p.brand} {p.name}" for p in world.products.values()}
    rules = "".join(f'\n[alerts.bins.{b.id}]\nproduct = "{names.get(b.gtin, b.gtin)}"\n'
                    f"refill_at = {b.refill_at}\n" for b in sorted(world.bins.values(), key=lambda b: b.id))
    return f'[alerts]\nstaff = ["{url}"]\nrate_per_hour = 100000\n{rules}'


def epc_of(world: StoreWorld, uid: int) -> str:
    """The hex SGTIN-96 EPC of a tagged unit, as the reader reports it."""
    u = world.units[uid]
    return sgtin96(u.gtin, u.serial, len(world.sgtin(u)[0])).hex()


@dataclass
class Happened:
    """What the shop did that its sensors should catch: every theft (with its units' EPCs, if
    tagged), every unit a shopper left on a wrong bin, every refill staff made."""

    thefts: list[dict[str, Any]] = field(default_factory=list)
    misplaced: list[dict[str, Any]] = field(default_factory=list)
    refills: list[dict[str, Any]] = field(default_factory=list)

    def take(self, e: object, world: StoreWorld) -> None:
        if isinstance(e, Theft):
            self.thefts.append({"at": ts(e.at), "picked_at": ts(e.picked_at) if e.picked_at else None,
                                "bin": e.bin, "sku": e.gtin, "qty": len(e.uids),
                                "epcs": [epc_of(world, u) for u in e.uids if world.units[u].tagged]})
        elif isinstance(e, PutBack) and e.misplaced:
            home = next((b.id for b in world.bins.values() if b.gtin == e.gtin), None)
            self.misplaced.append({"at": ts(e.at), "bin": e.bin, "sku": e.gtin, "qty": len(e.uids),
                                   "home": home, "by": e.by})
        elif isinstance(e, Restock):
            self.refills.append({"at": ts(e.at), "bin": e.bin, "sku": e.gtin, "qty": len(e.uids)})

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"thefts": self.thefts, "misplaced": self.misplaced, "refills": self.refills}


# --- the run --------------------------------------------------------------------------------


@dataclass
class Tally:
    events: Counter[str] = field(default_factory=Counter)
    shelf_changes: int = 0
    pos_failed: int = 0
    pos_queued: int = 0


def world_config(kind: str, bins: int | None, shoppers: float | None,
                 orders: float | None = None) -> WorldConfig:
    overrides: dict[str, Any] = {}
    if bins is not None:
        overrides["bins"] = bins
    if shoppers is not None:
        overrides["shoppers_per_hour"] = shoppers
    if orders is not None:
        overrides["online_orders_per_hour"] = orders
    if kind == "trading":
        # The simulator trades now: the shop is open whatever the hour. Staff pick online orders
        # and scan them on a handheld (POST /v1/picks), so the reconciler knows their picks.
        return WorldConfig.trading(open_hours=None, **overrides)
    return WorldConfig(**overrides)


def truth_of(world: StoreWorld) -> dict[str, dict[str, int]]:
    """What the book should hold: per SKU, `floor` (shelves, baskets, pickup, go-backs) and
    `backroom`, for every SKU the shop has owned (zeros included)."""
    gtins = sorted({b.gtin for b in world.bins.values()} | {u.gtin for u in world.units.values()})
    out = {}
    for g in gtins:
        s = world.stock(g)
        out[g] = {"floor": s["floor"], "backroom": s["backroom"]}
    return out


async def run_store(args: argparse.Namespace, target: GatewayTarget, stop: asyncio.Event,
                    say: Any) -> dict[str, Any]:
    mono0, wall0 = time.monotonic(), time.time()
    # The shop's clock: `clock0` now, `speed` times faster since. At any other speed than life the
    # gateway keeps it too ([clock]), and the shop opens a few real seconds on, so the gateway
    # started on the config written now reads the scales and the reader from the first pick (at
    # 60x the 3-7 s a gateway takes to start were as many shop minutes unseen). Its clock stays
    # behind the wall clock until trading is over and, with the reconciler on, its last window has
    # closed: the cloud refuses deltas dated far ahead of its own clock.
    opens_s = 0.0 if args.speed == 1 else OPENS_AFTER_S
    late_s = None if args.speed == 1 else LATE_S
    after = timedelta(seconds=settled_wait(args.reconcile_window) + (late_s or 0) * args.speed
                      if args.reconcile_window and args.speed != 1 else 0.0)
    clock0 = world_start(args.minutes + opens_s / 60, args.speed, datetime.fromtimestamp(wall0, UTC), after)
    start = clock0 + timedelta(seconds=opens_s * args.speed)
    if args.speed != 1:  # on the half hour, as staff rounds are: a seed is then the same shop at any hour
        start = opens_on_the_half_hour(start)
        clock0 = start - timedelta(seconds=opens_s * args.speed)
    world = StoreWorld(store=target.store, seed=args.seed, start=start,
                       config=world_config(args.world, args.bins, args.shoppers, args.orders))
    end = start + timedelta(minutes=args.minutes * args.speed) if args.minutes else None

    def sim_now() -> datetime:
        """The shop's clock. It runs on after trading ends (the world stops, the physics does not:
        a hand lifted from a scale in the last second still settles)."""
        return clock0 + timedelta(seconds=(time.monotonic() - mono0) * args.speed)

    def sim_posix() -> float:
        return sim_now().timestamp()

    # The reader stamps its reads on the shop's clock (as a real one is kept to the shop's time).
    reader = LLRPReaderSim(SimSettings(antennas=args.antennas, rate=args.rate, seed=args.seed,
                                       door=args.door, door_out=args.door_out), world=world,
                           shop_clock=sim_posix if args.speed != 1 else None)
    handheld = Handheld(target.store)
    # (The scales hold the opening stock from the clock's start: read before the shop opens, they
    # show it already.)
    shelf = ShelfSim(args.map, seed=args.seed, spec=CellSpec(noise_g=args.noise), start=clock0,
                     clock=sim_posix)
    feed = WorldFeed(shelf, world=world)  # one driver advances the world every device shares
    # speed 0: the camera looks at the world as the driver left it and never advances it itself
    # (an advance there would swallow events the POS and the scales must see).
    camera = CameraSim(len(world.bins), args.seed, args.camera_size, world=world, speed=0.0, hands=0.0)
    tally, happened = Tally(), Happened()
    async with contextlib.AsyncExitStack() as stack:
        await reader.start(args.host, 0)
        stack.push_async_callback(reader.close)
        shelf_port = await shelf.serve_tcp(args.host, 0)
        stack.push_async_callback(shelf.close)
        cam_server = await stack.enter_async_context(CameraServer(camera, args.host, 0, fps=1.0))
        await cam_server.next_frame()  # the lanes' ROIs come from a rendered frame
        shelves = shelf_config(shelf, f"{args.host}:{shelf_port}", False)
        detector = "\n[shelf.detector]\nmin_delta_g = 20\n" if args.reconcile_window else ""
        if args.speed > 1:
            # Hands at one bin come `speed` times sooner one after another, and the scale's detector
            # reads two hands within its window (and settling) as one: the scales are read twice as
            # often, on two connections, and judged over half a real second (30 s of the shop's at
            # 60x) instead of one.
            shelves = shelves.replace("poll_hz = 10\n", "poll_hz = 20\nconnections = 2\n", 1)
            detector = (detector or "\n[shelf.detector]\n") + "window_s = 0.5\nsettle_s = 0.25\n"
        sections = [rfid_section(world, args.host, reader.port, args.antennas, args.door, args.door_out),
                    shelves + detector, camera_config(camera, cam_server.url)]
        if args.reconcile_window:
            sections.append(reconcile_section(args.reconcile_window, late_s))
        if args.speed != 1:
            sections.append(clock_section(clock0, wall0, args.speed))
        if args.alerts:
            sections.append(alerts_section(world, args.alerts))
        config_text = gateway_config_text(target, sections)
        args.gateway_config.write_text(config_text)
        say(f"store sim {target.store}: {len(world.bins)} bins; LLRP reader on {args.host}:{reader.port}, "
            f"Modbus TCP on {args.host}:{shelf_port} ({args.map}), camera on {cam_server.url}; "
            f"POS to {target.webhook}")
        say(f"store sim {target.store}: ready: gateway config in {args.gateway_config} "
            f"(shelfsync gateway --config {args.gateway_config}); Ctrl-C stops")

        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            client = PosClient(session, target.webhook, target.token)

            async def till() -> None:
                while (item := await queue.get()) is not None:
                    path, body = item
                    try:
                        await client.post(path, body, deadline_s=args.pos_deadline)
                    except (ValueError, TimeoutError) as e:
                        tally.pos_failed += 1
                        name = body.get("txn") or body.get("ref") or body.get("scan")
                        log.error("POS %s %s: %s", path, name, e)
                    finally:
                        queue.task_done()

            tills = asyncio.create_task(till(), name="store-sim-pos")
            if opens_s:
                say(f"store sim {target.store}: the shop opens in {opens_s:g} s, at {start:%H:%M:%S} "
                    "simulated: start its gateway now")
                opens_in = max(0.0, (start - sim_now()).total_seconds() / args.speed)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), opens_in)
                say(f"store sim {target.store}: the shop opens; "
                    + ("the gateway reads its devices" if reader.connected else
                       "no gateway reads its devices yet: what happens before it does, it cannot see"))
            # The opening count when the shop opens (a till's time ahead of the gateway's is refused).
            queue.put_nowait(("/v1/stock/movements", opening_count(world)))
            tally.pos_queued += 1
            last_report = time.monotonic()
            trading, closing = True, False
            while trading and not stop.is_set():
                t = sim_now() if end is None else min(sim_now(), end)
                events = reader.advance_world(t)  # also refreshes the reader's tag field
                tally.shelf_changes += feed.apply(events)
                for e in events:
                    tally.events[type(e).__name__] += 1
                    happened.take(e, world)
                    if isinstance(e, Restock) and args.reconcile_window:
                        # Staff scan the refill on the handheld; the reconciler books it (from the
                        # shelf's rise where a sensor watches it, else from the scan).
                        staff, office = handheld.refills_for(e, world), []
                    else:
                        staff = handheld.requests_for(e, world) if isinstance(e, Pick) else []
                        office = requests_for(e, world)
                    for request in [*office, *staff]:
                        queue.put_nowait(request)
                        tally.pos_queued += 1
                if time.monotonic() - last_report >= args.progress_s:
                    last_report = time.monotonic()
                    say(f"store sim {target.store}: {world.now:%H:%M:%S} simulated, "
                        f"{tally.events['Pick']} picks, {client.stats.transactions} transactions, "
                        f"{client.stats.deltas} deltas, {queue.qsize()} queued for the POS")
                if end is not None and t >= end:
                    if not closing:
                        # Closing time: the shoppers inside finish their trips (at the till within
                        # two simulated minutes), so nothing is left in a basket, unpaid.
                        closing = True
                        end = world.close_doors()
                        if end > t:
                            say(f"store sim {target.store}: closing, the last shoppers leave by "
                                f"{end:%H:%M:%S} simulated")
                            continue
                    trading = False
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)  # a tick of the shop, or the stop
            # The tills finish what was rung up (unless stopped, when they get a moment only).
            queue.put_nowait(None)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({tills, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not tills.done():
                await asyncio.wait({tills}, timeout=5)  # a moment for the request in flight
                tills.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tills
            stopped.cancel()
        unsent = (tally.pos_queued - client.stats.transactions - client.stats.movements - client.stats.picks
                  - tally.pos_failed)
        summary = {
            "store": target.store, "seed": args.seed, "world": args.world,
            "start": start.isoformat(), "end": world.now.isoformat(),
            "simulated_minutes": round((world.now - start).total_seconds() / 60, 2),
            "events": dict(sorted(tally.events.items())), "shelf_changes": tally.shelf_changes,
            "transactions": client.stats.transactions, "movements": client.stats.movements,
            "picks": client.stats.picks,
            "deltas": client.stats.deltas, "pos_failed": tally.pos_failed,
            "pos_unsent": unsent, "pos_retries": client.stats.retries, "complete": not stop.is_set(),
            "truth": truth_of(world),
            "bins": {b: len(world.bin_units(b)) for b in sorted(world.bins)},  # units lying on each
            "sensed": sorted({b.gtin for b in world.bins.values() if b.sensor is not None}),
            "happened": happened.as_dict(),
        }
        if args.truth_out:
            args.truth_out.write_text(json.dumps(summary, indent=1))
        say(f"store sim {target.store}: {'stopped' if stop.is_set() else 'trading done'} at "
            f"{world.now:%H:%M:%S} simulated: {client.stats.transactions} transactions, "
            f"{client.stats.deltas} deltas, {tally.pos_failed} POS requests failed, {unsent} unsent")
        if args.linger and not stop.is_set():
            print(json.dumps(summary), flush=True)
            summary["printed"] = True
            say(f"store sim {target.store}: the devices stay up (the shop holds still); Ctrl-C stops")
            await stop.wait()
    return summary


def launch(config: Path, *args: str, name: str, timeout: float = 60.0) -> tuple[procs.Proc, Path]:
    """Start `shelfsync sim store --config CONFIG ARGS` as a process (its output in NAME.log beside
    the config) and wait until its devices listen; returns it and the gateway config it wrote."""
    proc = procs.Proc(name, procs.shelfsync("sim", "store", "--config", str(config), *args),
                      config.parent / f"{name}.log").start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready: gateway config" in proc.tail(50):
            return proc, config.with_name(config.stem + ".sim.toml")
        if not proc.alive:
            raise procs.ProcessError(f"{name} exited during start:\n{proc.tail()}")
        time.sleep(0.05)
    proc.stop()
    raise procs.ProcessError(f"{name}: devices not up after {timeout}s:\n{proc.tail()}")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1280x720, got {text!r}") from None
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise argparse.ArgumentTypeError("width and height must be 64..4096")
    return w, h


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="One simulated store on real protocols (LLRP reader, Modbus TCP weight shelves, "
                    "camera HTTP, POS webhook), all following one seeded store world, for a real "
                    "gateway to read.")
    p.add_argument("--config", type=Path, required=True, help="the gateway's store.toml (store id, "
                   "[http] webhook and token)")
    p.add_argument("--gateway-config", type=Path, help="write the gateway's config with the device "
                   "sections here (default: NAME.sim.toml beside --config)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="wall-clock minutes of trading (default 0: until stopped)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    p.add_argument("--world", choices=("simple", "trading"), default="simple",
                   help="the shop: simple (pick and pay at once) or trading (see below)")
    p.add_argument("--shoppers", type=float, help="shoppers per simulated hour (default: the world's)")
    p.add_argument("--bins", type=int, help="shelf bins, 1..48 (default: the world's, 12 or 24)")
    p.add_argument("--orders", type=float, help="online orders per simulated hour, picked in the shop "
                   "by staff on a handheld (default: the world's; the trading world's is 1)")
    p.add_argument("--reconcile-window", type=float, metavar="S",
                   help="add a [reconcile] section: a pick no sale claims within S seconds is shrink")
    p.add_argument("--alerts", metavar="URL",
                   help="add an [alerts] section: staff alerts to this apprise URL (e.g. "
                        "json://HOST:PORT/PATH), a refill rule per bin at the world's refill level")
    p.add_argument("--linger", action="store_true",
                   help="after --minutes, keep the devices up (the shop holding still) until stopped")
    p.add_argument("--truth-out", type=Path, help="write the summary with the world's truth here")
    p.add_argument("--host", default="127.0.0.1", help="address the devices listen on")
    p.add_argument("--antennas", type=int, default=4, help="reader antennas (the last: backroom)")
    p.add_argument("--door", type=int, metavar="ANTENNA",
                   help="one of the reader's antennas is over the exit: what shoppers carry out passes "
                        "it, and the gateway's reconciler books a unit leaving unpaid at once")
    p.add_argument("--door-out", type=int, metavar="ANTENNA",
                   help="with --door: a second antenna, outside the door, so the gateway tells units "
                        "carried out from those carried in (returns, transfers)")
    p.add_argument("--rate", type=float, default=400.0, help="reader air rate, tags/s")
    p.add_argument("--map", default="dini-dgt4x", help="weighing modules' register map")
    p.add_argument("--noise", type=float, default=2.0, help="load cell noise sigma, grams")
    p.add_argument("--camera-size", type=_size, default=(1280, 720), help="frame WxH (default 1280x720)")
    p.add_argument("--pos-deadline", type=float, default=120.0,
                   help="seconds a POS request is retried while the gateway is unreachable")
    p.add_argument("--progress-s", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("-v", "--verbose", action="store_true", help="log the devices' connections")
    return p


def check_args(args: argparse.Namespace) -> None:
    if args.speed <= 0 or not math.isfinite(args.speed):
        raise StoreSimError("--speed must be a positive number")
    if args.minutes < 0:
        raise StoreSimError("--minutes must be >= 0")
    if args.bins is not None and not 1 <= args.bins <= 48:
        raise StoreSimError("--bins must be within 1..48 (one camera lane and Modbus id per bin)")
    if args.shoppers is not None and args.shoppers < 0:
        raise StoreSimError("--shoppers must be >= 0")
    if args.orders is not None and args.orders < 0:
        raise StoreSimError("--orders must be >= 0")
    if not 1 <= args.antennas <= 32:
        raise StoreSimError("--antennas must be within 1..32")
    if args.door is not None and not 1 <= args.door <= args.antennas:
        raise StoreSimError("--door must be one of the reader's antennas")
    if args.door_out is not None and (args.door is None or args.door_out == args.door
                                      or not 1 <= args.door_out <= args.antennas):
        raise StoreSimError("--door-out needs --door and must be another of the reader's antennas")
    if args.reconcile_window is not None and args.reconcile_window <= 0:
        raise StoreSimError("--reconcile-window must be > 0 seconds")
    if args.speed > 1 and not args.minutes:
        raise StoreSimError("--speed above 1 needs --minutes: the shop's clock would run ahead of the "
                            "gateway's, which refuses till times from the future")
    if args.linger and not args.minutes:
        raise StoreSimError("--linger needs --minutes (without it the shop trades until stopped)")


def main(argv: list[str], prog: str = "shelfsync sim store") -> int:
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # a client's hang-up is not news

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        check_args(args)
        target = read_store_config(args.config)
        gateway_config_text(target, [])  # refuses a config with device sections of its own, early
        if args.gateway_config is None:
            args.gateway_config = args.config.with_name(args.config.stem + ".sim.toml")
        if args.gateway_config.resolve() == args.config.resolve():
            raise StoreSimError("--gateway-config must not overwrite --config")
        summary = asyncio.run(_main(args, target, say))
    except StoreSimError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if not summary.pop("printed", False):
        print(json.dumps(summary), flush=True)
    return 0 if summary["pos_failed"] == 0 else 1


async def _main(args: argparse.Namespace, target: GatewayTarget, say: Any) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run_store(args, target, stop, say)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
