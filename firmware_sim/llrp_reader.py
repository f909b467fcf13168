"""A simulated fixed UHF RFID reader speaking LLRP 1.0.1 over TCP, observing the store world.

Any LLRP client can run an inventory against it (`shelfsync sim llrp --port 5084`). It follows the
reader's side of the LLRP 1.0.1 standard: the ConnectionAttemptEvent on accept and a refusal for a
second client while the first is still connected (§13.2.6.11), capabilities with a power and mode
table (§9), reader configuration with keepalives (§12), the ROSpec state machine Disabled →
Inactive → Active with ID 0 meaning "all" (§10.2.1), state-aware singulation (§15.2.1.2.1),
RO_ACCESS_REPORTs honouring the report trigger and the tag report content selector (§13.2.1),
CLOSE_CONNECTION (§14), and ERROR_MESSAGE for what it does not support.

Two makes (`SimSettings.vendor`, `--vendor`): `impinj` (the default) names Impinj in its
capabilities and takes Impinj's extensions (IMPINJ_ENABLE_EXTENSIONS, the inventory search mode
parameter); `generic` is a reader of another make (Zebra, ThingMagic, Alien, CAEN...) that speaks
standard LLRP only: it answers every CUSTOM_MESSAGE with ERROR_MESSAGE M_UnsupportedMessage
(§8.1) and refuses a message carrying a custom parameter (§8.2).

The tags are the store world's tagged units: SGTIN-96 EPCs of catalog GTINs, floor units seen by
the floor antennas (by bin), backroom units by the last antenna. The air model gives each tag an
RSSI and a per-attempt read probability, keeps Gen2 inventoried flags per session (S0 forgets at
once; S1 after ~2 s; S2/S3 hold while powered and a few seconds after), honours single/dual target,
and caps singulations at the configured air rate (tags/s). Left to choose its target, the Impinj
inventories single target, the generic reader dual target (A and B in turn).

Fault switches for tests and demos: `drop()` (abort the TCP connection), `go_silent()` (half-open:
the reader stops talking and listening but keeps the socket), `corrupt(kind)` (send a malformed
frame). The CLI reads the same switches from stdin lines:
drop | silent | corrupt [header|param|epc].

Simplifications, on purpose: ROSpecs and configuration live on the reader across connections, but
the RF only runs while a client is connected and reports are not held for a disconnected client
(EventsAndReports is accepted and echoed, not acted on); AccessSpecs (tag writes) are refused;
one ROSpec runs at a time; periodic and GPI triggers are refused with a status.

This module imports nothing from edge or cloud (ARCHITECTURE §3): it speaks only LLRP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue

from firmware_sim import llrp_frames as fr
from firmware_sim.llrp_frames import MsgType, Status
from firmware_sim.world import BACKROOM, FLOOR, Event, Sale, StoreWorld, Theft, WorldConfig

log = logging.getLogger("shelfsync.sim.llrp")

TICK_S: Final = 0.02  # air model step; reads are spread over antennas one tick at a time
S1_PERSIST_S: Final = 2.0  # Gen2 §6.3.2.2: S1 persistence 0.5-5 s, energised or not
S23_UNPOWERED_PERSIST_S: Final = 5.0  # Gen2: S2/S3 persist > 2 s once the tag loses power
MAX_ATTEMPTS_PER_TICK: Final = 20_000
DOOR_S: Final = 4.0  # seconds a unit carried out is within the door antenna's reach
LATE_TICK_S: Final = 2 * TICK_S  # wall time one tick may cover when the sim runs faster than life
VENDORS: Final = ("impinj", "generic")
RECEIVED_LOG: Final = 10_000  # frames kept in `LLRPReaderSim.received`


# --- the tags -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """How one antenna sees one tag."""

    antenna: int
    rssi: int  # dBm
    p_read: float  # chance that one singulation attempt on this antenna reads the tag


@dataclass(frozen=True, slots=True)
class SimTag:
    uid: int
    epc: bytes  # 12 bytes, SGTIN-96
    gtin: str
    serial: int
    zone: str
    bin: str | None
    sightings: tuple[Sighting, ...]


def sgtin96(gtin: str, serial: int, company_prefix_len: int) -> bytes:
    """GS1 TDS 2.1 §14.5.1 SGTIN-96 (filter 1 = point-of-sale item) via epcpy."""
    tag = SGTIN.from_gtin_plus_serial(gtin, str(serial), company_prefix_len)
    return bytes.fromhex(
        tag.hex(
            binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_96,
            filter_value=SGTINFilterValue.POS_ITEM,
        )
    )


EXIT: Final = "exit"  # the zone of an antenna over the shop's door


def zone_antennas(antennas: int, door: int | None = None) -> dict[str, tuple[int, ...]]:
    """Default layout: the last antenna covers the backroom, the others the sales floor; `door`,
    if given, is an antenna over the exit instead (zone `exit`)."""
    usable = [a for a in range(1, antennas + 1) if a != door]
    doors: dict[str, tuple[int, ...]] = {EXIT: (door,)} if door is not None else {}
    if len(usable) < 2:
        return {FLOOR: (usable[0],), BACKROOM: (usable[0],), **doors}
    return {FLOOR: tuple(usable[:-1]), BACKROOM: (usable[-1],), **doors}


def world_for_tags(tags: int, seed: int, config: WorldConfig | None = None) -> StoreWorld:
    """A world with at least `tags` tagged units on hand (it grows the planogram until it has)."""
    config = config or WorldConfig()
    bins = config.bins
    while True:
        world = StoreWorld(store="sh-0001", seed=seed, config=replace(config, bins=bins))
        on_hand = sum(1 for u in world.units.values() if u.tagged and u.zone in (FLOOR, BACKROOM))
        if on_hand >= tags:
            return world
        bins = max(bins + 1, math.ceil(bins * tags / max(on_hand, 1) * 1.05))


@dataclass(slots=True)
class TagField:
    """Every tag the reader's antennas can reach, built from the world and refreshed as it moves.

    EPCs and radio properties are made once per unit (seeded by uid) so a unit keeps its RSSI
    and read probability for life; only its zone and bin follow the world."""

    world: StoreWorld
    antennas: int
    seed: int = 0
    limit: int | None = None  # at most this many of the opening units (by uid); later units always
    door: int | None = None  # the antenna over the exit
    leaving: set[int] = field(default_factory=set)  # units passing the door now
    _cache: dict[int, SimTag] = field(default_factory=dict)
    _opening: set[int] = field(default_factory=set)
    _max_opening_uid: int = 0
    _ready_at: datetime | None = None
    tags: list[SimTag] = field(default_factory=list)

    def __post_init__(self) -> None:
        opening = sorted(
            u.uid for u in self.world.units.values() if u.tagged and u.zone in (FLOOR, BACKROOM)
        )
        if self.limit is not None and opening:
            opening = opening[: self.limit]
        self._opening = set(opening)
        self._max_opening_uid = max(self.world.units, default=0)
        self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Rebuild the population if the world moved since the last refresh; True if it did."""
        if self._ready_at == self.world.now and self.tags and not force:
            return False
        layout = zone_antennas(self.antennas, self.door)
        floor_ants = layout[FLOOR]
        bin_index = {b: i for i, b in enumerate(sorted(self.world.bins))}
        tags: list[SimTag] = []
        for u in self.world.units.values():
            if not u.tagged or u.zone not in (FLOOR, BACKROOM) or u.uid in self.leaving:
                continue
            if u.uid <= self._max_opening_uid and u.uid not in self._opening:
                continue
            cached = self._cache.get(u.uid)
            if cached is None or cached.zone != u.zone or cached.bin != u.bin:
                cached = self._make(
                    u.uid, u.gtin, u.serial, u.zone, u.bin, layout, floor_ants, bin_index
                )
                self._cache[u.uid] = cached
            tags.append(cached)
        if self.door is not None:
            for uid in sorted(self.leaving):
                u = self.world.units[uid]
                if u.tagged:  # carried out: strong and brief on the door's antenna
                    tags.append(SimTag(uid, sgtin96(u.gtin, u.serial, len(self.world.sgtin(u)[0])),
                                       u.gtin, u.serial, EXIT, None, (Sighting(self.door, -48, 0.95),)))
        self.tags = tags
        self._ready_at = self.world.now
        return True

    def _make(
        self,
        uid: int,
        gtin: str,
        serial: int,
        zone: str,
        bin_id: str | None,
        layout: dict[str, tuple[int, ...]],
        floor_ants: tuple[int, ...],
        bin_index: dict[str, int],
    ) -> SimTag:
        rng = random.Random(f"{self.seed}:{uid}")
        if zone == FLOOR and bin_id is not None:
            primary = floor_ants[bin_index.get(bin_id, 0) % len(floor_ants)]
        else:
            primary = layout[zone][rng.randrange(len(layout[zone]))]
        rssi = int(max(-82.0, min(-35.0, rng.gauss(-58.0, 7.0))))
        # Read probability falls off towards the receiver's sensitivity; ~0.2 % of tags sit badly
        # (on metal, behind liquid, folded) and answer only rarely.
        p = max(0.05, min(0.98, 0.98 - (-45 - rssi) * 0.012))
        if rng.random() < 0.002:
            p = 0.03
        sightings = [Sighting(primary, rssi, p)]
        neighbours = [a for a in floor_ants if abs(a - primary) == 1] if zone == FLOOR else []
        if neighbours and rng.random() < 0.3:
            sightings.append(Sighting(rng.choice(neighbours), rssi - rng.randint(8, 16), p * 0.3))
        company = len(self.world.sgtin(self.world.units[uid])[0])
        return SimTag(
            uid, sgtin96(gtin, serial, company), gtin, serial, zone, bin_id, tuple(sightings)
        )


