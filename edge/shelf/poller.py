"""Weight shelves: poll Modbus weighing modules, turn readings into bin observations.

Adapter around the pure parts: `edge.shelf.registers` decodes a module's registers and
`edge.shelf.detector` finds stable-to-stable changes. This module owns the I/O — pymodbus 3.16
async clients (TCP, or RTU through pyserial), one poll loop per connection at the configured
rate, and the error boundary: a bin that times out, answers an exception or a garbled frame is
marked unavailable (`BinAvailability`) and produces no change until it reads stable again.

Store config (TOML) — the `[shelf]` table, parsed once by `parse_shelf_config`::

    [shelf]
    poll_hz = 10                    # default for every bus

    [shelf.detector]                # optional, every key optional (edge.shelf.detector)
    window_s = 1.0                  # stability window
    stable_std_g = 5.0              # sigma gate of that window
    settle_s = 0.5                  # stable this long before a change is judged
    tolerance = 0.2                 # |Δg - n·unit| <= tolerance·unit to count n units

    [[shelf.bus]]
    id = "bus-1"
    tcp = "192.168.1.50:502"        # Modbus TCP ...
    # serial = "/dev/ttyUSB0"      # ... or RTU on a serial line (RS-485 adapter)
    # baudrate = 19200, parity = "N", stopbits = 1
    map = "dini-dgt4x"              # built-in name or a [shelf.maps.NAME] table
    poll_hz = 10
    timeout_s = 0.3
    unavailable_after = 3           # failed reads in a row before a bin is unavailable
    connections = 1                 # TCP only: parallel connections, bins split between them

    [[shelf.bin]]
    id = "A1-2"
    bus = "bus-1"
    device_id = 3                   # Modbus unit id of this bin's module
    sku = "00950123456789"          # GTIN-14
    unit_g = 85.0                   # learned by `shelfsync shelf calibrate --bin A1-2 learn`
    tare_g = 1203.5                 # learned by `shelfsync shelf calibrate --bin A1-2 tare`
    # map = "laumas-tlu"           # overrides the bus's map for this module

    [shelf.maps.acme-100]           # custom maps: see edge.shelf.registers
    ...

A serial bus is polled no faster than its line allows: each read costs request + reply
characters at 11 bits each plus 3.5 characters of silence per frame (Modbus over serial line
V1.02 §2.5.1.1) and a device turnaround; the rate is lowered (and logged) if bins x frame time x
poll rate would exceed 90 % of the line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.clock import WALL_CLOCK
from edge.fusion.domain import BinAvailability, BinLevel, Observation
from edge.shelf.detector import BinDetector, DetectorConfig
from edge.shelf.registers import (
    BUILTIN_MAPS,
    Reading,
    RegisterMap,
    RegisterMapError,
    map_from_config,
)
from shared.toml_tables import check_keys

log = logging.getLogger("shelfsync.shelf")


class ShelfConfigError(ValueError):
    """The [shelf] section of the store config is malformed."""


class ShelfUnavailable(Exception):
    """A bin's module did not give a usable reading."""

    def __init__(self, bin_id: str, reason: str) -> None:
        super().__init__(f"bin {bin_id}: {reason}")
        self.bin, self.reason = bin_id, reason


# --- config ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusConfig:
    id: str
    map: RegisterMap
    tcp: tuple[str, int] | None = None
    serial: str | None = None
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1
    poll_hz: float = 10.0
    timeout_s: float = 0.3
    connections: int = 1
    unavailable_after: int = 3  # consecutive failed reads before a bin is marked unavailable


@dataclass(frozen=True, slots=True)
class BinConfig:
    id: str
    bus: str
    device_id: int
    sku: str
    unit_g: float
    tare_g: float
    map: RegisterMap


