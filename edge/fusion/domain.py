"""Observation values the reconciler consumes (ARCHITECTURE §7). Pure values, no I/O.

Device adapters turn their own events (edge/shelf_events.WeightEvent and UnexplainedWeight, POS
lines, online orders) into these; the reconciler never sees a device type, so it can be tested on
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BinInfo:
    """Planogram: which SKU a bin holds, what one unit weighs, and (if known) the level at or
    below which staff refill it and how many units fit — a rise on a fuller bin, or past what
    fits, is not a refill."""

    bin: str
    sku: str
    unit_g: float
    refill_at: int | None = None
    capacity: int | None = None


@dataclass(frozen=True, slots=True)
class PosLine:
    """One POS line: kind "sale", "return" or "void" (scanned, then taken off the bill: the units
    stay in the shop, in the go-back tote); qty is a positive count (POS is the authority)."""

    at: datetime
    txn: str
    line: int
    kind: str
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an online order for pickup, scanned as picked by staff on their handheld: the
    units wait at the counter; the customer pays when they collect (a POS sale, txn = order)."""

    at: datetime
    order: str
    line: int
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class BinChange:
    """A weight change explained by whole units (shelf_events.WeightEvent): delta < 0 is a pick.
    `count` is the detector's count after it; `delta_g` the grams, when known."""

    at: datetime
    bin: str
    delta: int
    count: int
    delta_g: float | None = None


@dataclass(frozen=True, slots=True)
class BinLevel:
    """A bin's first trusted level (the detector's count at its first stable reading)."""

    at: datetime
    bin: str
    count: int


@dataclass(frozen=True, slots=True)
class OddWeight:
    """A weight change not explained by the bin's own unit (shelf_events.UnexplainedWeight)."""

    at: datetime
    bin: str
    delta_g: float


@dataclass(frozen=True, slots=True)
class ZoneCount:
    """An absolute count booked elsewhere (the opening stocktake, an RFID count): the reconciler's
    idea of the book's floor figure starts from it."""

    at: datetime
    sku: str
    zone: str
    qty: int


@dataclass(frozen=True, slots=True)
class ExitRead:
    """A tagged unit read leaving by the shop's door (an RFID portal at the exit: antennas whose
    zone is `exit`). A portal reads a tag many times as it passes; one unit is one EPC."""

    at: datetime
    sku: str
    epc: str


Observation = PosLine | OrderLine | BinChange | BinLevel | OddWeight | ZoneCount | ExitRead
