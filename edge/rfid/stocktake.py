"""RFID stocktakes: count every tagged unit in scope, per SKU and zone, in minutes.

A stocktake inventories with Gen2 session 2, single target, reset at the start (Impinj search
mode 5): every tag is re-armed to A once and then answers once, so weak tags get air time instead
of strong ones repeating (research §6, Impinj's advice for stationary populations). A reader of
another make gets the nearest standard LLRP has, target A in session 1 (edge.rfid.vendor).
It runs until no new tag has turned up for a quiet period, or until its deadline.

Counts are absolute (`count` deltas, ARCHITECTURE §6) and take effect when the count ends: a sale
made during the window is therefore already inside the count, so a unit read and then sold before
the end is taken back out (`sold`). Every SKU expected in scope gets a count, zero included.

The core (`Stocktake`) is pure; `run_stocktake` drives it from one LLRP reader; `main` is the
`shelfsync stocktake` command.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.rfid.driver import DOOR_ZONES, LLRP_PORT, LLRPReader, ReaderSettings, TagRead
from shared.contract import Kind, Source, StockDelta, Zone, format_ts, is_gtin14, new_delta_id

log = logging.getLogger("shelfsync.stocktake")

SINGLE_TARGET_RESET = 5  # Impinj InventorySearchMode


@dataclass(frozen=True, slots=True)
class StocktakeConfig:
    seconds: float = 180.0  # deadline
    quiet_s: float = 5.0  # done once no new tag has been read for this long
    zone: str | None = None  # count only this zone
    expected: Mapping[tuple[str, str], int] = field(
        default_factory=dict
    )  # (sku, zone) -> book stock

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.quiet_s <= 0:
            raise ValueError("seconds and quiet_s must be positive")


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed_s: float
    unique_tags: int
    reads: int
    since_new_s: float


@dataclass(frozen=True, slots=True)
class SkuCount:
    sku: str
    zone: str
    qty: int
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class StocktakeReport:
    """The outcome of one stocktake (the `stocktakes` stream payload of contract §5)."""

    started_at: datetime
    ended_at: datetime
    unique_tags: int
    reads: int
    counts: tuple[SkuCount, ...]
    sold_during: int = 0

    @property
    def seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "unique_tags": self.unique_tags,
            "reads": self.reads,
            "seconds": round(self.seconds, 3),
            "started_at": format_ts(self.started_at),
            "ended_at": format_ts(self.ended_at),
            "sold_during": self.sold_during,
            "counts": [
                {"sku": c.sku, "zone": c.zone, "qty": c.qty}
                | ({"expected": c.expected} if c.expected is not None else {})
                for c in self.counts
            ],
        }

    def count_deltas(
        self,
        next_seq: Callable[[], int],
        new_id: Callable[[], str] = new_delta_id,
    ) -> list[StockDelta]:
        """One absolute `count` delta per SKU and store zone, at the end of the count."""
        zones = {z.value: z for z in Zone}
        return [
            StockDelta(
                id=new_id(),
                seq=next_seq(),
                sku=c.sku,
                kind=Kind.COUNT,
                qty=c.qty,
                zone=zones[c.zone],
                occurred_at=self.ended_at,
                source=Source.RFID,
                confidence=0.99,
                ref=f"stocktake:{format_ts(self.started_at)}",
            )
            for c in self.counts
            if c.zone in zones and is_gtin14(c.sku)
        ]


@dataclass(slots=True)
class _Seen:
    gtin: str
    first_at: datetime
    best: dict[str, int]  # zone -> strongest RSSI there


class Stocktake:
    """The pure core: reads and sales in, counts out."""

    def __init__(self, started_at: datetime, config: StocktakeConfig = StocktakeConfig()) -> None:
        self.config = config
        self.started_at = started_at
        self.reads = 0
        self._seen: dict[str, _Seen] = {}
        self._sold: dict[str, datetime] = {}  # epc -> when it was sold
        self._anonymous_sales: dict[str, list[datetime]] = {}
        self.last_new_at = started_at

    def add(self, read: TagRead) -> bool:
        """Record a read; True if it is a tag this stocktake had not seen."""
        if (self.config.zone is not None and read.zone != self.config.zone) or read.zone in DOOR_ZONES:
            return False  # (the door's antennas see units leaving, not stock)
        self.reads += read.seen_count
        rssi = read.rssi if read.rssi is not None else -128
        seen = self._seen.get(read.epc)
        if seen is None:
            self._seen[read.epc] = _Seen(read.gtin, read.at, {read.zone: rssi})
            self.last_new_at = max(self.last_new_at, read.at)
            return True
        if rssi > seen.best.get(read.zone, -129):
            seen.best[read.zone] = rssi
        return False

    def sold(
        self, at: datetime, epcs: Iterable[str] = (), gtin: str | None = None, qty: int = 0
    ) -> None:
        """A sale during the window. With EPCs (item-level POS) exactly those tags leave the count;
        with only a GTIN and quantity, that many already-read units of it do."""
        if at < self.started_at:
            return
        listed = [e.upper() for e in epcs]
        for epc in listed:
            self._sold[epc] = at
        if not listed and gtin is not None and qty > 0:
            self._anonymous_sales.setdefault(gtin, []).extend([at] * qty)

    def unique(self) -> int:
        return len(self._seen)

    def done(self, now: datetime) -> bool:
        if now - self.started_at >= timedelta(seconds=self.config.seconds):
            return True
        return now - self.last_new_at >= timedelta(seconds=self.config.quiet_s)

    def progress(self, now: datetime) -> Progress:
        return Progress(
            (now - self.started_at).total_seconds(),
            len(self._seen),
            self.reads,
            (now - self.last_new_at).total_seconds(),
        )

    def report(self, ended_at: datetime) -> StocktakeReport:
        """Counts as of `ended_at`; sales reported up to then are inside the count."""
        sold = {e for e, at in self._sold.items() if at <= ended_at}
        anonymous = {
            g: sorted(at for at in ats if at <= ended_at)
            for g, ats in self._anonymous_sales.items()
        }
        counts: dict[tuple[str, str], int] = {}
        first_read: dict[str, list[datetime]] = {}
        for epc, seen in self._seen.items():
            if epc in sold:
                continue
            zone = max(seen.best.items(), key=lambda kv: kv[1])[0]
            counts[(seen.gtin, zone)] = counts.get((seen.gtin, zone), 0) + 1
            first_read.setdefault(seen.gtin, []).append(seen.first_at)
        for gtin, sales in anonymous.items():
            # a unit sold without an EPC was in the count only if it had been read before the
            # sale: each sale takes back one unit, as long as units read before it remain
            reads = sorted(first_read.get(gtin, []))
            take = 0
            for at in sales:
                if bisect.bisect_right(reads, at) > take:
                    take += 1
            for (g, zone), n in sorted(counts.items()):
                if g != gtin or take == 0:
                    continue
                removed = min(n, take)
                counts[(g, zone)] = n - removed
                take -= removed
        for key in self.config.expected:
            counts.setdefault(key, 0)
        if self.config.zone is not None:
            counts = {k: v for k, v in counts.items() if k[1] == self.config.zone}
        rows = tuple(
            SkuCount(g, z, n, self.config.expected.get((g, z)) if self.config.expected else None)
            for (g, z), n in sorted(counts.items())
        )
        unique = sum(1 for e in self._seen if e not in sold)
        sold_during = len(sold) + sum(len(v) for v in anonymous.values())
        return StocktakeReport(self.started_at, ended_at, unique, self.reads, rows, sold_during)


class ReaderUnavailable(TimeoutError):
    """The reader could not be brought to inventorying."""


async def run_stocktake(
    reader: ReaderSettings,
    config: StocktakeConfig,
    progress: Callable[[Progress], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress_every_s: float = 0.5,
    on_started: Callable[[Stocktake], None] | None = None,
) -> StocktakeReport:
    """Count what one reader sees, until quiet or the deadline. `on_started` receives the live
    Stocktake once the reader inventories, so POS sales can be fed to it (`Stocktake.sold`)."""
    settings = ReaderSettings(
        **{
            **_fields(reader),
            "session": 2,
            "search_mode": SINGLE_TARGET_RESET,
            "tag_population": max(reader.tag_population, 1024),
        }
    )
    take = Stocktake(clock(), config)
    changed = asyncio.Event()

    def sink(read: TagRead) -> None:
        if take.add(read):
            changed.set()

    driver = LLRPReader(settings, sink)
    task = asyncio.create_task(driver.run(), name=f"stocktake-{reader.name}")
    try:
        try:
            await driver.wait_for(lambda r: r.inventorying, within=settings.setup_timeout_s + 1)
        except TimeoutError:
            raise ReaderUnavailable(
                f"reader {reader.host}:{reader.port} did not start inventorying within "
                f"{settings.setup_timeout_s + 1:g} s (last error: {driver.stats.last_error})"
            ) from None
        take.started_at = take.last_new_at = clock()  # air time starts when the reader inventories
        if on_started is not None:
            on_started(take)
        while not take.done(clock()):
            if progress is not None:
                progress(take.progress(clock()))
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(progress_every_s):
                    await changed.wait()
        return take.report(clock())
    finally:
        await driver.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _fields(settings: ReaderSettings) -> dict[str, Any]:
    return {f: getattr(settings, f) for f in settings.__dataclass_fields__}


# --- command line ---------------------------------------------------------------------------

EPILOG = """examples:
  shelfsync stocktake --reader 192.168.1.40:5084 --seconds 120
  shelfsync stocktake --reader 127.0.0.1:5084 --zone backroom --json