@dataclass(frozen=True, slots=True)
class Read:
    tag: SimTag
    antenna: int
    rssi: int
    channel: int


class AirModel:
    """Gen2 inventory rounds on one antenna at a time, with session flags and a slot budget.

    Single target (state A): a tag answers while its flag for the session is A; a successful read
    flips it to B, where it stays (S1 ~2 s, S2/S3 while powered, S0 not at all since the reader
    hops antennas and the tag loses power in between). Target B is the mirror image: tags in B
    answer and go back to A. Dual target inventories A and B in turn, so every tag answers every
    round and leaves its flag flipped each time. A reader left to choose (no search mode, no
    state-aware singulation) inventories single target if `own_single_target`, else dual."""

    def __init__(
        self,
        tags: Iterable[SimTag],
        antennas: int,
        rng: random.Random,
        own_single_target: bool = True,
    ) -> None:
        self.rng = rng
        self.antennas = antennas
        self.own_single_target = own_single_target
        self._by_antenna: dict[int, list[tuple[SimTag, Sighting]]] = {}
        self._pending: dict[int, list[int]] = {}
        self._flag_b: dict[bytes, float] = {}  # epc -> when it went to B
        self._requeue = False  # tags went back to A outside a reset: rebuild the A rounds
        self._rf_off_at: float | None = None
        self.session = 2
        self.target: fr.InventoryState | None = fr.InventoryState.A  # None: dual target
        self.last_spent_left = 0  # attempts `step` left unspent (its round ran out of tags)
        self.load(tags)

    @property
    def single_target(self) -> bool:
        return self.target is not None

    def load(self, tags: Iterable[SimTag]) -> None:
        by_antenna: dict[int, list[tuple[SimTag, Sighting]]] = {
            a: [] for a in range(1, self.antennas + 1)
        }
        for t in tags:
            for s in t.sightings:
                if s.antenna in by_antenna:
                    by_antenna[s.antenna].append((t, s))
        self._by_antenna = by_antenna
        self._pending = {a: list(range(len(v))) for a, v in by_antenna.items()}

    def power_on(self, spec: fr.InventorySpec, now: float, rospec_start: bool) -> None:
        """Start an AISpec. `rospec_start`: the RF was off before (a new ROSpec run), which is when
        "single target reset" re-arms every tag to A and S2/S3 flags may have decayed."""
        self.session = spec.session
        if spec.target is not None:  # the client manages tag states (LLRP 1.0.1 §15.2.1.2.1)
            self.target = spec.target
        elif spec.search_mode in (fr.SearchMode.DUAL_TARGET, fr.SearchMode.DUAL_TARGET_RESET):
            self.target = None
        elif spec.search_mode != fr.SearchMode.READER_SELECTED or self.own_single_target:
            self.target = fr.InventoryState.A
        else:
            self.target = None
        unpowered = None if self._rf_off_at is None else now - self._rf_off_at
        reset = (
            (rospec_start and spec.search_mode == fr.SearchMode.SINGLE_TARGET_RESET)
            or spec.session == 0
            or (unpowered is not None and unpowered > S23_UNPOWERED_PERSIST_S)
        )
        if reset:
            self._flag_b.clear()
            self._pending = {a: list(range(len(v))) for a, v in self._by_antenna.items()}
            self._requeue = False
        self._rf_off_at = None

    def power_off(self, now: float) -> None:
        self._rf_off_at = now

    def forget(self, epcs: Iterable[bytes]) -> None:
        """These tags lost their inventoried flag (carried out of the field): they answer again."""
        for epc in epcs:
            self._flag_b.pop(epc, None)

    def _in_b(self, epc: bytes, now: float) -> bool:
        since = self._flag_b.get(epc)
        if since is None:
            return False
        if self.session == 1 and now - since > S1_PERSIST_S:
            del self._flag_b[epc]
            return False
        return True

    def step(
        self, antenna: int, attempts: int, now: float, stop_after: int | None = None
    ) -> list[Read]:
        """Spend up to `attempts` singulation slots on `antenna`; at most `stop_after` reads."""
        pool = self._by_antenna.get(antenna, [])
        self.last_spent_left = attempts
        if not pool or attempts <= 0:
            return []
        if self.target == fr.InventoryState.B and self.session != 0:
            return self._step_target_b(pool, antenna, attempts, now, stop_after)
        reads: list[Read] = []
        rng = self.rng
        persistent = self.single_target and self.session != 0
        flips = not persistent and self.session != 0  # dual target: A→B, then B→A next round
        if persistent and self._requeue:
            self._pending = {
                a: [i for i, (t, _s) in enumerate(v) if not self._in_b(t.epc, now)]
                for a, v in self._by_antenna.items()
            }
            self._requeue = False
        pending = self._pending[antenna]
        if persistent and self.session == 1 and len(pending) < len(pool):
            # S1 flags decay on their own: put expired tags back in the round
            have = set(pending)
            pending.extend(
                i for i, (t, _s) in enumerate(pool) if i not in have and not self._in_b(t.epc, now)
            )
        spent = 0
        while spent < attempts:
            if persistent:
                if not pending:
                    break
                k = rng.randrange(len(pending))
                tag, sighting = pool[pending[k]]
                if self._in_b(
                    tag.epc, now
                ):  # read on another antenna since: drop it from this round
                    pending[k] = pending[-1]
                    pending.pop()
                    continue
            else:
                k = rng.randrange(len(pool))
                tag, sighting = pool[k]
            spent += 1
            if rng.random() >= sighting.p_read:
                continue
            if persistent:
                self._flag_b[tag.epc] = now
                pending[k] = pending[-1]
                pending.pop()
            elif flips:
                if self._flag_b.pop(tag.epc, None) is None:
                    self._flag_b[tag.epc] = now
                else:
                    self._requeue = True
            rssi = sighting.rssi + round(rng.gauss(0.0, 1.5))
            reads.append(Read(tag, antenna, rssi, rng.randint(1, 8)))
            if stop_after is not None and len(reads) >= stop_after:
                break
        self.last_spent_left = attempts - spent
        return reads

    def _step_target_b(
        self,
        pool: list[tuple[SimTag, Sighting]],
        antenna: int,
        attempts: int,
        now: float,
        stop_after: int | None,
    ) -> list[Read]:
        """Target B: only tags whose flag is B answer, and a read puts them back to A."""
        rng = self.rng
        in_b = [i for i, (t, _s) in enumerate(pool) if self._in_b(t.epc, now)]
        reads: list[Read] = []
        spent = 0
        while spent < attempts and in_b:
            k = rng.randrange(len(in_b))
            tag, sighting = pool[in_b[k]]
            spent += 1
            if rng.random() >= sighting.p_read:
                continue
            del self._flag_b[tag.epc]
            self._requeue = True
            in_b[k] = in_b[-1]
            in_b.pop()
            reads.append(Read(tag, antenna, sighting.rssi + round(rng.gauss(0.0, 1.5)),
                              rng.randint(1, 8)))
            if stop_after is not None and len(reads) >= stop_after:
                break
        self.last_spent_left = attempts - spent
        return reads


