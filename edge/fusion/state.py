"""What the reconciler holds open between observations, and the measures all its rules share. Pure.

The records: picks waiting for a word (a sale, their units coming home, the door, the window), the
till's lines no pick matched yet, go-backs on their way home, units lying on a foreign bin or risen
where nothing explained them, the shrinks a late word may still retract. The measures: a delta's
id and its effect on the floor book, and how long a pick waits for its sale.

Delta ids are derived from the evidence (uuid5), so replaying the same observations yields the
same deltas and the ledger's idempotency makes a replay change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.fusion.domain import BinInfo, ExitRead
from edge.fusion.floor_book import FloorBook, floor_change
from shared.contract import Kind, StockDelta, Zone

UNSEEN_WAIT = 1.2  # with a door antenna, a pick it saw nothing of waits this many windows
# ... and a pick of a SKU known to carry RFID tags, this many: the door reads nearly every tagged
# unit carried out, so one it did not read is almost surely still in the shop (put back where no
# sensor sees it, and brought home by the next tidy round, at most an hour or so later).
TAGGED_WAIT = 4.0
_NS = uuid.UUID("6f1d2c3e-0000-4000-8000-5e1f5c0a1e55")


@dataclass(frozen=True, slots=True)
class Misplacement:
    at: datetime
    bin: str  # where the foreign units lie
    sku: str  # what they are
    qty: int
    home_bin: str


@dataclass(slots=True)
class Pick:
    at: datetime
    bin: str
    sku: str
    qty: int  # units still unclaimed
    unit_g: float = 0.0  # what one of these very units weighed (0: not measured)
    walked: bool = False  # the exit portal saw some of its units leave unpaid: the rest went too
    left: datetime | None = None  # when the portal saw that (its hand's units left then)
    seen: dict[str, object] | None = None  # a camera lane's (and scale's) word on it, for the evidence
    counted: dict[str, object] | None = None  # a count found its units gone: shrink at the next tick
    found: datetime | None = None  # a count (its cut-off then) found its units in the shop


@dataclass(slots=True)
class Sighting:
    """A change of a bin that a scale and a camera lane both watch, as one of them saw it, until
    the other's word on the same hand arrives (within `latency`)."""

    at: datetime
    source: str  # "scale" | "lane"
    delta: int
    confidence: float
    evidence: dict[str, object]
    pick: Pick | None  # the pick it made, if it made one


@dataclass(slots=True)
class Credit:
    """A POS sale or void line, or an order line scanned as picked, that no pick matched yet."""

    at: datetime
    txn: str
    line: int
    kind: str
    qty: int


@dataclass(slots=True)
class Paid:
    """Units of a SKU sold at the till that the exit portal has not seen leave yet."""

    at: datetime
    qty: int


@dataclass(slots=True)
class Expect:
    """Go-backs of a SKU on their way home (voided at the till, or lifted off a foreign bin)."""

    at: datetime
    qty: int
    lifted: bool = False  # lifted off a foreign bin by staff (else voided at the till)


@dataclass(slots=True)
class Stray:
    """Units of `sku` lying on a foreign bin."""

    at: datetime
    bin: str
    sku: str
    qty: int
    grams: float


@dataclass(slots=True)
class Unknown:
    """Units that rose onto a bin not low enough to be refilled, that nothing explained: no pick
    pending to put back, no go-back, no foreign pick they weigh as. They weigh as whole units of
    the bin's SKU, but another SKU's units can too (three 85 g pouches read as five 50 g ones, a
    100 g pack on a 100 g pack's bin), carried from a bin no sensor watches: until staff take them
    home, the scale counts them as its own."""

    at: datetime
    bin: str
    sku: str
    qty: int
    grams: float
    moved: datetime | None = None  # re-anchoring booked them as a refill then (a move)


@dataclass(slots=True)
class Shrunk:
    at: datetime  # the pick
    sku: str
    qty: int  # units not retracted yet
    id: str
    until: datetime  # a late sale may still retract it until then
    bin: str = ""
    unit_g: float = 0.0  # what one of the units weighed when picked (0: not measured)
    picked: int = 0  # units the shrink booked
    detected: datetime | None = None  # when it was booked


