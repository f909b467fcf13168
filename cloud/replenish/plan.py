"""One replenishment run over a chain (pure: the chain's facts in, suggestions out).

The cloud's run (cloud/db/replenishment.py) reads these facts from the ledger and the master data,
calls `plan` on a worker thread, and stores what it returns. The steps are the benchmark's
(`shelfsync bench replenish`, policy "ours"), on the chain as the ledger knows it:

1. Demand per SKU × location from the sales history (`forecast.forecast_demand`): stock-out days
   (`ChainFacts.stocked_out`) read as censored demand, new products and new stores started from
   the chain's rates scaled by store size (`PlanSettings.store_size`), the chain's own promotions
   in `PlanSettings.calendar`, each category's fill-rate target (`PlanSettings.fill_rates`).
2. Without a warehouse, every store buys from the SKU's supplier on the supplier's terms. With one
   or more, each store is supplied by its region's warehouse (`PlanSettings.served_by`, else the
   nearest; the first by id where either has no coordinates) on `store_lead` days in single
   units, and only the warehouses buy. A warehouse and the stores it supplies are a region.
3. Stores short before their next delivery (`policy.plan_transfers`, below the reorder point) are
   lifted from other stores' surplus within `max_km` first; then every store gets what it needs
   from its own region's warehouse; a store still short before its next delivery then gets the
   other regions' warehouses' free stock, nearest first (what is left after their own stores).
4. A warehouse is planned on echelon stock (`policy.echelon`, `policy.echelon_position`): its own
   demand (online orders it ships) and its stores' forecasts, their order-up-to levels on top.
5. The three-level emergency per SKU and warehouse region (`policy.emergencies`; without a
   warehouse the chain is one region with nothing to give, so any store short is level 3).

A SKU without buying terms is still forecast and moved, never bought (`unbuyable` counts them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from cloud.channels.allocation import haversine_km
from cloud.replenish.policy import (
    DEFAULT_FILL_RATE,
    BuyingTerms,
    Emergency,
    Pooling,
    StockLevels,
    Transfer,
    echelon,
    echelon_position,
    emergencies,
    order_quantities,
    plan_transfers,
    stock_levels,
)
from cloud.replenish.promotions import PromotionCalendar
from cloud.replenish.series import Series

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
NO_CAP = 10**9
CHAIN = "chain"  # the one region of a chain without a warehouse


@dataclass(frozen=True)
class Location:
    id: str
    kind: str = "store"  # store | warehouse
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class SkuTerms:
    """A SKU and how it is bought (supplier None: no terms, never bought)."""

    sku: str
    category: str = ""
    supplier: str | None = None
    lead_mean: float = 7.0
    lead_sd: float = 0.0
    pack: int = 1
    minimum: int = 0
    unit_cost: float | None = None
    shelf_life_days: int | None = None


@dataclass(frozen=True)
class PlanSettings:
    """How a run plans. `fill_rate` is the target of a category not in `fill_rates` (category →
    target). `store_size`: a location's size relative to the others (any unit: floor area, a
    factor), for the priors of new products and new stores (a location not named: the median)."""

    review_days: float = 7.0
    fill_rate: float = DEFAULT_FILL_RATE
    max_km: float = 50.0
    store_lead: tuple[float, float] = (1.0, 0.5)  # warehouse → store: mean and spread, days
    horizon: int = 56
    calendar: PromotionCalendar = field(default_factory=PromotionCalendar)
    fill_rates: Mapping[str, float] = field(default_factory=dict)
    store_size: Mapping[str, float] = field(default_factory=dict)
    served_by: Mapping[str, str] = field(default_factory=dict)  # store → its region's warehouse
    # the targets are met per location × category at the least stock value (`policy.Pooling`), no
    # series planned below `least_fill_rate`; False: every location × SKU meets its target alone
    pooled: bool = True
    least_fill_rate: float = 0.90

    def __post_init__(self) -> None:
        for name, rate in (("default", self.fill_rate), *self.fill_rates.items(),
                           ("least", self.least_fill_rate)):
            if not 0 < rate < 1:
                raise ValueError(f"fill-rate target {name!r}: {rate} is not between 0 and 1")
        if self.max_km < 0:
            raise ValueError("max_km must be >= 0")
        if any(not size > 0 for size in self.store_size.values()):
            raise ValueError("store sizes must be > 0")

    def target(self, category: str) -> float:
        return self.fill_rates.get(category, self.fill_rate)

    def relative_sizes(self, locations: Sequence[str]) -> dict[str, float]:
        """Each location's size over the median of the sizes given (1.0 where none is given)."""
        given = [self.store_size[loc] for loc in locations if loc in self.store_size]
        if not given:
            return {loc: 1.0 for loc in locations}
        median = float(np.median(given))
        return {loc: self.store_size[loc] / median if loc in self.store_size else 1.0 for loc in locations}


