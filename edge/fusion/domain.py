"""What the gateway's sources observe, as values (ARCHITECTURE §7): pure, no I/O.

Two families, one `Observation` union: what the devices report (a scale's weight events and
levels, a bin or camera going away, a camera lane's count) and the reconciler's own inputs (POS
lines, order picks, bin changes in whole units, a camera lane's lasting count changes, odd
weights, counts booked elsewhere, door reads leaving and entering), which the pipeline
(edge/fusion/pipeline.py, edge/fusion/lanes.py) makes from the first. The reconciler never sees
a device driver, so it is tested on tables.
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
    # What watches it: a scale under it (its weight changes are `BinChange`s), a camera lane over
    # it (its count changes are `LaneChange`s), or both. A bin with neither is not a BinInfo.
    scale: bool = True
    lane: bool = False


@dataclass(frozen=True, slots=True)
class PosLine:
    """One POS line: kind "sale", "return" or "void" (scanned, then taken off the bill: the units
    stay in the shop, in the go-back tote); qty is a positive count (POS is the authority).
    `order` names the online order a pickup sale collects (the till's `order`; without it, a
    sale whose txn is the order id collects it too)."""

    at: datetime
    txn: str
    line: int
    kind: str
    sku: str
    qty: int
    order: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an online order for pickup, scanned as picked by staff on their handheld
    (POST /v1/picks on the gateway): the units wait at the counter; the customer pays when they
    collect (a POS sale naming the order). `scan` is the handheld's id for the scan, `staff` who
    scanned it."""

    at: datetime
    order: str
    line: int
    sku: str
    qty: int
    scan: str = ""
    staff: str = ""


@dataclass(frozen=True, slots=True)
class RefillScan:
    """Staff scanned units they carried from the backroom onto a shelf (a handheld's refill mode,
    POST /v1/refills on the gateway). On a bin no scale or camera lane watches it is the only word
    of that move; on a watched bin the bin's rise says it, and the scan books nothing more.
    `bin` is the shelf label scanned with it, when the handheld sends one."""

    at: datetime
    sku: str
    qty: int
    bin: str = ""
    scan: str = ""
    staff: str = ""


@dataclass(frozen=True, slots=True)
class FloorBooked:
    """A floor movement booked elsewhere and committed (staff movements posted to the gateway: a
    move, a shrink, an adjustment): `change` units onto (> 0) or off the floor, so the reconciler's
    floor figure stays the ledger's."""

    at: datetime
    sku: str
    change: int
    ref: str = ""


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
class LaneChange:
    """A camera lane's count changed and held (edge/fusion/lanes.py `LaneTracker`): delta < 0 is
    a pick. `count` is the lane's count after it, `before` the one before; `confidence` the
    counter's mean confidence over the frames that agreed on the new count. A lane sees its
    bin's front row only: a change from a full front row (`before` = what the lane showed when
    full) may be more units than it shows."""

    at: datetime
    bin: str
    delta: int
    count: int
    confidence: float
    before: int = 0
    lane: str = ""


@dataclass(frozen=True, slots=True)
class BinLevel:
    """A bin's first trusted level (the detector's count at its first stable reading, at start-up):
    its count for the shelves snapshot and, for the reconciler, where the bin's book starts. The
    poller knows the SKU and the grams; a table test of the reconciler need not give them."""

    at: datetime
    bin: str
    count: int
    sku: str | None = None
    grams: float | None = None


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


@dataclass(frozen=True, slots=True)
class EntryRead:
    """A tagged unit read coming in by the shop's door (two door antennas, inner and outer, read
    outer then inner: edge/rfid/door.py): a customer's return, a staff member's transfer. It is
    not stock leaving, and the same unit may leave again later."""

    at: datetime
    sku: str
    epc: str


# --- what the devices report (edge/shelf, edge/camera) -----------------------------------


@dataclass(frozen=True, slots=True)
class WeightEvent:
    """A stable change explained by whole units: `delta_count` items taken (<0) or added (>0)."""

    bin: str
    sku: str
    grams: float  # net product weight on the bin now (gross - tare)
    delta_g: float
    count: int
    delta_count: int
    residual_g: float
    stable: bool
    at: datetime  # when the scale settled at the new level
    began: datetime | None = None  # when it began to move (the hand going in): the pick's own time
    # The bin could not be read while it changed (an outage): the net of whatever happened then,
    # not one hand, and `began` is unknown.
    unseen: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "bin": self.bin,
            "sku": self.sku,
            "grams": round(self.grams, 1),
            "delta_g": round(self.delta_g, 1),
            "count": self.count,
            "delta_count": self.delta_count,
            "stable": self.stable,
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class UnexplainedWeight:
    """A stable change that is not a whole number of units within tolerance."""

    bin: str
    sku: str
    grams: float
    delta_g: float
    nearest_count: int
    residual_g: float
    at: datetime  # when the scale settled
    began: datetime | None = None  # when it began to move
    unseen: bool = False  # it changed while the bin could not be read (WeightEvent.unseen)

    def to_json(self) -> dict[str, object]:
        return {
            "bin": self.bin,
            "sku": self.sku,
            "grams": round(self.grams, 1),
            "delta_g": round(self.delta_g, 1),
            "count": None,
            "delta_count": None,
            "stable": True,
            "unexplained": True,
            "nearest_count": self.nearest_count,
            "residual_g": round(self.residual_g, 1),
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class BinAvailability:
    bin: str
    available: bool
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LaneCount:
    """Observation: `count` units visible in the front row of `lane`."""

    lane: str
    bin: str | None
    sku: str | None
    count: int
    confidence: float
    at: datetime


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """Observation: the camera became (un)available; `reason` says why."""

    camera: str
    available: bool
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LaneUnavailable:
    """Observation: `lane` cannot be counted in this camera's picture (`reason` says why), so
    it is not, until it can again (its next LaneCount)."""

    lane: str
    bin: str | None
    sku: str | None
    reason: str
    at: datetime


# Everything a source of the gateway reports: the one union every consumer takes (the reconciler,
# the shelves snapshot, the staff alerts); each acts on the kinds it knows and passes over the rest.
Observation = (PosLine | OrderLine | RefillScan | FloorBooked | BinChange | LaneChange | BinLevel | OddWeight
               | ZoneCount | ExitRead | EntryRead | WeightEvent | UnexplainedWeight | BinAvailability
               | LaneCount | CameraStatus | LaneUnavailable)

# What the devices report as they saw it; the reconciler takes them once the pipeline has read them
# as whole units of a planogram's bin.
DEVICE_REPORTS = (WeightEvent, UnexplainedWeight, BinAvailability, LaneCount, CameraStatus, LaneUnavailable)
