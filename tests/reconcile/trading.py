"""Days of trading in simulated time, through the shelves' physics, the reconciler and the ledger.

Shared by tests/reconcile/test_trading.py (a short run) and `shelfsync bench accuracy` (a week).

- The world: firmware_sim.world with `WorldConfig.trading()` (shoppers who pick, pay after their
  trip, put back, misplace, abandon and steal; staff rounds, tidying, nightly deliveries with
  lots; online orders picked in store).
- The shelves: one firmware_sim.loadcell.LoadCell per bin (noise, settling, a hand in the bin,
  drift, creep, temperature, bumps and leans; each unit its own weight within 0.3 %), sampled at
  10 Hz and fed to the real edge.shelf.detector.BinDetector. Only the seconds around a change,
  bump or lean are sampled (an idle bin's samples change nothing but drift, which the detector
  re-baselines on the next stable level); `physics="ideal"` skips the cells and turns each load
  change into the observation a perfect detector would make.
- POS: sale, void and return lines; staff handheld scans of online-order picks and of refills
  (units carried from the backroom onto a shelf; `refill_scans`); deliveries are
  booked as receipts with their lot and expiry (the delivery note), transfers from other stores
  as `transfer_in` (the transfer note), the opening stock as counts (the opening stocktake).
- The door: an RFID antenna pair over it reads each unit carried through with probability
  `portal`: out (sold or stolen) as an ExitRead, in (a customer's return, a staff transfer) as an
  EntryRead; with a single antenna (`door_antennas=1`) nothing tells the way, and a unit carried
  in is read as leaving too.
- The cameras (a real-sized shop): each camera lane shows its bin's front row, min(units on the
  bin, units that fit across the lane), counted about once a second by the shelf counter. Frames
  are not rendered here (0.2 s each): each frame's count is the truth, or one off with the
  counter's measured error rate (1.5 % of frames, 5 % on a partly empty lane, at a lower
  confidence), and the gateway's own edge.fusion.lanes.LaneTracker turns them into lane
  changes. Frames are drawn for the seconds after a change; between changes a lane's frames
  agree with the truth but for runs of misread frames, drawn at the rate the same error model
  gives (`LANE_GLITCH`). A blocked camera (`--faults camera`) counts nothing until it is back.
- The book: edge.fusion.reconciler.Reconciler's deltas applied with cloud.db.ledger's SkuBook/replay.
- The POS-only baseline books what a shop's systems book without sensors: the opening counts,
  receipts, transfers in, till sales (online orders collected at the till among them) and
  returns; nothing the sensors see (shrink, misplacements, moves between zones).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cloud.db.ledger import Move, SkuBook, replay
from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    EntryRead,
    ExitRead,
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
from edge.fusion.pipeline import shelf_change
from edge.fusion.reconciler import Misplacement, Reconciler
from edge.shelf.detector import BinDetector, DetectorConfig
from firmware_sim.loadcell import CellSpec, LoadCell
from firmware_sim.world import (
    CAMERA,
    FLOOR,
    SCALE,
    CarriedIn,
    Delivery,
    Event,
    OnlineOrder,
    Pick,
    PutBack,
    Restock,
    Return,
    Sale,
    StoreWorld,
    Theft,
    Transfer,
    Void,
    WorldConfig,
)
from shared.contract import Kind, Source, StockDelta, Zone

DETECTOR = DetectorConfig()  # the gateway's default; the bench passes its own
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday, midnight: the shop opens at 09:00
HZ = 10.0
STEP = timedelta(minutes=1)
TICK = timedelta(seconds=10)  # the reconciler's clock, as a gateway ticks it (`[reconcile] tick_s`)
SAMPLE_EVERY = timedelta(minutes=15)
MATCH_S = 25 * 60  # a shrink belongs to a theft of its SKU picked within the window of its pick
LEAD_S, TAIL_S = 3.0, 9.0  # sampled before a change and after the hand leaves


@dataclass
class _Bin:
    id: str
    sku: str
    unit_g: float
    cell: LoadCell
    det: BinDetector
    sampled_to: float
    active_to: float = 0.0
    fed_to: float = 0.0  # the last reading fed to the detector


class Shelves:
    """Every scaled bin of the world: its load cell and the real detector."""

    def __init__(self, world: StoreWorld, seed: int, physics: str, bumps_per_hour: float = 2.0,
                 leans_per_hour: float = 1.0, detector: DetectorConfig = DETECTOR) -> None:
        self.world, self.physics = world, physics
        self.rng = random.Random(f"shelves:{seed}")
        self.bumps_per_hour, self.leans_per_hour = bumps_per_hour, leans_per_hour
        self._weights: dict[int, float] = {}
        self.samples = 0
        self.spec = CellSpec()
        t0 = world.start.timestamp()
        self.bins: dict[str, _Bin] = {}
        self.loads: dict[str, float] = {}
        self._down: dict[str, list[tuple[float, float]]] = {}  # bin -> when its scale was off
        for i, b in enumerate(world.bins.values()):
            if b.sensor != "scale":
                continue  # (a real-sized shop: most bins are on no scale)
            unit = world.products[b.gtin].unit_grams
            cell = LoadCell(self.spec, seed=seed * 1000 + i, t0=t0)
            cell.set_load(t0, self.load(b.id), hand_s=0.0)
            cell.fold(t0 + 1e9)
            self.bins[b.id] = _Bin(b.id, b.gtin, unit, cell,
                                   BinDetector(b.id, b.gtin, unit, self.spec.dead_load_g, detector),
                                   sampled_to=t0, active_to=t0 + LEAD_S, fed_to=t0)
            self.loads[b.id] = self.load(b.id)

    def unit_weight(self, uid: int, gtin: str) -> float:
        if uid not in self._weights:
            nominal = self.world.products[gtin].unit_grams
            self._weights[uid] = nominal * (1 + random.Random(f"unit:{uid}").gauss(0, 0.003))
        return self._weights[uid]

    def load(self, bin_id: str) -> float:
        return sum(self.unit_weight(u.uid, u.gtin) for u in self.world.bin_units(bin_id))

    def opening(self) -> list[Observation]:
        """The first trusted level of every bin."""
        out: list[Observation] = []
        for b in self.bins.values():
            if self.physics == "ideal":
                count = round(self.loads[b.id] / b.unit_g)
                out.append(BinLevel(self.world.start, b.id, count))
                b.det.count = count
            else:
                out.extend(self._sample(b, b.active_to))
                if b.det.count is not None:
                    out.append(BinLevel(self.world.start, b.id, b.det.count))
        return out

    def changed(self, e: Pick | PutBack | Restock) -> list[Observation]:
        """The world moved units on or off a bin: schedule that load change."""
        b = self.bins[e.bin]
        grams = sum(self.unit_weight(uid, e.gtin) for uid in e.uids)
        delta = -grams if isinstance(e, Pick) else grams
        self.loads[e.bin] += delta
        at = e.at
        if self.physics == "ideal":
            return self._ideal(b, at, delta)
        t = at.timestamp()
        out = self._wake(b, t)
        step = b.cell.change(t, delta)
        b.active_to = max(b.active_to, step.end + TAIL_S)
        return out

    def _ideal(self, b: _Bin, at: datetime, delta: float) -> list[Observation]:
        if abs(delta) < 1e-6:
            return []
        k = round(delta / b.unit_g)
        assert b.det.count is not None
        if k and abs(delta - k * b.unit_g) <= 0.2 * b.unit_g and b.det.count + k >= 0:
            b.det.count += k
            return [BinChange(at, b.id, k, b.det.count, delta)]
        return [OddWeight(at, b.id, delta)]

    def _wake(self, b: _Bin, t: float) -> list[Observation]:
        """Something happens on the bin at t: sample it from LEAD_S before. A quiet stretch in
        between is skipped, once what came before it has been sampled."""
        out: list[Observation] = []
        if b.active_to < t - LEAD_S:
            out = self._sample(b, b.active_to)
            b.sampled_to = max(b.sampled_to, t - LEAD_S)
        b.active_to = max(b.active_to, t)
        return out

    def disturb(self, now: float, dt_s: float) -> list[Observation]:
        """Bumps and leans on idle moments, as on a real shop floor."""
        out: list[Observation] = []
        if self.physics == "ideal":
            return out
        for b in self.bins.values():
            if self.rng.random() < self.bumps_per_hour * dt_s / 3600:
                at = now - self.rng.uniform(0, dt_s)
                if at > b.active_to:
                    out += self._wake(b, at)
                    b.cell.bump(at)
                    b.active_to = at + 6.0
            if self.rng.random() < self.leans_per_hour * dt_s / 3600:
                at = now - self.rng.uniform(0, dt_s)
                if at > b.active_to:
                    out += self._wake(b, at)
                    lean = b.cell.lean(at, self.rng.uniform(0.5, 2.5), self.rng.uniform(100, 2000))
                    b.active_to = at + lean.duration_s + TAIL_S
        return out

    def sample_to(self, now: float) -> list[Observation]:
        out: list[Observation] = []
        if self.physics == "ideal":
            return out
        for b in self.bins.values():
            out.extend(self._sample(b, now))
            b.cell.fold(now)
        out.sort(key=lambda o: o.at)
        return out

    def _off(self, bin_id: str, t0: float, t1: float) -> list[tuple[float, float]]:
        day = datetime.fromtimestamp(t0, UTC).date() - timedelta(days=1)
        out = []
        while datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() <= t1:
            out += [(f.start.timestamp(), f.end.timestamp()) for f in self.world.faults(day) if f.device == bin_id]
            day += timedelta(days=1)
        return out

    def _sample(self, b: _Bin, now: float) -> list[Observation]:
        end = min(now, b.active_to)
        if end <= b.sampled_to:
            return []
        first = math.floor(b.sampled_to * HZ + 1) / HZ
        ts = np.arange(first, end + 1e-9, 1 / HZ)
        if len(ts) == 0:
            return []
        b.sampled_to = float(ts[-1])
        # The module's own motion flag (LoadCell.stable): moved less than a band over the last
        # second, judged on 6 readings 0.2 s apart; computed for the whole segment at once.
        pre = np.arange(ts[0] - 1.0, ts[0] - 1e-9, 1 / HZ)
        clean = np.asarray(b.cell.grams(np.concatenate([pre, ts])))
        win = sliding_window_view(clean, 11)[:, ::2]
        stable = (np.ptp(win, axis=1) < self.spec.motion_band_g)[-len(ts):]
        noisy = np.round(clean[len(pre):] + b.cell._rng.normal(0.0, self.spec.noise_g, size=len(ts)))
        self.samples += len(ts)
        out: list[Observation] = []
        resumed: set[float] = set()
        if self.world.config.fault == "scale":  # a scale off (--faults scale): nothing to feed then
            on = np.ones(len(ts), dtype=bool)
            off = self._off(b.id, min(b.fed_to, float(ts[0])), float(ts[-1]))
            for lo, hi in off:
                on &= (ts < lo) | (ts >= hi)
            ts, noisy, stable = ts[on], noisy[on], stable[on]
            # The gateway's poller marks a bin it cannot read unavailable and drops the detector's
            # window (edge/shelf/poller.py): the first reading after an outage is judged against
            # the level before it, as a change the bin made unseen.
            for lo, hi in off:
                after = ts[ts >= hi]
                if hi > b.fed_to and len(after) and lo < after[0]:
                    resumed.add(float(after[0]))
        for t, g, ok in zip(ts.tolist(), noisy.tolist(), stable.tolist(), strict=True):
            if t in resumed:
                b.det.interrupt()
            b.fed_to = t
            ev = b.det.feed(t, g, ok)
            if isinstance(ev, WeightEvent | UnexplainedWeight):
                seen = shelf_change(ev)  # as the gateway's pipeline takes it
                if seen is not None:
                    out.append(seen)
        return out


# The shelf counter's frame errors (models/shelf_counter: about 98.5 % of frames exact on fresh
# renders, partly empty lanes about 95 %): a misread frame is one off, at a lower confidence.
LANE_ERR_FULL, LANE_ERR_PARTIAL = 0.015, 0.05
LANE_FRAME_S = 1.0  # a frame a second (edge/camera/source.py interval_s)
LANE_FRAMES_AFTER = 6  # frames drawn after a change
LANE_SLOTS_MM, LANE_MAX_SLOTS = 450, 8  # firmware_sim/render.py slots_for: a 450 mm lane, 8 at most


class Lanes:
    """Every camera lane of the world: its front row, the counter's frames, the gateway's tracker."""

    def __init__(self, world: StoreWorld, seed: int, tracker: LaneTracker | None = None) -> None:
        self.world = world
        self.rng = random.Random(f"lanes:{seed}")
        self.tracker = tracker or LaneTracker()
        self.slots = {b.id: max(1, min(LANE_MAX_SLOTS, LANE_SLOTS_MM // max(1, world.products[b.gtin].size_mm[0])))
                      for b in world.bins.values() if b.sensor == CAMERA}
        self.visible = {b: self._truth(b) for b in self.slots}
        self._frames: dict[str, list[LaneCount]] = {b: [] for b in self.slots}
        self._down: set[str] = set()
        self.frames = 0

    def _truth(self, bin_id: str) -> int:
        return min(self.slots[bin_id], len(self.world.bin_units(bin_id)))

    def _err(self, bin_id: str, n: int) -> float:
        return LANE_ERR_PARTIAL if 0 < n < self.slots[bin_id] else LANE_ERR_FULL

    def _frame(self, bin_id: str, at: datetime, n: int, wrong: bool | None = None) -> LaneCount:
        if wrong is None:
            wrong = self.rng.random() < self._err(bin_id, n)
        shown, conf = n, self.rng.uniform(0.85, 0.99)
        if wrong:
            shown = n + self.rng.choice([-1, 1]) if 0 < n < self.slots[bin_id] else (n - 1 if n else 1)
            conf = self.rng.uniform(0.4, 0.8)
        return LaneCount(bin_id, bin_id, self.world.bins[bin_id].gtin, shown, round(conf, 4), at)

    def opening(self) -> None:
        """A few frames of every lane at the start: the tracker's levels."""
        for b in self.slots:
            for i in range(self.tracker.frames):
                self.tracker.observe(self._frame(b, self.world.start + timedelta(seconds=i), self.visible[b], False))

    def changed(self, bin_id: str, at: datetime) -> None:
        """Units came onto or off a lane's bin at `at`: the frames after it show what is there now."""
        n = self._truth(bin_id)
        if n == self.visible[bin_id]:
            return  # (behind a full front row: the camera sees no change)
        self.visible[bin_id] = n
        first = at + timedelta(seconds=self.rng.uniform(0.3, 1.3))
        self._frames[bin_id] = [f for f in self._frames[bin_id] if f.at < first]
        self._frames[bin_id] += [self._frame(bin_id, first + timedelta(seconds=i * LANE_FRAME_S), n)
                                 for i in range(LANE_FRAMES_AFTER)]

    def step(self, now: datetime, dt: timedelta) -> list[Observation]:
        """The lane changes the tracker makes of the frames up to `now` (the misread runs of the
        step's idle frames among them) and of blocked cameras."""
        changes: list[Observation] = []
        k = self.tracker.frames
        for b in self.slots:
            out: list[LaneCount | LaneUnavailable] = []
            down = self.world.config.fault == CAMERA and self.world.device_down(CAMERA, b, now)
            if down and b not in self._down:
                self._down.add(b)
                out.append(LaneUnavailable(b, b, self.world.bins[b].gtin, "blocked", now - dt))
            elif not down and b in self._down:  # back: its level again
                self._down.discard(b)
                out += [self._frame(b, now + timedelta(seconds=i), self.visible[b], False) for i in range(k)]
            if down:
                self._frames[b] = []
                continue
            # Between changes: k frames in a row misread the same way (a believed wrong count),
            # then the truth again. Per frame: err/2 (one way) times the share of misreads the
            # tracker takes (confidence >= its minimum); k of them in a row.
            n = self.visible[b]
            p = (self._err(b, n) / 2 * 0.75) ** k
            if self.rng.random() < p * dt.total_seconds() / LANE_FRAME_S:
                at = now - timedelta(seconds=self.rng.uniform(k + LANE_FRAMES_AFTER, dt.total_seconds()))
                if not any(abs((f.at - at).total_seconds()) < 2 * LANE_FRAMES_AFTER for f in self._frames[b]):
                    bad = self._frame(b, at, n, True)
                    out += [replace(bad, at=at + timedelta(seconds=i)) for i in range(k)]
                    out += [self._frame(b, at + timedelta(seconds=k + i), n, False) for i in range(k)]
            due = [f for f in self._frames[b] if f.at <= now]
            self._frames[b] = self._frames[b][len(due):]
            out += due
            self.frames += len(out)
            for o in sorted(out, key=lambda o: o.at):
                change = self.tracker.observe(o)
                if change is not None:
                    changes.append(change)
        return changes


