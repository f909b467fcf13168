"""The shelf's rules: a bin's change, seen by a scale or a camera lane, as a pick, a put-back, a
refill, units laid on the wrong bin or lifted off it. Pure.

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
- Camera lanes (`LaneChange`, from edge/fusion/lanes.py): a lane's lasting count change is a pick
  or a put-back as a scale's is, the lane's count and confidence in the evidence (`seen`). A lane
  counts its bin's front row, so it is not a level to re-anchor on, and it does not weigh: a rise
  on it is never told apart as another SKU's units. Where a bin has both a scale and a lane, the
  first word on a hand is acted on and the other's, within `latency`, paired with it: the same
  change adds its evidence; a different one is resolved by their confidences (the scale's: one
  less the share of a unit its grams are off), the pick resized to the more confident count, and
  the evidence carries both and which was believed.
"""

from __future__ import annotations

import math
from datetime import datetime

from edge.fusion.domain import BinChange, BinInfo, OddWeight
from edge.fusion.state import Expect, Misplacement, Pick, ReconcilerState, Sighting, Stray, Unknown
from shared.contract import Kind, Source, StockDelta, Zone

# The most units one shopper's hand takes of a SKU (six cans or pouches). A rise of more on a low
# bin that is not a refill is no hand put back either: units another SKU's weigh as.
HAND = 6
SQRT2 = math.sqrt(2.0)


class ShelfRules(ReconcilerState):
    """The shelf's part of `Reconciler`."""

    def _grams(self, o: BinChange) -> float:
        return o.delta_g if o.delta_g is not None else o.delta * self.bins[o.bin].unit_g

    def _miss(self, grams: float, expected: float) -> float:
        """How far grams are from what was expected, in tolerances (within `match`, or `noise_g`
        for light units: a scale's stable reading is only good to a few grams): <= 1 is a fit."""
        return abs(grams - expected) / max(self.match * abs(expected), self.noise_g)

    def _foreign(self, grams: float, home_sku: str | None, bin_id: str) -> tuple[Pick, int] | None:
        """The pending pick of another SKU and bin whose units `grams` is a whole number of, the
        closest fit within `match` (several SKUs weigh nearly the same: 1.5, 1.6, 1.8, 2 kg)."""
        best: tuple[tuple[float, bool, float], Pick, int] | None = None
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
                    self._goback.setdefault(s.sku, []).append(Expect(at, s.qty, lifted=True))
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
                    self._goback.setdefault(s.sku, []).append(Expect(at, s.qty, lifted=True))
                return []
        return None

    def _same_weight(self, a: float, b: float) -> bool:
        """Two changes a scale measured weigh as the same units: within `fingerprint` of their
        weight, or the noise of a difference of two measurements (each within `noise_g`: the
        difference within sqrt(2) of it; a 1 kg unit laid down and lifted 41 minutes later read
        1003.0 and 998.7 g)."""
        return abs(a - b) <= max(SQRT2 * self.noise_g, self.fingerprint * max(abs(a), abs(b)))

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
                waiting.append(Sighting(o.at, source, delta, confidence, ev, None))
                return []
            before = self._picks[-1] if self._picks else None
            out = self._fall(o) if o.delta < 0 else self._rise(o)
            pick = self._picks[-1] if self._picks and self._picks[-1] is not before else None
            if pick is not None:
                pick.seen = {source: ev}
            waiting.append(Sighting(o.at, source, delta, confidence, ev, pick))
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
                self._goback.setdefault(info.sku, []).append(Expect(o.at, used))
            elif c.kind == "order":
                held = self._held.setdefault(c.txn, {})
                held[info.sku] = held.get(info.sku, 0) + used
        self._credit[info.sku] = [c for c in credits if c.qty]
        if not n:
            return []
        pick = Pick(o.at, o.bin, info.sku, n, unit_g)
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
        if own and n <= HAND:
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
        self._loose.append(Stray(o.at, o.bin, info.sku, n, grams))
        self._risen[info.sku] = self._step
        # (On a low bin a rise of a hand's size may be a small refill, and a later hand of as many
        # a pick; more than a hand that no refill explains is units to be lifted again.)
        if info.scale and (not low or n > HAND):
            self._unknown.append(Unknown(o.at, o.bin, info.sku, n, grams))
        return self._restore(info.sku, n, o) if self.restore and n <= HAND else []

    def _lift_unknown(self, o: BinChange) -> list[StockDelta | Misplacement] | None:
        """A fall that takes off a bin just what a rise nothing explained laid on it (as many
        units, weighing the same: `_same_weight`): those units leaving again —
        staff taking another SKU's units home — not a hand of the bin's own. Nothing changed for
        the SKU; a refill re-anchoring booked for them is undone (dated with it: a count between
        absorbs both). None: not such a fall."""
        if o.delta_g is None:
            return None  # (only a scale's grams tell the same units)
        grams = -o.delta_g
        u = next((u for u in reversed(self._unknown) if u.bin == o.bin and u.qty == -o.delta
                  and self._same_weight(grams, u.grams)), None)
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
        fits = [(miss, s) for miss, s in fits if self._same_weight(grams, n * s.unit_g)]
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

    def _misplaced(self, p: Pick, k: int, bin_id: str, at: datetime,
                   grams: float) -> list[StockDelta | Misplacement]:
        p.qty -= k
        self._picks = [q for q in self._picks if q.qty]
        self._strays.append(Stray(at, bin_id, p.sku, k, grams))
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
        self._loose.append(Stray(o.at, o.bin, "", 0, o.delta_g))
        return []

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
