"""The simulated reader a client connects to: its settings, counters, ROSpecs and configuration
(kept across connections), its own clock of air time, the fault switches, and the TCP server that
hands each client to a session (session.py)."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.air import DOOR_S, EXIT, LATE_TICK_S, AirModel, SimTag, TagField, world_for_tags
from firmware_sim.llrp.frames import MsgType
from firmware_sim.llrp.session import DEFAULT_REPORT, ReaderSession, ROSpecState
from firmware_sim.world import CarriedIn, Event, Sale, StoreWorld, Theft

log = logging.getLogger("shelfsync.sim.llrp")

VENDORS: Final = ("impinj", "generic")
RECEIVED_LOG: Final = 10_000  # frames kept in `LLRPReaderSim.received`


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
    # An antenna over the exit: units sold or stolen pass it as the shopper leaves (`walk_out`),
    # units carried in (a customer's return, a staff transfer) as they come in (`walk_in`).
    door: int | None = None
    # A second antenna outside the door: `door` is then the inner one, and a unit carried out is
    # under the inner antenna for the first half of its passage and the outer for the second
    # (carried in: the other way round), so the order of the reads tells its way.
    door_out: int | None = None
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


class LLRPReaderSim:
    """The reader: one TCP server, at most one client, ROSpecs, and the tags it can see."""

    def __init__(
        self, settings: SimSettings = SimSettings(), world: StoreWorld | None = None,
        shop_clock: Callable[[], float] | None = None,
    ) -> None:
        """`shop_clock` (POSIX seconds): the time the reader stamps on what it reports, when the
        shop runs on a clock of its own (a simulated shop faster than life: its reader's clock is
        the shop's, as a real reader's is kept to the shop's by NTP)."""
        self.settings = settings
        if world is None:
            world = world_for_tags(settings.tags or 0, settings.seed)
        self.world = world
        self.field = TagField(world, settings.antennas, settings.seed, settings.tags, settings.door,
                              settings.door_out)
        self._door: dict[int, tuple[float, float, bool]] = {}  # uid -> (from, until, out) on the air clock
        self.shop_clock = shop_clock
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
        self._client: ReaderSession | None = None
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
        self._server = await loop.create_server(lambda: ReaderSession(self), host, port)
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
        return datetime.fromtimestamp(self.clock_us() / 1e6, UTC)

    def clock_us(self) -> int:
        if self.shop_clock is not None:
            return int(self.shop_clock() * 1e6)
        return int((self._epoch + self.air_now()) * 1e6)

    def lose(self, air_s: float) -> None:
        self._lost += air_s

    def advance_world(self, to: datetime) -> list[Event]:
        """Move the shop on; the reader sees sold units leave and deliveries arrive, and with a
        door antenna, what shoppers carry out (paid or not) and what is carried in passing it."""
        events = self.world.advance(to)
        if events:
            at = self.clock()
            self.world_log.extend((at, e) for e in events)
            if self.settings.door is not None:
                leaving = [u for e in events if isinstance(e, Sale | Theft) for u in e.uids]
                coming = [u for e in events if isinstance(e, CarriedIn) for u in e.uids]
                if leaving:
                    self.walk_out(leaving)
                if coming:
                    self.walk_in(coming)
        # Only events move units: rebuilding the field of every tag (thousands in a trading
        # shop's backroom) each time the clock moves kept the simulator's event loop too busy to
        # answer the scales' Modbus polls in time.
        if (events or not self.field.tags) and self.field.refresh():
            self.air.load(self.field.tags)
        return events

    def walk_out(self, uids: Iterable[int], seconds: float = DOOR_S) -> None:
        """Carry units out through the door now: their tags pass the door's antennas, the inner
        one first."""
        self._through_door(uids, seconds, out=True)

    def walk_in(self, uids: Iterable[int], seconds: float = DOOR_S) -> None:
        """Carry units in through the door now: the outer antenna first, then the inner."""
        self._through_door(uids, seconds, out=False)

    def _through_door(self, uids: Iterable[int], seconds: float, out: bool) -> None:
        if self.settings.door is None:
            raise ValueError("this reader has no door antenna (SimSettings.door)")
        now = self.air_now()
        self._door.update(dict.fromkeys(uids, (now, now + seconds, out)))
        self._to_door(now)

    def _under(self, now: float) -> dict[int, int]:
        """Each unit passing the door -> the door antenna it is under now."""
        door, outer = self.settings.door, self.settings.door_out
        assert door is not None
        under = {}
        for uid, (start, until, out) in self._door.items():
            if outer is None:
                under[uid] = door
            else:
                first, second = (door, outer) if out else (outer, door)
                under[uid] = first if now < (start + until) / 2 else second
        return under

    def _to_door(self, now: float) -> None:
        # Carried across the floor antennas' fields and out of them, a tag's session flag is
        # back to A when it reaches a door antenna (door antennas run their own session in
        # practice): so it is on reaching the second of two as well.
        before = self.field.passing
        self.field.passing = self._under(now)
        self.field.refresh(force=True)
        self.air.forget(t.epc for t in self.field.tags
                        if t.zone == EXIT and before.get(t.uid) != self.field.passing[t.uid])
        self.air.load(self.field.tags)

    def door_tick(self) -> None:
        """Tags passing the door move from one of its antennas to the other, and those that have
        passed leave the field."""
        now = self.air_now()
        if not self._door:
            return
        gone = min(until for _, until, _ in self._door.values()) <= now
        if gone:
            self._door = {u: p for u, p in self._door.items() if p[1] > now}
        if gone or self._under(now) != self.field.passing:
            self._to_door(now)

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
