"""The reconciler: observations in, contract deltas with evidence out (ARCHITECTURE §7). Pure.

`Reconciler` takes each observation and each tick of the clock and hands it to the rules of its
kind: the till's are here, the shelf's in edge/fusion/shelf.py, the door's in edge/fusion/door.py,
the counts' and re-anchoring's in edge/fusion/counts.py. What they hold open between observations,
and the settings, are edge/fusion/state.py; the book's floor figure is edge/fusion/floor_book.py.

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
- A staff refill scan (`RefillScan`: units carried from the backroom onto a shelf, scanned on the
  handheld) is a `move` backroom -> floor, dated at the scan, for a SKU no scale or camera lane
  here watches (its bin is on no sensor: nothing else would ever say the units moved, and the floor
  and backroom figures would drift apart until the next count). On a watched bin the rise books
  the refill (the scale counts the units; the staff member keys them), so the scan books nothing.
- A floor movement booked elsewhere (`FloorBooked`: staff movements posted to the gateway) moves
  the floor figure as the ledger moves the floor.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta

from edge.fusion.counts import CountRules
from edge.fusion.domain import (
    DEVICE_REPORTS,
    BinChange,
    BinLevel,
    EntryRead,
    ExitRead,
    FloorBooked,
    LaneChange,
    Observation,
    OrderLine,
    PosLine,
    RefillScan,
    ZoneCount,
)
from edge.fusion.door import DoorRules
from edge.fusion.floor_book import floor_change
from edge.fusion.shelf import ShelfRules
from edge.fusion.state import TAGGED_WAIT, UNSEEN_WAIT, Credit, Expect, Misplacement, Paid, Shrunk
from shared.contract import Kind, Source, StockDelta, Zone

__all__ = ["TAGGED_WAIT", "UNSEEN_WAIT", "Misplacement", "Reconciler", "floor_change"]


class Reconciler(ShelfRules, DoorRules, CountRules):
    """Observations in (`observe`), the clock's verdicts out (`tick`). Its settings are the fields of
    `ReconcilerState` (edge/fusion/state.py): `Reconciler(bins, window=..., portal=True, ...)`."""

    def floor_figure(self, sku: str) -> int | None:
        """The book's floor figure for a SKU as this reconciler has booked it (None: no count yet)."""
        return self._book.figure(sku)

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
            self._book.move(obs.sku, obs.at, obs.change)
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
                self._book.count(obs.sku, obs.at, obs.qty)
            return []
        if isinstance(obs, EntryRead | ExitRead):
            self._door_read(obs)
            return []
        return self._odd(obs)

    def _match_picks(self, sku: str, at: datetime, qty: int,
                     within: timedelta | None = None) -> tuple[int, list[dict[str, object]]]:
        """Claim up to qty units of pending picks of a SKU made up to `within` (the window) before
        the scan; returns what is left. A scan at the shelf (`within` short) takes the nearest;
        a till scan takes whole hands that add up to it (a basket is a few hands), else the newest."""
        till = within is None
        # (A pick the portal saw nothing of may still be paid for up to its own, longer, wait.)
        if within is None:
            within = self._sale_may_come()
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
            self._credit.setdefault(o.sku, []).append(Credit(o.at, o.order, o.line, "order", need))
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
                self._goback.setdefault(o.sku, []).append(Expect(o.at, o.qty - need))
            if need:
                self._credit.setdefault(o.sku, []).append(Credit(o.at, o.txn, o.line, "void", need))
            return []
        self._paid.setdefault(o.sku, []).append(Paid(o.at, o.qty))
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
            self._credit.setdefault(o.sku, []).append(Credit(o.at, o.txn, o.line, "sale", need))
        return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.SALE, qty=-o.qty, zone=Zone.FLOOR,
                            occurred_at=o.at, source=Source.POS, ref=o.txn,
                            confidence=1.0 if not need else 0.9,
                            evidence={"pos": o.txn, "picks": claimed})]

    # --- time ---------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[StockDelta | Misplacement]:
        """Close what the clock settles: unclaimed picks become shrink, late sales retract it,
        stale expectations lapse, and lasting disagreements with the scales become counts."""
        self._step += 1
        out: list[StockDelta | Misplacement] = []
        # The door first: a unit that left unpaid takes its pick before the window could.
        out.extend(self._door_tick(now))
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
                self._shrunk.append(Shrunk(p.at, p.sku, p.qty, d.id, now + 2 * self.window,
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
        self._book.lapse(now, self.hold)
        for sku in self._bins_of:
            out.extend(self._check_count(sku, now))
        return out

    def _retract(self, sku: str, c: Credit, now: datetime) -> list[StockDelta | Misplacement]:
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

    def run(self, observations: Iterable[Observation]) -> list[StockDelta | Misplacement]:
        out: list[StockDelta | Misplacement] = []
        for o in observations:
            out.extend(self.observe(o))
        return out
