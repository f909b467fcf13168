"""Counts and the scales' levels against the book's floor figure: a count settles the picks it
found waiting; lasting disagreements re-anchor the book (or become counts). Pure.

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
- A count settles the picks of its SKU still waiting at its cut-off (for their sale, or for units
  put down where no sensor sees them to come home with a tidy round — after the shop closes, not
  before the next morning's): it read every unit in the shop then, so as many units fewer than the
  book's floor figure are gone, the oldest waiting picks' (shrink at the next tick, dated at the
  pick), and a pick whose units it found is no shrink: only the door can still say they left (a
  count while trading reads a thief's bag) within a shopper's trip of the count; then it is
  dropped. A hand the door saw leave is left to the window.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from edge.fusion.domain import ZoneCount
from edge.fusion.state import Misplacement, ReconcilerState
from shared.contract import Kind, Source, StockDelta, Zone

_EPOCH = datetime.min.replace(tzinfo=UTC)


class CountRules(ReconcilerState):
    """The counts' part of `Reconciler`."""

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
        cut_off = self._book.cut_off(c.sku)
        if cut_off is None or c.at < cut_off:
            return  # no figure to compare with, or an older count than the one the figure is from
        pending = sorted((p for p in self._picks if p.sku == c.sku and not p.walked and p.at <= c.at),
                         key=lambda p: p.at)
        if not pending:
            return
        book = self._book.at(c.sku, c.at)
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

    def _check_count(self, sku: str, now: datetime) -> list[StockDelta | Misplacement]:
        book = self._book.figure(sku)
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