Antennas map to zones with --zones (default 1=floor,2=floor,3=floor,4=backroom, which is how
`shelfsync sim llrp` lays out its 4 antennas).
"""


def _reader_arg(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, LLRP_PORT
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}") from None


def _zones_arg(text: str) -> dict[int, str]:
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item]
        return {int(a): z for a, z in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ANTENNA=ZONE,..., got {text!r}") from None


def main(argv: list[str], prog: str = "shelfsync stocktake") -> int:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Count every RFID-tagged unit an LLRP reader can see, per SKU and zone.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--reader",
        required=True,
        type=_reader_arg,
        help="the reader, HOST:PORT (port 5084 if omitted)",
    )
    p.add_argument("--seconds", type=float, default=180.0, help="deadline in seconds (default 180)")
    p.add_argument(
        "--quiet", type=float, default=5.0, help="stop after this many seconds without a new tag"
    )
    p.add_argument("--zone", choices=[z.value for z in Zone], help="count only this zone")
    p.add_argument(
        "--zones",
        type=_zones_arg,
        default={1: "floor", 2: "floor", 3: "floor", 4: "backroom"},
        help="antenna to zone map, e.g. 1=floor,2=backroom",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.quiet <= 0:
        p.error("--seconds and --quiet must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    host, port = args.reader
    reader = ReaderSettings(
        "stocktake",
        host,
        port,
        antennas=tuple(sorted(args.zones)),
        zones=args.zones,
        keepalive_s=5.0,
        backoff_max_s=5.0,
    )
    config = StocktakeConfig(seconds=args.seconds, quiet_s=args.quiet, zone=args.zone)

    def show(pr: Progress) -> None:
        print(
            f"\r{pr.elapsed_s:6.1f} s  {pr.unique_tags:7d} tags  {pr.reads:8d} reads  "
            f"quiet {pr.since_new_s:4.1f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        report = asyncio.run(run_stocktake(reader, config, show))
    except ReaderUnavailable as e:
        print(f"\n{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    print(file=sys.stderr)
    if args.json:
        out = report.to_json()
        print(json.dumps({k: out[k] for k in ("unique_tags", "reads", "seconds", "counts")}))
    else:
        print(f"{report.unique_tags} tags, {report.reads} reads in {report.seconds:.1f} s")
        for c in report.counts:
            print(f"  {c.sku}  {c.zone:<9} {c.qty:6d}")
    return 0
