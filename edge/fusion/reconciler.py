"""The reconciler: observations in, contract deltas with evidence out (ARCHITECTURE §7). Pure.

- POS is the authority for sales: every sale line becomes a `sale` delta at once; a weight pick
  of the same SKU within `window` confirms it (confidence 1.0, else 0.9 and no pick evidence).
  A sale whose txn is an online order is the customer collecting: the staff pick was claimed
  by the order line when it was scanned, so it is not matched again.
- An online order line scanned as picked by staff claims a pick like a sale; the units wait at
  the pickup counter, and the customer's payment later is the sale.
- A void line (scanned, then taken off the bill) claims a pick like a sale, but the units went
  to the go-back tote: no stock change, and the staff's later reshelving rise is expected.
- A pick that nothing claims within `window`, and that no put-back undid, is `shrink` (the bin
  stayed low), emitted by `tick(now)` — there is no clock in here. If the sale for it comes
  after all (a shopper slower than the window), the shrink is retracted with an `adjust`.
- A rise on a bin equal to a pending pick of that bin is a put-back (no delta); one that matches
  expected go-backs of the bin's SKU is staff reshelving (no delta); one whose grams are whole
  units of another SKU's pending pick is a misplacement; own units that no single pick explains
  undo the SKU's pending picks as one pool (two hands read as one, a pick partly claimed by
  another shopper's sale); any other rise is a restock: a `move` backroom -> floor. A refill is
  recognised with foreign units lying on the bin and with an online order picked from it in the
  same moment (one net rise).
- Units of a shrink coming home (a rise of as many units as it booked, weighing what they weighed
  when picked, within `fingerprint`) retract it with an `adjust`.
- An unexplained weight that is a whole number of units of another SKU with a pending pick is a
  misplacement: the pick is settled (no shrink, no stock change — the units stay on the floor)
  and a `Misplacement` finding is returned for the shelf view. Staff taking it home later is a
  fall on the foreign bin and a rise on the home bin: neither changes stock.
- Re-anchoring (`reanchor`, on by default): when a SKU's bins show more units than the book's
  floor figure for `settle` with nothing pending, the recent shrinks that add up to the surplus
  exactly are retracted (only those booked since the scales last agreed with the book, unless a
  rise nothing explained came since), and any other surplus is a `move` from the backroom (a
  refill misread). Fewer units than the book books nothing: a theft no pick showed is not
  booked on a guess.
- With `counts` instead (off by default): when the scales and the book disagree beyond doubt —
  every bin of a SKU has a trusted count, nothing about the SKU is pending (no open pick, sale,
  void, go-back or misplacement), and the bins' total differs from the book's floor figure for
  `settle` — the reconciler emits an absolute `count` for the floor.
- An exit portal (RFID antennas on the door, `ExitRead`): every unit sold at the till is expected
  to leave paid; a unit read leaving that no sale of its SKU paid for (within `portal_grace`, as
  the till's line may arrive after the door's read) is `shrink` at once, taking the SKU's oldest
  pending pick, or none if nothing pending is left (a pick the scales missed). It is not
  retracted later. Picks whose units the portal did not see leave still become shrink by the
  window, as without a portal.
- Knowing which SKUs carry RFID tags (`tagged`), a pick of a tagged SKU the portal saw nothing of
  is not made shrink by time (the door reads nearly every tagged unit carried out: one it did not
  read is most likely still in the shop, put down where no sensor sees it until a tidy round brings
  it home, or a fall that was no hand at all — a camera lane's misread run, staff lifting another
  SKU's units): it waits for its sale (a till line may claim it for `TAGGED_WAIT` windows), its
  units coming home, or the count, which settles it (below); only `hold` without any of them makes
  it shrink. An untagged SKU's pick waits the portal's longer window only — but one that only a
  camera lane saw (no scale on its bin) waits as a tagged one does: a lane counts its front row,
  and a run of misread frames holds a wrong count until the next change, so a lane's fall that no
  sale claims is likelier a misread than a theft (and a theft from a lane's bin is seldom seen by
  it at all: the units behind the front row hide it).
- Camera lanes (`LaneChange`, from edge/fusion/lanes.py): a lane's lasting count change is a pick
  or a put-back as a scale's is, the lane's count and confidence in the evidence (`seen`). A lane
  counts its bin's front row, so it is not a level to re-anchor on, and it does not weigh: a rise
  on it is never told apart as another SKU's units. Where a bin has both a scale and a lane, the
  first word on a hand is acted on and the other's, within `latency`, paired with it: the same
  change adds its evidence; a different one is resolved by their confidences (the scale's: one
  less the share of a unit its grams are off), the pick resized to the more confident count, and
  the evidence carries both and which was believed.
- A unit read coming in by the door (`EntryRead`: two door antennas tell direction) is not shrink:
  a customer's return or a staff member's transfer, which the till or the back office books. It
  may leave again (sold, or stolen) and is then judged as any unit leaving.
- Counting while trading: a count is the truth at its cut-off, its `occurred_at`; it read every
  unit in the shop then, those in shoppers' hands and on the pickup shelf included. The ledger
  absorbs every movement dated before it (cloud/db/ledger.py), so each delta here is dated when
  its units left (or rejoined) the counted stock, however late it is decided: a sale when the till
  rang it; a unit read leaving at the door's read, and the units of its hand the door missed at
  that read too (they left together: not back at the pick, or a count while the thief was still
  inside, which read them, would absorb their shrink); a pick no door saw leave, booked by the
  window, at the pick (its units most likely left unseen before a count that came later — and if
  they were still in the shop, the count read them and rightly absorbs the shrink). A retraction
  (a late sale, the shrink's units coming home, the scales re-anchoring) is dated with the
  shrink it takes back, so the pair cancels on either side of any count. So a pick pending at a
  count's cut-off leaves the book true whatever it becomes: sold, put back, or stolen.
- A count settles the picks of its SKU still waiting at its cut-off (for their sale, or for units
  put down where no sensor sees them to come home with a tidy round — after the shop closes, not
  before the next morning's): it read every unit in the shop then, so as many units fewer than the
  book's floor figure are gone, the oldest waiting picks' (shrink at the next tick, dated at the
  pick), and a pick whose units it found is no shrink: only the door can still say they left (a
  count while trading reads a thief's bag) within a shopper's trip of the count; then it is
  dropped. A hand the door saw leave is left to the window.
- A staff refill scan (`RefillScan`: units carried from the backroom onto a shelf, scanned on the
  handheld) is a `move` backroom -> floor, dated at the scan, for a SKU no scale or camera lane
  here watches (its bin is on no sensor: nothing else would ever say the units moved, and the floor
  and backroom figures would drift apart until the next count). On a watched bin the rise books
  the refill (the scale counts the units; the staff member keys them), so the scan books nothing.
- A floor movement booked elsewhere (`FloorBooked`: staff movements posted to the gateway) moves
  the floor figure as the ledger moves the floor.
- Its floor figure is kept as the ledger keeps the floor: the last count (ZoneCount, or its own
  `count` delta) plus the floor deltas it emitted dated after that count's cut-off, whenever
  they were emitted (every floor movement comes from here). Deltas dated at a count's very
  instant are taken as after it (the ledger orders those by id).

Delta ids are derived from the evidence (uuid5), so replaying the same observations yields the
same deltas and the ledger's idempotency makes a replay change nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edge.fusion.domain import (
    DEVICE_REPORTS,
    BinChange,
    BinInfo,
    BinLevel,
    EntryRead,
    ExitRead,
    FloorBooked,
    LaneChange,
    Observation,
    OddWeight,
    OrderLine,
    PosLine,
    RefillScan,
    ZoneCount,
)
from shared.contract import Kind, Source, StockDelta, Zone

_EPOCH = datetime.min.replace(tzinfo=UTC)
UNSEEN_WAIT = 1.2  # with a door antenna, a pick it saw nothing of waits this many windows
# ... and a pick of a SKU known to carry RFID tags, this many: the door reads nearly every tagged
# unit carried out, so one it did not read is almost surely still in the shop (put back where no
# sensor sees it, and brought home by the next tidy round, at most an hour or so later).
TAGGED_WAIT = 4.0
_NS = uuid.UUID("6f1d2c3e-0000-4000-8000-5e1f5c0a1e55")

def floor_change(d: StockDelta) -> int:
    """Units a movement (not a count) puts onto the floor (> 0) or takes off it."""
    return (d.qty if d.zone is Zone.FLOOR else 0) - (d.qty if d.from_zone is Zone.FLOOR else 0)


@dataclass(frozen=True, slots=True)
class Misplacement:
    at: datetime
    bin: str  # where the foreign units lie
    sku: str  # what they are
    qty: int
    home_bin: str


@dataclass(slots=True)
class _Pick:
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
class _Sighting:
    """A change of a bin that a scale and a camera lane both watch, as one of them saw it, until
    the other's word on the same hand arrives (within `latency`)."""

    at: datetime
    source: str  # "scale" | "lane"
    delta: int
    confidence: float
    evidence: dict[str, object]
    pick: _Pick | None  # the pick it made, if it made one