# --- reader state ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimSettings:
    antennas: int = 4
    rate: float = 400.0  # singulation attempts per second of air time (real readers: 200-1,100)
    seed: int = 0
    tags: int | None = None
    keepalive_misses: int = 3  # drop a client that leaves this many KEEPALIVEs unacknowledged
    # Shop seconds per second of air time while the reader inventories; 0 = a frozen shop.
    world_speed: float = 0.0
    # Seconds of air time per wall-clock second: > 1 runs a long inventory fast (in tests and
    # benchmarks) with the air rate still a realistic `rate` per simulated second. The reader's
    # clock (`LLRPReaderSim.clock`) then runs that much faster, and slower again when the machine
    # is too busy to keep up, so time it by that clock rather than the wall's.
    time_scale: float = 1.0
    # At time_scale 1 the reader's clock is the wall clock, so its reads pair with a till's times.
    # A test that times a whole inventory by the reader's clock (a stocktake's quiet period and
    # deadline) sets this so that the clock also stops while a loaded machine cannot simulate air
    # time, as it does at any other time_scale: the inventory then covers the same air time
    # however busy the machine is.
    air_time_only: bool = False
    # An antenna over the exit: units sold or stolen pass it as the shopper leaves (`walk_out`).
    door: int | None = None
    # Who made the reader: "impinj" (takes Impinj's LLRP extensions) or "generic" (another make,
    # standard LLRP only).
    vendor: str = "impinj"

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise ValueError(f"vendor must be one of {', '.join(VENDORS)}, got {self.vendor!r}")


@dataclass(slots=True)
class SimStats:
    accepted: int = 0
    refused: int = 0
    closed: int = 0
    keepalives_sent: int = 0
    keepalive_acks: int = 0
    keepalive_drops: int = 0
    reports_sent: int = 0
    tag_reports_sent: int = 0
    reads: int = 0
    errors_sent: int = 0
    air_seconds: float = 0.0  # simulated time the RF has been inventorying
    unique_epcs_read: set[bytes] = field(default_factory=set)


@dataclass(slots=True)
class ROSpecState:
    spec: fr.ROSpec
    state: int = 0  # 0 Disabled, 1 Inactive, 2 Active

    def encode(self) -> bytes:
        raw = bytearray(self.spec.raw)
        raw[4 + 5] = self.state  # TLV header (4) + ROSpecID (4) + Priority (1) → CurrentState
        return bytes(raw)


DEFAULT_REPORT: Final = fr.ReportSpec(fr.ReportTrigger.UPON_N_OR_END_OF_ROSPEC, 0)


