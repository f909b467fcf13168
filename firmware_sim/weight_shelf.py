"""A bus of Modbus weighing modules, one device id per bin, on TCP or RTU over a serial line.

Each bin is a module with the register layout of a real product (see ``PROFILES``; register
numbers from the public manuals quoted in ../../shared/research/shelf.md §2) whose readings
come from `firmware_sim.loadcell` physics. The bins' contents follow the seeded store world
(picks, put-backs — misplaced ones included — thefts and restocks), or, without a world, are
set directly (`ShelfSim.set_count`), which is what tests do.

The server is pymodbus 3.16's (SimDevice per bin; the device `action` coroutine refreshes the
weight registers on every read and executes writes to the command register: zero, tare).
Fault switches (`Faults`) act on the wire through the server's `trace_packet` hook: dropped
replies (the client times out), corrupted CRCs (RTU) or truncated frames (TCP), exception
replies (06 device busy) and devices that vanish from the bus.

This module imports nothing from edge/: it speaks only Modbus, so tests through it exercise
the real driver. `shelfsync sim shelf --help` shows how to run it; `--print-config` emits the
`[[shelf.bus]]`/`[[shelf.bin]]` tables a gateway needs to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import signal
import struct
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.loadcell import CellSpec, LoadCell
from firmware_sim.world import Event, Pick, PutBack, Restock, StoreWorld, WorldConfig

log = logging.getLogger("shelfsync.sim.shelf")

# --- device profiles: how each product lays out its registers (independent of edge/shelf/registers.py) ---


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    blocks: tuple[tuple[int, int], ...]  # (address, register count) of valid holding registers
    command: int | None  # command register address; codes zero=1, tare=2 on every profile here
    write: Callable[
        [list[int], int, float, float, bool], None
    ]  # (regs, base, gross_g, net_g, stable)


def _i32(v: float) -> list[int]:
    raw = struct.pack(">i", max(-(2**31), min(2**31 - 1, round(v))))
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]


def _u32(v: float) -> list[int]:
    raw = struct.pack(">I", max(0, min(2**32 - 1, round(abs(v)))))
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]


def _f32(v: float) -> list[int]:
    raw = struct.pack(">f", v)
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]


def _put(regs: list[int], base: int, address: int, words: list[int]) -> None:
    regs[address - base : address - base + len(words)] = words


def _write_dini(regs: list[int], base: int, gross: float, net: float, stable: bool) -> None:
    # DGT4X: status 40202 bit0 gross sign, bit1 stable, bit5 net polarity; INT32 in 1 g divisions.
    status = (gross < 0) | (stable << 1) | ((net < 0) << 5)
    _put(regs, base, 201, [status, *_i32(gross)])
    _put(regs, base, 213, _i32(net))


def _write_flintec(regs: list[int], base: int, gross: float, net: float, stable: bool) -> None:
    # DAD 141.1: floats in kg; combined block 0x3500 = net, gross, qualifier (bit0 stable, assumed).
    _put(regs, base, 0x2000, [*_f32(gross / 1000), *_f32(net / 1000)])
    _put(regs, base, 0x2020, [*_i32(gross), *_i32(net)])
    _put(regs, base, 0x3500, [*_f32(net / 1000), *_f32(gross / 1000), int(stable)])


def _write_laumas(regs: list[int], base: int, gross: float, net: float, stable: bool) -> None:
    # TLU: 40007 status (bit11 stable, bit8 net negative), magnitudes at 40008-40011.
    status = (stable << 11) | ((net < 0) << 8)
    _put(regs, base, 6, [status, *_u32(gross), *_u32(net)])


PROFILES: dict[str, Profile] = {
    "dini-dgt4x": Profile("dini-dgt4x", ((0, 3), (201, 14)), 0, _write_dini),
    "flintec-dad141": Profile(
        "flintec-dad141", ((0x2000, 4), (0x2020, 4), (0x3500, 5)), None, _write_flintec
    ),
    "laumas-tlu": Profile("laumas-tlu", ((5, 6),), 5, _write_laumas),
}


# --- faults --------------------------------------------------------------------------------


@dataclass
class Faults:
    """Switches a test or the CLI flips while the bus runs. Rates are shares of replies."""

    timeout_rate: float = 0.0  # reply dropped: the client times out
    crc_rate: float = 0.0  # RTU: reply with a broken CRC; TCP: a truncated frame
    exception_rate: float = 0.0  # reply is exception 06 (device busy)
    devices: set[int] = field(default_factory=set)  # rates apply only to these ids (empty = all)
    vanished: set[int] = field(default_factory=set)  # ids that never answer

    def applies(self, device_id: int) -> bool:
        return not self.devices or device_id in self.devices


# --- the bus -------------------------------------------------------------------------------


@dataclass
class SimBin:
    id: str
    device_id: int
    sku: str
    unit_g: float
    cell: LoadCell
    count: int = 0
    zero_g: float = 0.0  # module zero (command 0x01)
    tare_g: float = 0.0  # module tare (command 0x02)
    reads: int = 0


class ShelfSim:
    """The weighing modules of one bus and their physics, driven by a simulated clock."""

    def __init__(
        self,
        profile: str = "dini-dgt4x",
        *,
        seed: int = 0,
        spec: CellSpec | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown map {profile!r}; choose one of {', '.join(PROFILES)}")
        self.profile = PROFILES[profile]
        self.seed, self.spec, self.speed = seed, spec or CellSpec(), speed
        self.start = (start or datetime.now(UTC)).timestamp()
        self._mono0 = time.monotonic()
        self._clock = clock  # injected simulated POSIX seconds (tests, replays); else wall time
        self.bins: dict[str, SimBin] = {}
        self.by_device: dict[int, SimBin] = {}
        self.faults = Faults()
        self._rng = random.Random(f"faults:{seed}")
        self._unit_rng = random.Random(f"units:{seed}")
        self.framer = FramerType.SOCKET
        self.server: ModbusTcpServer | ModbusSerialServer | None = None

    def now(self) -> float:
        """Simulated POSIX seconds."""
        if self._clock is not None:
            return self._clock()
        return self.start + (time.monotonic() - self._mono0) * self.speed

    def add_bin(
        self, bin_id: str, sku: str, unit_g: float, count: int, device_id: int | None = None
    ) -> SimBin:
        device_id = device_id or len(self.bins) + 1
        if not 1 <= device_id <= 247 or device_id in self.by_device:
            raise ValueError(f"device id {device_id} is taken or outside 1..247")
        cell = LoadCell(
            self.spec,
            seed=hash((self.seed, device_id)) & 0xFFFFFFFF,
            load_g=self._items_g(unit_g, count),
            t0=self.start,
        )
        b = SimBin(bin_id, device_id, sku, unit_g, cell, count)
        self.bins[bin_id] = b
        self.by_device[device_id] = b
        return b

    def _items_g(self, unit_g: float, n: int) -> float:
        # Real units vary: 0.3 % sigma per item (filling tolerance of a pouch or a bag).
        return sum(unit_g * (1 + self._unit_rng.gauss(0, 0.003)) for _ in range(n))

    def set_count(self, bin_id: str, count: int, *, hand_s: float | None = None) -> None:
        """Someone takes or adds items so that `count` remain (a hand first, then the change)."""
        b = self.bins[bin_id]
        delta = count - b.count
        grams = self._items_g(b.unit_g, abs(delta))
        b.cell.change(self.now(), math.copysign(grams, delta) if delta else 0.0, hand_s)
        b.count = count

    def put_foreign(self, bin_id: str, grams: float, *, hand_s: float | None = None) -> None:
        """A misplaced item of another product lands on this bin."""
        self.bins[bin_id].cell.change(self.now(), grams, hand_s)

    # --- Modbus side ---

    def reading(self, b: SimBin) -> tuple[float, float, bool]:
        t = self.now()
        if b.reads % 500 == 0:
            b.cell.fold(t)
        b.reads += 1
        gross = float(b.cell.sample(t)) - b.zero_g
        return gross, gross - b.tare_g, b.cell.stable(t)

    async def _action(
        self,
        b: SimBin,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if (
            self.faults.exception_rate
            and self.faults.applies(b.device_id)
            and self._rng.random() < self.faults.exception_rate
        ):
            return ExcCodes.DEVICE_BUSY
        if set_values is None:
            gross, net, stable = self.reading(b)
            self.profile.write(registers, start_address, gross, net, stable)
            return None
        if self.profile.command is not None and address == self.profile.command and set_values:
            code = int(set_values[0])
            gross, _, stable = self.reading(b)
            if code == 0x01:  # zero: the current gross becomes zero
                b.zero_g += gross
                b.tare_g = 0.0
            elif code == 0x02:  # tare: the current gross becomes the tare
                b.tare_g = gross
            else:
                return ExcCodes.ILLEGAL_VALUE
            log.info("bin %s (id %d): command %#x done", b.id, b.device_id, code)
        return None

    def devices(self) -> list[SimDevice]:
        out = []
        for b in self.bins.values():
            simdata = [
                SimData(address=a, count=n, values=0, datatype=DataType.REGISTERS)
                for a, n in self.profile.blocks
            ]
            out.append(SimDevice(id=b.device_id, simdata=simdata, action=partial(self._action, b)))
        return out

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        rtu = self.framer is FramerType.RTU
        device_id = data[0] if rtu else (data[6] if len(data) > 6 else 0)
        f = self.faults
        if device_id in f.vanished:
            return b""
        if not f.applies(device_id):
            return data
        if f.timeout_rate and self._rng.random() < f.timeout_rate:
            return b""
        if f.crc_rate and self._rng.random() < f.crc_rate:
            # RTU: flip the CRC's last byte; TCP has no CRC (TCP checksums), so send half a frame.
            return data[:-1] + bytes([data[-1] ^ 0xFF]) if rtu else data[: len(data) // 2]
        return data

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start serving Modbus TCP; returns the bound port."""
        self.framer = FramerType.SOCKET
        server = ModbusTcpServer(
            self.devices(),
            framer=FramerType.SOCKET,
            address=(host, port),
            trace_packet=self._trace_packet,
        )
        await server.serve_forever(background=True)
        self.server = server
        return int(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def serve_rtu(self, port: str, baudrate: int = 19200) -> None:
        """Start serving Modbus RTU on a serial device (a tty path)."""
        self.framer = FramerType.RTU
        server = ModbusSerialServer(
            self.devices(),
            framer=FramerType.RTU,
            port=port,
            baudrate=baudrate,
            trace_packet=self._trace_packet,
        )
        await server.serve_forever(background=True)
        self.server = server

    async def close(self) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]
            self.server = None