@dataclass
class Book:
    """An in-process ledger: per SKU the movements and the balances they replay to."""

    moves: dict[str, list[Move]] = field(default_factory=dict)
    books: dict[str, SkuBook] = field(default_factory=dict)
    _last: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)

    def apply(self, d: StockDelta) -> None:
        if d.id in self._ids:
            return  # the ledger's idempotency
        self._ids.add(d.id)
        m = Move(d.id, d.kind.value, d.qty, d.zone.value, d.occurred_at, d.lot or "", d.expiry,
                 d.from_zone.value if d.from_zone else None)
        moves = self.moves.setdefault(d.sku, [])
        moves.append(m)
        last = self._last.get(d.sku)
        if last is not None and m.order < last:
            self.books[d.sku] = replay(moves)  # a late movement: replay the SKU (ledger semantics)
        else:
            self.books.setdefault(d.sku, SkuBook()).apply(m)
            self._last[d.sku] = m.order
        self._last[d.sku] = max(self._last.get(d.sku, m.order), m.order)

    def on_hand(self, sku: str) -> int:
        return self.books[sku].on_hand if sku in self.books else 0

    def floor(self, sku: str) -> int:
        return self.books[sku].zone_total(FLOOR) if sku in self.books else 0


def _delta(key: str, **kw: Any) -> StockDelta:
    return StockDelta(id=key, seq=0, **kw)