class LLRPReaderSim:
    """The reader: one TCP server, at most one client, ROSpecs, and the tags it can see."""

    def __init__(
        self, settings: SimSettings = SimSettings(), world: StoreWorld | None = None
    ) -> None:
        self.settings = settings
        if world is None:
            world = world_for_tags(settings.tags or 0, settings.seed)
        self.world = world
        self.field = TagField(world, settings.antennas, settings.seed, settings.tags, settings.door)
        self._door: dict[int, float] = {}  # uid -> until when (reader clock) it is at the door
        self.impinj = settings.vendor == "impinj"
        self.air = AirModel(
            self.field.tags, settings.antennas, random.Random(settings.seed),
            own_single_target=self.impinj,
        )
        self.capabilities = (
            fr.Capabilities(antennas=settings.antennas)
            if self.impinj
            else fr.generic_capabilities(settings.antennas)
        )
        # Every frame a client sent (the last RECEIVED_LOG), for tests to see what reached the
        # reader: the driver under test is judged by its bytes, not by its own account of them.
        self.received: deque[fr.Frame] = deque(maxlen=RECEIVED_LOG)
        self.stats = SimStats()
        self.world_log: list[tuple[datetime, Event]] = []  # (reader clock, event) as the shop moved
        self._epoch = time.time()
        self._wall0 = time.monotonic()
        self._lost = 0.0  # air seconds late ticks could not simulate
        self._simulated: float | None = None  # while an inventory runs: its last tick's air time
        self.started_us = self.clock_us()
        self._server: asyncio.Server | None = None
        self._client: _ReaderConnection | None = None
        self._changed: asyncio.Event | None = None
        self.reset_config()

    def reset_config(self) -> None:
        self.keepalive_ms = 0
        self.report = DEFAULT_REPORT
        self.events_enabled: dict[int, bool] = {}
        self.hold_events = False
        self.rospecs: dict[int, ROSpecState] = {}
        self.config_state = 1

    # --- lifecycle ---

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> LLRPReaderSim:
        self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ReaderConnection(self), host, port)
        return self

    async def close(self) -> None:
        if self._client is not None:
            await self._client.shutdown()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LLRPReaderSim:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def notify(self) -> None:
        """Wake everyone in `wait_until` (called on every state change and batch of reads)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[LLRPReaderSim], bool], within: float = 5.0
    ) -> None:
        """Wait (on state changes, not by polling a clock) until `predicate(self)` holds."""
        async with asyncio.timeout(within):
            while not predicate(self):
                assert self._changed is not None, "start() first"
                await self._changed.wait()

    # --- ground truth ---

    def present(self, zone: str | None = None) -> dict[bytes, SimTag]:
        """The tags in the antennas' field right now (what a perfect stocktake would find)."""
        self.field.refresh()
        return {t.epc: t for t in self.field.tags if zone is None or t.zone == zone}

    # --- the reader's clock ---
    #
    # At time_scale 1 this is the wall clock (unless `air_time_only`). Faster, it runs
    # `time_scale` times the wall clock less the air time that ticks arriving late (a loaded
    # machine) could not simulate: air time is what was simulated, not what the wall clock says
    # should have been. Everything the reader stamps (tag reads, events, the shop's moves) is on
    # this clock, so an inventory timed by it covers the same air time however busy the machine is.

    def air_now(self) -> float:
        """Seconds on the reader's clock since the simulator started."""
        scale = self.settings.time_scale
        now = (time.monotonic() - self._wall0) * scale - self._lost
        if (
            self._simulated is not None
            and (scale != 1 or self.settings.air_time_only)
            and now - self._simulated > LATE_TICK_S * scale
        ):
            # Too busy: the air time the inventory could not simulate is lost, whoever asks first
            # (its next tick, or a stocktake timed by this clock while the tick is still due).
            self.lose(now - self._simulated - LATE_TICK_S * scale)
            now = self._simulated + LATE_TICK_S * scale
        return now

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self._epoch + self.air_now(), UTC)

    def clock_us(self) -> int:
        return int((self._epoch + self.air_now()) * 1e6)

    def lose(self, air_s: float) -> None:
        self._lost += air_s

    def advance_world(self, to: datetime) -> list[Event]:
        """Move the shop on; the reader sees sold units leave and deliveries arrive, and with a
        door antenna, what shoppers carry out (paid or not) passing it."""
        events = self.world.advance(to)
        if events:
            at = self.clock()
            self.world_log.extend((at, e) for e in events)
            leaving = [u for e in events if isinstance(e, Sale | Theft) for u in e.uids]
            if leaving and self.settings.door is not None:
                self.walk_out(leaving)
        if self.field.refresh():
            self.air.load(self.field.tags)
        return events

    def walk_out(self, uids: Iterable[int], seconds: float = DOOR_S) -> None:
        """Carry units out through the door now: their tags pass the door's antenna."""
        if self.settings.door is None:
            raise ValueError("this reader has no door antenna (SimSettings.door)")
        self._door.update(dict.fromkeys(uids, self.air_now() + seconds))
        self._to_door()

    def _to_door(self) -> None:
        # Carried across the floor antennas' fields and out of them, a tag's session flag is
        # back to A when it reaches the door (door antennas run their own session in practice).
        self.field.leaving = set(self._door)
        self.field.refresh(force=True)
        self.air.forget(t.epc for t in self.field.tags if t.zone == EXIT)
        self.air.load(self.field.tags)

    def door_tick(self) -> None:
        """Tags that have passed the door leave the field."""
        now = self.air_now()
        if self._door and min(self._door.values()) <= now:
            self._door = {u: t for u, t in self._door.items() if t > now}
            self.field.leaving = set(self._door)
            self.field.refresh(force=True)
            self.air.load(self.field.tags)

    # --- fault switches ---

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._client.closed

    def drop(self) -> None:
        """Abort the client's TCP connection (a cable pull on the reader's side)."""
        if self._client is not None:
            self._client.abort("fault: drop")

    def go_silent(self) -> None:
        """Half-open: stop sending and ignore everything received, keeping the socket open."""
        if self._client is not None:
            self._client.silent = True
            log.warning("fault: reader went silent (half-open)")

    def corrupt(self, kind: str = "header") -> None:
        """Send malformed data: `header` (an impossible length: the stream is lost), `param`
        (RO_ACCESS_REPORTs whose parameters have impossible lengths), or `epc` (a well-formed
        report of tags whose EPCs are not SGTINs, or are broken ones)."""
        if self._client is None:
            return
        if kind == "header":
            data = struct.pack("!HII", (1 << 10) | MsgType.RO_ACCESS_REPORT, 6, 0)
        elif kind == "param":
            # two reports: a TagReportData holding an EPCData TLV whose length (3) is below the
            # TLV header size, then one whose length overruns the frame around an EPC-96 that is
            # not a valid SGTIN (partition 7)
            short = struct.pack("!HH", fr.P.TAG_REPORT_DATA, 8) + struct.pack(
                "!HH", fr.P.EPC_DATA, 3
            )
            overrun = struct.pack("!HH", fr.P.TAG_REPORT_DATA, 200) + fr.tv(
                fr.P.EPC_96, b"\x30" + b"\xff" * 11
            )
            data = fr.encode_frame(MsgType.RO_ACCESS_REPORT, 0, short) + fr.encode_frame(
                MsgType.RO_ACCESS_REPORT, 0, overrun
            )
        elif kind == "epc":
            now_us = self.clock_us()
            # an unprogrammed tag's factory EPC and a GID-96 (not SGTINs), and an SGTIN-96
            # header with the undefined partition 7 (corrupt)
            junk = [
                fr.TagReport(bytes.fromhex(epc), 1, -50, 1, now_us, now_us, 1, 1)
                for epc in (
                    "E2801160600002084E8A1234",
                    "3574257BF7194E4000001A85",
                    "307FFFFFFFFFFFFFFFFFFFFF",
                )
            ]
            data = fr.encode_frame(
                MsgType.RO_ACCESS_REPORT, 0, fr.ro_access_report(junk, self._selector())
            )
        else:
            raise ValueError(f"unknown corruption {kind!r}: header | param | epc")
        log.warning("fault: sending a corrupt frame (%s)", kind)
        self._client.send_raw(data)

    def _selector(self) -> fr.ContentSelector:
        return self.report.selector


