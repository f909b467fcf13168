"""The gateway's devices in service: the retained shelves snapshot and RFID stocktakes on command.

Config sections (see edge/shelf/poller.py for [shelf]):

    [rfid]
    skus = ["06923450000106", …]      # in scope for stocktakes: counted even when zero
    quiet_s = 5.0                      # a stocktake ends after this long without a new tag
    [[rfid.reader]]
    name = "door"
    host = "192.168.1.40"              # the reader's LLRP address (port 5084 unless `port`)
    zones = {1 = "floor", 2 = "floor", 3 = "floor", 4 = "backroom"}   # antenna → zone
    # antennas over the shop's door: "door_in" (inside it) and "door_out" (outside) tell a unit
    # carried out from one carried in (edge/rfid/door.py); the reader then runs continuously and
    # every unit leaving goes to the reconciler (a unit leaving unpaid is shrink at once), every
    # unit coming in too (a return, a transfer: not shrink). One antenna, zone "exit", cannot
    # tell the way: every unit it reads is taken as leaving.

Readers are assumed to cover separate areas: a stocktake's counts are summed over them, and a sale
made during a count is taken off the first reader's count (exact with one reader).
What the observations mean for stock (picks, shrink, restocks) is the reconciler's job; here the
shelves are only reported as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from edge.clock import WALL_CLOCK, Clock
from edge.delivery.outbox import Outbox, OutboxError, body_hash
from edge.rfid.door import Door
from edge.rfid.driver import DOOR_ZONES, EXIT_ZONE, LLRP_PORT, ReaderSettings, RfidSource, TagRead
from edge.rfid.presence import (
    PresenceConfig,
    PresenceEvent,
    PresenceTracker,
    ShrinkSuspicion,
    Sighting,
    presence_deltas,
)
from edge.rfid.stocktake import SkuCount, Stocktake, StocktakeConfig, StocktakeReport, run_stocktake
from shared import contract
from shared.contract import (
    ContractError,
    Kind,
    StockDelta,
    StocktakeRequest,
    Stream,
    Zone,
)
from shared.toml_tables import check_keys

log = logging.getLogger(__name__)

Publish = Callable[[Stream, bytes, bool], None]


class DeviceConfigError(ValueError):
    """A device section of the store config is invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class RfidConfig:
    readers: tuple[ReaderSettings, ...]
    skus: tuple[str, ...] = ()
    quiet_s: float = 5.0
    presence: bool = False  # read continuously between stocktakes: zone moves become deltas

    @property
    def portal(self) -> bool:
        """An antenna watches the door."""
        return any(z in DOOR_ZONES for r in self.readers for z in r.zones.values())


# The keys of [rfid] and of each [[rfid.reader]] (shared/toml_tables.py: anything else is an error).
RFID_KEYS = frozenset({"reader", "skus", "quiet_s", "presence"})
READER_KEYS = frozenset({"name", "host", "port", "zones", "keepalive_s"})


def parse_rfid_section(section: Mapping[str, Any]) -> RfidConfig:
    if not isinstance(section, Mapping):
        raise DeviceConfigError("[rfid] must be a table")
    check_keys(section, RFID_KEYS, "[rfid]", error=DeviceConfigError)
    readers = []
    for i, r in enumerate(section.get("reader", [])):
        where = f"[[rfid.reader]] #{i + 1}"
        if isinstance(r, Mapping):
            check_keys(r, READER_KEYS, where, error=DeviceConfigError)
        if not isinstance(r, Mapping) or not isinstance(r.get("host"), str):
            raise DeviceConfigError(f"{where}: host is required")
        zones_raw = r.get("zones", {"1": "floor", "2": "floor", "3": "floor", "4": "backroom"})
        try:
            zones = {int(k): v if v in DOOR_ZONES else Zone(v).value for k, v in zones_raw.items()}
            readers.append(ReaderSettings(
                name=str(r.get("name", f"reader-{i + 1}")), host=r["host"],
                port=int(r.get("port", LLRP_PORT)),
                antennas=tuple(sorted(zones)), zones=zones, keepalive_s=float(r.get("keepalive_s", 10.0))))
        except (ValueError, TypeError, AttributeError) as e:
            raise DeviceConfigError(f"{where}: {e}") from None
    for i, r in enumerate(readers):
        door = set(r.zones.values()) & DOOR_ZONES
        if door and door != {EXIT_ZONE} and door != DOOR_ZONES - {EXIT_ZONE}:
            raise DeviceConfigError(f"[[rfid.reader]] #{i + 1}: zones: a door has one antenna (\"exit\") or "
                                    "two (\"door_in\" inside it and \"door_out\" outside), not "
                                    + " and ".join(f'"{z}"' for z in sorted(door)))
    skus = tuple(section.get("skus", ()))
    for sku in skus:
        if not contract.is_gtin14(sku):
            raise DeviceConfigError(f"[rfid].skus: {sku!r} is not a GTIN-14 with a valid check digit")
    presence = section.get("presence", False)
    if not isinstance(presence, bool):
        raise DeviceConfigError("[rfid].presence must be true or false")
    return RfidConfig(tuple(readers), skus, float(section.get("quiet_s", 5.0)), presence)