@dataclass(frozen=True, slots=True)
class ShelfConfig:
    buses: tuple[BusConfig, ...]
    bins: tuple[BinConfig, ...]
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def bins_on(self, bus_id: str) -> tuple[BinConfig, ...]:
        return tuple(b for b in self.bins if b.bus == bus_id)

    def bin(self, bin_id: str) -> BinConfig:
        for b in self.bins:
            if b.id == bin_id:
                return b
        raise ShelfConfigError(f"no [[shelf.bin]] with id {bin_id!r}")

    def bus(self, bus_id: str) -> BusConfig:
        for b in self.buses:
            if b.id == bus_id:
                return b
        raise ShelfConfigError(f"no [[shelf.bus]] with id {bus_id!r}")


def _get(
    obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...
) -> Any:
    if key not in obj:
        if default is ...:
            raise ShelfConfigError(f"{where}: missing {key!r}")
        return default
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ShelfConfigError(f"{where}.{key}: expected {kind}, got {value!r}")
    if not isinstance(value, kind):
        raise ShelfConfigError(f"{where}.{key}: expected {kind}, got {value!r}")
    return value


def _number(obj: Mapping[str, Any], key: str, where: str, default: Any = ...) -> float:
    return float(_get(obj, key, (int, float), where, default))


# The keys of each table of [shelf] (shared/toml_tables.py: anything else is an error).
SHELF_KEYS = frozenset({"poll_hz", "detector", "bus", "bin", "maps"})
DETECTOR_KEYS = frozenset(f.name for f in dataclasses.fields(DetectorConfig))
BUS_KEYS = frozenset({"id", "tcp", "serial", "baudrate", "parity", "stopbits", "map", "poll_hz",
                      "timeout_s", "connections", "unavailable_after"})
BIN_KEYS = frozenset({"id", "bus", "device_id", "sku", "unit_g", "tare_g", "map"})