@dataclass
class Run:
    """Everything a run saw, for scoring."""

    days: float
    samples: list[dict[str, Any]] = field(default_factory=list)  # one per SAMPLE_EVERY
    thefts: list[Theft] = field(default_factory=list)
    misplaced: list[PutBack] = field(default_factory=list)
    deltas: list[StockDelta] = field(default_factory=list)
    findings: list[Misplacement] = field(default_factory=list)
    detected_at: dict[str, datetime] = field(default_factory=dict)  # shrink id -> emitted
    # Each SKU a count took: (the count's cut-off, SKU, the book's units then, the units counted,
    # how many deltas had been booked by then). The ledger's shrink report takes a count that found
    # less as shrink (cloud.db.reports); `count_losses` says how many units that was.
    counts_taken: list[tuple[datetime, str, int, int, int]] = field(default_factory=list)
    events: int = 0
    orders: int = 0
    observations: int = 0
    load_samples: int = 0
    wall_s: float = 0.0
    skus: int = 0
    sensed: int = 0  # SKUs on a scale, under a camera lane in the fusion, or tagged and read at the door
    sensed_skus: frozenset[str] = frozenset()
    lane_frames: int = 0
    floor_mismatch: int = 0  # reconciler's floor figure != ledger's (must stay 0)
    # With `record`: the world's events and the scales' and lanes' observations, for explaining a
    # run's shrinks against the truth (tests/benchmarks/explain_shrinks.py).
    log: list[Event] = field(default_factory=list)
    seen: list[Observation] = field(default_factory=list)
    world: StoreWorld | None = None