class Presence:
    """Reads the RFID readers continuously and tracks every tag's zone (edge/rfid/presence.py): a tag
    carried from the backroom to the floor becomes a `move` delta in the outbox; a tag that
    departs unsold becomes a shrink suspicion for the reconciler. LLRP allows one client per
    reader, so a stocktake pauses this while it runs. Reads at the door go to the reconciler
    instead: with one antenna there (zone `exit`) every read to `on_exit`; with two (`door_in`,
    `door_out`) each unit once it has passed, to `on_exit` if it left and `on_entry` if it came
    in (edge/rfid/door.py, judged on `clock`, the shop's). Without `presence` only they are used."""

    def __init__(self, config: RfidConfig, outbox: Outbox, check_every_s: float = 10.0,
                 clock: Clock = WALL_CLOCK) -> None:
        self.config, self.outbox, self.check_every_s = config, outbox, check_every_s
        self.clock = clock
        self.on_exit: Callable[[TagRead], None] | None = None
        self.on_entry: Callable[[TagRead], None] | None = None
        self.exits = 0  # tag reads at the door
        self.went_out = self.came_in = 0  # units the door's two antennas saw cross
        # A tag unread for 3 real seconds has passed both antennas (the shop's seconds run faster
        # in a simulated shop).
        self.door = Door(timedelta(seconds=3 * clock.speed))
        self.doorway: dict[str, TagRead] = {}  # EPC -> its last read at the door, until judged
        aliases = {f"{r.name}_{antenna}": zone for r in config.readers for antenna, zone in r.zones.items()}
        self.tracker = PresenceTracker(PresenceConfig(aliases=aliases))
        self.suspicions: list[ShrinkSuspicion] = []
        self.moves = 0
        self._reads: asyncio.Queue[TagRead] = asyncio.Queue(maxsize=100_000)
        self._running = asyncio.Event()
        self._running.set()
        self._pause = asyncio.Event()
        self._idle = asyncio.Event()
        self._source: RfidSource | None = None
        self._reader_states: dict[str, str] = {}
        self.on_readers_changed: Callable[[], None] | None = None  # a reader came or went

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hand the readers over (to a stocktake) and take them back afterwards."""
        self._running.clear()
        self._pause.set()
        await self._idle.wait()
        try:
            yield
        finally:
            self._pause.clear()
            self._running.set()

    def _sink(self, read: TagRead) -> None:
        if read.zone == EXIT_ZONE:
            self.exits += 1
            if self.on_exit is not None:
                self.on_exit(read)
            return
        if read.zone in DOOR_ZONES:
            self.exits += 1
            self.door.read(read.epc, read.gtin, read.zone, read.at, read.rssi)
            self.doorway[read.epc] = read
            return
        if not self.config.presence:
            return
        with contextlib.suppress(asyncio.QueueFull):  # a full queue sheds reads, never the loop
            self._reads.put_nowait(read)

    def device_states(self) -> dict[str, str]:
        """Each reader ("reader:NAME") once it has connected or failed to: online while it
        inventories; while a stocktake has it, as it was before."""
        return {f"reader:{name}": state for name, state in sorted(self._reader_states.items())}

    async def _watch_readers(self, every_s: float = 1.0) -> None:
        # Polled: the driver's own state_changed event also fires on every tag read.
        while True:
            source = self._source
            if source is not None and self._running.is_set():
                states = {r.settings.name: "online" if r.inventorying else "offline"
                          for r in source.readers if r.inventorying or r.stats.connects or r.stats.last_error}
                if states != self._reader_states:
                    self._reader_states = states
                    if self.on_readers_changed is not None:
                        self.on_readers_changed()
            await asyncio.sleep(every_s)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._track(), name="presence-track")
            tasks.create_task(self._watch_readers(), name="presence-readers")
            if any(z in DOOR_ZONES - {EXIT_ZONE} for r in self.config.readers for z in r.zones.values()):
                tasks.create_task(self._watch_door(), name="presence-door")
            while True:
                await self._running.wait()
                self._idle.clear()
                source = self._source = RfidSource(self.config.readers, self._sink)
                reading = tasks.create_task(source.run(), name="presence-read")
                await self._pause.wait()
                await source.close()
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
                self._idle.set()

    def judge_door(self) -> None:
        """Units that have passed the door's two antennas: out to `on_exit`, in to `on_entry`."""
        for c in self.door.judge(self.clock.now()):
            read = replace(self.doorway.pop(c.epc), at=c.at, zone=EXIT_ZONE if c.leaving else "entry")
            if c.leaving:
                self.went_out += 1
            else:
                self.came_in += 1
            hook = self.on_exit if c.leaving else self.on_entry
            if hook is not None:
                hook(read)
        if not self.door.passing:
            self.doorway.clear()  # (tags read on one antenna only)

    async def _watch_door(self, every_s: float = 0.25) -> None:
        while True:
            self.judge_door()
            await asyncio.sleep(every_s)

    async def _track(self) -> None:
        last_check = time.monotonic()
        while True:
            events: list[PresenceEvent] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_every_s):
                    reads = [await self._reads.get()]
                    while not self._reads.empty():
                        reads.append(self._reads.get_nowait())
                    for r in reads:
                        events += self.tracker.observe(Sighting(r.epc, r.gtin, r.location, r.rssi, r.at))
            if time.monotonic() - last_check >= self.check_every_s:
                last_check = time.monotonic()
                now = self.clock.now()
                events += self.tracker.check_departed(now)
                self.tracker.age_out(now)
            deltas, suspicions = presence_deltas(events, next_seq=lambda: 0)
            self.suspicions = (self.suspicions + suspicions)[-1000:]
            if deltas:
                try:
                    await self.outbox.append(deltas)
                    self.moves += len(deltas)
                except OutboxError as e:
                    log.error("presence: could not store %d moves: %s", len(deltas), e)


