"""The gateway's seam to the reconciler: POS sales, handheld picks, shelf events and door reads
in, reconciled deltas out, on the observations' own time.

In `shelfsync gateway` only with a `[reconcile]` section (edge/runtime.py `attach_reconciler`):

- The POS webhook keeps booking sales itself: a sale is committed to the outbox before the till
  hears "200" (edge/http.py). `on_sales` gets those committed deltas and hands them to the
  reconciler as POS lines with `emit_sales=False`, so they confirm picks and retract shrink but are
  never booked a second time.
- `on_pick` gets the staff handhelds' scans of online-order picks (POST /v1/picks): each claims
  the weight pick it caused, and the units wait for the customer, who pays at the till.
- `on_observation` takes what the shelf driver emits (`WeightEvent`, `UnexplainedWeight`,
  `BinLevel`) and turns it into the reconciler's observations; and what the cameras emit
  (`LaneCount`, `LaneUnavailable`, `CameraStatus`), which a `LaneTracker` (edge/fusion/lanes.py)
  turns into a lane's lasting count changes (`LaneChange`): picks and put-backs like a scale's.
- `on_exit` / `on_entry` get the units the door's antennas saw leave or come in (edge/rfid/door.py).
- Committed counts (`on_counts`: the back office's counts posted to /v1/stock/movements, and RFID
  stocktakes) give the reconciler the book's floor figure at their cut-off, so it can re-anchor
  on the scales and keep its figure the ledger's.

Event time. The reconciler is pure and has no clock: what it decides is a function of the
observations, in the order of their own times, and of the instants it is ticked at. So the
pipeline holds every observation until its time has passed by `lateness` on the shop's clock
(edge/clock.py), then hands them over in time order, and ticks the reconciler at fixed instants
of the shop's time (every `tick`, on a grid from the epoch), never at "now": the deltas are then
the same whether the shop runs at the speed of life or a simulated one 60 times faster, and
however the observations interleaved on their way here. `lateness` is `late_s` real seconds (how
late a till's request or a scale's event may reach the gateway) times the clock's speed. An
observation later than that is handed over at once (`late` counts them): the reconciler copes
with it as it comes, but the ordering is no longer guaranteed.

What the devices resolve is in real seconds too. A scale is polled a few times a real second and
its detector judges a change over a window of about a real second (edge/shelf/detector.py), so
its weight event is dated at the first reading that moved: a poll or two after the hand, more
when a poll times out and the window must fill again. A handheld's scan and a till's line carry
the moment itself. The reconciler pairs a scan with the weight event it caused only within its
`latency` (15 s: how far a weight event may trail its pick in a shop at the speed of life); in a
shop running 60 times faster a second and a half of the scale's is 90 of the shop's seconds, and
the scan of an online-order pick found its fall too late and the pick became shrink. So the
pipeline gives the reconciler a `latency` of at least `device_s` real seconds times the clock's
speed (2.5 s: at 1x nothing changes; at 60x 150 s, about what the scale's detector resolves at
that speed anyway: two hands at one bin within a window of it are one weight event).

`run()` wakes every `tick` of shop time (sooner when something is decided), advances to the
clock and appends what the reconciler decided (shrink, restock moves, retractions) to the outbox.
Delta ids are uuid5 of the evidence, so the same observations replayed after a restart give the
same ids and the ledger books nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from edge.clock import WALL_CLOCK, Clock
from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    CameraStatus,
    EntryRead,
    ExitRead,
    FloorBooked,
    LaneChange,
    LaneCount,
    LaneUnavailable,
    Observation,
    OddWeight,
    OrderLine,
    PosLine,
    RefillScan,
    UnexplainedWeight,
    WeightEvent,
    ZoneCount,
)
from edge.fusion.lanes import LaneTracker
from edge.fusion.reconciler import Misplacement, Reconciler, floor_change
from edge.pos import StaffPick, StaffRefill
from edge.rfid.driver import TagRead
from shared.contract import Kind, StockDelta, Zone
from shared.toml_tables import check_keys

log = logging.getLogger("shelfsync.pipeline")

Append = Callable[[Sequence[StockDelta]], Awaitable[object]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Observations of one instant are handed over in this order (whatever order they arrived in):
# a count first (the ledger's count at that instant absorbs what it read), then the till, the
# handhelds, the scales, the door.
_RANK = {ZoneCount: 0, FloorBooked: 0, PosLine: 1, OrderLine: 2, RefillScan: 2, BinLevel: 3, BinChange: 4,
         LaneChange: 4, OddWeight: 5, ExitRead: 6, EntryRead: 6}


def shelf_change(ev: WeightEvent | UnexplainedWeight) -> BinChange | OddWeight | BinLevel | None:
    """A shelf driver's change as the reconciler takes it, dated when the scale began to move (the
    hand), not when it settled. A change the bin made while it could not be read (`unseen`: an
    outage) is the net of every hand of the outage — sales the till booked meanwhile among them —
    not one pick: its new level (`BinLevel`, which re-anchoring compares with the book), or nothing
    if it is no whole number of units."""
    if ev.unseen:
        return BinLevel(ev.at, ev.bin, ev.count, ev.sku, ev.grams) if isinstance(ev, WeightEvent) else None
    if isinstance(ev, WeightEvent):
        return BinChange(ev.began or ev.at, ev.bin, ev.delta_count, ev.count, ev.delta_g)
    return OddWeight(ev.began or ev.at, ev.bin, ev.delta_g)


def pos_line(delta: StockDelta) -> PosLine | None:
    """A committed POS delta as the reconciler's POS line; None for what is not a till line.
    Refs are "<txn>/<line>" (edge/pos.py), or "order:<id>:<txn>/<line>" for a pickup."""
    if delta.kind not in (Kind.SALE, Kind.RETURN) or delta.ref is None:
        return None
    txn, _, line = delta.ref.rpartition("/")
    if not txn or not line.isdigit():
        log.warning("POS delta %s: ref %r is not <txn>/<line>; not reconciled", delta.id, delta.ref)
        return None
    order = None
    if txn.startswith("order:"):
        order, _, _ = txn.removeprefix("order:").partition(":")
    return PosLine(delta.occurred_at, txn, int(line), delta.kind.value, delta.sku, abs(delta.qty),
                   order=order or None)


class Pipeline:
    """One store's reconciler between the POS, the handhelds, the shelves, the door and the outbox."""

    def __init__(self, bins: dict[str, BinInfo], append: Append, *, clock: Clock = WALL_CLOCK,
                 reconciler: Reconciler | None = None, tick: timedelta = timedelta(seconds=10),
                 late_s: float = 5.0, device_s: float = 2.5) -> None:
        self.reconciler = reconciler or Reconciler(bins)
        self.reconciler.emit_sales = False  # the webhook has booked them already
        self.append, self.clock = append, clock
        self.tick_every = tick
        self.lateness = timedelta(seconds=late_s * clock.speed)
        # A weight event trails its hand by the scale's own timing, in real seconds (above).
        self.reconciler.latency = max(self.reconciler.latency, timedelta(seconds=device_s * clock.speed))
        self.lanes = LaneTracker()  # camera frames -> lasting lane changes
        self.findings: list[Misplacement] = []
        self.late = 0  # observations that came after their time had been ticked past
        self._queue: list[StockDelta] = []
        self._waiting: list[tuple[datetime, int, str, int, Observation]] = []  # a heap, by their own time
        self._arrived = itertools.count()
        self._ticked: datetime | None = None  # the last instant the reconciler was ticked at
        self._handed = _EPOCH  # the time of the last observation handed over, or tick
        self._wake = asyncio.Event()

    # --- what comes in --------------------------------------------------------------------

    def on_sales(self, deltas: Sequence[StockDelta]) -> None:
        """Committed POS deltas (the webhook's `on_sales` hook)."""
        for d in deltas:
            line = pos_line(d)
            if line is not None:
                self.feed(line)

    def on_pick(self, pick: StaffPick) -> None:
        """A staff handheld's scan of an online-order pick (POST /v1/picks), once each."""
        self.feed(OrderLine(pick.at, pick.order, 0, pick.sku, pick.qty, scan=pick.scan, staff=pick.staff))

    def on_refill(self, refill: StaffRefill) -> None:
        """A staff handheld's scan of units carried from the backroom onto a shelf (POST /v1/refills)."""
        self.feed(RefillScan(refill.at, refill.sku, refill.qty, bin=refill.bin or "", scan=refill.scan,
                             staff=refill.staff))

    def on_counts(self, deltas: Sequence[StockDelta]) -> None:
        """Committed staff movements (an RFID stocktake, the back office's counts, moves and
        write-offs). A count: the floor's total per SKU, at the count's cut-off, becomes the
        reconciler's floor figure (counts by lot add up to the SKU's floor: a count names every
        lot it saw). Any other movement onto or off the floor moves that figure as the ledger
        moves the floor."""
        floor: dict[str, tuple[datetime, int]] = {}
        for d in deltas:
            if d.kind is Kind.COUNT and d.zone is Zone.FLOOR:
                at, n = floor.get(d.sku, (d.occurred_at, 0))
                floor[d.sku] = (max(at, d.occurred_at), n + d.qty)
            elif d.kind is not Kind.COUNT and floor_change(d):
                # (named by the delta's id: two lines of one document may move the same units)
                self.feed(FloorBooked(d.occurred_at, d.sku, floor_change(d), d.id))
        for sku, (at, n) in floor.items():
            self.feed(ZoneCount(at, sku, Zone.FLOOR.value, n))

    def on_observation(self, observation: object) -> None:
        """What the shelf driver and the cameras report; anything else (availability) is ignored.
        A weight change is dated when the scale began to move (the hand), not when it settled; a
        lane's change at the first frame that showed it."""
        if isinstance(observation, CameraStatus):
            self.lanes.observe(observation)
            return
        if getattr(observation, "bin", None) not in self.reconciler.bins:
            return
        if isinstance(observation, LaneCount | LaneUnavailable):
            change = self.lanes.observe(observation)
            if change is not None:
                self.feed(change)
            return
        if isinstance(observation, BinLevel):
            self.feed(observation)
        elif isinstance(observation, WeightEvent | UnexplainedWeight):
            seen = shelf_change(observation)
            if seen is not None:
                self.feed(seen)

    def on_exit(self, read: TagRead) -> None:
        """A tag read leaving by the door."""
        self.feed(ExitRead(read.at, read.gtin, read.epc))

    def on_entry(self, read: TagRead) -> None:
        """A tag read coming in by the door (a return, a transfer): not stock leaving."""
        self.feed(EntryRead(read.at, read.gtin, read.epc))

    def feed(self, obs: Observation) -> None:
        """An observation in the reconciler's own terms (the hooks above make them; replays and
        tests give them directly), held until its time has passed by `lateness`."""
        if obs.at < self._handed:
            self.late += 1  # its time is past: hand it over now, as it comes
            log.debug("reconciler: %s came after %s had been handed over", obs, self._handed)
            self._observe(obs)
            return
        # (Observations of one instant in one order, whatever order they came in: by kind, then
        # by what they say — a refill round lays units on many bins at the same second.)
        heapq.heappush(self._waiting, (obs.at, _RANK.get(type(obs), 9), repr(obs), next(self._arrived), obs))

    def _observe(self, obs: Observation) -> None:
        try:
            self._take(self.reconciler.observe(obs))
        except (KeyError, ValueError) as e:  # a bad observation is logged, never fatal
            log.warning("reconciler: %s rejected: %s", obs, e)

    def _take(self, out: list[StockDelta | Misplacement]) -> None:
        for o in out:
            if isinstance(o, Misplacement):
                self.findings.append(o)
                log.info("misplaced: %d x %s on bin %s (home %s)", o.qty, o.sku, o.bin, o.home_bin)
            else:
                self._queue.append(o)
        if self._queue:
            self._wake.set()

    # --- time -----------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Observations held until their time has passed by `lateness`."""
        return len(self._waiting)

    def advance(self, now: datetime | None = None) -> None:
        """Hand over every observation whose time has passed by `lateness`, in time order, and
        tick the reconciler at every grid instant up to there, each between the observations
        before and after it."""
        mark = (self.clock.now() if now is None else now) - self.lateness
        step = self.tick_every
        if self._ticked is None:  # the clock starts at the grid instant before the first observation
            if not self._waiting:
                return  # (nothing to reconcile yet: a count posted as the gateway starts is not late)
            first = min(mark, self._waiting[0][0])
            self._ticked = _EPOCH + step * ((first - _EPOCH) // step)
        while True:
            next_tick = self._ticked + step
            if self._waiting and self._waiting[0][0] < next_tick and self._waiting[0][0] <= mark:
                obs = heapq.heappop(self._waiting)[-1]
                self._handed = max(self._handed, obs.at)
                self._observe(obs)
            elif next_tick <= mark:
                self._ticked = self._handed = next_tick
                self._take(self.reconciler.tick(next_tick))
            else:
                return

    def tick(self) -> None:
        """Advance to the clock's now."""
        self.advance()

    async def flush(self) -> int:
        """Append what is queued to the outbox; returns how many deltas went."""
        batch, self._queue = self._queue, []
        self._wake.clear()
        if not batch:
            return 0
        try:
            await self.append(batch)
        except Exception:
            self._queue = batch + self._queue  # the outbox keeps nothing half: try again later
            raise
        return len(batch)

    async def run(self) -> None:
        """Every `tick` of the shop's time: advance to the clock and flush what was decided."""
        period = max(0.01, self.tick_every.total_seconds() / self.clock.speed)
        while True:
            self.advance()
            try:
                await self.flush()
            except Exception as e:  # the outbox is away: keep the deltas, retry next tick
                log.warning("reconciler: outbox append failed, retrying: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), period)


class ReconcileConfigError(ValueError):
    """The [reconcile] section of the store config is malformed."""


SalesHook = Callable[[tuple[StockDelta, ...]], None]


_RECONCILE_KEYS = {"window_s": 1500, "tick_s": 10, "exit_grace_s": 60, "late_s": 5, "unseen_s": 0}


def _reconcile_values(section: object) -> dict[str, float]:
    if not isinstance(section, dict):
        raise ReconcileConfigError(f"[reconcile] must be a table, got {section!r}")
    check_keys(section, set(_RECONCILE_KEYS), "[reconcile]", error=ReconcileConfigError)
    values = {k: section.get(k, default) for k, default in _RECONCILE_KEYS.items()}
    values["unseen_s"] = section.get("unseen_s", 1.2 * values["window_s"])  # (reconciler.UNSEEN_WAIT)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values.values()):
        raise ReconcileConfigError(
            f"[reconcile] {', '.join(sorted(_RECONCILE_KEYS))} must be numbers > 0, got {section!r}")
    return {k: float(v) for k, v in values.items()}


def parse_reconcile_section(section: object) -> tuple[float, float, float]:
    """(window_s, tick_s, exit_grace_s) from the [reconcile] section; ReconcileConfigError names
    what is wrong."""
    values = _reconcile_values(section)
    return values["window_s"], values["tick_s"], values["exit_grace_s"]


def reconcile_late_s(section: object) -> float:
    """`late_s` of the [reconcile] section (Pipeline's: how many real seconds an observation may
    reach the gateway after its own time; 5 by default). A simulated shop trading 60 times faster
    than life gives its busy scales longer: a bin that a hand touches every real second never
    settles, and its weight event, dated when the first hand went in, comes when it does."""
    return _reconcile_values(section)["late_s"]


def reconcile_unseen_s(section: object) -> float:
    """`unseen_s` of the [reconcile] section: how long a pick nothing saw leave waits for its sale —
    with a door antenna one the door saw nothing of, without one every pick (default 1.2 x
    window_s). A real-sized shop, where most bins are watched
    by nothing, waits longer: a unit picked from a scale and put down on an unwatched bin comes
    home with the next tidy round (docs/accuracy.md: 60 minutes in the 800-SKU shop)."""
    return _reconcile_values(section)["unseen_s"]