class Sensors:
    """What the gateway observes of the world's events: the scales' changes, the handhelds'
    scans, the door's reads and the till's lines (in the order the events came)."""

    def __init__(self, world: StoreWorld, shelves: Shelves, seed: int, portal: float,
                 door_antennas: int = 2, lanes: Lanes | None = None, refill_scans: bool = True) -> None:
        self.world, self.shelves, self.portal, self.door_antennas = world, shelves, portal, door_antennas
        self.lanes, self.refill_scans = lanes, refill_scans
        # Units carried in draw from their own generator: what the door reads leaving is the same
        # whether or not the shop has returns and transfers walked in.
        self.door, self.door_in = random.Random(f"portal:{seed}"), random.Random(f"portal-in:{seed}")

    def _through_door(self, at: datetime, uids: tuple[int, ...], out: bool) -> list[Observation]:
        world, store = self.world, self.world.store
        rng = self.door if out else self.door_in
        reads: list[Observation] = []
        if self.world.device_down("reader", "door", at):  # (--faults reader)
            return reads
        for u in uids:
            if not self.world.units[u].tagged:
                continue  # (a real-sized shop tags only some SKUs; the small one tags every unit)
            if not (self.portal and rng.random() < self.portal):
                continue
            when = at + timedelta(seconds=rng.uniform(3, 20))
            if out or self.door_antennas < 2:  # (one antenna cannot tell the way: taken as leaving)
                reads.append(ExitRead(when, world.units[u].gtin, f"{store}.{u}"))
            else:
                reads.append(EntryRead(when, world.units[u].gtin, f"{store}.{u}"))
        return reads

    def observe(self, events: list[Event]) -> list[Observation]:
        pending: list[Observation] = []
        for e in events:
            if isinstance(e, Pick | PutBack | Restock) and e.bin in self.shelves.bins:
                pending.extend(self.shelves.changed(e))
            if isinstance(e, Pick | PutBack | Restock) and self.lanes is not None and e.bin in self.lanes.slots:
                self.lanes.changed(e.bin, e.at)
            if isinstance(e, Pick) and e.order is not None:  # the picker's handheld scan
                pending.append(OrderLine(e.at, e.order, len(pending), e.gtin, len(e.uids)))
            if isinstance(e, Restock) and self.refill_scans:  # the refill scanned on the handheld
                pending.append(RefillScan(e.at, e.gtin, len(e.uids), bin=e.bin, scan=f"refill-{e.bin}-{e.at:%j%H%M%S}"))
            if isinstance(e, Theft | Sale):
                pending.extend(self._through_door(e.at, e.uids, out=True))
            elif isinstance(e, CarriedIn):
                pending.extend(self._through_door(e.at, e.uids, out=False))
            if isinstance(e, Sale | Void | Return):
                kind = "sale" if isinstance(e, Sale) else "void" if isinstance(e, Void) else "return"
                for i, line in enumerate(e.lines):
                    pending.append(PosLine(e.at, e.txn, i, kind, line.gtin, line.qty))
        return pending

    def step(self, now: datetime, step: timedelta = STEP) -> tuple[list[Event], list[Observation]]:
        """The world advanced to `now`: what happened, and what was observed up to then, by time."""
        events = self.world.advance(now)
        pending = self.observe(events)
        if self.lanes is not None:
            pending.extend(self.lanes.step(now, step))
        pending.extend(self.shelves.disturb(now.timestamp(), step.total_seconds()))
        pending.extend(self.shelves.sample_to(now.timestamp()))
        pending.sort(key=lambda o: o.at)
        return events, pending


