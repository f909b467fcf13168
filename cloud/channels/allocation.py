"""What a channel may sell and which store fills an order. Pure: values in, values out.

Channel quantity (research/cloud.md §2):
- per store, `free = sellable − reserved − safety` (the channel's safety stock, Sellercloud's
  "safety quantity": a store at or below it offers that channel nothing);
- the channel shows `share_pct` % of the summed free stock, rounded down (Sellbrite's
  "percentage of available": 90 % of 1 is 0);
- `min_qty` keeps at least that many listed when they exist. Sellbrite's minimum lists units even
  when there are none; that is overselling by design, so here the minimum never exceeds the free
  stock;
- `max_qty` caps what is shown (scarcity, platform limits).

Order allocation: one store fills the whole order when any can — the nearest to the delivery
address, else the one with the most free stock; a pickup goes to its named store only. A channel
that allows splitting takes the remainder store by store, nearest first. What cannot be filled is
reported per SKU. The database then makes the plan true with conditional updates, so a plan made
from a stale snapshot can fail but never oversell.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rules:
    safety: int = 0
    share_pct: int = 100
    min_qty: int = 0
    max_qty: int | None = None


def free_units(sellable: int, reserved: int, safety: int = 0) -> int:
    return max(0, sellable - reserved - safety)


def channel_quantity(free_per_store: Sequence[int], rules: Rules) -> int:
    """Units a channel may list, from each eligible store's free units (after safety)."""
    total = sum(max(0, f) for f in free_per_store)
    qty = total * rules.share_pct // 100
    qty = max(qty, min(rules.min_qty, total))
    if rules.max_qty is not None:
        qty = min(qty, rules.max_qty)
    return max(0, qty)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A store that may fill the order, its distance to the buyer (None: unknown) and free units."""

    store: str
    distance_km: float | None
    free: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Pick:
    line: int
    store: str
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class Short:
    sku: str
    wanted: int
    free: int


def _rank(c: Candidate) -> tuple[float, int, str]:
    return (c.distance_km if c.distance_km is not None else math.inf, -sum(c.free.values()), c.store)


def plan(lines: Sequence[tuple[str, int]], candidates: Sequence[Candidate],
         split: bool) -> list[Pick] | list[Short]:
    """The picks that fill `lines` ([(sku, qty)]), or what is short. Never more than free."""
    wanted: dict[str, int] = defaultdict(int)
    for sku, qty in lines:
        wanted[sku] += qty
    ranked = sorted(candidates, key=_rank)
    for c in ranked:
        if all(c.free.get(sku, 0) >= n for sku, n in wanted.items()):
            return [Pick(i, c.store, sku, qty) for i, (sku, qty) in enumerate(lines)]
    total = {sku: sum(c.free.get(sku, 0) for c in ranked) for sku in wanted}
    short = [Short(sku, n, total[sku]) for sku, n in sorted(wanted.items()) if total[sku] < n]
    if short:
        return short
    if not split:
        return _no_single(wanted, ranked)
    left = {c.store: dict(c.free) for c in ranked}
    picks: list[Pick] = []
    for i, (sku, qty) in enumerate(lines):
        need = qty
        for c in ranked:
            k = min(need, left[c.store].get(sku, 0))
            if k:
                picks.append(Pick(i, c.store, sku, k))
                left[c.store][sku] -= k
                need -= k
            if not need:
                break
    return picks


def _no_single(wanted: Mapping[str, int], ranked: Sequence[Candidate]) -> list[Short]:
    """Every SKU is somewhere, but no one store has them all and splitting is not allowed:
    report each SKU with the best single store's figure."""
    best = max(ranked, key=lambda c: sum(min(c.free.get(s, 0), n) for s, n in wanted.items()),
               default=None)
    return [Short(sku, n, best.free.get(sku, 0) if best else 0) for sku, n in sorted(wanted.items())
            if best is None or best.free.get(sku, 0) < n]


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