def parse_shelf_config(section: Mapping[str, Any]) -> ShelfConfig:
    """The `[shelf]` table of a store config (as `tomllib` returns it) -> ShelfConfig."""
    if not isinstance(section, Mapping):
        raise ShelfConfigError("[shelf] must be a table")
    check_keys(section, SHELF_KEYS, "[shelf]", error=ShelfConfigError)
    maps: dict[str, RegisterMap] = dict(BUILTIN_MAPS)
    try:
        for name, table in _get(section, "maps", dict, "shelf", {}).items():
            maps[name] = map_from_config(name, table)
    except RegisterMapError as e:
        raise ShelfConfigError(str(e)) from None

    def lookup(name: str, where: str) -> RegisterMap:
        if name not in maps:
            raise ShelfConfigError(
                f"{where}: unknown map {name!r}; known: {', '.join(sorted(maps))}"
            )
        return maps[name]

    default_hz = _number(section, "poll_hz", "shelf", 10.0)
    det = _get(section, "detector", dict, "shelf", {})
    check_keys(det, DETECTOR_KEYS, "[shelf.detector]", error=ShelfConfigError)
    try:
        detector = DetectorConfig(**{k: det[k] for k in det})
    except (TypeError, ValueError) as e:
        raise ShelfConfigError(f"shelf.detector: {e}") from None

    buses: list[BusConfig] = []
    for i, raw in enumerate(_get(section, "bus", list, "shelf", [])):
        where = f"shelf.bus[{i}]"
        if not isinstance(raw, Mapping):
            raise ShelfConfigError(f"{where} must be a table")
        check_keys(raw, BUS_KEYS, where, error=ShelfConfigError)
        bus_id = _get(raw, "id", str, where)
        tcp = serial = None
        if "tcp" in raw:
            host, _, port = _get(raw, "tcp", str, where).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ShelfConfigError(f"{where}.tcp: want HOST:PORT, got {raw['tcp']!r}")
            tcp = (host, int(port))
        if "serial" in raw:
            serial = _get(raw, "serial", str, where)
        if (tcp is None) == (serial is None):
            raise ShelfConfigError(
                f"{where}: give exactly one of tcp = 'HOST:PORT' or serial = PATH"
            )
        bus = BusConfig(
            id=bus_id,
            map=lookup(_get(raw, "map", str, where), where),
            tcp=tcp,
            serial=serial,
            baudrate=_get(raw, "baudrate", int, where, 19200),
            parity=_get(raw, "parity", str, where, "N"),
            stopbits=_get(raw, "stopbits", int, where, 1),
            poll_hz=_number(raw, "poll_hz", where, default_hz),
            timeout_s=_number(raw, "timeout_s", where, 0.3),
            connections=_get(raw, "connections", int, where, 1),
            unavailable_after=_get(raw, "unavailable_after", int, where, 3),
        )
        if (
            not 0 < bus.poll_hz <= 100
            or not 0 < bus.timeout_s <= 10
            or not 1 <= bus.connections <= 16
            or not 1 <= bus.unavailable_after <= 100
        ):
            raise ShelfConfigError(
                f"{where}: poll_hz 0..100, timeout_s 0..10, connections 1..16, "
                "unavailable_after 1..100"
            )
        if bus.parity not in ("N", "E", "O"):
            raise ShelfConfigError(f"{where}.parity: N, E or O")
        if any(b.id == bus_id for b in buses):
            raise ShelfConfigError(f"{where}: duplicate bus id {bus_id!r}")
        buses.append(bus)

    bins: list[BinConfig] = []
    for i, raw in enumerate(_get(section, "bin", list, "shelf", [])):
        where = f"shelf.bin[{i}]"
        if not isinstance(raw, Mapping):
            raise ShelfConfigError(f"{where} must be a table")
        check_keys(raw, BIN_KEYS, where, error=ShelfConfigError)
        bin_id = _get(raw, "id", str, where)
        bus_id = _get(raw, "bus", str, where)
        bus_cfg = next((b for b in buses if b.id == bus_id), None)
        if bus_cfg is None:
            raise ShelfConfigError(f"{where}: bus {bus_id!r} is not a [[shelf.bus]]")
        sku = _get(raw, "sku", str, where)
        if len(sku) != 14 or not sku.isdigit():
            raise ShelfConfigError(f"{where}.sku: want a GTIN-14, got {sku!r}")
        b = BinConfig(
            id=bin_id,
            bus=bus_id,
            device_id=_get(raw, "device_id", int, where),
            sku=sku,
            unit_g=_number(raw, "unit_g", where),
            tare_g=_number(raw, "tare_g", where, 0.0),
            map=lookup(raw["map"], where) if "map" in raw else bus_cfg.map,
        )
        if not 1 <= b.device_id <= 247:
            raise ShelfConfigError(f"{where}.device_id: 1..247 (Modbus unit ids)")
        if not b.unit_g > 0:
            raise ShelfConfigError(
                f"{where}.unit_g must be > 0 (learn it: shelfsync shelf calibrate)"
            )
        if any(x.id == bin_id for x in bins):
            raise ShelfConfigError(f"{where}: duplicate bin id {bin_id!r}")
        if any(x.bus == bus_id and x.device_id == b.device_id for x in bins):
            raise ShelfConfigError(f"{where}: device_id {b.device_id} is already used on {bus_id}")
        bins.append(b)
    return ShelfConfig(tuple(buses), tuple(bins), detector)


# --- bus bandwidth ---------------------------------------------------------------------------


def rtu_read_seconds(baudrate: int, registers: int, turnaround_s: float = 0.002) -> float:
    """Wire time of one FC3 read on RTU: 8-byte request, 5+2n-byte reply, 11-bit characters
    (8 data + start + stop + parity or second stop, spec §2.5.1), 3.5 characters of silence
    before each frame (§2.5.1.1), plus the module's turnaround."""
    char = 11 / baudrate
    return (8 + 5 + 2 * registers + 2 * 3.5) * char + turnaround_s