@dataclass
class ReconcilerState:
    """The reconciler's settings and what it holds open between observations; the rules are the
    mixins that `Reconciler` (edge/fusion/reconciler.py) is made of."""

    bins: dict[str, BinInfo]
    window: timedelta = timedelta(minutes=25)
    tolerance: float = 0.2
    settle: timedelta = timedelta(minutes=10)
    hold: timedelta = timedelta(hours=24)  # how long go-backs and strays are awaited
    # Off by default: in the week-long trading run (README, Accuracy) both cost more than they
    # gave — a floor count turns a wrong floor/backroom split into a wrong total, and any units
    # reappearing retract real thefts as often as false ones (re-anchoring and a shrink's own
    # units coming home, below, are the narrower forms that pay).
    counts: bool = False  # emit `count` corrections when the scales disagree with the book
    emit_sales: bool = True  # False: sale and return lines are booked elsewhere (the POS webhook)
    restore: bool = False  # retract a shrink when units of the SKU reappear on its bin
    # Retract a shrink when the SKU's scales show its units are still there: more units than the
    # book's floor figure for `settle`, with nothing about the SKU pending.
    reanchor: bool = True
    queue: timedelta = timedelta(seconds=30)
    latency: timedelta = timedelta(seconds=15)  # a weight event trails its pick by a few seconds
    max_hand: int = 12  # a fall of more units than this is not a pick (hands take up to 6)
    scan_lead: timedelta = timedelta(seconds=2)  # a staff scan follows its own weight event by at most this
    noise_g: float = 4.0
    fingerprint: float = 0.002  # the same units weigh the same within 0.2 % (or noise_g)
    # Units this heavy differ from one another by more than the scale's noise (a few tenths of a
    # percent of a kilogram is a few grams), so their weight tells them from another SKU's.
    fingerprint_min_g: float = 1000.0
    match: float = 0.03  # grams of foreign units must be whole units within 3 % (unit spread 0.3 %)
    # The shop has an exit portal (`ExitRead`s): a pick none of whose units it saw leave unpaid
    # most likely never left (a theft would have shown at the door), so it waits `unseen_window`
    # before it is shrink (default: the window and a fifth: 30 minutes), and a late sale may claim
    # it until then.
    portal: bool = False
    unseen_window: timedelta | None = None
    portal_grace: timedelta = timedelta(seconds=60)  # a till line may reach us after the door's read
    paid_for: timedelta = timedelta(minutes=30)  # a unit paid for leaves within this of its sale
    # The SKUs whose units carry RFID tags (None: every unit is, as in a shop that tags all it
    # sells). With a portal, only these are read at the door: a pick of a tagged SKU the door saw
    # nothing of is still in the shop, and waits for the count (or `hold`); one of an untagged SKU says
    # nothing by not being read.
    tagged: frozenset[str] | None = None
    _picks: list[Pick] = field(default_factory=list)
    _credit: dict[str, list[Credit]] = field(default_factory=dict)
    _held: dict[str, dict[str, int]] = field(default_factory=dict)  # order -> sku -> units picked
    _goback: dict[str, list[Expect]] = field(default_factory=dict)
    _strays: list[Stray] = field(default_factory=list)
    _loose: list[Stray] = field(default_factory=list)  # rises nothing explained, for `latency`
    _unknown: list[Unknown] = field(default_factory=list)  # ... on a bin not low, for `hold`
    _shrunk: list[Shrunk] = field(default_factory=list)  # a late sale or the units coming back
    _book: FloorBook = field(default_factory=FloorBook)  # the book's floor figure per SKU
    _level: dict[str, int] = field(default_factory=dict)  # detector count per bin
    _disagree: dict[str, datetime] = field(default_factory=dict)
    _settled: dict[str, datetime] = field(default_factory=dict)  # scales and book last agreed
    # The same and the SKU's last rise nothing explained, as steps of this reconciler (each
    # observation and tick is one): which came first, even at one instant.
    _settled_step: dict[str, int] = field(default_factory=dict)
    _risen: dict[str, int] = field(default_factory=dict)
    _step: int = 0
    _seen: set[tuple[object, ...]] = field(default_factory=set)
    _paid: dict[str, list[Paid]] = field(default_factory=dict)  # sold, not seen leaving yet
    _exits: list[ExitRead] = field(default_factory=list)  # read leaving, not judged yet
    _gone: dict[str, datetime] = field(default_factory=dict)  # EPC -> when it left
    _sighted: dict[str, list[Sighting]] = field(default_factory=dict)  # bin -> unpaired sightings
    _lane_top: dict[str, int] = field(default_factory=dict)  # bin -> the most its lane has shown

    def __post_init__(self) -> None:
        self._unit = {b.sku: b.unit_g for b in sorted(self.bins.values(), key=lambda b: b.scale)
                      if b.unit_g > 0}  # (a scale's word on a SKU's unit before a lane's)
        self._bins_of: dict[str, list[str]] = {}
        for b in self.bins.values():
            self._bins_of.setdefault(b.sku, []).append(b.bin)

    def _delta(self, key: tuple[object, ...], **kw: object) -> StockDelta:
        did = str(uuid.uuid5(_NS, repr(key)))
        # kw are StockDelta's own fields, named by the rules that call this; typed object here
        d = StockDelta(id=did, seq=0, **kw)  # type: ignore[arg-type]
        if d.zone is Zone.FLOOR and d.kind is Kind.COUNT:
            self._book.count(d.sku, d.occurred_at, d.qty)
        elif floor_change(d):
            self._book.move(d.sku, d.occurred_at, floor_change(d))
        return d

    def _unseen(self) -> timedelta:
        return self.unseen_window or self.window * UNSEEN_WAIT

    def _sale_may_come(self) -> timedelta:
        """How long after a pick nothing saw leave its sale may still claim it. Without a door
        antenna nothing tells a theft from a unit put down elsewhere in the shop, so every pick
        waits as one the door saw nothing of would, when the shop says how long (`unseen_s`): a
        unit laid on a bin nothing watches comes home with the tidy round, after the window."""
        return self._unseen() if self.portal else self.unseen_window or self.window

    def _wait(self, p: Pick) -> timedelta:
        """How long a pending pick waits for its sale before it is shrink."""
        if p.walked:
            return self.window
        if not self.portal:
            return self._sale_may_come()
        if (self.tagged is not None and p.sku in self.tagged) or not self.bins[p.bin].scale:
            return max(self._unseen(), self.hold)  # (the count settles it first: `_count_settles`)
        return self._unseen()

    def _claimable(self, p: Pick) -> timedelta:
        """How long after a pick a till line may still claim it: its wait, but a tagged pick the
        door saw nothing of only for `TAGGED_WAIT` windows (a shopper is not in the shop for hours;
        an older pick of the SKU is not the one this sale paid for)."""
        if self.portal and not p.walked and self.tagged is not None and p.sku in self.tagged:
            return max(self._unseen(), self.window * TAGGED_WAIT)
        if self.portal and not p.walked and not self.bins[p.bin].scale:
            return self._unseen()  # (a camera lane's pick: as long as it would have waited before)
        return self._wait(p)