@dataclass(frozen=True)
class ChainFacts:
    """Everything one run needs. Series are every location × SKU, location-major, in the order of
    `locations` and `skus`; `sales` (series, days) ends the day before `today`."""

    today: date
    locations: tuple[Location, ...]
    skus: tuple[SkuTerms, ...]
    sales: Floats
    free: Ints        # per series: sellable − reserved now
    on_order: Ints    # per series: units on their way (purchase orders sent, transfers in transit)
    capacity: Ints    # per series: most units it holds (NO_CAP: none given)
    # per series: the day (column of `sales`) its first movement was booked, -1 before the window.
    # A series listed inside the window starts from the forecast's prior (the same SKU elsewhere,
    # its category) instead of reading the days before it existed as days nobody wanted it.
    listed: Ints | None = None
    # (series, days): days with nothing sellable for most of the opening hours (`series.stocked_out`):
    # their sales are a lower bound of demand (censored), not demand
    stocked_out: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        n = len(self.locations) * len(self.skus)
        for name in ("free", "on_order", "capacity", *(("listed",) if self.listed is not None else ())):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} entries for {n} series")
        if self.sales.shape[0] != n:
            raise ValueError(f"sales: {self.sales.shape[0]} rows for {n} series")
        if self.stocked_out is not None and self.stocked_out.shape != self.sales.shape:
            raise ValueError(f"stocked_out: shape {self.stocked_out.shape}, sales {self.sales.shape}")


@dataclass(frozen=True)
class Purchase:
    supplier: str
    location: str
    sku: str
    units: int
    unit_cost: float | None
    limit: int  # policy.Limit


@dataclass(frozen=True)
class Plan:
    series: tuple[Series, ...]
    levels: StockLevels            # per series (a warehouse's on echelon stock)
    position: Ints                 # per series, before this plan's moves and purchases
    method: tuple[str, ...]        # the forecasting method per series
    purchases: tuple[Purchase, ...]
    transfers: tuple[Transfer, ...]
    emergencies: tuple[Emergency, ...]
    unbuyable: int                 # SKUs without buying terms


def _km(a: Location, b: Location) -> float:
    """The distance the orders and transfers use; unknown (no coordinates): infinitely far."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return float("inf")
    return haversine_km((a.lat, a.lon), (b.lat, b.lon))


def _nearest(locs: Sequence[Location], i: int, houses: Sequence[int]) -> int:
    """The warehouse nearest to location i (unknown distances last, then by id)."""
    return min(houses, key=lambda h: (_km(locs[i], locs[h]), locs[h].id))


def _terms(skus: Sequence[SkuTerms], rows: int, settings: PlanSettings, *, supplied: bool,
           capacity: Ints) -> BuyingTerms:
    """Terms for `rows` locations' series (location-major): the supplier's, or a warehouse's."""
    def tile(values: list[float]) -> Floats:
        return np.tile(np.asarray(values, dtype=float), rows)

    life = tile([float(s.shelf_life_days) if s.shelf_life_days else np.inf for s in skus])
    n = rows * len(skus)
    if supplied:
        lead, sd = tile([s.lead_mean for s in skus]), tile([s.lead_sd for s in skus])
        pack = tile([max(s.pack, 1) for s in skus]).astype(np.int64)
        minimum = tile([s.minimum for s in skus]).astype(np.int64)
    else:
        lead, sd = np.full(n, settings.store_lead[0]), np.full(n, settings.store_lead[1])
        pack, minimum = np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    return BuyingTerms(pack=pack, minimum=minimum, capacity=capacity, lead_mean=lead, lead_sd=sd,
                       usable_days=life, fill_rate=tile([settings.target(s.category) for s in skus]),
                       display_min=np.zeros(n, dtype=np.int64),
                       pooling=_pooling(skus, rows, settings.least_fill_rate) if settings.pooled else None)