class NullModem:
    """Two pseudo-terminals joined back to back, like `socat pty pty`: a serial cable in software.

    The simulator serves RTU on `server_path`; a client opens `client_path`. A pty has no line
    speed, so this tests framing, not timing (research §1).
    """

    def __init__(self) -> None:
        self._m1, self._s1 = os.openpty()
        self._m2, self._s2 = os.openpty()
        for fd in (self._s1, self._s2):
            tty.setraw(fd, termios.TCSANOW)
        for fd in (self._m1, self._m2):
            os.set_blocking(fd, False)
        self.server_path = os.ttyname(self._s1)
        self.client_path = os.ttyname(self._s2)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._m1, self._pump, self._m1, self._m2)
        self._loop.add_reader(self._m2, self._pump, self._m2, self._m1)

    @staticmethod
    def _pump(src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
            if data:
                os.write(dst, data)
        except (BlockingIOError, OSError):
            pass  # nobody on the other end yet (EIO) or nothing to read: a cable just drops it

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._m1)
            self._loop.remove_reader(self._m2)
            self._loop = None
        for fd in (self._m1, self._s1, self._m2, self._s2):
            with contextlib.suppress(OSError):
                os.close(fd)


# --- the store world drives the bins --------------------------------------------------------


class WorldFeed:
    """Moves the world's picks, put-backs, thefts and restocks onto the load cells.

    It builds its own StoreWorld from `bins`, `seed` and `store` and advances it in `tick`; or,
    given `world`, it feeds a world someone else advances (`apply` what happened)."""

    def __init__(
        self,
        sim: ShelfSim,
        bins: int = 0,
        seed: int = 0,
        store: str = "sh-0001",
        bumps_per_hour: float = 2.0,
        leans_per_hour: float = 1.0,
        *,
        world: StoreWorld | None = None,
    ) -> None:
        self.sim = sim
        # The same (store, seed, start, config) as every other simulator of this store, so the
        # shelves, the RFID readers and the POS all see one world.
        self.world = world or StoreWorld(
            store=store,
            seed=seed,
            start=datetime.fromtimestamp(sim.start, UTC),
            config=WorldConfig(bins=bins),
        )
        self._rng = random.Random(f"world-feed:{seed}")
        self.bumps_per_hour, self.leans_per_hour = bumps_per_hour, leans_per_hour
        self._weights: dict[int, float] = {}
        for i, b in enumerate(self.world.bins.values(), start=1):  # (one device id per bin)
            product = self.world.products[b.gtin]
            sb = sim.add_bin(b.id, b.gtin, product.unit_grams, 0, device_id=i)
            sb.cell.set_load(sim.start, self._load(b.id), hand_s=0.0)
            sb.cell.fold(sim.start + 1e9)  # the opening stock is already settled
            sb.count = len(self.world.bin_units(b.id))

    def _unit_weight(self, uid: int, gtin: str) -> float:
        if uid not in self._weights:
            nominal = self.world.products[gtin].unit_grams
            self._weights[uid] = nominal * (
                1 + random.Random(f"{self.sim.seed}:{uid}").gauss(0, 0.003)
            )
        return self._weights[uid]

    def _load(self, bin_id: str) -> float:
        return sum(self._unit_weight(u.uid, u.gtin) for u in self.world.bin_units(bin_id))

    def apply(self, events: Iterable[Event]) -> int:
        """Move the weight of what happened; returns how many bins changed."""
        touched: dict[str, float] = {}
        for e in events:
            # Picks, put-backs (also on a wrong bin) and restocks move weight; a theft or a sale
            # happens after the pick already took the units off the shelf.
            if isinstance(e, Pick | PutBack | Restock) and e.bin in self.sim.bins:
                touched[e.bin] = e.at.timestamp()
        for bin_id, at in touched.items():
            sb = self.sim.bins[bin_id]
            sb.cell.set_load(at, self._load(bin_id))
            sb.count = len(self.world.bin_units(bin_id))
        return len(touched)

    def tick(self, dt_s: float) -> None:
        now = self.sim.now()
        self.apply(self.world.advance(datetime.fromtimestamp(now, UTC)))
        for sb in self.sim.bins.values():
            if self._rng.random() < self.bumps_per_hour * dt_s / 3600:
                sb.cell.bump(now)
            if self._rng.random() < self.leans_per_hour * dt_s / 3600:
                sb.cell.lean(now, self._rng.uniform(0.5, 2.5), self._rng.uniform(100, 2000))

    async def run(self, period_s: float = 0.1) -> None:
        while True:
            self.tick(period_s * self.sim.speed)
            await asyncio.sleep(period_s)  # a periodic tick of the shop, not a wait for an event


