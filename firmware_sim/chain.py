"""A seeded retail chain for replenishment: stores, a warehouse, suppliers, a catalog and true demand.

The ground truth the replenishment benchmark replays: a pure function of (seed, stores, skus,
weeks). Demand is drawn per store, SKU and day from a negative binomial around a rate made of the
SKU's level, the store's size and a store × SKU affinity, the weekday, a trend, promotion days
and, for new products, a launch date with a two-week ramp. Every SKU belongs to one demand class:

  smooth          steady sellers with a mild weekend lift
  weekly          a strong weekly pattern (weekends up to 1.9×, Mondays 0.6×)
  intermittent    a sale every few days or weeks per store, often more than one unit
  trending        growing or declining by up to ±80 % a year
  promotion       sales that jump 3–6× on Double 11, 618 and the chain's own day
  new             launched during the replayed year, nothing before

The history before the replayed weeks is demand as it was (a well-stocked past); the replay
decides what sells. Master data (suppliers with lead-time means and spreads, packs, minimum
orders, unit costs, shelf lives, shelf capacities) is drawn with the same generator.

This module imports nothing from edge or cloud: the code under test only sees what it outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.world import COMPANY_PREFIX, make_gtin14

CLASSES: Final = ("smooth", "weekly", "intermittent", "trending", "promotion", "new")
CLASS_SHARE: Final = (0.25, 0.15, 0.30, 0.10, 0.10, 0.10)

# category: (share, unit cost range CNY, supplier packs, store pack, shelf life days (0: none), rate scale)
CATEGORIES: Final = {
    "dry-food":    (0.20, (60.0, 300.0), (4, 6), 1, (270, 540), 1.0),
    "wet-food":    (0.20, (4.0, 18.0), (24, 48), 6, (365, 730), 2.5),
    "treats":      (0.15, (8.0, 45.0), (12, 24), 3, (90, 180), 1.2),
    "chilled":     (0.08, (18.0, 60.0), (6, 12), 1, (21, 42), 0.8),
    "litter":      (0.10, (25.0, 80.0), (4, 6), 1, (0, 0), 1.0),
    "health":      (0.07, (30.0, 200.0), (6, 12), 1, (365, 730), 0.4),
    "toys":        (0.12, (10.0, 120.0), (6, 12), 1, (0, 0), 0.5),
    "accessories": (0.08, (15.0, 150.0), (4, 6), 1, (0, 0), 0.4),
}
# The promotions the chain runs: (name, month, day, the day before counts too, uplift range for
# promotion-class SKUs; everything else gets 1.1–1.5×)
PROMOTIONS: Final = (("double-11", 11, 11, True, (4.0, 6.0)), ("618", 6, 18, True, (3.0, 4.0)),
                     ("member-day", 9, 9, False, (2.5, 3.0)))
REGIONS: Final = {"sh": (0.0, 0.0), "hz": (160.0, -50.0)}
WAREHOUSE_AT: Final = (70.0, -20.0)


@dataclass(frozen=True)
class Chain:
    """Stores are locations 1..S, the warehouse location 0. Arrays are per SKU unless named."""

    first_day: date                  # first day of the history
    history_days: int                # days before the replay starts (demand fully served)
    days: int                        # history + replay
    store_ids: tuple[str, ...]
    store_region: tuple[str, ...]
    store_size: npt.NDArray[np.float64]
    store_xy: npt.NDArray[np.float64]            # (stores, 2) km
    sku_ids: tuple[str, ...]
    category: tuple[str, ...]
    demand_class: tuple[str, ...]
    unit_cost: npt.NDArray[np.float64]
    pack: npt.NDArray[np.int64]                  # supplier pack (units)
    minimum: npt.NDArray[np.int64]               # supplier minimum order (units)
    store_pack: npt.NDArray[np.int64]            # what a store orders from the warehouse in
    shelf_life: npt.NDArray[np.float64]          # days from production; inf: does not expire
    supplier: npt.NDArray[np.int64]
    supplier_lead_mean: npt.NDArray[np.float64]  # per supplier, days
    supplier_lead_sd: npt.NDArray[np.float64]
    launch_day: npt.NDArray[np.int64]            # first day sold (0: before the history)
    capacity: npt.NDArray[np.int64]              # (stores, skus) units a store holds
    rate: npt.NDArray[np.float64]                # (stores, skus) mean daily demand on a plain day
    demand: npt.NDArray[np.int32]                # (stores, skus, days) true demand

    @property
    def replay_start(self) -> int:
        return self.history_days

    def day(self, index: int) -> date:
        return self.first_day + timedelta(days=index)


def promotion_days(first: date, days: int) -> list[tuple[int, int, float]]:
    """(day index, promotion position, share of the uplift) for every promotion day in the range."""
    out = []
    for k, (_name, month, mday, before, _uplift) in enumerate(PROMOTIONS):
        for year in range(first.year, (first + timedelta(days=days)).year + 1):
            centre = (date(year, month, mday) - first).days
            for offset, share in ((0, 1.0), (-1, 0.5)) if before else ((0, 1.0),):
                if 0 <= centre + offset < days:
                    out.append((centre + offset, k, share))
    return out


def build(seed: int = 1, stores: int = 20, skus: int = 500, weeks: int = 52, history_weeks: int = 52,
          start: date = date(2026, 1, 5)) -> Chain:
    """The chain whose replay starts on `start` (a Monday) after `history_weeks` of history."""
    if stores < 1 or not 1 <= skus <= 99_999 or weeks < 1 or history_weeks < 8:
        raise ValueError("need 1+ stores, 1..99,999 SKUs, 1+ weeks and 8+ weeks of history")
    rng = np.random.default_rng(seed)
    history_days, days = history_weeks * 7, (history_weeks + weeks) * 7
    first = start - timedelta(days=history_days)

    regions = list(REGIONS)
    store_region = tuple(regions[i % len(regions)] for i in range(stores))
    centre = np.array([REGIONS[r] for r in store_region])
    store_xy = centre + rng.normal(0, 12.0, (stores, 2))
    store_size = rng.lognormal(0.0, 0.35, stores)
    store_size /= np.median(store_size)

    names = list(CATEGORIES)
    shares = np.array([CATEGORIES[c][0] for c in names])
    cat_idx = rng.choice(len(names), skus, p=shares / shares.sum())
    cls_idx = rng.choice(len(CLASSES), skus, p=np.array(CLASS_SHARE))
    category = tuple(names[i] for i in cat_idx)
    demand_class = tuple(CLASSES[i] for i in cls_idx)

    lo = np.array([CATEGORIES[c][1][0] for c in category])
    hi = np.array([CATEGORIES[c][1][1] for c in category])
    unit_cost = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi))), 2)
    pack = np.array([rng.choice(CATEGORIES[c][2]) for c in category], dtype=np.int64)
    minimum = pack * rng.integers(1, 4, skus)
    store_pack = np.array([CATEGORIES[c][3] for c in category], dtype=np.int64)
    life_lo = np.array([CATEGORIES[c][4][0] for c in category], dtype=float)
    life_hi = np.array([CATEGORIES[c][4][1] for c in category], dtype=float)
    shelf_life = np.where(life_hi > 0, np.round(rng.uniform(life_lo, np.maximum(life_hi, 1))), np.inf)

    n_suppliers = max(3, skus // 20)
    supplier = rng.integers(0, n_suppliers, skus)
    lead_mean = rng.uniform(3.0, 12.0, n_suppliers)
    lead_sd = lead_mean * rng.uniform(0.1, 0.3, n_suppliers)

    # level at a median store on a plain day
    scale = np.array([CATEGORIES[c][5] for c in category])
    level = scale * rng.lognormal(np.log(1.2), 0.7, skus)
    intermittent = cls_idx == CLASSES.index("intermittent")
    level = np.where(intermittent, rng.uniform(0.04, 0.35, skus), level)
    dispersion = np.where(intermittent, rng.uniform(1.5, 3.0, skus), rng.uniform(1.0, 1.6, skus))

    weekday = (np.arange(days) + first.weekday()) % 7  # Monday 0
    mild = np.array([0.9, 0.9, 0.95, 1.0, 1.05, 1.15, 1.05])
    strong = np.array([0.6, 0.7, 0.8, 0.9, 1.1, 1.9, 1.7])
    week_shape = np.where((cls_idx == CLASSES.index("weekly"))[:, None], strong[None, :], mild[None, :])
    shape = week_shape[:, weekday]  # (skus, days)

    t = np.arange(days) / 364.0
    sign = np.where(rng.random(skus) < 0.6, 1.0, -1.0)  # more trends up than down
    growth = np.where(cls_idx == CLASSES.index("trending"), sign * rng.uniform(0.3, 0.8, skus), 0.0)
    trend = np.clip(1.0 + growth[:, None] * (t[None, :] - t[history_days]), 0.15, None)

    promo = np.ones((skus, days))
    spiked = cls_idx == CLASSES.index("promotion")
    for day, k, share in promotion_days(first, days):
        lo_u, hi_u = PROMOTIONS[k][4]
        uplift = np.where(spiked, rng.uniform(lo_u, hi_u, skus), rng.uniform(1.1, 1.5, skus))
        promo[:, day] = 1.0 + (uplift - 1.0) * share

    launch_day = np.zeros(skus, dtype=np.int64)
    new = cls_idx == CLASSES.index("new")
    replay_days = days - history_days
    launch_day[new] = history_days + rng.integers(min(28, replay_days - 1), max(29, replay_days - 56),
                                                  new.sum())
    since = np.arange(days)[None, :] - launch_day[:, None]
    ramp = np.where(since < 0, 0.0, np.clip((since + 1) / 14.0, 0.3, 1.0))

    affinity = rng.lognormal(0.0, 0.3, (stores, skus))
    rate = store_size[:, None] * affinity * level[None, :]
    demand = np.empty((stores, skus, days), dtype=np.int32)
    daily = shape * trend * promo * ramp  # (skus, days)
    for s in range(stores):
        mu = rate[s][:, None] * daily
        r = 1.0 / np.maximum(dispersion - 1.0, 1e-6)  # NB with variance = dispersion × mean
        p = r[:, None] / (r[:, None] + np.maximum(mu, 1e-12))
        demand[s] = np.where(mu > 0, rng.negative_binomial(r[:, None], p), 0)

    cover = np.ceil(rate * 45.0 * np.maximum(1.0, 1.0 + growth)[None, :])
    capacity = np.maximum(cover, 4 * store_pack[None, :]).astype(np.int64)
    capacity = (-(-capacity // store_pack[None, :]) * store_pack[None, :]).astype(np.int64)

    return Chain(
        first_day=first, history_days=history_days, days=days,
        store_ids=tuple(f"{store_region[i]}-{i + 1:04d}" for i in range(stores)),
        store_region=store_region, store_size=store_size, store_xy=store_xy,
        sku_ids=tuple(make_gtin14(COMPANY_PREFIX, i) for i in range(skus)),
        category=category, demand_class=demand_class, unit_cost=unit_cost, pack=pack, minimum=minimum,
        store_pack=store_pack, shelf_life=shelf_life, supplier=supplier, supplier_lead_mean=lead_mean,
        supplier_lead_sd=lead_sd, launch_day=launch_day, capacity=capacity, rate=rate, demand=demand,
    )