def observation_stream(hours: float, seed: int, *, portal: float = 0.97, physics: str = "real",
                       detector: DetectorConfig = DETECTOR) -> list[Observation]:
    """Everything the gateway would observe of a trading world for `hours` (opening counts and
    levels first), in time order: the input of the event-time tests."""
    world = StoreWorld(store="sh-0001", seed=seed, start=START, config=WorldConfig.trading())
    shelves = Shelves(world, seed, physics, detector=detector)
    sensors = Sensors(world, shelves, seed, portal)
    out: list[Observation] = [ZoneCount(START, g, FLOOR, world.on_hand(g, FLOOR))
                              for g in sorted({b.gtin for b in world.bins.values()})]
    out += shelves.opening()
    now = START
    while now < START + timedelta(hours=hours):
        now += STEP
        out += sensors.step(now)[1]
    return out


def simulate(days: float, seed: int, theft: float, misplace: float, *, physics: str = "real",
             store: str = "sh-0001", config: WorldConfig | None = None, counts: bool = False,
             restore: bool = False, detector: DetectorConfig = DETECTOR, portal: float = 0.0,
             nightly: int | None = None, count_read: float = 1.0, door_antennas: int = 2,
             cameras: bool = True, tags_known: bool = True, unseen_window: timedelta | None = None,
             refill_scans: bool = True, cycle_days: int = 1,
             progress: Callable[[str], None] | None = None, record: bool = False,
             reconciler: Callable[..., Reconciler] = Reconciler) -> Run:
    """`misplace` is the share of picks put back on a wrong bin (the world's put-backs grow to
    hold it if they must). `portal`: an RFID portal at the door reads each unit carried through
    it with this probability (0: no portal); units leave a few seconds after their shopper's trip
    ends. `door_antennas`: 2 tell leaving from entering, 1 takes every unit read as leaving.
    `nightly`: an RFID stocktake at that hour each day (after close at 22, or while trading),
    reading each unit in the shop with probability `count_read` (shoppers' baskets, the pickup
    shelf and the go-back tote included): absolute counts per SKU and zone into the book (and
    the floor's into the reconciler), dated at the count's cut-off, as `shelfsync stocktake`
    books them. `cameras`: the camera lanes' counts go to the reconciler (a real-sized shop; off:
    their SKUs are watched by nothing). `tags_known`: the reconciler is told which SKUs carry RFID
    tags (a real-sized shop tags some), so a tagged unit the door did not read waits longer.
    `refill_scans`: staff scan each refill on their handheld (the reconciler books the move of a
    shelf no sensor watches; off: nothing books it until the count).
    `cycle_days`: the count reads the tagged SKUs every night and staff count the rest in turn,
    each of them every `cycle_days` nights (1: every SKU every night).
    `record`: keep the world's events and the scales' and lanes' observations in the run.
    `reconciler`: makes the reconciler from its arguments (tests/benchmarks/explain_misses.py passes
    one that keeps a diary of its picks)."""
    t_wall = time.perf_counter()
    base = config or WorldConfig.trading()
    put_back = max(base.put_back, misplace)
    cfg = replace(base, theft=theft, put_back=put_back, misplace=misplace / put_back if put_back else 0.0)
    world = StoreWorld(store=store, seed=seed, start=START, config=cfg)
    shelves = Shelves(world, seed, physics, detector=detector)
    watched = (SCALE, CAMERA) if cameras else (SCALE,)
    rec = reconciler({b.id: BinInfo(b.id, b.gtin, world.products[b.gtin].unit_grams, b.refill_at, b.capacity,
                                    scale=b.sensor == SCALE, lane=b.sensor == CAMERA)
                      for b in world.bins.values() if b.sensor in watched}, counts=counts, restore=restore,
                     portal=portal > 0,
                     tagged=world.tagged_skus if tags_known and world.config.skus else None,
                     unseen_window=unseen_window)
    lanes = Lanes(world, seed) if cameras and world.sensed_by(CAMERA) else None
    book, pos_only = Book(), Book()
    counter = random.Random(f"count:{seed}")
    # Which night of the cycle each SKU the RFID count cannot read is counted by hand.
    untagged = [g for g in sorted({b.gtin for b in world.bins.values()}) if g not in world.tagged_skus]
    turn = {g: i % cycle_days for i, g in enumerate(untagged)}
    sensors = Sensors(world, shelves, seed, portal, door_antennas, lanes, refill_scans)

    run = Run(days, skus=len({b.gtin for b in world.bins.values()}))
    if record:
        run.world = world
    skus = sorted({b.gtin for b in world.bins.values()})
    # Sensed: what a sensor watches while the shop trades: on a scale, under a camera lane in the
    # fusion, or (a real-sized shop with a door antenna) source-tagged for the door's reader.
    sensed = ({b.gtin for b in world.bins.values() if b.sensor in watched}
              | (set(world.tagged_skus) if portal > 0 else set()))
    run.sensed = len(sensed)
    run.sensed_skus = frozenset(sensed)

    # The opening stocktake: absolute counts per (SKU, zone, lot) in both books.
    expiry = world.lot_expiry()
    opening: list[Observation] = []
    for (gtin, zone, lot), qty in sorted(world.stock_by_lot().items(), key=str):
        d = _delta(f"open-{gtin}-{zone}-{lot}", sku=gtin, kind=Kind.COUNT, qty=qty, zone=Zone(zone),
                   occurred_at=START, source=Source.RFID, lot=lot, expiry=expiry.get(lot or ""))
        book.apply(d)
        pos_only.apply(d)
    for gtin in skus:
        opening.append(ZoneCount(START, gtin, FLOOR, world.on_hand(gtin, FLOOR)))
    opening.extend(shelves.opening())
    rec.run(opening)
    if lanes is not None:
        lanes.opening()

    def book_out(outs: list[StockDelta | Misplacement], now: datetime) -> None:
        for o in outs:
            if isinstance(o, Misplacement):
                run.findings.append(o)
                continue
            run.deltas.append(o)
            if o.kind is Kind.SHRINK:
                run.detected_at[o.id] = now
            book.apply(o)

    end = START + timedelta(days=days)
    now = START
    next_sample = START
    next_tick = START + TICK
    pending: list[Observation] = []
    last_print = time.perf_counter()
    while now < end:
        now += STEP
        events = world.advance(now)
        run.events += len(events)
        pending = sensors.observe(events)
        for e in events:
            if isinstance(e, PutBack) and e.misplaced:
                run.misplaced.append(e)
            elif isinstance(e, Theft):
                run.thefts.append(e)
            if isinstance(e, Sale | Void | Return):
                kind = "sale" if isinstance(e, Sale) else "void" if isinstance(e, Void) else "return"
                for i, line in enumerate(e.lines):
                    if kind != "void":
                        qty = -line.qty if kind == "sale" else line.qty
                        zone = Zone.FLOOR if kind == "sale" else Zone.BACKROOM
                        pos_only.apply(_delta(f"pos-{e.txn}-{i}", sku=line.gtin, kind=Kind(kind), qty=qty,
                                              zone=zone, occurred_at=e.at, source=Source.POS))
            elif isinstance(e, OnlineOrder):
                run.orders += 1
            elif isinstance(e, Delivery):
                d = _delta(f"dlv-{e.lot}", sku=e.gtin, kind=Kind.RECEIPT, qty=len(e.uids), zone=Zone.BACKROOM,
                           occurred_at=e.at, source=Source.MANUAL, lot=e.lot, expiry=e.expiry)
                book.apply(d)
                pos_only.apply(d)
            elif isinstance(e, Transfer):  # the back office books it from the transfer note
                d = _delta(e.ref, sku=e.gtin, kind=Kind.TRANSFER_IN, qty=len(e.uids), zone=Zone.BACKROOM,
                           occurred_at=e.at, source=Source.MANUAL, lot=e.lot, expiry=e.expiry)
                book.apply(d)
                pos_only.apply(d)
        if nightly is not None and now.hour == nightly and now.minute == 0:
            night = (now - START) // timedelta(days=1)
            for gtin in skus:
                if gtin not in world.tagged_skus and turn[gtin] != night % cycle_days:
                    continue  # (an untagged SKU is counted by hand, on its night of the cycle)
                held, counted = book.on_hand(gtin), 0
                for zone in (Zone.FLOOR, Zone.BACKROOM):
                    units = world.stock(gtin)[zone.value]  # (the pickup shelf and tote are floor)
                    seen = units if count_read >= 1 else sum(counter.random() < count_read for _ in range(units))
                    counted += seen
                    book_out([_delta(f"count-{gtin}-{zone.value}-{now:%Y%m%d}", sku=gtin, kind=Kind.COUNT,
                                     qty=seen, zone=zone, occurred_at=now, source=Source.RFID)], now)
                    if zone is Zone.FLOOR:  # observed in time order: after this minute's hands
                        pending.append(ZoneCount(now, gtin, FLOOR, seen))
                run.counts_taken.append((now, gtin, held, counted, len(run.deltas)))
        if lanes is not None:
            pending.extend(lanes.step(now, STEP))
        pending.extend(shelves.disturb(now.timestamp(), STEP.total_seconds()))
        pending.extend(shelves.sample_to(now.timestamp()))
        pending.sort(key=lambda o: (o.at, isinstance(o, ZoneCount)))  # a count after its instant's hands
        run.observations += len(pending)
        if record:
            run.log.extend(events)
            run.seen.extend(o for o in pending if isinstance(o, BinChange | OddWeight | LaneChange))
        for o in pending:  # the clock ticks between observations, in their time order, as a gateway's
            while next_tick <= o.at:
                book_out(rec.tick(next_tick), next_tick)
                next_tick += TICK
            book_out(rec.observe(o), now)
        pending = []
        while next_tick <= now:
            book_out(rec.tick(next_tick), next_tick)
            next_tick += TICK
        if now >= next_sample:
            next_sample += SAMPLE_EVERY
            run.samples.append(_sample(now, world, shelves, rec, book, pos_only, skus, run, sensed))
        if progress and time.perf_counter() - last_print > 5:
            last_print = time.perf_counter()
            progress(f"{store}: day {(now - START) / timedelta(days=1):.1f} of {days:g}, "
                     f"{run.events} events, {shelves.samples} load samples")
    run.load_samples = shelves.samples
    run.lane_frames = lanes.frames if lanes is not None else 0
    run.wall_s = time.perf_counter() - t_wall
    return run