# --- command line ----------------------------------------------------------------------------


def print_config(sim: ShelfSim, where: str, rtu: bool) -> str:
    bus = f'serial = "{where}"' if rtu else f'tcp = "{where}"'
    lines = [
        "[[shelf.bus]]",
        'id = "sim-1"',
        bus,
        f'map = "{sim.profile.name}"',
        "poll_hz = 10",
        "",
    ]
    for b in sim.bins.values():
        lines += [
            "[[shelf.bin]]",
            f'id = "{b.id}"',
            'bus = "sim-1"',
            f"device_id = {b.device_id}",
            f'sku = "{b.sku}"',
            f"unit_g = {b.unit_g:g}",
            f"tare_g = {sim.spec.dead_load_g:g}",
            "",
        ]
    return "\n".join(lines)


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="A bus of Modbus weighing modules (one device id per bin) whose bins follow "
        "the seeded store world, on Modbus TCP or RTU over a serial line.",
        epilog="examples:\n"
        f"  {prog} --tcp 127.0.0.1:5020 --bins 12 --map dini-dgt4x --seed 7 --print-config\n"
        f"  {prog} --serial auto --map flintec-dad141   # makes a pty pair, prints the client end\n"
        f"  {prog} --tcp 0.0.0.0:5020 --timeout-rate 0.02 --vanish 3\n"
        f"maps: {', '.join(PROFILES)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--tcp", metavar="HOST:PORT", help="serve Modbus TCP here (port 0: any free)"
    )
    where.add_argument(
        "--serial",
        metavar="PTY",
        help="serve Modbus RTU on this tty, or 'auto' "
        "for a new pty pair (prints the path clients open)",
    )
    p.add_argument("--baudrate", type=int, default=19200)
    p.add_argument("--bins", type=int, default=12, help="bins on the bus (default 12)")
    p.add_argument("--map", default="dini-dgt4x", choices=sorted(PROFILES), help="register map")
    p.add_argument("--seed", type=int, default=0, help="world seed (same as the other sims)")
    p.add_argument("--store", default="sh-0001", help="store id of the world (default sh-0001)")
    p.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="world start time, ISO 8601 with zone (default: now)",
    )
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--noise", type=float, default=2.0, help="noise sigma in grams (default 2)")
    p.add_argument("--timeout-rate", type=float, default=0.0, help="share of replies dropped")
    p.add_argument("--crc-rate", type=float, default=0.0, help="share of replies corrupted")
    p.add_argument("--exception-rate", type=float, default=0.0, help="share answered 06 busy")
    p.add_argument(
        "--vanish",
        type=int,
        action="append",
        default=[],
        metavar="ID",
        help="a device id that never answers (repeatable)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the [[shelf.bus]]/[[shelf.bin]] TOML for a gateway, then serve",
    )
    return p