class _ReaderConnection(asyncio.Protocol):
    """One TCP client of the reader."""

    def __init__(self, reader: LLRPReaderSim) -> None:
        self.reader = reader
        self.transport: asyncio.Transport | None = None
        self.frames = fr.FrameReader()
        self.silent = False
        self.closed = False
        self.refused = False
        self._next_id = 1
        self._unacked = 0
        self._keepalive: asyncio.Task[None] | None = None
        self._inventory: asyncio.Task[None] | None = None
        self._active: ROSpecState | None = None
        self._stop_requested = False
        self._flush_requested = False

    # --- transport events ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sim = self.reader
        peer = transport.get_extra_info("peername")
        existing = sim._client
        if existing is not None and not existing.closed and existing.peer_gone():
            # The previous client has closed (or reset) its connection, but the loop has not read
            # that yet: a port probe followed at once by a client is accepted in one batch, the
            # probe's end still unread. It is gone all the same; a reader takes the newcomer.
            existing.release("the client had already gone")
            existing = None
        if existing is not None and not existing.closed and not existing.silent:
            # LLRP 1.0.1 §13.2.6.11: refuse, and tell the connected client someone tried.
            self.refused = True
            sim.stats.refused += 1
            log.info("refusing %s: a client is already connected", peer)
            self._event(
                fr.connection_attempt_event(fr.ConnectionStatus.FAILED_CLIENT_INITIATED_EXISTS)
            )
            existing._event(
                fr.connection_attempt_event(fr.ConnectionStatus.ANOTHER_CONNECTION_ATTEMPTED)
            )
            transport.close()
            sim.notify()
            return
        if existing is not None and not existing.closed:
            existing.abort("a new client replaced a half-open one")
        sim._client = self
        sim.stats.accepted += 1
        log.info("client %s connected", peer)
        self._event(fr.connection_attempt_event(fr.ConnectionStatus.SUCCESS))
        self._restart_keepalive()
        sim.notify()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget(f": {exc}" if exc else "")

    def _forget(self, why: str) -> None:
        """Let go of this client: its inventory stops and the reader is free for the next one."""
        self.closed = True
        self._cancel_tasks()
        if self._active is not None:
            self._active.state = 1
            self._active = None
            self.reader.air.power_off(self.reader.air_now())
        if self.reader._client is self:
            self.reader._client = None
            self.reader.stats.closed += 1
            log.info("client disconnected%s", why)
        self.reader.notify()

    def peer_gone(self) -> bool:
        """True if the client has closed or reset the connection, though the loop has not yet read
        the end of it: a peek at the socket's receive queue (end of stream or an error)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return False
        if sock.fileno() < 0:
            return True  # the transport has already closed it
        # A duplicate of the descriptor: asyncio's socket wrapper does not allow recv() on it.
        with socket.socket(fileno=os.dup(sock.fileno())) as probe:
            try:
                return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False  # open, with nothing to read
            except OSError:
                return True  # reset

    def release(self, why: str) -> None:
        """Drop a connection whose peer has gone, now rather than when the loop reads its end."""
        self._forget(f" ({why})")
        if self.transport is not None:
            self.transport.abort()

    def _cancel_tasks(self) -> None:
        for task in (self._keepalive, self._inventory):
            if task is not None and not task.done():
                task.cancel()

    async def shutdown(self) -> None:
        tasks = [t for t in (self._keepalive, self._inventory) if t is not None]
        self.abort("reader shutting down")
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def abort(self, why: str) -> None:
        if self.transport is not None and not self.closed:
            log.info("closing client connection: %s", why)
            self.closed = True
            self._cancel_tasks()
            self.transport.abort()

    # --- sending ---

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.closed and not self.silent:
            self.transport.write(data)

    def send(self, msg_type: int, body: bytes = b"", msg_id: int | None = None) -> None:
        if msg_id is None:
            msg_id = self._next_id
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF or 1
        self.send_raw(fr.encode_frame(msg_type, msg_id, body))

    def _event(self, *events: bytes) -> None:
        self.send(
            MsgType.READER_EVENT_NOTIFICATION, fr.reader_event(self.reader.clock_us(), *events)
        )

    def _reply(self, request: fr.Frame, body: bytes) -> None:
        self.send(fr.RESPONSE_OF[MsgType(request.type)], body, request.msg_id)

    def _status(self, request: fr.Frame, code: Status = Status.SUCCESS, why: str = "") -> None:
        if code != Status.SUCCESS:
            log.info("%s refused: %s (%s)", MsgType(request.type).name, why, code.name)
        self._reply(request, fr.llrp_status(code, why))

    def _error(self, request_id: int, code: Status, why: str) -> None:
        log.info("ERROR_MESSAGE %s: %s", code.name, why)
        self.reader.stats.errors_sent += 1
        self.send(MsgType.ERROR_MESSAGE, fr.llrp_status(code, why), request_id)

    # --- receiving ---

    def data_received(self, data: bytes) -> None:
        if self.silent or self.refused or self.closed:
            return
        try:
            frames = self.frames.feed(data)
        except fr.FrameError as e:
            self._error(0, e.status, f"unreadable frame: {e}")
            self.abort(f"client sent an unreadable frame: {e}")
            return
        for frame in frames:
            if self.closed or self.silent:
                return
            self.reader.received.append(frame)
            try:
                self._dispatch(frame)
            except fr.FrameError as e:
                self._answer_error(frame, e.status, str(e))
            except (struct.error, IndexError) as e:
                self._answer_error(frame, Status.M_FIELD_ERROR, f"malformed message: {e}")

    def _answer_error(self, frame: fr.Frame, code: Status, why: str) -> None:
        if frame.type in MsgType._value2member_map_ and MsgType(frame.type) in fr.RESPONSE_OF:
            self._status(frame, code, why)
        else:
            self._error(frame.msg_id, code, why)

    def _dispatch(self, f: fr.Frame) -> None:
        sim = self.reader
        if f.version != fr.VERSION_1_0_1:
            # LLRP 1.1 §9.1.1: a reader that speaks only 1.0.1 answers M_UnsupportedVersion,
            # which clients take as "negotiate down to 1.0.1".
            self._error(
                f.msg_id,
                Status.M_UNSUPPORTED_VERSION,
                f"protocol version {f.version} not supported",
            )
            return
        t = f.type
        if t == MsgType.KEEPALIVE_ACK:
            self._unacked = 0
            sim.stats.keepalive_acks += 1
            sim.notify()
        elif t == MsgType.GET_READER_CAPABILITIES:
            requested = f.body[0] if f.body else 0
            if requested > 4:
                raise fr.FrameError(
                    f"RequestedData {requested} is not defined", Status.A_OUT_OF_RANGE
                )
            self._reply(f, sim.capabilities.encode(requested))
        elif t == MsgType.GET_READER_CONFIG:
            # §16.1.3: AntennaID u16, RequestedData u8, GPIPortNum u16, GPOPortNum u16
            antenna, requested = struct.unpack_from("!HB", f.body) if len(f.body) >= 3 else (0, 0)
            if requested > 11 or antenna > sim.settings.antennas:
                raise fr.FrameError("no such antenna or RequestedData", Status.A_OUT_OF_RANGE)
            view = fr.ReaderConfigView(
                sim.settings.antennas,
                sim.keepalive_ms,
                sim.report,
                sim.events_enabled,
                sim.hold_events,
                b"\x00\x16\x25\x12\x34\x56",
                sim.config_state,
            )
            self._reply(f, fr.encode_reader_config(view, requested, antenna))
        elif t == MsgType.SET_READER_CONFIG:
            update = fr.decode_set_reader_config(f.body)
            self._refuse_unsupported_custom(update.custom)
            if update.reset_to_factory_defaults:
                self._stop_inventory()
                sim.reset_config()
            if update.keepalive_ms is not None:
                sim.keepalive_ms = update.keepalive_ms
                self._restart_keepalive()
            if update.report is not None:
                sim.report = update.report
            sim.events_enabled.update(update.events_enabled)
            if update.hold_events_on_reconnect is not None:
                sim.hold_events = update.hold_events_on_reconnect
            sim.config_state += 1
            self._status(f)
        elif t == MsgType.ENABLE_EVENTS_AND_REPORTS:
            pass  # §16.1.37: no response; nothing is held, so nothing to release
        elif t == MsgType.ADD_ROSPEC:
            self._add_rospec(f)
        elif t in (
            MsgType.ENABLE_ROSPEC,
            MsgType.START_ROSPEC,
            MsgType.STOP_ROSPEC,
            MsgType.DISABLE_ROSPEC,
            MsgType.DELETE_ROSPEC,
        ):
            self._rospec_control(f, fr.decode_u32(f.body, "ROSpecID"))
        elif t == MsgType.GET_ROSPECS:
            self._reply(f, fr.llrp_status() + b"".join(s.encode() for s in sim.rospecs.values()))
        elif t == MsgType.DELETE_ACCESSSPEC:
            spec_id = fr.decode_u32(f.body, "AccessSpecID")
            if spec_id == 0:
                self._status(f)  # §10.1.2: 0 deletes all, and there are none
            else:
                self._status(f, Status.A_INVALID, f"no AccessSpec {spec_id}")
        elif t == MsgType.GET_ACCESSSPECS:
            self._status(f)
        elif t in (MsgType.ADD_ACCESSSPEC, MsgType.ENABLE_ACCESSSPEC, MsgType.DISABLE_ACCESSSPEC):
            self._status(
                f, Status.M_UNSUPPORTED_PARAMETER, "this reader performs no tag access operations"
            )
        elif t == MsgType.GET_REPORT:
            if self._inventory is not None:
                self._flush_requested = True
        elif t == MsgType.CLOSE_CONNECTION:
            self._status(f)
            self._stop_inventory()
            log.info("client asked to close the connection")
            if self.transport is not None:
                self.closed = True
                self._cancel_tasks()
                self.transport.close()
        elif t == MsgType.CUSTOM_MESSAGE:
            # §16.1.42: u32 vendor identifier (IANA PEN), u8 message subtype, vendor data
            vendor, subtype = struct.unpack_from("!IB", f.body) if len(f.body) >= 5 else (0, 0)
            if sim.impinj and vendor == fr.IMPINJ_PEN and subtype == 21:
                # IMPINJ_ENABLE_EXTENSIONS, answered by IMPINJ_ENABLE_EXTENSIONS_RESPONSE (22)
                self.send(
                    MsgType.CUSTOM_MESSAGE,
                    struct.pack("!IB", vendor, 22) + fr.llrp_status(),
                    f.msg_id,
                )
            else:
                # §8.1: "Readers SHALL accept CUSTOM_MESSAGE and return an ERROR_MESSAGE if
                # CUSTOM_MESSAGE is unsupported by the Reader".
                self._error(
                    f.msg_id, Status.M_UNSUPPORTED_MESSAGE, f"custom message {vendor}/{subtype}"
                )
        else:
            self._error(
                f.msg_id, Status.M_UNSUPPORTED_MESSAGE, f"message type {t} is not supported"
            )

    # --- ROSpecs (LLRP 1.0.1 §10.2.1) ---

    def _add_rospec(self, f: fr.Frame) -> None:
        sim = self.reader
        params = list(fr.iter_params(f.body))
        if len(params) != 1 or params[0].type != fr.P.RO_SPEC:
            raise fr.FrameError(
                "ADD_ROSPEC must carry exactly one ROSpec", Status.M_MISSING_PARAMETER
            )
        p = params[0]
        raw = f.body[: 4 + len(p.body)]
        spec = fr.decode_rospec(p, raw)
        if spec.rospec_id == 0:
            raise fr.FrameError("ROSpecID 0 is reserved", Status.A_INVALID)
        if spec.state != 0:
            raise fr.FrameError("a new ROSpec must be in the Disabled state", Status.A_INVALID)
        if spec.rospec_id in sim.rospecs:
            raise fr.FrameError(f"ROSpec {spec.rospec_id} already exists", Status.A_INVALID)
        self._refuse_unsupported_custom(spec.custom)
        for ai in spec.ai_specs:
            bad = [a for a in ai.antennas if a > sim.settings.antennas]
            if bad:
                raise fr.FrameError(f"no antenna {bad[0]} on this reader", Status.A_OUT_OF_RANGE)
            if ai.stop == fr.AIStopType.GPI_WITH_TIMEOUT:
                raise fr.FrameError(
                    "GPI stop triggers are not supported", Status.M_UNSUPPORTED_PARAMETER
                )
        if spec.start in (fr.StartTrigger.PERIODIC, fr.StartTrigger.GPI):
            raise fr.FrameError(
                "only Null and Immediate start triggers are supported",
                Status.M_UNSUPPORTED_PARAMETER,
            )
        sim.rospecs[spec.rospec_id] = ROSpecState(spec)
        self._status(f)

    def _refuse_unsupported_custom(self, custom: Iterable[tuple[int, int]]) -> None:
        """§8.2: readers "SHALL accept messages (except for CUSTOM_MESSAGE) that contain custom
        parameters and SHALL return an error when such parameters are unsupported"; and a
        message with an error is discarded, no portion of it executed (§14). The Impinj takes its
        own vendor's parameters."""
        for vendor, subtype in custom:
            if not (self.reader.impinj and vendor == fr.IMPINJ_PEN):
                raise fr.FrameError(
                    f"custom parameter {vendor}/{subtype} is not supported by this reader",
                    Status.M_UNSUPPORTED_PARAMETER,
                )

    def _rospec_control(self, f: fr.Frame, rospec_id: int) -> None:
        sim = self.reader
        t = f.type
        if rospec_id == 0:
            targets = list(sim.rospecs.values())
            if t in (MsgType.START_ROSPEC, MsgType.STOP_ROSPEC):
                raise fr.FrameError("ROSpecID 0 is not allowed here", Status.A_INVALID)
        elif rospec_id in sim.rospecs:
            targets = [sim.rospecs[rospec_id]]
        else:
            raise fr.FrameError(f"no ROSpec {rospec_id}", Status.A_INVALID)
        for st in targets:
            if t == MsgType.ENABLE_ROSPEC:
                if st.state == 0:
                    st.state = 1
                    if st.spec.start == fr.StartTrigger.IMMEDIATE:
                        self._start(st)
            elif t == MsgType.START_ROSPEC:
                if st.state != 1:
                    raise fr.FrameError(
                        f"ROSpec {st.spec.rospec_id} is not Inactive", Status.A_INVALID
                    )
                if self._active is not None:
                    raise fr.FrameError("another ROSpec is running", Status.A_INVALID)
                self._start(st)
            elif t == MsgType.STOP_ROSPEC:
                if st.state != 2:
                    raise fr.FrameError(
                        f"ROSpec {st.spec.rospec_id} is not Active", Status.A_INVALID
                    )
                self._stop_inventory()
            elif t == MsgType.DISABLE_ROSPEC:
                if st is self._active:
                    self._stop_inventory()
                st.state = 0
            elif t == MsgType.DELETE_ROSPEC:
                if st is self._active:
                    self._stop_inventory()
                del sim.rospecs[st.spec.rospec_id]
        self._status(f)

    def _start(self, st: ROSpecState) -> None:
        if self._active is not None:
            return  # one ROSpec runs at a time; a second immediate one waits for an explicit START
        st.state = 2
        self._active = st
        self._stop_requested = False
        self._flush_requested = False
        self._inventory = asyncio.get_running_loop().create_task(self._run(st))

    def _stop_inventory(self) -> None:
        if self._inventory is not None and not self._inventory.done():
            self._stop_requested = True

    # --- keepalive (LLRP 1.0.1 §13.2.4) ---

    def _restart_keepalive(self) -> None:
        if self._keepalive is not None and not self._keepalive.done():
            self._keepalive.cancel()
        self._keepalive = None
        self._unacked = 0
        if self.reader.keepalive_ms > 0 and not self.closed:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalives())

    async def _keepalives(self) -> None:
        sim = self.reader
        interval = sim.keepalive_ms / 1000
        while not self.closed:
            await asyncio.sleep(interval)
            if self.silent:
                continue
            if self._unacked >= sim.settings.keepalive_misses:
                sim.stats.keepalive_drops += 1
                log.warning("client left %d keepalives unacknowledged: dropping it", self._unacked)
                self._event(fr.connection_close_event())
                self.abort("keepalives unacknowledged")
                return
            self._unacked += 1
            sim.stats.keepalives_sent += 1
            self.send(MsgType.KEEPALIVE)
            sim.notify()

    # --- the inventory engine ---

    async def _run(self, st: ROSpecState) -> None:
        """Execute one ROSpec (LLRP 1.0.1 §10.2): its AISpecs in turn, looping until the ROSpec's
        stop trigger, a STOP/DISABLE/DELETE, or the connection ends. Air time is paced by the
        reader's clock: each tick spends `rate x elapsed` singulation attempts."""
        sim = self.reader
        spec = st.spec
        run = _Run(self, st, spec.report or sim.report)
        started = last = sim.air_now()
        sim._simulated = started
        world_t0 = sim.world.now
        air0 = sim.stats.air_seconds
        credit = 0.0
        try:
            run.begin_aispec(started, rospec_start=True)
            while not self.closed and not self._stop_requested:
                await asyncio.sleep(TICK_S)
                now = sim.air_now()  # too busy, and the clock slows down (`air_now`)
                if self._stop_requested:
                    break
                sim.stats.air_seconds = air0 + (now - started)
                sim.door_tick()
                if sim.settings.world_speed > 0:
                    shop_s = (now - started) * sim.settings.world_speed
                    sim.advance_world(world_t0 + timedelta(seconds=shop_s))
                credit = min(credit + (now - last) * sim.settings.rate, MAX_ATTEMPTS_PER_TICK)
                last = sim._simulated = now
                attempts = int(credit)
                credit -= attempts
                run.tick(attempts, now)
                if self._flush_requested:
                    self._flush_requested = False
                    run.flush()
                if (
                    spec.stop_duration_ms is not None
                    and (now - started) * 1000 >= spec.stop_duration_ms
                ):
                    break
        finally:
            sim.air.power_off(sim.air_now())
            sim._simulated = None
            if not self.closed and run.report.trigger != fr.ReportTrigger.NONE:
                run.flush()  # end of ROSpec (and of its current AISpec)
            if st.state == 2:
                st.state = 1
            if self._active is st:
                self._active = None
            sim.notify()