class Stocktakes:
    """Runs a stocktake when the cloud asks (cmd/{gw}/stocktake): counts go to the outbox as
    absolute `count` deltas (idempotent on the request id), the report to the stocktakes stream."""

    def __init__(self, config: RfidConfig, outbox: Outbox, publish: Publish,
                 presence: Presence | None = None) -> None:
        self.config, self.outbox, self.publish = config, outbox, publish
        self.presence = presence
        self._lock = asyncio.Lock()  # one stocktake at a time: readers are exclusive (LLRP)
        self._live: list[Stocktake] = []  # the counts under way, told about sales as they happen
        self.on_counts: Callable[[Sequence[StockDelta]], None] | None = None  # committed counts

    async def on_command(self, payload: bytes) -> None:
        try:
            request = contract.decode_stocktake(payload)
        except ContractError as e:
            log.warning("ignoring stocktake command: %s", e)
            return
        if not self.config.readers:
            log.warning("stocktake %s asked, but no [[rfid.reader]] is configured", request.id)
            return
        async with self._lock, (self.presence.paused() if self.presence else contextlib.nullcontext()):
            try:
                report = await self.run(request)
            except (TimeoutError, OSError, OutboxError) as e:
                log.error("stocktake %s failed: %s", request.id, e)
                self.publish(Stream.STOCKTAKES, json.dumps(
                    {"v": contract.VERSION, "id": request.id, "error": str(e)}).encode(), False)
                return
        log.info("stocktake %s: %d unique tags in %.1f s", request.id, report.unique_tags, report.seconds)

    async def run(self, request: StocktakeRequest) -> StocktakeReport:
        zone = request.zone.value if request.zone else None
        scope = [z.value for z in Zone] if zone is None else [zone]
        expected = {(sku, z): 0 for sku in self.config.skus for z in scope}
        settings = StocktakeConfig(seconds=request.seconds, quiet_s=self.config.quiet_s, zone=zone,
                                   expected=expected)
        try:
            reports = await asyncio.gather(*(run_stocktake(r, settings, on_started=self._live.append)
                                             for r in self.config.readers))
        finally:
            self._live.clear()
        report = merge(reports)
        deltas = report.count_deltas(next_seq=lambda: 0)
        if deltas:
            await self.outbox.append(deltas, source_key=f"stocktake:{request.id}",
                                     source_hash=body_hash(report.to_json()))
            if self.on_counts is not None:
                self.on_counts(deltas)
        self.publish(Stream.STOCKTAKES, json.dumps(
            {"v": contract.VERSION, "id": request.id, **report.to_json()}).encode(), False)
        return report


    def on_sales(self, deltas: Sequence[StockDelta]) -> None:
        """POS sales while a count runs: a unit read and then sold is not on hand at the end.
        (With several readers the sale is booked against the first; see the module docstring.)"""
        if not self._live:
            return
        for d in deltas:
            if d.kind is Kind.SALE:
                self._live[0].sold(d.occurred_at, gtin=d.sku, qty=-d.qty)


def merge(reports: Sequence[StocktakeReport]) -> StocktakeReport:
    """Readers over separate areas: one report whose counts are the sums per SKU and zone."""
    counts: dict[tuple[str, str], int] = {}
    for r in reports:
        for c in r.counts:
            counts[(c.sku, c.zone)] = counts.get((c.sku, c.zone), 0) + c.qty
    first = reports[0]
    return replace(
        first,
        started_at=min(r.started_at for r in reports), ended_at=max(r.ended_at for r in reports),
        unique_tags=sum(r.unique_tags for r in reports), reads=sum(r.reads for r in reports),
        counts=tuple(SkuCount(sku, zone, qty) for (sku, zone), qty in sorted(counts.items())),
        sold_during=sum(r.sold_during for r in reports))
