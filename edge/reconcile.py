"""The reconciler: observations in, contract deltas with evidence out (ARCHITECTURE §7). Pure.

- POS is the authority for sales: every sale line becomes a `sale` delta at once; a weight pick
  of the same SKU within `window` confirms it (confidence 1.0, else 0.9 and no pick evidence).
- A pick that no sale claims within `window`, and that no put-back undid, is `shrink`
  (the bin stayed low), emitted by `tick(now)` — there is no clock in here.
- A rise on a bin equal to a pending pick of that bin is a put-back (no delta); otherwise a
  rise is a restock: a `move` backroom -> floor.
- An unexplained weight that is a whole number of units of another SKU with a pending pick is a
  misplacement: the pick is settled (no shrink, no stock change — both units stay on the floor)
  and a `Misplacement` finding is returned for the shelf view.
Delta ids are derived from the evidence (uuid5), so replaying the same observations yields the
same deltas and the ledger's idempotency makes a replay change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.contract import Kind, Source, StockDelta, Zone
from edge.domain import BinChange, BinInfo, Observation, OddWeight, PosLine

_NS = uuid.UUID("6f1d2c3e-0000-4000-8000-5e1f5c0a1e55")


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


@dataclass
class Reconciler:
    bins: dict[str, BinInfo]
    window: timedelta = timedelta(minutes=15)
    tolerance: float = 0.2
    _picks: list[_Pick] = field(default_factory=list)
    _credit: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    _seen: set[tuple[object, ...]] = field(default_factory=set)

    def _delta(self, key: tuple[object, ...], **kw: object) -> StockDelta:
        did = str(uuid.uuid5(_NS, repr(key)))
        return StockDelta(id=did, seq=0, **kw)  # type: ignore[arg-type]

    def observe(self, obs: Observation) -> list[StockDelta | Misplacement]:
        # A POS line is identified by (txn, line): a resend with other content is the same line.
        key: tuple[object, ...] = (("pos", obs.txn, obs.line) if isinstance(obs, PosLine) else
                                   (type(obs).__name__, *(getattr(obs, f) for f in obs.__slots__)))
        if key in self._seen:
            return []  # idempotence: the same observation twice changes nothing
        self._seen.add(key)
        if isinstance(obs, PosLine):
            return self._pos(obs)
        if isinstance(obs, BinChange):
            return self._change(obs)
        return self._odd(obs)

    def _pos(self, o: PosLine) -> list[StockDelta | Misplacement]:
        if o.kind == "return":
            return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.RETURN, qty=o.qty,
                                zone=Zone.BACKROOM, occurred_at=o.at, source=Source.POS, ref=o.txn,
                                evidence={"pos": o.txn})]
        need, claimed = o.qty, []
        for p in self._picks:
            if need and p.sku == o.sku and p.qty and abs(p.at - o.at) <= self.window:
                k = min(need, p.qty)
                p.qty -= k
                need -= k
                claimed.append({"bin": p.bin, "at": p.at.isoformat(), "qty": k})
        self._picks = [p for p in self._picks if p.qty]
        if need:
            self._credit.setdefault(o.sku, []).append((o.at, need))
        return [self._delta(("pos", o.txn, o.line), sku=o.sku, kind=Kind.SALE, qty=-o.qty, zone=Zone.FLOOR,
                            occurred_at=o.at, source=Source.POS, ref=o.txn,
                            confidence=1.0 if not need else 0.9,
                            evidence={"pos": o.txn, "picks": claimed})]

    def _change(self, o: BinChange) -> list[StockDelta | Misplacement]:
        info = self.bins[o.bin]
        if o.delta < 0:
            n = -o.delta
            credits = self._credit.get(info.sku, [])
            while n and credits:
                at, k = credits[0]
                if o.at - at > self.window:
                    credits.pop(0)
                    continue
                used = min(k, n)
                n -= used
                credits[0] = (at, k - used)
                if credits[0][1] == 0:
                    credits.pop(0)
            if n:
                self._picks.append(_Pick(o.at, o.bin, info.sku, n))
            return []
        n = o.delta
        # A put-back returns what one hand took: it undoes a pending pick of this bin of exactly that
        # size. Any other rise is staff filling the bin, which must not hide a theft before it.
        for p in reversed(self._picks):
            if p.bin == o.bin and p.qty == n:
                self._picks.remove(p)
                return []
        return [self._delta(("rise", o.bin, o.at), sku=info.sku, kind=Kind.MOVE, qty=n, zone=Zone.FLOOR,
                            from_zone=Zone.BACKROOM, occurred_at=o.at, source=Source.WEIGHT, bin=o.bin,
                            confidence=0.9, evidence={"bin": o.bin, "delta": o.delta, "count": o.count})]

    def _odd(self, o: OddWeight) -> list[StockDelta | Misplacement]:
        if o.delta_g <= 0:
            return []
        for p in self._picks:
            unit = next(b.unit_g for b in self.bins.values() if b.sku == p.sku)
            k = round(o.delta_g / unit)
            if p.bin != o.bin and 0 < k <= p.qty and abs(o.delta_g - k * unit) <= self.tolerance * unit:
                p.qty -= k
                self._picks = [q for q in self._picks if q.qty]
                return [Misplacement(o.at, o.bin, p.sku, k, p.bin)]
        return []

    def tick(self, now: datetime) -> list[StockDelta | Misplacement]:
        """Close every pick whose window has passed unclaimed: the bin stayed low -> shrink."""
        out: list[StockDelta | Misplacement] = []
        keep = []
        for p in self._picks:
            if now - p.at <= self.window:
                keep.append(p)
                continue
            out.append(self._delta(("shrink", p.bin, p.at, p.qty), sku=p.sku, kind=Kind.SHRINK, qty=-p.qty,
                                   zone=Zone.FLOOR, occurred_at=p.at, source=Source.FUSION, bin=p.bin,
                                   confidence=0.9,
                                   evidence={"bin": p.bin, "pick_at": p.at.isoformat(), "qty": p.qty,
                                             "window_s": self.window.total_seconds(),
                                             "detected_at": now.isoformat()}))
        self._picks = keep
        return out

    def run(self, observations: Iterable[Observation]) -> list[StockDelta | Misplacement]:
        out: list[StockDelta | Misplacement] = []
        for o in observations:
            out.extend(self.observe(o))
        return out