async def _serve(args: argparse.Namespace) -> int:
    sim = ShelfSim(
        args.map,
        seed=args.seed,
        speed=args.speed,
        spec=CellSpec(noise_g=args.noise),
        start=args.start,
    )
    feed = WorldFeed(sim, args.bins, args.seed, store=args.store)
    sim.faults = Faults(
        args.timeout_rate, args.crc_rate, args.exception_rate, vanished=set(args.vanish)
    )
    modem: NullModem | None = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        bound = await sim.serve_tcp(host or "127.0.0.1", int(port))
        where = f"{host or '127.0.0.1'}:{bound}"
        rtu = False
    else:
        path = args.serial
        if path == "auto":
            modem = NullModem()
            modem.start()
            path, where = modem.server_path, modem.client_path
        else:
            where = path
        await sim.serve_rtu(path, args.baudrate)
        rtu = True
    if args.print_config:
        print(print_config(sim, where, rtu), flush=True)
    print(
        f"shelf sim: {len(sim.bins)} bins ({args.map}) on {'RTU ' if rtu else 'TCP '}{where}; "
        "Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(feed.run())
    try:
        await stop.wait()
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await sim.close()
        if modem:
            modem.close()
    return 0


def main(argv: list[str], prog: str = "shelfsync sim shelf") -> int:
    args = _parser(prog).parse_args(argv)
    if args.tcp and ":" not in args.tcp:
        print(f"{prog}: --tcp wants HOST:PORT, got {args.tcp!r}", file=sys.stderr)
        return 2
    if args.start is not None and args.start.tzinfo is None:
        print(f"{prog}: --start needs a time zone, e.g. 2026-11-26T09:00+00:00", file=sys.stderr)
        return 2
    if not 1 <= args.bins <= 247:
        print(f"{prog}: --bins must be 1..247 (Modbus device ids)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return asyncio.run(_serve(args))
    except (OSError, RuntimeError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