def feasible_poll_hz(bus: BusConfig, bins: Sequence[BinConfig]) -> float:
    """The poll rate this bus can carry (the configured one, or lower for a slow serial line)."""
    if bus.serial is None or not bins:
        return bus.poll_hz
    cycle = sum(rtu_read_seconds(bus.baudrate, b.map.block[1]) for b in bins)
    return min(bus.poll_hz, 0.9 / cycle)


# --- observations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinSnapshot:
    """One bin right now, for the gateway's retained `shelves` snapshot (contract §5)."""

    bin: str
    sku: str
    count: int | None  # None until the first stable level
    grams: float | None
    available: bool
    stable: bool


@dataclass(slots=True)
class BinState:
    config: BinConfig
    detector: BinDetector
    available: bool = True
    last: Reading | None = None
    failures: int = 0


# --- the poller ------------------------------------------------------------------------------


Client = AsyncModbusTcpClient | AsyncModbusSerialClient


def make_client(bus: BusConfig) -> Client:
    # retries=0: the next poll is the retry; a stuck bin must not stall the others for seconds.
    if bus.tcp is not None:
        return AsyncModbusTcpClient(
            bus.tcp[0],
            port=bus.tcp[1],
            timeout=bus.timeout_s,
            retries=0,
            reconnect_delay=0.2,
            reconnect_delay_max=5.0,
        )
    assert bus.serial is not None
    return AsyncModbusSerialClient(
        bus.serial,
        baudrate=bus.baudrate,
        parity=bus.parity,
        stopbits=bus.stopbits,
        timeout=bus.timeout_s,
        retries=0,
        reconnect_delay=0.2,
        reconnect_delay_max=5.0,
    )


async def read_bin(client: Client, b: BinConfig) -> Reading:
    """One FC3 read of a bin's gross/net/status block, decoded. Raises ShelfUnavailable."""
    start, count = b.map.block
    try:
        rr = await client.read_holding_registers(start, count=count, device_id=b.device_id)
    except ModbusException as e:  # timeouts, broken frames, lost connection
        raise ShelfUnavailable(b.id, f"no valid reply ({e})") from e
    if rr.isError():
        raise ShelfUnavailable(b.id, f"exception reply {getattr(rr, 'exception_code', '?')}")
    try:
        return b.map.decode(rr.registers)
    except RegisterMapError as e:
        raise ShelfUnavailable(b.id, str(e)) from e


async def send_command(client: Client, b: BinConfig, which: str) -> None:
    """Ask the module itself to zero or tare (if its map has a command register)."""
    cmd = b.map.command
    if cmd is None:
        raise ShelfUnavailable(b.id, f"map {b.map.name!r} has no command register")
    code = cmd.zero if which == "zero" else cmd.tare
    try:
        rr = await client.write_register(cmd.address, code, device_id=b.device_id)
    except ModbusException as e:
        raise ShelfUnavailable(b.id, f"no reply to {which} ({e})") from e
    if rr.isError():
        raise ShelfUnavailable(
            b.id, f"{which} refused: exception {getattr(rr, 'exception_code', '?')}"
        )