def _pooling(skus: Sequence[SkuTerms], rows: int, least: float) -> Pooling:
    """One pool per location × category; a unit's value is its cost (the known costs' median where
    none is given: an unknown cost must not make an item look free or dear)."""
    names = sorted({s.category for s in skus})
    cat = np.array([names.index(s.category) for s in skus], dtype=np.int64)
    known = [s.unit_cost for s in skus if s.unit_cost is not None and s.unit_cost > 0]
    usual = float(np.median(known)) if known else 1.0
    cost = np.array([s.unit_cost if s.unit_cost is not None and s.unit_cost > 0 else usual for s in skus])
    pool = (np.arange(rows)[:, None] * len(names) + cat[None, :]).ravel()
    return Pooling(pool.astype(np.int64), np.tile(cost, rows), least)


def plan(facts: ChainFacts, settings: PlanSettings | None = None) -> Plan:
    from cloud.replenish.forecast import SalesHistory, forecast_demand  # pandas and statsforecast

    settings = settings or PlanSettings()
    locs, skus = facts.locations, facts.skus
    n_sku = len(skus)
    days = facts.sales.shape[1]
    first = facts.today - timedelta(days=days)
    listed = facts.listed if facts.listed is not None else np.full(len(locs) * n_sku, -1)
    on = [first + timedelta(days=int(d)) if d > 0 else None for d in listed]
    series = tuple(Series(s.sku, loc.id, s.category, on[i * n_sku + j])
                   for i, loc in enumerate(locs) for j, s in enumerate(skus))
    if not series:
        empty = np.zeros(0, dtype=np.int64)
        return Plan((), StockLevels(empty, empty, empty, np.zeros(0)), empty, (), (), (), (), 0)
    sizes = settings.relative_sizes([loc.id for loc in locs])
    forecast = forecast_demand(SalesHistory(first, facts.sales, facts.stocked_out), series, settings.horizon,
                               settings.calendar, sizes)
    mean = forecast.mean.reshape(len(locs), n_sku, -1)
    disp = forecast.dispersion.reshape(len(locs), n_sku)
    position = (facts.free + facts.on_order).astype(np.int64)
    pos = position.reshape(len(locs), n_sku)
    free = facts.free.reshape(len(locs), n_sku)
    cap = facts.capacity.reshape(len(locs), n_sku)
    stores = [i for i, loc in enumerate(locs) if loc.kind != "warehouse"]
    houses = [i for i, loc in enumerate(locs) if loc.kind == "warehouse"]
    up_to = np.zeros((len(locs), n_sku), dtype=np.int64)
    reorder = np.zeros((len(locs), n_sku), dtype=np.int64)
    cap_out = cap.copy()
    safety = np.zeros((len(locs), n_sku))
    purchases: list[Purchase] = []
    moves: list[Transfer] = []
    found: list[Emergency] = []
    buyable = np.array([s.supplier is not None for s in skus])
    region_of: dict[str, str] = {}
    given: dict[tuple[str, str], int] = {}

    def buy(row: int, units: Ints, limit: Ints) -> None:
        for j in map(int, np.flatnonzero((units > 0) & buyable)):
            s = skus[j]
            purchases.append(Purchase(s.supplier or "", locs[row].id, s.sku, int(units[j]), s.unit_cost,
                                      int(limit[j])))

    # the stores: levels on the terms they are supplied on, then moves between stores
    if stores:
        rows = np.array(stores)
        st_series = [series[i * n_sku + j] for i in stores for j in range(n_sku)]
        terms = _terms(skus, len(stores), settings, supplied=not houses, capacity=cap[rows].ravel())
        levels = stock_levels(mean[rows].reshape(len(stores) * n_sku, -1), disp[rows].ravel(), terms,
                              settings.review_days)
        up_to[rows] = levels.order_up_to.reshape(len(stores), n_sku)
        reorder[rows] = levels.reorder_point.reshape(len(stores), n_sku)
        cap_out[rows] = levels.cap.reshape(len(stores), n_sku)
        safety[rows] = levels.safety_stock.reshape(len(stores), n_sku)
        by_id = {loc.id: loc for loc in locs}
        between, after = plan_transfers(st_series, free[rows].ravel(), pos[rows].ravel(), levels,
                                        lambda a, b: _km(by_id[a], by_id[b]), settings.max_km,
                                        below_reorder_point=True)
        moves.extend(between)
        units, limit = order_quantities(levels, after, terms)
        units, limit = units.reshape(len(stores), n_sku), limit.reshape(len(stores), n_sku)
        after = after.reshape(len(stores), n_sku)
        if not houses:
            for k, row in enumerate(stores):
                buy(row, units[k], limit[k])
            region_of = {locs[i].id: CHAIN for i in stores}
        else:
            house_at = {locs[h].id: h for h in houses}
            home = {i: house_at.get(settings.served_by.get(locs[i].id, ""), -1) for i in stores}
            home = {i: h if h >= 0 else _nearest(locs, i, houses) for i, h in home.items()}
            region_of = {locs[i].id: locs[home[i]].id for i in stores}
            spare = {h: free[h].copy() for h in houses}
            given = {(locs[h].id, s.sku): int(free[h, j]) for h in houses for j, s in enumerate(skus)}
            wanted = units.copy()

            def ship(h: int, k: int, row: int, upto: Ints) -> None:
                send = np.minimum(upto, np.maximum(spare[h], 0))
                spare[h] -= send
                after[k] += send
                wanted[k] -= send
                moves.extend(Transfer(skus[j].sku, locs[h].id, locs[row].id, int(send[j]))
                             for j in map(int, np.flatnonzero(send > 0)))

            for k, row in enumerate(stores):  # each store from its own region's warehouse first
                ship(home[row], k, row, wanted[k])
            store_reorder = levels.reorder_point.reshape(len(stores), n_sku)
            for k, row in enumerate(stores):  # then, a store still short before its next delivery
                short = np.where(after[k] < store_reorder[k], wanted[k], 0)  # from the other regions'
                others = sorted((_km(locs[row], locs[h]), locs[h].id, h)  # warehouses, nearest first
                                for h in houses if h != home[row])
                for _km_away, _id, h in others:
                    if not short.any():
                        break
                    before = wanted[k].copy()
                    ship(h, k, row, short)
                    short = short - (before - wanted[k])
        bought = units * buyable[None, :] if not houses else 0  # what the warehouse sends is in `after`
        found.extend(emergencies(st_series, (after + bought).ravel(), levels,
                                 region_of, given))

    # the warehouses: echelon stock over the stores each supplies
    for h in houses:
        mine = [i for i in stores if region_of.get(locs[i].id) == locs[h].id]
        rows = np.array([h, *mine])
        total = mean[rows].sum(axis=0)
        daily = np.maximum(mean[rows].mean(axis=2), 1e-12)
        pooled = (disp[rows] * daily).sum(axis=0) / daily.sum(axis=0)
        terms = _terms(skus, 1, settings, supplied=True, capacity=cap[h])
        own = stock_levels(total, pooled, terms, settings.review_days)
        downstream = up_to[np.array(mine, dtype=np.int64)] if mine else np.zeros((0, n_sku), dtype=np.int64)
        levels = echelon(own, downstream.sum(axis=0).astype(np.int64))
        held = echelon_position(pos[h], pos[np.array(mine, dtype=np.int64)] if mine else
                                np.zeros((0, n_sku), dtype=np.int64), downstream)
        units, limit = order_quantities(levels, held, terms)
        buy(h, units, limit)
        up_to[h], reorder[h], cap_out[h], safety[h] = (levels.order_up_to, levels.reorder_point, levels.cap,
                                                       levels.safety_stock)
    out = StockLevels(reorder.ravel(), up_to.ravel(), cap_out.ravel(), safety.ravel())
    return Plan(series, out, position, forecast.method, tuple(purchases), tuple(moves), tuple(found),
                int((~buyable).sum()))


def by_supplier(purchases: Sequence[Purchase]) -> dict[str, list[Purchase]]:
    """Purchases grouped per supplier, suppliers and lines in a stable order."""
    out: dict[str, list[Purchase]] = defaultdict(list)
    for p in sorted(purchases, key=lambda p: (p.supplier, p.location, p.sku)):
        out[p.supplier].append(p)
    return dict(out)


__all__ = ["CHAIN", "NO_CAP", "ChainFacts", "Location", "Plan", "PlanSettings", "Purchase", "SkuTerms",
           "by_supplier", "plan"]