class _Run:
    """One ROSpec execution: the current AISpec, its stop trigger, the report buffer."""

    def __init__(self, conn: _ReaderConnection, st: ROSpecState, report: fr.ReportSpec) -> None:
        self.conn = conn
        self.sim = conn.reader
        self.spec = st.spec
        self.report = report
        self.buffer: dict[tuple[bytes, int], list[int]] = {}  # insertion-ordered
        self.ai_index = 0
        self.rotation = 0
        self.ai_started = 0.0
        self.last_new = 0.0
        self.observed = 0
        self.ticks = 0

    @property
    def ai(self) -> fr.AISpec:
        return self.spec.ai_specs[self.ai_index]

    def begin_aispec(self, now: float, rospec_start: bool = False) -> None:
        self.sim.air.power_on(self.ai.inventory[0], now, rospec_start)
        self.ai_started = self.last_new = now
        self.observed = 0
        self.ticks = 0

    def antennas(self) -> tuple[int, ...]:
        ants = self.ai.antennas
        return tuple(range(1, self.sim.settings.antennas + 1)) if 0 in ants else ants

    def tick(self, attempts: int, now: float) -> None:
        """Spend this tick's attempts; an AISpec that ends mid-tick hands the rest to the next."""
        self.ticks += 1
        while True:
            ai = self.ai
            stop_after = None
            if (
                ai.stop == fr.AIStopType.TAG_OBSERVATION
                and ai.observation_type == 0
                and ai.number_of_tags
            ):
                stop_after = max(1, ai.number_of_tags - self.observed)
            ants = self.antennas()
            antenna = ants[self.rotation % len(ants)]
            before = attempts
            reads = self.sim.air.step(antenna, attempts, now, stop_after)
            attempts = self.sim.air.last_spent_left
            if before == attempts or not reads:
                self.rotation += 1  # this antenna's round is exhausted for now: hop to the next
            self._record(reads, now)
            if self._aispec_done(now):
                if self.report.trigger == fr.ReportTrigger.UPON_N_OR_END_OF_AISPEC:
                    self.flush()
                self.ai_index = (self.ai_index + 1) % len(
                    self.spec.ai_specs
                )  # specs loop (§10.2.1)
                self.begin_aispec(now)
                if attempts > 0:
                    continue
            if attempts <= 0 or not reads:
                return

    def _record(self, reads: list[Read], now: float) -> None:
        if not reads:
            return
        sim = self.sim
        sel = self.report.selector
        now_us = sim.clock_us()
        for r in reads:
            sim.stats.reads += 1
            sim.stats.unique_epcs_read.add(r.tag.epc)
            # Reads merge into one TagReportData per tag (and per antenna when antenna IDs are
            # reported), counting TagSeenCount and keeping the peak RSSI (§13.2.3).
            key = (r.tag.epc, r.antenna if sel.antenna_id else 0)
            entry = self.buffer.get(key)
            if entry is None:
                self.buffer[key] = [
                    now_us,
                    now_us,
                    1,
                    r.rssi,
                    r.antenna,
                    r.channel,
                    self.ai_index + 1,
                    self.ai.inventory[0].spec_id,
                ]
            else:
                entry[1] = now_us
                entry[2] += 1
                entry[3] = max(entry[3], r.rssi)
            if (
                self.report.trigger != fr.ReportTrigger.NONE
                and self.report.n
                and len(self.buffer) >= self.report.n
            ):
                self.flush()
        self.observed += len(reads)
        self.last_new = now
        sim.notify()

    def _aispec_done(self, now: float) -> bool:
        """LLRP 1.0.1 §10.2.2.1 AISpecStopTrigger."""
        ai = self.ai
        elapsed_ms = (now - self.ai_started) * 1000
        if ai.stop == fr.AIStopType.DURATION:
            return elapsed_ms >= ai.duration_ms
        if ai.stop != fr.AIStopType.TAG_OBSERVATION:
            return False
        if ai.timeout_ms and elapsed_ms >= ai.timeout_ms:
            return True
        if ai.observation_type == 0:
            return bool(ai.number_of_tags) and self.observed >= ai.number_of_tags
        if ai.observation_type == 1:
            return (now - self.last_new) * 1000 >= ai.silence_ms
        if ai.observation_type == 2:
            return bool(ai.number_of_attempts) and self.ticks >= ai.number_of_attempts
        return False

    def flush(self) -> None:
        if not self.buffer:
            return
        tags = [
            fr.TagReport(epc, e[4], e[3], e[5], e[0], e[1], e[2], self.spec.rospec_id, e[6], e[7])
            for (epc, _a), e in self.buffer.items()
        ]
        self.conn.send(MsgType.RO_ACCESS_REPORT, fr.ro_access_report(tags, self.report.selector))
        self.sim.stats.reports_sent += 1
        self.sim.stats.tag_reports_sent += len(tags)
        self.buffer.clear()
        self.sim.notify()