def _sample(now: datetime, world: StoreWorld, shelves: Shelves, rec: Reconciler, book: Book,
            pos_only: Book, skus: list[str], run: Run, sensed: set[str] | None = None) -> dict[str, Any]:
    truth = {g: world.stock(g) for g in skus}
    # A shelf gap: a bin of the SKU holds none of it. The sensors see it when the detector's count
    # of that bin is 0; the POS-only book only when it thinks the SKU is gone altogether.
    gaps = seen = pos_seen = 0
    for b in shelves.bins.values():
        if not any(u.gtin == b.sku for u in world.bin_units(b.id)):
            gaps += 1
            seen += b.det.count == 0
            pos_seen += pos_only.on_hand(b.sku) <= 0
    for g in skus:
        if rec.floor_figure(g) != book.floor(g):
            run.floor_mismatch += 1
    open_now = world._is_open(now)
    return {
        "at": now,
        "open": open_now,
        "right": sum(book.on_hand(g) == truth[g]["on_hand"] for g in skus),
        "right_sensed": sum(book.on_hand(g) == truth[g]["on_hand"] for g in skus if sensed is None or g in sensed),
        "right_zones": sum(book.on_hand(g) == truth[g]["on_hand"] and book.floor(g) == truth[g]["floor"]
                           for g in skus),
        "pos_right": sum(pos_only.on_hand(g) == truth[g]["on_hand"] for g in skus),
        "abs_err": sum(abs(book.on_hand(g) - truth[g]["on_hand"]) for g in skus),
        "pos_abs_err": sum(abs(pos_only.on_hand(g) - truth[g]["on_hand"]) for g in skus),
        "units": sum(truth[g]["on_hand"] for g in skus),
        "gaps": gaps, "gaps_seen": seen, "gaps_pos_seen": pos_seen,
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def matches(run: Run) -> list[tuple[StockDelta, Theft, int]]:
    """Which thefts each shrink delta booked, in units: (shrink, theft, units). A shrink's units go
    to the thefts of its SKU picked within `MATCH_S` of its `occurred_at`, in the order the shrinks
    were emitted and the thieves walked out; a shrink of more units than the first such theft has
    left goes on to the next (two thieves' hands of one unit each that the scale read as one fall
    of two are booked by one shrink of two: both thefts')."""
    left = [len(t.uids) for t in run.thefts]
    out: list[tuple[StockDelta, Theft, int]] = []
    for d in run.deltas:
        if d.kind is not Kind.SHRINK:
            continue
        units = -d.qty
        for i, t in enumerate(run.thefts):
            if not units:
                break
            if left[i] and t.gtin == d.sku and t.picked_at is not None \
                    and abs((t.picked_at - d.occurred_at).total_seconds()) <= MATCH_S:
                k = min(left[i], units)
                left[i] -= k
                units -= k
                out.append((d, t, k))
    return out


def count_losses(run: Run) -> list[tuple[datetime, str, int]]:
    """What each count found missing, as the ledger books it: (cut-off, SKU, units). The ledger
    applies movements in the order they occurred, so a delta dated before the cut-off but booked
    after the count (a shrink the count itself settled, dated at its pick) is in the book the
    count is compared with: it is not found missing twice. A move (a refill from the backroom,
    booked from its scan at the count's instant) changes no units on hand."""
    out = []
    for at, sku, held, counted, booked in run.counts_taken:
        held += sum(d.qty for d in run.deltas[booked:]
                    if d.sku == sku and d.occurred_at <= at and d.kind not in (Kind.COUNT, Kind.MOVE))
        if held > counted:
            out.append((at, sku, held - counted))
    return out


def count_matches(run: Run) -> list[tuple[datetime, Theft, int]]:
    """Which thefts the counts found, in units: (the count's cut-off, theft, units). The thefts the
    shrinks booked (`matches`) are not found again; a count's missing units go to the thefts of its
    SKU before its cut-off, the oldest first."""
    left = [len(t.uids) for t in run.thefts]
    where = {id(t): i for i, t in enumerate(run.thefts)}
    for _d, t, k in matches(run):
        left[where[id(t)]] -= k
    out: list[tuple[datetime, Theft, int]] = []
    for at, sku, units in count_losses(run):
        for i, t in enumerate(run.thefts):
            if not units:
                break
            if left[i] and t.gtin == sku and t.at <= at:
                k = min(left[i], units)
                left[i] -= k
                units -= k
                out.append((at, t, k))
    return out


def score(runs: list[Run]) -> dict[str, Any]:
    """The figures of one or more stores' runs."""
    samples = [s for r in runs for s in r.samples]
    skus = runs[0].skus
    pairs = len(samples) * skus
    closing = [s for s in samples if s["at"].hour == 22 and s["at"].minute == 0]

    # Shrink: every emitted shrink against the world's thefts (`matches`): the same SKU, picked
    # within the reconciler's window of the shrink's date (with two pending picks of one SKU, which
    # of them a sale confirms is a guess; the book is the same either way).
    stolen = tp = emitted = retracted_units = tp_standing = stolen_sensed = tp_sensed = 0
    ttd: list[float] = []
    ttd_pick: list[float] = []
    for r in runs:
        stolen += sum(len(t.uids) for t in r.thefts)
        stolen_sensed += sum(len(t.uids) for t in r.thefts if t.gtin in r.sensed_skus)
        retracted = {str(d.evidence["retracts"]) for d in r.deltas
                     if d.kind is Kind.ADJUST and d.evidence and "retracts" in d.evidence}
        for d in r.deltas:
            if d.kind is Kind.SHRINK:
                emitted += -d.qty
                retracted_units += -d.qty if d.id in retracted else 0
        for d, t, k in matches(r):
            assert t.picked_at is not None
            tp += k
            tp_sensed += k if t.gtin in r.sensed_skus else 0
            tp_standing += k if d.id not in retracted else 0
            ttd.append((r.detected_at[d.id] - t.at).total_seconds() / 60)
            ttd_pick.append((r.detected_at[d.id] - t.picked_at).total_seconds() / 60)
    # The shrink the ledger reports (cloud.db.reports: shrinks, and counts that found less): the
    # shrinks above and the units each count found missing, those matched to the thefts before it.
    count_lost = sum(n for r in runs for _at, _sku, n in count_losses(r))
    tp_count = 0
    ttd_units: list[float] = []  # minutes from the theft to its finding, one per unit found
    for r in runs:
        for d, t, k in matches(r):
            ttd_units += [(r.detected_at[d.id] - t.at).total_seconds() / 60] * k
        for at, t, k in count_matches(r):
            tp_count += k
            ttd_units += [(at - t.at).total_seconds() / 60] * k
    # Misplacement: a wrong-bin put-back found on that bin, for that SKU, within 2 minutes.
    mis_truth = mis_found = mis_right = 0
    for r in runs:
        left = list(r.findings)
        mis_found += len(r.findings)
        for p in r.misplaced:
            if p.by != "shopper":
                continue
            mis_truth += 1
            for f in left:
                if f.bin == p.bin and f.sku == p.gtin and abs((f.at - p.at).total_seconds()) <= 120:
                    left.remove(f)
                    mis_right += 1
                    break
    kinds: dict[str, int] = {}
    for r in runs:
        for d in r.deltas:
            kinds[d.kind.value] = kinds.get(d.kind.value, 0) + 1
    days = max(1, math.ceil(runs[0].days))
    daily = []
    for day in range(days):
        ss = [s for s in samples if (s["at"] - START - STEP) // timedelta(days=1) == day]
        if ss:
            daily.append({"day": day + 1, "accuracy": _ratio(sum(s["right"] for s in ss), len(ss) * skus),
                          "pos_only": _ratio(sum(s["pos_right"] for s in ss), len(ss) * skus)})
    last = samples[-1]
    gaps = sum(s["gaps"] for s in samples)
    return {
        "stores": len(runs), "days": runs[0].days, "skus_per_store": skus,
        "accuracy": _ratio(sum(s["right"] for s in samples), pairs),
        "sensed_skus_per_store": runs[0].sensed,
        # (each store draws its own scales and tags: its own number of sensed SKUs)
        "accuracy_sensed": _ratio(sum(s["right_sensed"] for s in samples),
                                  sum(len(r.samples) * r.sensed for r in runs)),
        "accuracy_with_zones": _ratio(sum(s["right_zones"] for s in samples), pairs),
        "accuracy_at_close": _ratio(sum(s["right"] for s in closing), len(closing) * skus),
        "accuracy_end": _ratio(last["right"], skus),
        "pos_only_accuracy": _ratio(sum(s["pos_right"] for s in samples), pairs),
        "pos_only_accuracy_at_close": _ratio(sum(s["pos_right"] for s in closing), len(closing) * skus),
        "pos_only_accuracy_end": _ratio(last["pos_right"], skus),
        "abs_error_units_mean": statistics.fmean(s["abs_err"] for s in samples),
        "pos_only_abs_error_units_mean": statistics.fmean(s["pos_abs_err"] for s in samples),
        "daily": daily,
        "shrink_units_stolen": stolen, "shrink_units_flagged": emitted, "shrink_units_retracted": retracted_units,
        "shrink_precision": _ratio(tp, emitted), "shrink_recall": _ratio(tp, stolen),
        # Over the thefts of SKUs a sensor watches while the shop trades (the rest only a count finds).
        "shrink_units_stolen_sensed": stolen_sensed, "shrink_recall_sensed": _ratio(tp_sensed, stolen_sensed),
        # Of the shrink units still standing (not retracted later), the share that were thefts.
        "shrink_precision_standing": _ratio(tp_standing, emitted - retracted_units),
        # From the theft (the thief walking out unpaid: `Theft.at`) to its shrink delta; and from
        # the pick (a thief may linger in the shop long after it, where no sensor can tell).
        "median_minutes_to_detect": statistics.median(ttd) if ttd else None,
        "median_minutes_pick_to_detect": statistics.median(ttd_pick) if ttd_pick else None,
        # With the counts: what the ledger's shrink report holds by the end (shrinks and counts
        # that found less), the count's units found at its cut-off; the median over units.
        "count_lost_units": count_lost, "count_found_stolen_units": tp_count,
        "shrink_precision_with_counts": _ratio(tp + tp_count, emitted + count_lost),
        "shrink_recall_with_counts": _ratio(tp + tp_count, stolen),
        "median_minutes_to_detect_with_counts": statistics.median(ttd_units) if ttd_units else None,
        "pos_only_shrink_recall": 0.0 if stolen else None,
        "misplaced_put_backs": mis_truth, "misplacements_found": mis_found,
        "misplacement_recall": _ratio(mis_right, mis_truth),
        "misplacement_precision": _ratio(mis_right, mis_found),
        "shelf_gap_samples": gaps,
        "shelf_gaps_caught": _ratio(sum(s["gaps_seen"] for s in samples), gaps),
        "pos_only_shelf_gaps_caught": _ratio(sum(s["gaps_pos_seen"] for s in samples), gaps),
        "deltas_by_kind": kinds,
        "floor_figure_mismatches": sum(r.floor_mismatch for r in runs),
        "world_events": sum(r.events for r in runs), "observations": sum(r.observations for r in runs),
        "load_samples": sum(r.load_samples for r in runs),
        "lane_frames": sum(r.lane_frames for r in runs),
        "wall_s": sum(r.wall_s for r in runs),
    }