@dataclass(slots=True)
class _Credit:
    """A POS sale or void line, or an order line scanned as picked, that no pick matched yet."""

    at: datetime
    txn: str
    line: int
    kind: str
    qty: int


@dataclass(slots=True)
class _Paid:
    """Units of a SKU sold at the till that the exit portal has not seen leave yet."""

    at: datetime
    qty: int


@dataclass(slots=True)
class _Expect:
    """Go-backs of a SKU on their way home (voided at the till, or lifted off a foreign bin)."""

    at: datetime
    qty: int
    lifted: bool = False  # lifted off a foreign bin by staff (else voided at the till)


@dataclass(slots=True)
class _Stray:
    """Units of `sku` lying on a foreign bin."""

    at: datetime
    bin: str
    sku: str
    qty: int
    grams: float


@dataclass(slots=True)
class _Unknown:
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
class _Shrunk:
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
class Reconciler:
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
    _picks: list[_Pick] = field(default_factory=list)
    _credit: dict[str, list[_Credit]] = field(default_factory=dict)
    _held: dict[str, dict[str, int]] = field(default_factory=dict)  # order -> sku -> units picked
    _goback: dict[str, list[_Expect]] = field(default_factory=dict)
    _strays: list[_Stray] = field(default_factory=list)
    _loose: list[_Stray] = field(default_factory=list)  # rises nothing explained, for `latency`
    _unknown: list[_Unknown] = field(default_factory=list)  # ... on a bin not low, for `hold`
    _shrunk: list[_Shrunk] = field(default_factory=list)  # a late sale or the units coming back
    _floor: dict[str, int] = field(default_factory=dict)  # the book's floor figure per SKU
    _cut_off: dict[str, datetime] = field(default_factory=dict)  # the SKU's last count's occurred_at
    # Floor deltas emitted, dated at or after the last count, for `hold`: a count that arrives
    # after them but is dated before them does not absorb them.
    _since_count: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    _level: dict[str, int] = field(default_factory=dict)  # detector count per bin
    _disagree: dict[str, datetime] = field(default_factory=dict)
    _settled: dict[str, datetime] = field(default_factory=dict)  # scales and book last agreed
    # The same and the SKU's last rise nothing explained, as steps of this reconciler (each
    # observation and tick is one): which came first, even at one instant.
    _settled_step: dict[str, int] = field(default_factory=dict)
    _risen: dict[str, int] = field(default_factory=dict)
    _step: int = 0
    _seen: set[tuple[object, ...]] = field(default_factory=set)
    _paid: dict[str, list[_Paid]] = field(default_factory=dict)  # sold, not seen leaving yet
    _exits: list[ExitRead] = field(default_factory=list)  # read leaving, not judged yet
    _gone: dict[str, datetime] = field(default_factory=dict)  # EPC -> when it left
    _sighted: dict[str, list[_Sighting]] = field(default_factory=dict)  # bin -> unpaired sightings
    _lane_top: dict[str, int] = field(default_factory=dict)  # bin -> the most its lane has shown

    def __post_init__(self) -> None:
        self._unit = {b.sku: b.unit_g for b in sorted(self.bins.values(), key=lambda b: b.scale)
                      if b.unit_g > 0}  # (a scale's word on a SKU's unit before a lane's)
        self._bins_of: dict[str, list[str]] = {}
        for b in self.bins.values():
            self._bins_of.setdefault(b.sku, []).append(b.bin)

    @property
    def door_reads_waiting(self) -> int:
        """Units read leaving by the door whose verdict is open: a till line may still pay for
        them until `portal_grace` has passed, when `tick` judges them (paid, or shrink)."""
        return len(self._exits)

    # --- output -------------------------------------------------------------------------

    def _delta(self, key: tuple[object, ...], **kw: object) -> StockDelta:
        did = str(uuid.uuid5(_NS, repr(key)))
        # kw are StockDelta's own fields, named by the callers in this class; typed object here
        d = StockDelta(id=did, seq=0, **kw)  # type: ignore[arg-type]
        if d.zone is Zone.FLOOR and d.kind is Kind.COUNT:
            self._counted(d.sku, d.occurred_at, d.qty)
        elif floor_change(d):
            self._floor_moved(d.sku, d.occurred_at, floor_change(d))
        return d

    def _counted(self, sku: str, at: datetime, qty: int) -> None:
        """An absolute floor count at `at`: the floor figure is it, plus what was emitted dated
        after it. (A count older than the last one changes nothing: the newer one replaces it.)"""
        if sku in self._cut_off and at < self._cut_off[sku]:
            return
        after = [(t, k) for t, k in self._since_count.get(sku, []) if t >= at]
        self._cut_off[sku], self._since_count[sku] = at, after
        self._floor[sku] = qty + sum(k for _, k in after)

    def _floor_moved(self, sku: str, at: datetime, change: int) -> None:
        if sku not in self._floor or at < self._cut_off[sku]:
            return  # no count yet, or the last count absorbs it (cloud/db/ledger.py)
        self._floor[sku] += change
        self._since_count[sku].append((at, change))

    def _unseen(self) -> timedelta:
        return self.unseen_window or self.window * UNSEEN_WAIT

    def _wait(self, p: _Pick) -> timedelta:
        """How long a pending pick waits for its sale before it is shrink."""
        if not self.portal or p.walked:
            return self.window
        if (self.tagged is not None and p.sku in self.tagged) or not self.bins[p.bin].scale:
            return max(self._unseen(), self.hold)  # (the count settles it first: `_count_settles`)
        return self._unseen()

    def _claimable(self, p: _Pick) -> timedelta:
        """How long after a pick a till line may still claim it: its wait, but a tagged pick the
        door saw nothing of only for `TAGGED_WAIT` windows (a shopper is not in the shop for hours;
        an older pick of the SKU is not the one this sale paid for)."""
        if self.portal and not p.walked and self.tagged is not None and p.sku in self.tagged:
            return max(self._unseen(), self.window * TAGGED_WAIT)
        if self.portal and not p.walked and not self.bins[p.bin].scale:
            return self._unseen()  # (a camera lane's pick: as long as it would have waited before)
        return self._wait(p)

    def floor_figure(self, sku: str) -> int | None:
        """The book's floor figure for a SKU as this reconciler has booked it (None: no count yet)."""
        return self._floor.get(sku)

    # --- observations -------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[StockDelta | Misplacement]:
        if isinstance(obs, DEVICE_REPORTS):
            return []  # the pipeline turns these into BinChange, BinLevel and OddWeight first
        # A POS line is identified by (txn, line): a resend with other content is the same line.
        key: tuple[object, ...] = (("pos", obs.txn, obs.line) if isinstance(obs, PosLine) else
                                   (type(obs).__name__, *(getattr(obs, f) for f in obs.__slots__)))
        if key in self._seen:
            return []  # idempotence: the same observation twice changes nothing
        self._seen.add(key)
        self._step += 1
        # Anything happening to a SKU restarts the wait before its scales are believed over the book.
        if isinstance(obs, PosLine | OrderLine | RefillScan | FloorBooked | ZoneCount | ExitRead | EntryRead):
            self._disagree.pop(obs.sku, None)
        elif obs.bin in self.bins:
            self._disagree.pop(self.bins[obs.bin].sku, None)
        if isinstance(obs, PosLine):
            return self._pos(obs)
        if isinstance(obs, OrderLine):
            return self._order(obs)
        if isinstance(obs, RefillScan):
            return self._refill_scan(obs)
        if isinstance(obs, FloorBooked):
            self._floor_moved(obs.sku, obs.at, obs.change)
            return []
        if isinstance(obs, BinChange):
            if obs.bin not in self.bins or not self.bins[obs.bin].scale:
                return []  # a bin the planogram does not know: nothing to reconcile against
            self._level[obs.bin] = obs.count
            if self.bins[obs.bin].lane:
                return self._sighting(obs.bin, "scale", obs.delta, self._scale_confidence(obs),
                                      {"delta": obs.delta, "count": obs.count, "grams": obs.delta_g}, obs)
            return self._fall(obs) if obs.delta < 0 else self._rise(obs)
        if isinstance(obs, LaneChange):
            if obs.bin not in self.bins or not self.bins[obs.bin].lane or not obs.delta:
                return []
            # A lane sees its bin's front row: a change from or to the fullest it has shown may be
            # more units than it shows (units behind the front row are hidden).
            full = max(obs.before, obs.count) >= self._lane_top.get(obs.bin, 0)
            self._lane_top[obs.bin] = max(self._lane_top.get(obs.bin, 0), obs.before, obs.count)
            ev: dict[str, object] = {"lane": obs.lane or obs.bin, "delta": obs.delta, "count": obs.count,
                                     "before": obs.before, "confidence": obs.confidence}
            if full:
                ev["full"] = True
            # (The lane's count is its front row, not the bin's: it is not the bin's level.)
            change = BinChange(obs.at, obs.bin, obs.delta, obs.count, None)
            if self.bins[obs.bin].scale:
                return self._sighting(obs.bin, "lane", obs.delta, obs.confidence, ev, change)
            return self._change(change, {"lane": ev})
        if isinstance(obs, BinLevel):
            if obs.bin in self.bins and self.bins[obs.bin].scale:
                self._level[obs.bin] = obs.count
            return []
        if isinstance(obs, ZoneCount):
            if obs.zone == Zone.FLOOR.value:
                self._count_settles(obs)
                self._counted(obs.sku, obs.at, obs.qty)
            return []
        if isinstance(obs, EntryRead):
            # Carried in (a return, a transfer): not leaving, and free to leave again later.
            if obs.epc in self._gone and self._gone[obs.epc] <= obs.at:
                del self._gone[obs.epc]
            return []
        if isinstance(obs, ExitRead):
            left = self._gone.get(obs.epc)
            if left is None or abs(obs.at - left) > self.hold:  # a portal reads a tag many times
                self._gone[obs.epc] = obs.at
                self._exits.append(obs)
            return []
        return self._odd(obs)

    def _count_settles(self, c: ZoneCount) -> None:
        """A count read every unit in the shop at its cut-off, those put down where no sensor sees
        them included: it settles the picks of its SKU still waiting then for a sale or for their
        units to come home. The book's floor figure at the cut-off still holds a pending pick's
        units; as many units fewer on the count are gone — the oldest picks' (they become shrink
        at the next tick, dated at the pick, which the count absorbs) — and a pick whose units
        the count found is no shrink: its units were in the shop. Only the door can still say
        otherwise (a count while trading read them in a thief's bag), within a shopper's trip of
        the count (`window`); then it is dropped. (Hands the door saw leave are left to the
        window: their units are not in the shop.)"""
        if c.sku not in self._floor or c.at < self._cut_off[c.sku]:
            return  # no figure to compare with, or an older count than the one the figure is from
        pending = sorted((p for p in self._picks if p.sku == c.sku and not p.walked and p.at <= c.at),
                         key=lambda p: p.at)
        if not pending:
            return
        book = self._floor[c.sku] - sum(k for t, k in self._since_count.get(c.sku, []) if t >= c.at)
        missing = book - c.qty
        for p in pending:
            if missing > 0:
                k = min(p.qty, missing)
                missing -= k
                if k < p.qty:  # (the count found the rest of the hand)
                    p.qty = k
                p.counted = {"at": c.at.isoformat(), "qty": c.qty, "book": book}
            else:
                p.found = c.at

    def _match_picks(self, sku: str, at: datetime, qty: int,
                     within: timedelta | None = None) -> tuple[int, list[dict[str, object]]]:
        """Claim up to qty units of pending picks of a SKU made up to `within` (the window) before
        the scan; returns what is left. A scan at the shelf (`within` short) takes the nearest;
        a till scan takes whole hands that add up to it (a basket is a few hands), else the newest."""
        till = within is None
        # (A pick the portal saw nothing of may still be paid for up to its own, longer, wait.)
        within = (self._unseen() if self.portal else self.window) if within is None else within
        # Newest first: a short pick-to-pay delay is likelier than a long one (most of a trip is
        # spent before the till), and the oldest unclaimed pick is the one most likely stolen.
        # A pick moments before the scan is rarely the scanned one (the shopper still had to
        # queue): those come last.
        pool = sorted((p for p in self._picks if p.sku == sku and -self.latency <= at - p.at
                       <= (max(within, self._claimable(p)) if till else within)),
                      key=lambda p: (at - p.at < self.queue, -p.at.timestamp()))
        if not till:
            order = sorted(pool, key=lambda p: abs(p.at - at))
        else:
            order = next((list(c) for r in (1, 2, 3) for c in itertools.combinations(pool, r)
                          if sum(p.qty for p in c) == qty), pool)
        claimed: list[dict[str, object]] = []
        for p in order:
            if qty:
                k = min(qty, p.qty)
                p.qty -= k
                qty -= k
                claimed.append({"bin": p.bin, "at": p.at.isoformat(), "qty": k})
        self._picks = [p for p in self._picks if p.qty]
        return qty, claimed

    def _order(self, o: OrderLine) -> list[StockDelta | Misplacement]:
        """Staff scanned a line of an online order as picked: the units wait for the customer."""
        # The scan is made as the units are taken, and the scale settles a few seconds after: a
        # weight event before the scan is another hand's (a shopper's at the same bin).
        need, _ = self._match_picks(o.sku, o.at, o.qty, within=self.scan_lead)
        held = self._held.setdefault(o.order, {})
        held[o.sku] = held.get(o.sku, 0) + o.qty - need
        if need:
            self._credit.setdefault(o.sku, []).append(_Credit(o.at, o.order, o.line, "order", need))
        return []

    def _refill_scan(self, s: RefillScan) -> list[StockDelta | Misplacement]:
        """Staff carried units from the backroom onto a shelf and scanned them: on a bin no sensor
        here watches, the move; on a watched one its rise books it."""
        if s.qty <= 0 or (s.bin in self.bins if s.bin else s.sku in self._bins_of):
            return []
        return [self._delta(("refill", s.scan or s.at.isoformat(), s.sku), sku=s.sku, kind=Kind.MOVE,
                            qty=s.qty, zone=Zone.FLOOR, from_zone=Zone.BACKROOM, occurred_at=s.at,
                            source=Source.MANUAL, bin=s.bin or None, ref=s.scan or None, confidence=1.0,
                            evidence={"refill": s.scan, "staff": s.staff, "bin": s.bin, "qty": s.qty})]

    def _pos(self, o: PosLine) -> list[StockDelta | Misplacement]:
        out = self._pos_line(o)
        return out if self.emit_sales else []

    def _pos_line(self, o: PosLine) -> list[StockDelta | Misplacement]:
        if o.kind == "return":
            return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.RETURN, qty=o.qty,
                                zone=Zone.BACKROOM, occurred_at=o.at, source=Source.POS, ref=o.txn,
                                evidence={"pos": o.txn})]
        if o.kind == "void":
            need, _ = self._match_picks(o.sku, o.at, o.qty)
            if o.qty - need:
                self._goback.setdefault(o.sku, []).append(_Expect(o.at, o.qty - need))
            if need:
                self._credit.setdefault(o.sku, []).append(_Credit(o.at, o.txn, o.line, "void", need))
            return []
        self._paid.setdefault(o.sku, []).append(_Paid(o.at, o.qty))
        held = self._held.get(o.order or o.txn, {})
        if held.get(o.sku):  # an online order collected: its staff pick was claimed by the order
            k = min(held[o.sku], o.qty)
            held[o.sku] -= k
            return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.SALE, qty=-o.qty,
                                zone=Zone.FLOOR, occurred_at=o.at, source=Source.POS, ref=o.txn,
                                confidence=1.0 if k == o.qty else 0.9,
                                evidence={"pos": o.txn, "order": o.order or o.txn, "picked": k})]
        need, claimed = self._match_picks(o.sku, o.at, o.qty)
        if need:
            self._credit.setdefault(o.sku, []).append(_Credit(o.at, o.txn, o.line, "sale", need))
        return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.SALE, qty=-o.qty, zone=Zone.FLOOR,
                            occurred_at=o.at, source=Source.POS, ref=o.txn,
                            confidence=1.0 if not need else 0.9,
                            evidence={"pos": o.txn, "picks": claimed})]

    def _grams(self, o: BinChange) -> float:
        return o.delta_g if o.delta_g is not None else o.delta * self.bins[o.bin].unit_g

    def _miss(self, grams: float, expected: float) -> float:
        """How far grams are from what was expected, in tolerances (within `match`, or `noise_g`
        for light units: a scale's stable reading is only good to a few grams): <= 1 is a fit."""
        return abs(grams - expected) / max(self.match * abs(expected), self.noise_g)

    def _foreign(self, grams: float, home_sku: str | None, bin_id: str) -> tuple[_Pick, int] | None:
        """The pending pick of another SKU and bin whose units `grams` is a whole number of, the
        closest fit within `match` (several SKUs weigh nearly the same: 1.5, 1.6, 1.8, 2 kg)."""
        best: tuple[tuple[float, bool, float], _Pick, int] | None = None
        for p in self._picks:
            if p.sku == home_sku or p.bin == bin_id or p.walked:
                continue
            unit = self._unit.get(p.sku, 0.0)
            if unit <= 0:
                continue  # (a camera lane's SKU whose unit weight the gateway was not told)
            k = round(grams / unit)
            miss = self._miss(grams, k * unit) if k > 0 else 2.0
            # The same units weigh what they weighed when picked (units of one SKU differ by a
            # few grams); then a hand of exactly that many, then the latest of its trip.
            seen = abs(grams - k * p.unit_g) if p.unit_g else abs(grams - k * unit)
            rank = (round(seen, 0), p.qty != k, -p.at.timestamp())
            if 0 < k <= min(p.qty, 6) and miss <= 1.0 and (best is None or rank < best[0]):
                best = (rank, p, k)
        return None if best is None else (best[1], best[2])

    def _stray_and_pick(self, bin_id: str, grams: float, info: BinInfo,
                        at: datetime) -> tuple[int, float] | None:
        """A fall that is known strays of this bin plus whole units of its own: the strays go home
        (expected go-backs), and (own units, grams per unit) are left as a pick."""
        here = [s for s in self._strays if s.bin == bin_id]
        for lifted in [[s] for s in here] + ([here] if len(here) > 1 else []):
            rest = grams - sum(s.grams for s in lifted)
            k = round(rest / info.unit_g) if info.unit_g > 0 else 0
            if 0 < k <= 6 and self._miss(rest, k * info.unit_g) <= 1.0:
                for s in lifted:
                    self._strays.remove(s)
                    self._goback.setdefault(s.sku, []).append(_Expect(at, s.qty, lifted=True))
                return k, rest / k
        return None

    def _take_stray(self, bin_id: str, grams: float, at: datetime) -> list[StockDelta | Misplacement] | None:
        """Staff lifting misplaced units off a foreign bin: expected home, no stock change."""
        here = [s for s in self._strays if s.bin == bin_id]
        # One stray of that weight, or (staff clear a bin in one go) all of them together.
        for lifted in [[s] for s in here] + [here]:
            total = sum(s.grams for s in lifted)
            if lifted and self._miss(grams, total) <= 1.0:
                for s in lifted:
                    self._strays.remove(s)
                    self._goback.setdefault(s.sku, []).append(_Expect(at, s.qty, lifted=True))
                return []
        return None

    def _scale_confidence(self, o: BinChange) -> float:
        """How sure the scale is of its whole units: 1 less the share of a unit its grams are off."""
        if o.delta_g is None or not o.delta:
            return 1.0
        unit = self.bins[o.bin].unit_g
        return round(max(0.0, 1.0 - abs(o.delta_g / unit - o.delta)), 4) if unit > 0 else 0.5

    def _change(self, o: BinChange, seen: dict[str, object] | None) -> list[StockDelta | Misplacement]:
        """A bin's change in whole units, with what saw it for the evidence of the pick it makes."""
        before = self._picks[-1] if self._picks else None
        out = self._fall(o) if o.delta < 0 else self._rise(o)
        if seen is not None and self._picks and self._picks[-1] is not before:
            self._picks[-1].seen = dict(seen)
        return out

    def _sighting(self, bin_id: str, source: str, delta: int, confidence: float, ev: dict[str, object],
                  o: BinChange) -> list[StockDelta | Misplacement]:
        """A change of a bin both a scale and a camera lane watch. The scale's word is acted on
        at once; a lane's waits up to `latency` for the scale's on the same hand (the scale's
        silence says nothing changed: a lane's word alone lapses). Paired, the same change adds
        the lane's evidence; a different one is resolved by their confidences — the more
        confident count stands, but a lane that showed its fullest front row before a fall
        only says "at least" (as does one rising to it) and never stands for fewer units than the
        scale's — and the evidence carries both and which was believed."""
        waiting = self._sighted.setdefault(bin_id, [])
        waiting[:] = [w for w in waiting if abs(o.at - w.at) <= self.latency]
        other = next((w for w in waiting if w.source != source and (w.delta < 0) == (delta < 0)), None)
        if other is None:
            if source == "lane":
                waiting.append(_Sighting(o.at, source, delta, confidence, ev, None))
                return []
            before = self._picks[-1] if self._picks else None
            out = self._fall(o) if o.delta < 0 else self._rise(o)
            pick = self._picks[-1] if self._picks and self._picks[-1] is not before else None
            if pick is not None:
                pick.seen = {source: ev}
            waiting.append(_Sighting(o.at, source, delta, confidence, ev, pick))
            return out
        waiting.remove(other)
        scale, lane = (other, (delta, confidence, ev)) if other.source == "scale" else (
            None, (other.delta, other.confidence, other.evidence))
        scale_delta, scale_conf = (other.delta, other.confidence) if scale else (delta, confidence)
        lane_delta, lane_conf, lane_ev = lane
        at_least = bool(lane_ev.get("full")) and abs(lane_delta) < abs(scale_delta)
        believed = "lane" if lane_conf > scale_conf and not at_least else "scale"
        target = lane_delta if believed == "lane" else scale_delta
        seen: dict[str, object] = {"scale": scale.evidence if scale else ev, "lane": lane_ev,
                                   "believed": believed}
        if scale is None:  # the lane's word waited: act on the believed count now
            grams = o.delta_g if target == scale_delta else None
            return self._change(BinChange(o.at, bin_id, target, o.count, grams), seen)
        if scale.pick is not None:
            scale.pick.seen = seen
        diff = target - scale_delta
        if not diff:
            return []
        # The scale's word was acted on: correct it by the difference (a pending pick is resized).
        if scale.pick is not None and scale.pick in self._picks and scale_delta < 0:
            scale.pick.qty -= diff
            if scale.pick.qty <= 0:
                self._picks.remove(scale.pick)
            return []
        return self._change(BinChange(o.at, bin_id, diff, o.count, None), seen)

    def _fall(self, o: BinChange) -> list[StockDelta | Misplacement]:
        info = self.bins[o.bin]
        tidied = self._take_stray(o.bin, -self._grams(o), o.at)
        if tidied is not None:
            return tidied
        lifted = self._lift_unknown(o)
        if lifted is not None:
            return lifted
        n = -o.delta
        if n > self.max_hand:
            # No hand takes that many: staff lifting what the book did not know lay there.
            return []
        unit_g = abs(o.delta_g) / n if o.delta_g is not None else 0.0
        # A shopper's hand and staff lifting a stray in the same moment: one fall on the scale.
        mixed = self._stray_and_pick(o.bin, -self._grams(o), info, o.at)
        if mixed is not None:
            n, unit_g = mixed
            if not n:
                return []
        # A scan that came a moment before its own weight event (the scale settles after the hand).
        credits = self._credit.get(info.sku, [])
        for c in credits:
            if not n or abs(o.at - c.at) > self.latency:
                continue
            used = min(c.qty, n)
            n -= used
            c.qty -= used
            if c.kind == "void":
                self._goback.setdefault(info.sku, []).append(_Expect(o.at, used))
            elif c.kind == "order":
                held = self._held.setdefault(c.txn, {})
                held[info.sku] = held.get(info.sku, 0) + used
        self._credit[info.sku] = [c for c in credits if c.qty]
        if not n:
            return []
        pick = _Pick(o.at, o.bin, info.sku, n, unit_g)
        self._picks.append(pick)
        # Laid on another bin a moment ago, but that scale settled first.
        for loose in self._loose:
            if loose.bin != o.bin and abs(o.at - loose.at) <= self.latency:
                k = round(loose.grams / info.unit_g) if info.unit_g > 0 else 0
                if 0 < k <= n and self._miss(loose.grams, k * info.unit_g) <= 1.0:
                    self._loose.remove(loose)
                    return self._misplaced(pick, k, loose.bin, loose.at, loose.grams)
        return []

    def _rise(self, o: BinChange) -> list[StockDelta | Misplacement]:
        info = self.bins[o.bin]
        n = o.delta
        # Units staff just lifted off a foreign bin, laid on their home bin in the same round.
        n = self._home_goback(info.sku, n, o.at, fresh=True)
        if not n:
            return []
        # A put-back returns what one hand took: it undoes a pending pick of exactly that size and
        # weight, of this bin first, else of the SKU's other bin (shoppers mix up twin bins).
        # Any other rise is staff, which must not hide a theft before it.
        own = self._miss(self._grams(o), n * info.unit_g) <= 1.0
        same = sorted((p for p in reversed(self._picks)
                       if p.sku == info.sku and p.qty == n and own and not p.walked),
                      key=lambda p: p.bin != o.bin)
        if same and same[0].bin == o.bin:
            self._picks.remove(same[0])
            return []
        # A bin at or below its refill level that rises was refilled from the backroom.
        # (A planogram without refill levels: any rise nothing else explains.)
        # (Refills top a low bin up to near its capacity: far more than one hand puts back, and
        # never more than fits.)
        # The detector counts foreign units lying on the bin as its own; and staff picking an
        # online order from the bin as they fill it make one net rise (the order line scanned
        # a moment before has no fall to claim).
        strays = (round(sum(s.grams for s in self._strays if s.bin == o.bin) / info.unit_g)
                  if info.unit_g > 0 else 0)
        hidden = [c for c in self._credit.get(info.sku, [])
                  if c.kind == "order" and abs(o.at - c.at) <= self.latency]
        extra = sum(c.qty for c in hidden)
        fits = info.capacity is None or any(info.capacity - 1 <= o.count - k + extra <= info.capacity
                                            for k in {0, strays})  # fills it
        low = info.refill_at is not None and o.count - o.delta <= info.refill_at + strays
        if low and info.refill_at is not None and n + extra > 2 * info.refill_at and fits:
            for c in hidden:
                held = self._held.setdefault(c.txn, {})
                held[info.sku] = held.get(info.sku, 0) + c.qty
                c.qty = 0
            self._credit[info.sku] = [c for c in self._credit.get(info.sku, []) if c.qty]
            return self._refill(info, n + extra, o)
        # Otherwise these units were on the shop floor already: go-backs of this SKU (voided at the
        # till) that staff reshelve, a put-back on the SKU's twin bin, or a few units of another SKU
        # laid on the wrong bin.
        if same:  # a live pick of just this many on the twin bin: likelier than the tote
            self._picks.remove(same[0])
            return []
        # The very units of a shrink coming home (staff tidying units that lay where no scale
        # could tell them apart): as many as it booked, weighing what they weighed when picked.
        # For heavy units that is likelier than another SKU of about the same weight (two 2 kg bags).
        heavy = info.unit_g >= self.fingerprint_min_g
        back = self._came_back(info.sku, n, self._grams(o), o) if own and heavy and n == o.delta else []
        if back:
            return back
        # (Only a scale tells another SKU's units by their weight; a lane counts what lies there.)
        if n == o.delta and info.scale:  # the whole rise may be another SKU's units
            found = self._foreign(self._grams(o), info.sku, o.bin)
            if found:
                return self._misplaced(found[0], found[1], o.bin, o.at, self._grams(o))
        n = self._home_goback(info.sku, n, o.at, fresh=False)
        if not n:
            return []
        grams = self._grams(o) - (o.delta - n) * info.unit_g  # what the go-backs do not explain
        found = self._foreign(grams, info.sku, o.bin) if info.scale else None
        if found:
            return self._misplaced(found[0], found[1], o.bin, o.at, grams)
        if info.refill_at is None:
            return self._refill(info, n, o)
        # Own units nothing above explained while hands of this SKU are pending: a put-back the
        # scales could not pair with one pick (two hands read as one, a pick partly claimed by a
        # sale of another shopper's hand). What is pending of the SKU is one pool.
        if own and n <= 6:
            n = self._put_back_pool(info.sku, o.bin, n)
            if not n:
                return []
            # The very units of a shrink coming home (staff tidying units that lay where no scale
            # could tell them apart): as many as it booked, weighing what they weighed when picked.
            back = self._came_back(info.sku, n, grams, o)
            if back:
                return back
        # Left where no scale could see them: if the pick they left with was booked as shrink,
        # that shrink was wrong. Or the pick they came from is still on its way (the other
        # scale settles a moment later).
        self._loose.append(_Stray(o.at, o.bin, info.sku, n, grams))
        self._risen[info.sku] = self._step
        if info.scale and not low:
            self._unknown.append(_Unknown(o.at, o.bin, info.sku, n, grams))
        return self._restore(info.sku, n, o) if self.restore and n <= 6 else []

    def _lift_unknown(self, o: BinChange) -> list[StockDelta | Misplacement] | None:
        """A fall that takes off a bin just what a rise nothing explained laid on it (as many
        units, weighing the same within `fingerprint` or `noise_g`): those units leaving again —
        staff taking another SKU's units home — not a hand of the bin's own. Nothing changed for
        the SKU; a refill re-anchoring booked for them is undone (dated with it: a count between
        absorbs both). None: not such a fall."""
        if o.delta_g is None:
            return None  # (only a scale's grams tell the same units)
        grams = -o.delta_g
        u = next((u for u in reversed(self._unknown) if u.bin == o.bin and u.qty == -o.delta
                  and abs(grams - u.grams) <= max(self.noise_g, self.fingerprint * grams)), None)
        if u is None:
            return None
        self._unknown.remove(u)
        if u.moved is None:
            return []
        return [self._delta(("unknown", o.bin, u.at, o.at), sku=u.sku, kind=Kind.MOVE, qty=u.qty,
                            zone=Zone.BACKROOM, from_zone=Zone.FLOOR, occurred_at=u.moved,
                            source=Source.WEIGHT, bin=o.bin, confidence=0.7,
                            evidence={"bin": o.bin, "rose_at": u.at.isoformat(), "qty": u.qty,
                                      "rose_g": round(u.grams, 1), "lifted_g": round(grams, 1),
                                      "undoes_move_at": u.moved.isoformat()})]

    def _unknown_taken(self, sku: str, n: int, moved: datetime | None = None) -> None:
        """Re-anchoring explained n units of the SKU's unknown rises (newest first): as a shrink's
        units come home (they are the SKU's own: forgotten), or as a refill (`moved`)."""
        for u in sorted((u for u in self._unknown if u.sku == sku), key=lambda u: u.at, reverse=True):
            if u.qty > n:
                continue
            n -= u.qty
            if moved is None:
                self._unknown.remove(u)
            else:
                u.moved = moved

    def _put_back_pool(self, sku: str, bin_id: str, n: int) -> int:
        """Undo up to n units of the SKU's pending picks, this bin's newest first, then its twin's;
        returns what is left of n."""
        for p in sorted((p for p in self._picks if p.sku == sku and not p.walked),
                        key=lambda p: (p.bin != bin_id, -p.at.timestamp())):
            if not n:
                break
            k = min(n, p.qty)
            p.qty -= k
            n -= k
        self._picks = [p for p in self._picks if p.qty]
        return n

    def _came_back(self, sku: str, n: int, grams: float, o: BinChange) -> list[StockDelta | Misplacement]:
        fits = [(abs(grams - n * s.unit_g), s) for s in self._shrunk
                if s.sku == sku and s.qty == s.picked == n and s.unit_g and o.at - s.at <= self.hold]
        fits = [(miss, s) for miss, s in fits if miss <= max(self.noise_g, self.fingerprint * grams)]
        if not fits:
            return []
        s = min(fits, key=lambda f: f[0])[1]
        s.qty = 0
        return [self._delta(("back", s.id, o.bin, o.at), sku=sku, kind=Kind.ADJUST, qty=n, zone=Zone.FLOOR,
                            occurred_at=s.at, source=Source.WEIGHT, bin=o.bin, confidence=0.8,
                            evidence={"retracts": s.id, "bin": o.bin, "delta": o.delta, "count": o.count,
                                      "grams": round(grams, 1), "picked_g": round(n * s.unit_g, 1)})]

    def _refill(self, info: BinInfo, n: int, o: BinChange) -> list[StockDelta | Misplacement]:
        return [self._delta(("rise", o.bin, o.at), sku=info.sku, kind=Kind.MOVE, qty=n, zone=Zone.FLOOR,
                            from_zone=Zone.BACKROOM, occurred_at=o.at, source=Source.WEIGHT, bin=o.bin,
                            confidence=0.9, evidence={"bin": o.bin, "delta": o.delta, "count": o.count})]

    def _home_goback(self, sku: str, n: int, at: datetime, *, fresh: bool) -> int:
        """Take up to n units of expected go-backs of a SKU (only those lifted within `latency`
        if `fresh`); returns what is left of n."""
        for g in self._goback.get(sku, []):
            if n and g.qty and (not fresh or (g.lifted and at - g.at <= self.latency)):
                k = min(n, g.qty)
                n -= k
                g.qty -= k
        self._goback[sku] = [g for g in self._goback.get(sku, []) if g.qty]
        return n

    def _misplaced(self, p: _Pick, k: int, bin_id: str, at: datetime,
                   grams: float) -> list[StockDelta | Misplacement]:
        p.qty -= k
        self._picks = [q for q in self._picks if q.qty]
        self._strays.append(_Stray(at, bin_id, p.sku, k, grams))
        return [Misplacement(at, bin_id, p.sku, k, p.bin)]

    def _odd(self, o: OddWeight) -> list[StockDelta | Misplacement]:
        if o.bin not in self.bins:
            return []
        if o.delta_g < 0:
            return self._take_stray(o.bin, -o.delta_g, o.at) or []
        found = self._foreign(o.delta_g, None, o.bin)
        if found:
            return self._misplaced(found[0], found[1], o.bin, o.at, o.delta_g)
        # A shopper's put-back of the bin's own units and another SKU's units laid on it within
        # seconds: one reading that is neither.
        info = self.bins[o.bin]
        for p in sorted((p for p in self._picks if p.sku == info.sku and not p.walked),
                        key=lambda p: p.bin != o.bin):
            for k in range(1, p.qty + 1):
                rest = o.delta_g - k * (p.unit_g or info.unit_g)
                found = self._foreign(rest, info.sku, o.bin) if rest > 0 else None
                if found:
                    p.qty -= k
                    return self._misplaced(found[0], found[1], o.bin, o.at, rest)
        self._loose.append(_Stray(o.at, o.bin, "", 0, o.delta_g))
        return []

    # --- time ---------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[StockDelta | Misplacement]:
        """Close what the clock settles: unclaimed picks become shrink, late sales retract it,
        stale expectations lapse, and lasting disagreements with the scales become counts."""
        self._step += 1
        out: list[StockDelta | Misplacement] = []
        # The door first: a unit that left unpaid takes its pick before the window could.
        for x in [x for x in self._exits if now - x.at >= self.portal_grace]:
            self._exits.remove(x)
            out.extend(self._left(x, now))
        for sku, paid in self._paid.items():
            self._paid[sku] = [c for c in paid if now - c.at <= self.paid_for + self.portal_grace]
        self._gone = {e: t for e, t in self._gone.items() if now - t <= self.hold}
        keep = []
        for p in self._picks:
            wait = self._wait(p)
            if p.found is not None and not p.walked:
                if now - p.found <= self.window:
                    keep.append(p)  # (found by a count: no shrink, whatever its wait)
                continue
            if now - p.at <= wait and p.counted is None:
                keep.append(p)
                continue
            # A hand the door saw leave left then, the units it missed with it (not at the pick).
            d = self._delta(("shrink", p.bin, p.at, p.qty), sku=p.sku, kind=Kind.SHRINK, qty=-p.qty,
                            zone=Zone.FLOOR, occurred_at=p.left or p.at, source=Source.FUSION, bin=p.bin,
                            confidence=0.9,
                            evidence={"bin": p.bin, "pick_at": p.at.isoformat(), "qty": p.qty,
                                      "window_s": wait.total_seconds(),
                                      "detected_at": now.isoformat(),
                                      **({"seen": p.seen} if p.seen else {}),
                                      **({"counted": p.counted} if p.counted else {})})
            out.append(d)
            if not p.walked:  # (units of a hand the door saw leave are not coming back)
                self._shrunk.append(_Shrunk(p.at, p.sku, p.qty, d.id, now + 2 * self.window,
                                            p.bin, p.unit_g, p.qty, now))
        self._picks = keep
        for sku, credits in self._credit.items():
            for c in [c for c in credits if now - c.at > self.window]:
                credits.remove(c)
                if c.kind == "sale":
                    out.extend(self._retract(sku, c, now))
        self._shrunk = [s for s in self._shrunk if s.until - 2 * self.window + self.hold >= now and s.qty]
        for sku in self._goback:
            self._goback[sku] = [g for g in self._goback[sku] if now - g.at <= self.hold]
        self._strays = [s for s in self._strays if now - s.at <= self.hold]
        self._unknown = [u for u in self._unknown if now - u.at <= self.hold]
        self._loose = [x for x in self._loose if now - x.at <= self.latency]
        for sku, moved in self._since_count.items():
            self._since_count[sku] = [(t, k) for t, k in moved if now - t <= self.hold]
        for sku in self._bins_of:
            out.extend(self._check_count(sku, now))
        return out

    def _left(self, x: ExitRead, now: datetime) -> list[StockDelta | Misplacement]:
        """A unit read leaving by the door: paid for by a sale of its SKU (shortly before, or
        reaching us just after), or shrink now."""
        for c in self._paid.get(x.sku, []):
            if c.qty and x.at - self.paid_for <= c.at <= x.at + self.portal_grace:
                c.qty -= 1
                return []
        evidence: dict[str, object] = {"exit_epc": x.epc, "exit_at": x.at.isoformat(),
                                       "detected_at": now.isoformat()}
        pick = min((p for p in self._picks if p.sku == x.sku and p.at <= x.at),
                   key=lambda p: p.at, default=None)
        if pick is not None:
            pick.qty -= 1
            # A hand's units leave together: units of it the portal missed do not come back to
            # a shelf (no put-back or misplacement claims them); the window books them.
            pick.walked = True
            pick.left = pick.left or x.at
            self._picks = [p for p in self._picks if p.qty]
            evidence.update(bin=pick.bin, pick_at=pick.at.isoformat())
            if pick.seen:
                evidence["seen"] = pick.seen
        else:
            # Nothing pending: if the window already booked this unit's pick as shrink, the door
            # only confirms it (it stays booked: no late sale or reappearing unit retracts it).
            booked = next((s for s in self._shrunk if s.sku == x.sku and s.qty and s.at <= x.at), None)
            if booked is not None:
                booked.qty -= 1
                self._shrunk = [s for s in self._shrunk if s.qty]
                return []
        return [self._delta(("exit", x.epc, x.at), sku=x.sku, kind=Kind.SHRINK, qty=-1, zone=Zone.FLOOR,
                            occurred_at=x.at, source=Source.FUSION, bin=pick.bin if pick else None,
                            confidence=0.97 if pick else 0.9, evidence=evidence)]

    def _restore(self, sku: str, n: int, o: BinChange) -> list[StockDelta | Misplacement]:
        out: list[StockDelta | Misplacement] = []
        for s in reversed(self._shrunk):
            if n and s.sku == sku and s.qty and o.at - s.at <= self.hold:
                k = min(n, s.qty)
                s.qty -= k
                n -= k
                out.append(self._delta(("restore", s.id, o.bin, o.at), sku=sku, kind=Kind.ADJUST, qty=k,
                                       zone=Zone.FLOOR, occurred_at=s.at, source=Source.WEIGHT, bin=o.bin,
                                       confidence=0.8,
                                       evidence={"retracts": s.id, "bin": o.bin, "delta": o.delta,
                                                 "count": o.count, "qty": k}))
        self._shrunk = [s for s in self._shrunk if s.qty]
        return out

    def _retract(self, sku: str, c: _Credit, now: datetime) -> list[StockDelta | Misplacement]:
        """A sale no pick matched: if a shrink of the SKU was booked for a pick shortly before it,
        that pick was this sale's, only slower than the window."""
        out: list[StockDelta | Misplacement] = []
        need = c.qty
        for s in self._shrunk:
            if need and s.sku == sku and s.qty and s.until >= now and c.at - 2 * self.window <= s.at <= c.at:
                k = min(need, s.qty)
                s.qty -= k
                need -= k
                # Dated with the shrink it retracts (the sale itself is dated when it was rung
                # up): a count taken in between read the unit in the shopper's hands, and
                # absorbs both the shrink and this, or neither.
                out.append(self._delta(("retract", s.id, c.txn, c.line), sku=sku, kind=Kind.ADJUST, qty=k,
                                       zone=Zone.FLOOR, occurred_at=s.at, source=Source.FUSION,
                                       confidence=0.9, ref=c.txn,
                                       evidence={"retracts": s.id, "pos": c.txn, "qty": k}))
        return out

    def _check_count(self, sku: str, now: datetime) -> list[StockDelta | Misplacement]:
        book = self._floor.get(sku)
        bins = self._bins_of[sku]
        if not (self.counts or self.reanchor) or book is None or any(b not in self._level for b in bins) \
                or not self._quiet(sku):
            self._disagree.pop(sku, None)
            return []
        held = sum(h.get(sku, 0) for h in self._held.values()) + sum(
            g.qty for g in self._goback.get(sku, []))
        seen = sum(self._level[b] for b in bins)
        if not self.counts and any((cap := self.bins[b].capacity) is not None and self._level[b] > cap
                                   for b in bins):
            # More than fits: foreign units the book does not know of lie on a bin, and its count
            # says nothing about this SKU.
            self._disagree.pop(sku, None)
            return []
        if seen + held == book:
            self._disagree.pop(sku, None)
            self._settled[sku], self._settled_step[sku] = now, self._step
            return []
        since = self._disagree.setdefault(sku, now)
        if now - since < self.settle:
            return []
        del self._disagree[sku]
        if not self.counts:
            return self._reanchor(sku, seen + held - book, now, since)
        return [self._delta(("count", sku, now), sku=sku, kind=Kind.COUNT, qty=max(0, seen + held),
                            zone=Zone.FLOOR, occurred_at=now, source=Source.WEIGHT, confidence=0.8,
                            evidence={"bins": {b: self._level[b] for b in bins}, "held": held,
                                      "book": book, "since": since.isoformat()})]

    def _reanchor(self, sku: str, more: int, now: datetime,
                  since: datetime) -> list[StockDelta | Misplacement]:
        """The scales have shown `more` units than the book's floor figure for `settle` with nothing
        pending. Units of the SKU's recent shrinks that add up to just that are still on the shelf
        (a put-back or a staff tidy the scales could not pair with its pick): retract them — those
        booked since the scales last agreed with the book, or any recent one if a rise nothing
        explained came since (a shrink the scales agreed with was short on the shelf then). Any
        other surplus is a refill the scales misread: a move from the backroom. (Fewer units
        than the book changes nothing: a theft no pick showed is not booked on a guess.)"""
        out: list[StockDelta | Misplacement] = []
        bins = {b: self._level[b] for b in self._bins_of[sku]}
        last, last_step = self._settled.get(sku) or _EPOCH, self._settled_step.get(sku, 0)
        self._settled[sku], self._settled_step[sku] = now, self._step
        # Only shrinks that add up to the difference exactly (the newest that do): a refill the
        # scales misread differs from the book by a bin's fill, far more than a hand.
        back_since = self._risen.get(sku, -1) > last_step
        mine = sorted((s for s in self._shrunk if s.sku == sku and s.qty and
                       (back_since or (s.detected or now) > last)),
                      key=lambda s: s.at, reverse=True)
        back = next((list(c) for r in (1, 2, 3) for c in itertools.combinations(mine[:8], r)
                     if sum(s.qty for s in c) == more), [])
        self._unknown_taken(sku, sum(s.qty for s in back))
        for s in back:
            k, s.qty = s.qty, 0
            more -= k
            out.append(self._delta(("anchor", s.id, now), sku=sku, kind=Kind.ADJUST, qty=k,
                                   zone=Zone.FLOOR, occurred_at=s.at, source=Source.WEIGHT, confidence=0.7,
                                   evidence={"retracts": s.id, "bins": bins, "qty": k,
                                             "since": since.isoformat()}))
        self._shrunk = [s for s in self._shrunk if s.qty]
        if more > 0:
            self._unknown_taken(sku, more, moved=now)
            out.append(self._delta(("anchor", sku, now), sku=sku, kind=Kind.MOVE, qty=more,
                                   zone=Zone.FLOOR, from_zone=Zone.BACKROOM, occurred_at=now,
                                   source=Source.WEIGHT, confidence=0.7,
                                   evidence={"bins": bins, "since": since.isoformat()}))
        return out

    def _quiet(self, sku: str) -> bool:
        bins = set(self._bins_of[sku])
        return not (any(p.sku == sku for p in self._picks) or self._credit.get(sku)
                    or any(x.sku == sku for x in self._exits)
                    or self._goback.get(sku)
                    or any(s.sku == sku or s.bin in bins for s in self._strays))

    def run(self, observations: Iterable[Observation]) -> list[StockDelta | Misplacement]:
        out: list[StockDelta | Misplacement] = []
        for o in observations:
            out.extend(self.observe(o))
        return out