# --- command line ---------------------------------------------------------------------------

EPILOG = """examples:
  shelfsync sim llrp --port 5084 --tags 2000 --antennas 4 --rate 400 --seed 7
  shelfsync sim llrp --port 5084 --vendor generic     a reader of another make than Impinj

Antennas 1..N-1 cover the sales floor (by bin), antenna N the backroom. While it runs, type a
fault on stdin: drop | silent | corrupt [header|param|epc].
"""


def _parse(argv: list[str], prog: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog,
        description="An LLRP 1.0.1 RFID reader on TCP, observing the simulated store world.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument(
        "--port", type=int, default=5084, help="TCP port (default 5084, LLRP's IANA port)"
    )
    p.add_argument(
        "--tags", type=int, default=None, help="tagged units in the field (default: the world's)"
    )
    p.add_argument("--antennas", type=int, default=4, help="antenna ports, 1..32 (default 4)")
    p.add_argument("--door", type=int, default=None, metavar="ANTENNA",
                   help="an antenna over the exit: units sold or stolen pass it as shoppers leave")
    p.add_argument(
        "--rate", type=float, default=400.0, help="air rate, singulations/s (default 400)"
    )
    p.add_argument("--seed", type=int, default=0, help="world and radio seed (default 0)")
    p.add_argument(
        "--vendor",
        choices=VENDORS,
        default="impinj",
        help="impinj (default): takes Impinj's LLRP extensions; generic: another make, standard "
        "LLRP only (custom messages answered with ERROR_MESSAGE)",
    )
    p.add_argument(
        "--world-speed",
        type=float,
        default=0.0,
        help="shop seconds per second of air time while inventorying (default 0: frozen)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="seconds of air time per wall-clock second (default 1; >1 fast-forwards)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection and fault")
    args = p.parse_args(argv)
    if not 1 <= args.antennas <= 32:
        p.error("--antennas must be within 1..32")
    if args.door is not None and not 1 <= args.door <= args.antennas:
        p.error("--door must be one of the antennas")
    if args.rate <= 0 or args.time_scale <= 0 or args.world_speed < 0:
        p.error("--rate and --time-scale must be positive, --world-speed >= 0")
    if args.tags is not None and args.tags < 0:
        p.error("--tags must be >= 0")
    return args


async def _serve(args: argparse.Namespace) -> None:
    settings = SimSettings(
        antennas=args.antennas,
        rate=args.rate,
        seed=args.seed,
        tags=args.tags,
        world_speed=args.world_speed,
        time_scale=args.time_scale,
        door=args.door,
        vendor=args.vendor,
    )
    print(f"building the store world (seed {args.seed})...", file=sys.stderr, flush=True)
    sim = LLRPReaderSim(settings)
    await sim.start(args.host, args.port)
    zones: dict[str, int] = {}
    for t in sim.field.tags:
        zones[t.zone] = zones.get(t.zone, 0) + 1
    print(
        f"LLRP reader listening on {args.host}:{sim.port}: {len(sim.field.tags)} tags "
        f"({', '.join(f'{z} {n}' for z, n in sorted(zones.items()))}) on {args.antennas} antennas, "
        f"{args.rate:g} tags/s, "
        f"{'Impinj extensions' if sim.impinj else 'standard LLRP only (generic vendor)'}",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin.fileno())
            return
        words = line.split()
        try:
            if words[:1] == ["drop"]:
                sim.drop()
            elif words[:1] == ["silent"]:
                sim.go_silent()
            elif words[:1] == ["corrupt"]:
                sim.corrupt(words[1] if len(words) > 1 else "header")
            elif words[:1] in (["quit"], ["exit"]):
                stop.set()
            elif words:
                print("faults: drop | silent | corrupt [header|param|epc] | quit", file=sys.stderr)
        except ValueError as e:
            print(e, file=sys.stderr)

    with contextlib.suppress(NotImplementedError, OSError, ValueError):
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(sys.stdin.fileno())
        await sim.close()


def main(argv: list[str], prog: str = "shelfsync sim llrp") -> int:
    args = _parse(argv, prog)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(
            f"{prog}: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