@dataclass
class ShelfPoller:
    """Polls every bin of one bus and emits observations through `emit`.

    `clock` gives POSIX seconds (injectable so replays and tests can drive time): the pace of the
    readings, which the detector's windows are measured in. `stamp` turns such a moment into the
    shop's time for the observations emitted (edge/clock.py: the same, unless the shop is a
    simulated one running faster than life)."""

    bus: BusConfig
    bins: Sequence[BinConfig]
    detector: DetectorConfig
    emit: Callable[[Observation], None]
    clock: Callable[[], float] = time.time
    stamp: Callable[[float], datetime] = WALL_CLOCK.at
    states: dict[str, BinState] = field(default_factory=dict)
    polls: int = 0

    def __post_init__(self) -> None:
        for b in self.bins:
            self.states[b.id] = BinState(
                b, BinDetector(b.id, b.sku, b.unit_g, b.tare_g, self.detector)
            )
        self.poll_hz = feasible_poll_hz(self.bus, self.bins)
        if self.poll_hz < self.bus.poll_hz:
            log.warning(
                "bus %s: %d bins at %d baud allow %.1f polls/s per bin, not %.1f",
                self.bus.id,
                len(self.bins),
                self.bus.baudrate,
                self.poll_hz,
                self.bus.poll_hz,
            )

    def _unavailable(self, state: BinState, reason: str, *, now: bool = False) -> None:
        # One lost reply is a gap in the samples, not an outage: the detector's time window
        # copes. After `unavailable_after` in a row the bin is marked down and its window is
        # dropped, so the first stable level after the outage is judged against the old one.
        state.failures += 1
        if state.failures < self.bus.unavailable_after and not now:
            return
        state.detector.interrupt()
        if state.available:
            state.available = False
            log.warning("bin %s unavailable: %s", state.config.id, reason)
            self.emit(
                BinAvailability(state.config.id, False, reason, self.stamp(self.clock()))
            )

    def snapshot(self) -> tuple[BinSnapshot, ...]:
        """Every bin of this bus as the detector last trusted it."""
        return tuple(
            BinSnapshot(
                s.config.id,
                s.config.sku,
                s.detector.count,
                s.detector.grams,
                s.available,
                s.detector.stable,
            )
            for s in self.states.values()
        )

    def observe(self, state: BinState, reading: Reading, t: float) -> None:
        """One good reading of a bin (also the entry point for replays)."""
        self.polls += 1
        state.last = reading
        state.failures = 0
        if not state.available:
            state.available = True
            log.info("bin %s is back", state.config.id)
            self.emit(
                BinAvailability(state.config.id, True, "reading again", self.stamp(t))
            )
        det = state.detector
        known = det.baseline is not None
        obs = det.feed(t, reading.gross_g, reading.stable)
        if obs is not None:
            began = self.stamp(obs.began.timestamp()) if obs.began is not None else None
            self.emit(replace(obs, at=self.stamp(obs.at.timestamp()), began=began))
        elif (
            not known
            and det.baseline is not None
            and det.count is not None
            and det.grams is not None
        ):
            self.emit(BinLevel(self.stamp(t), det.bin, det.count, sku=det.sku, grams=det.grams))

    async def _poll_loop(self, client: Client, bins: Sequence[BinConfig]) -> None:
        period = 1.0 / self.poll_hz
        next_at = time.monotonic()
        while True:
            if not client.connected and not await client.connect():
                for b in bins:
                    self._unavailable(self.states[b.id], "cannot connect", now=True)
                await asyncio.sleep(min(1.0, period * 5))  # paced retry of a lost link
                next_at = time.monotonic()
                continue
            for b in bins:
                state = self.states[b.id]
                try:
                    reading = await read_bin(client, b)
                except ShelfUnavailable as e:
                    self._unavailable(state, e.reason)
                    continue
                self.observe(state, reading, self.clock())
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -period:  # fell behind (slow bus, timeouts): skip, don't burst
                next_at = time.monotonic()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))  # the poll schedule itself

    async def run(self) -> None:
        """Poll until cancelled. TCP buses may use several connections to pipeline reads."""
        n = self.bus.connections if self.bus.tcp else 1
        groups = [list(self.bins[i::n]) for i in range(n)]
        clients = [make_client(self.bus) for _ in groups]
        try:
            async with asyncio.TaskGroup() as tg:
                for client, group in zip(clients, groups, strict=True):
                    if group:
                        tg.create_task(self._poll_loop(client, group))
        finally:
            for client in clients:
                client.close()


async def run_shelves(
    config: ShelfConfig, emit: Callable[[Observation], None], clock: Callable[[], float] = time.time
) -> None:
    """Poll every bus of a store until cancelled."""
    async with asyncio.TaskGroup() as tg:
        for bus in config.buses:
            tg.create_task(
                ShelfPoller(bus, config.bins_on(bus.id), config.detector, emit, clock).run()
            )
