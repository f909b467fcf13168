"""Reorder points, order-up-to levels and what to buy or move, per SKU × location (pure).

The policy is a periodic review (R, S) with a reorder point for alerts:

- order-up-to S: demand over the lead time plus the review period at the category's fill-rate
  target (`service.order_up_to`), at least the shelf's display minimum, at most the capacity and at
  most what the forecast sells before a unit received now expires (FEFO sells older stock first,
  so everything in the position must sell by arrival + usable shelf life);
- reorder point s: the same over the lead time alone. A position below s will, more likely than
  the target allows, run out before an order placed now arrives: that is a shortage, and what the
  three-level emergency (`emergencies`) is built on.

At each review a location orders S − position (on hand + on order), rounded up to whole packs and
raised to the minimum order; if that would take the position above the cap, it is cut to the
whole packs that fit, and an order that no longer reaches the minimum is not placed (the `Limit`
says why). Before anything is bought, surplus stock above S at locations within a configurable
distance is moved to those that need it (`plan_transfers`).

A warehouse is planned on echelon stock (`echelon`, `echelon_position`): its level adds the levels
of the stores it supplies to what its own lead time needs, and its position counts their stock,
each store's only up to its own level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from cloud.replenish.series import Series
from cloud.replenish.service import order_up_to, pooled_order_up_to, window_variance

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
DEFAULT_FILL_RATE = 0.98


class Limit(IntEnum):
    """Why an order is smaller than the need (NONE: it is not)."""

    NONE = 0
    CAPACITY = 1     # cut to what the shelf and backroom hold
    SHELF_LIFE = 2   # cut to what sells before it expires
    MINIMUM = 3      # what fits is below the supplier's minimum order: nothing ordered


@dataclass(frozen=True)
class Pooling:
    """Fill-rate targets met per pool of series (a store's category) at the least stock value,
    rather than by every series alone (`service.pooled_order_up_to`); arrays aligned with the
    series. No series is planned below `least_fill_rate` on its own, nor above `most_fill_rate`
    (beyond it a unit more saves next to nothing, and a pool its caps keep from its target would
    otherwise pile stock on its other series)."""

    pool: Ints              # pool id per series (0..pools-1)
    unit_value: Floats      # what a unit held costs (unit cost; 1 where unknown)
    least_fill_rate: float = 0.90
    most_fill_rate: float = 0.999

    def __post_init__(self) -> None:
        if len(self.pool) != len(self.unit_value):
            raise ValueError(f"pooling: {len(self.pool)} pool ids for {len(self.unit_value)} values")
        if (self.pool < 0).any() or not (self.unit_value > 0).all():
            raise ValueError("pooling: pool ids must be >= 0 and unit values > 0")
        if not 0 < self.least_fill_rate <= self.most_fill_rate < 1:
            raise ValueError("pooling: the least and most fill rates are between 0 and 1, least <= most")


@dataclass(frozen=True)
class BuyingTerms:
    """What buying each series involves; arrays aligned with the series."""

    pack: Ints              # units per pack: orders are whole packs
    minimum: Ints           # minimum order in units (raised to whole packs)
    capacity: Ints          # most units the location can hold
    lead_mean: Floats       # days from order to receipt
    lead_sd: Floats
    usable_days: Floats     # days a unit received can still be sold (inf: not perishable)
    fill_rate: Floats       # target share of demanded units sold
    display_min: Ints       # units a shelf shows at least (0 for a warehouse)
    pooling: Pooling | None = None  # None: every series meets its fill rate on its own

    def __post_init__(self) -> None:
        n = len(self.pack)
        for name in ("minimum", "capacity", "lead_mean", "lead_sd", "usable_days", "fill_rate",
                     "display_min"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"buying terms: {name} has {len(getattr(self, name))} entries, pack {n}")
        if (self.pack < 1).any():
            raise ValueError("buying terms: pack sizes must be >= 1")
        if (self.minimum < 0).any() or (self.capacity < 0).any() or (self.display_min < 0).any():
            raise ValueError("buying terms: minimum, capacity and display minimum must be >= 0")
        if (self.lead_mean < 0).any() or (self.lead_sd < 0).any():
            raise ValueError("buying terms: lead times must be >= 0")
        if not (self.usable_days > 0).all():
            raise ValueError("buying terms: usable shelf life must be > 0 days")
        if not ((self.fill_rate > 0) & (self.fill_rate < 1)).all():
            raise ValueError("buying terms: fill-rate targets must be between 0 and 1")
        if self.pooling is not None and len(self.pooling.pool) != n:
            raise ValueError(f"buying terms: pooling has {len(self.pooling.pool)} entries, pack {n}")

    @property
    def minimum_packs(self) -> Ints:
        """The minimum order as whole packs, in units (a minimum of 10 in packs of 6 is 12)."""
        packs: Ints = np.maximum(-(-self.minimum // self.pack), 1) * self.pack
        return packs


@dataclass(frozen=True)
class StockLevels:
    reorder_point: Ints
    order_up_to: Ints
    cap: Ints            # min(capacity, what sells before expiry)
    safety_stock: Floats


def demand_to(mean: Floats, days: Floats) -> Floats:
    """Expected demand from now over `days` (fractional) per series; past the horizon the forecast's
    last week continues."""
    n, horizon = mean.shape
    tail = mean[:, -7:].mean(axis=1) if horizon else np.zeros(n)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(mean, axis=1)], axis=1)
    finite = np.isfinite(days)
    span = np.where(finite, np.maximum(days, 0.0), 0.0)
    whole = np.minimum(np.floor(span).astype(np.int64), horizon)
    rows = np.arange(n)
    step = np.where(whole < horizon, mean[rows, np.minimum(whole, max(horizon - 1, 0))], 0.0)
    frac = np.where(whole < horizon, span - whole, 0.0)
    total: Floats = cum[rows, whole] + frac * step + np.maximum(span - horizon, 0.0) * tail
    return np.where(finite, total, np.inf)


def stock_levels(mean: Floats, dispersion: Floats, terms: BuyingTerms, review_days: float) -> StockLevels:
    """Reorder point, order-up-to level and cap per series, from a daily forecast (series, days)."""
    lead, review = terms.lead_mean, np.full(len(terms.pack), float(review_days))
    mean_l = demand_to(mean, lead)
    mean_lr = demand_to(mean, lead + review)
    var_l = window_variance(mean_l, lead, dispersion, terms.lead_sd)
    var_lr = window_variance(mean_lr, lead + review, dispersion, terms.lead_sd)
    # the reorder point protects the lead time alone: a position below it runs short before an order
    # placed now arrives (the target applied to the demand over the lead time)
    s_re = order_up_to(mean_l, var_l, np.zeros_like(mean_l), np.zeros_like(mean_l), mean_l, terms.fill_rate)
    sells_before_expiry = np.floor(demand_to(mean, lead + terms.usable_days))
    cap = np.minimum(terms.capacity, np.where(np.isfinite(sells_before_expiry), sells_before_expiry,
                                              terms.capacity)).astype(np.int64)
    p = terms.pooling
    if p is None:
        s_up = order_up_to(mean_lr, var_lr, mean_l, var_l, mean_lr - mean_l, terms.fill_rate, terms.pack)
    else:
        least = order_up_to(mean_lr, var_lr, mean_l, var_l, mean_lr - mean_l,
                            np.minimum(terms.fill_rate, p.least_fill_rate), terms.pack)
        most = order_up_to(mean_lr, var_lr, mean_l, var_l, mean_lr - mean_l,
                           np.maximum(terms.fill_rate, p.most_fill_rate), terms.pack)
        low = np.maximum(least, terms.display_min).astype(float)
        high = np.minimum(cap, np.maximum(most, terms.display_min)).astype(float)
        s_up = pooled_order_up_to(mean_lr, var_lr, mean_l, var_l, mean_lr - mean_l, terms.fill_rate, p.pool,
                                  p.unit_value, low, high, terms.pack)
    up_to = np.minimum(np.maximum(s_up, terms.display_min), cap).astype(np.int64)
    reorder = np.minimum(s_re, up_to).astype(np.int64)
    return StockLevels(reorder, up_to, cap, np.maximum(s_up - mean_lr, 0.0))


def echelon(warehouse: StockLevels, downstream_up_to: Ints) -> StockLevels:
    """A warehouse's levels on echelon stock (Clark & Scarf 1960): what its own lead time and
    review need (`warehouse`, computed from the summed forecasts of the locations it supplies) plus
    those locations' order-up-to levels per SKU, to be compared with a position that counts their
    stock and what is on its way to them. Summing the stores' levels keeps what they hold for
    display minimums and pack rounding from hiding the warehouse's own need."""
    return StockLevels(warehouse.reorder_point + downstream_up_to, warehouse.order_up_to + downstream_up_to,
                       warehouse.cap + downstream_up_to, warehouse.safety_stock)


def echelon_position(own: Ints, downstream_position: Ints, downstream_up_to: Ints) -> Ints:
    """A warehouse's echelon position per SKU: its own position plus, for each location it supplies
    (rows of `downstream_position`, columns SKUs), that location's position up to its own
    order-up-to level. The echelon policy assumes stock can be balanced between the stores; stock
    above one store's level (a slow item's packs, a promotion's leftovers) cannot fill another
    store's shortage, so it must not stop the warehouse from buying for them."""
    held: Ints = own + np.minimum(downstream_position, downstream_up_to).sum(axis=0)
    return held


def order_quantities(levels: StockLevels, position: Ints, terms: BuyingTerms) -> tuple[Ints, Ints]:
    """Units to order per series (whole packs, >= minimum or 0, position + order <= cap), and the Limit."""
    need = np.maximum(levels.order_up_to - position, 0)
    packs = -(-need // terms.pack)
    wanted = np.where(need > 0, np.maximum(packs * terms.pack, terms.minimum_packs), 0)
    room = np.maximum(levels.cap - position, 0)
    fits = (room // terms.pack) * terms.pack
    order = np.minimum(wanted, fits)
    order = np.where(order >= terms.minimum_packs, order, 0).astype(np.int64)
    by_capacity = levels.cap >= terms.capacity
    limit = np.where(
        order < wanted,
        np.where(fits >= terms.minimum_packs, np.where(by_capacity, Limit.CAPACITY, Limit.SHELF_LIFE),
                 Limit.MINIMUM),
        Limit.NONE,
    ).astype(np.int64)
    return order, limit


@dataclass(frozen=True)
class Transfer:
    sku: str
    source: str
    destination: str
    units: int


def plan_transfers(series: Sequence[Series], on_hand: Ints, position: Ints, levels: StockLevels,
                   distance_km: Callable[[str, str], float], max_km: float,
                   min_units: int = 1, below_reorder_point: bool = False
                   ) -> tuple[tuple[Transfer, ...], Ints]:
    """Surplus moved to locations below S within `max_km`, nearest first.

    Surplus is what a location has on hand above its own order-up-to level: what it has on order
    is not counted on, so it never gives away what it needs before that arrives. With
    `below_reorder_point`, only locations that would run short before an order placed now arrives
    receive (up to S): where the routine delivery comes in time, a transfer between stores only
    adds handling. Returns the transfers and each series' position after them (sources lose,
    destinations gain), so purchases are worked out on what is left to buy.
    """
    position = position.copy()
    surplus = np.maximum(on_hand - levels.order_up_to, 0)
    need = np.maximum(levels.order_up_to - position, 0)
    if below_reorder_point:
        need = np.where(position < levels.reorder_point, need, 0)
    by_sku: dict[str, list[int]] = defaultdict(list)
    for i in map(int, np.flatnonzero((surplus >= min_units) | (need > 0))):
        by_sku[series[i].sku].append(int(i))
    moves: list[Transfer] = []
    for sku, rows in sorted(by_sku.items()):
        donors = [i for i in rows if surplus[i] >= min_units]
        takers = sorted((i for i in rows if need[i] > 0), key=lambda i: -need[i])
        if not donors or not takers:
            continue
        for t in takers:
            near = sorted((distance_km(series[d].location, series[t].location), d) for d in donors)
            for km, d in near:
                if km > max_km or need[t] <= 0:
                    break
                units = int(min(surplus[d], need[t]))
                if units < min_units:
                    continue
                moves.append(Transfer(sku, series[d].location, series[t].location, units))
                surplus[d] -= units
                need[t] -= units
                position[d] -= units
                position[t] += units
    return tuple(moves), position


@dataclass(frozen=True)
class PurchaseLine:
    sku: str
    location: str
    units: int
    unit_cost: float


@dataclass(frozen=True)
class PurchaseSuggestion:
    """One order to one supplier (or, for a store, to the warehouse that supplies it)."""

    supplier: str
    lines: tuple[PurchaseLine, ...]

    @property
    def value(self) -> float:
        return sum(line.units * line.unit_cost for line in self.lines)


def purchase_suggestions(series: Sequence[Series], units: Ints, supplier: Sequence[str],
                         unit_cost: Floats) -> tuple[PurchaseSuggestion, ...]:
    """Order lines grouped per supplier (suppliers and lines in a stable order)."""
    lines: dict[str, list[PurchaseLine]] = defaultdict(list)
    for i in map(int, np.flatnonzero(units > 0)):
        s = series[i]
        lines[supplier[i]].append(PurchaseLine(s.sku, s.location, int(units[i]), float(unit_cost[i])))
    return tuple(PurchaseSuggestion(name, tuple(sorted(group, key=lambda x: (x.sku, x.location))))
                 for name, group in sorted(lines.items()))


class EmergencyLevel(IntEnum):
    STORE = 1           # one store short: its regional manager moves stock from a neighbour
    SEVERAL_STORES = 2  # several stores short: the central warehouse ships now
    REGION = 3          # the warehouse cannot cover the region: an urgent supplier order


@dataclass(frozen=True)
class Emergency:
    level: EmergencyLevel
    sku: str
    region: str
    stores: tuple[str, ...]
    shortfall: int           # units the short stores lack to reach their reorder points
    warehouse_units: int     # what the region's warehouse has to give


def emergencies(series: Sequence[Series], position: Ints, levels: StockLevels,
                region_of: Mapping[str, str], warehouse_units: Mapping[tuple[str, str], int],
                several: int = 2) -> tuple[Emergency, ...]:
    """The three-level emergency per SKU and region (stores are the locations in `region_of`).

    A store is short when its position is below its reorder point. If the region's warehouse has
    fewer units than the short stores lack, the region is short (level 3) however many stores are;
    else `several` or more short stores is level 2 and a single one level 1.
    """
    if several < 2:
        raise ValueError("several must be >= 2")
    short: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for i in map(int, np.flatnonzero(position < levels.reorder_point)):
        s = series[i]
        region = region_of.get(s.location)
        if region is not None:
            short[s.sku, region].append((s.location, int(levels.reorder_point[i] - position[i])))
    found = []
    for (sku, region), stores in sorted(short.items()):
        lacking = sum(units for _, units in stores)
        available = int(warehouse_units.get((region, sku), 0))
        if available < lacking:
            level = EmergencyLevel.REGION
        elif len(stores) >= several:
            level = EmergencyLevel.SEVERAL_STORES
        else:
            level = EmergencyLevel.STORE
        found.append(Emergency(level, sku, region, tuple(sorted(s for s, _ in stores)), lacking, available))
    return tuple(found)
