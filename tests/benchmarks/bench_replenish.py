"""`shelfsync bench replenish`: three replenishment policies replayed on the same simulated chain.

The chain (`firmware_sim.chain`: default 20 stores + 1 warehouse, 500 SKUs, a year of history then
52 replayed weeks) is replayed day by day under each policy on the same true demand:

- seed: the seed document's rule, suggested order = 2 × weekly average sales − stock + safety
  buffer (weekly average of the last 4 weeks; buffer half a week's average, at least the display
  minimum; "stock" read as on hand + on order, else a weekly order with a lead time over a week
  orders the same need twice);
- minmax: min/max as retail systems ship it (Odoo's reordering rules): min = average daily sales of
  the last 4 weeks × (lead time + 7 days), max = min + 14 days; below min, order up to max;
- ours: `cloud.replenish` (statsforecast forecasts, fill-rate (R, S) levels with lead-time spread,
  packs, minimums, capacity and shelf-life caps, store-to-store transfers before buying). The
  fill-rate target is met per store × category at the least stock value (`--pool on`, as the
  cloud's run does; no store × SKU below `--least-fill-rate`), or by every store × SKU alone
  (`--pool off`, the policy before).

All three review on the same days (stores and warehouse weekly by default), round to the same packs
and minimum orders, and start from the same stock. Stores are supplied by the warehouse (1–2 days;
a short warehouse shares its stock out in proportion to what was asked), the warehouse by
suppliers (3–12 days mean, 10–30 % spread). Sales are lost, not back-ordered; units are sold and
shipped first-expiry-first-out and written off on their expiry day. The first 4 replayed weeks are
a burn-in and not counted.

Reported per policy: fill rate (units sold / demanded), stock-out rate (share of listed
store × SKU days closing with nothing sellable), average inventory (units and value at cost, stores
and warehouse), expired write-offs, purchase orders (one per supplier and day), store deliveries
and transfers. For our forecasts: MASE per series (Hyndman & Koehler 2006; scale: the in-sample
seasonal-naive (lag 7) MAE of the true demand over the listed days), its share below 1 per demand
class, the MAE relative to a seasonal-naive forecast made from the same sales at the same times,
and the seconds per forecast run (all stores × SKUs, e.g. 10,000 series).
Progress goes to stderr; the machine is shared, so quote `uptime` with the figures.

Censored demand: our forecast is told which days closed with nothing on hand and reads their
sales as a lower bound of demand (the cloud's run marks days with nothing sellable for most of
the opening hours, from the ledger). The year of history is well stocked; `--history-outages P`
empties each store × SKU's shelf for 3–10 days with daily chance P in it (sales 0, demand as it
was), and `--censor off` gives our forecast those days as plain sales, so the two runs show what
reading them as censored is worth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_sim import chain as chainsim

BIG = np.iinfo(np.int32).max
SLOTS = 16              # lots kept per location × SKU
BURN_IN = 28
STORE_LEAD = (1.3, 0.46)  # days: 1 or, three times in ten, 2
DISPLAY_MIN = 2
WAREHOUSE = 0


# ---------------------------------------------------------------------------------------------
# the physical chain: lots, FEFO, arrivals


def take_fefo(qty: np.ndarray, exp: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Take up to `want` units per row from lots (…, SLOTS), soonest expiry first; returns the take."""
    order = np.argsort(exp, axis=-1, kind="stable")
    q = np.take_along_axis(qty, order, -1)
    before = np.cumsum(q, axis=-1) - q
    took = np.clip(want[..., None] - before, 0, q)
    taken = np.empty_like(qty)
    np.put_along_axis(taken, order, took, -1)
    qty -= taken
    return taken


@dataclass
class Stock:
    locations: int
    skus: int
    qty: np.ndarray = field(init=False)
    exp: np.ndarray = field(init=False)
    on_order: np.ndarray = field(init=False)
    arrivals: dict[int, list[tuple[np.ndarray, ...]]] = field(default_factory=lambda: defaultdict(list))
    overflow: int = 0

    def __post_init__(self) -> None:
        self.qty = np.zeros((self.locations, self.skus, SLOTS), dtype=np.int64)
        self.exp = np.full((self.locations, self.skus, SLOTS), BIG, dtype=np.int64)
        self.on_order = np.zeros((self.locations, self.skus), dtype=np.int64)

    def on_hand(self) -> np.ndarray:
        held: np.ndarray = self.qty.sum(axis=-1)
        return held

    def add(self, loc: np.ndarray, sku: np.ndarray, units: np.ndarray, expiry: np.ndarray) -> None:
        """Receive lots; a lot with an expiry already held joins it, else takes a free slot."""
        keep = units > 0
        loc, sku, units, expiry = loc[keep], sku[keep], units[keep], expiry[keep]
        while len(loc):
            _, first = np.unique(loc * self.skus + sku, return_index=True)
            ll, nn, qq, ee = loc[first], sku[first], units[first], expiry[first]
            q, e = self.qty[ll, nn], self.exp[ll, nn]
            same = (e == ee[:, None]) & (q > 0)
            free = q == 0
            pick = np.where(same.any(1), same.argmax(1), np.where(free.any(1), free.argmax(1), -1))
            full = pick < 0
            if full.any():  # no slot: join the freshest lot, keeping the earlier expiry (never flatters)
                self.overflow += int(full.sum())
                pick[full] = np.argmax(np.where(q[full] > 0, e[full], -1), axis=1)
            self.qty[ll, nn, pick] += qq
            self.exp[ll, nn, pick] = np.where(q[np.arange(len(ll)), pick] > 0,
                                              np.minimum(e[np.arange(len(ll)), pick], ee), ee)
            rest = np.ones(len(loc), dtype=bool)
            rest[first] = False
            loc, sku, units, expiry = loc[rest], sku[rest], units[rest], expiry[rest]

    def send(self, day: int, loc: np.ndarray, sku: np.ndarray, units: np.ndarray, expiry: np.ndarray) -> None:
        self.arrivals[day].append((loc, sku, units, expiry))
        np.add.at(self.on_order, (loc, sku), units)

    def receive(self, day: int) -> None:
        for loc, sku, units, expiry in self.arrivals.pop(day, []):
            self.add(loc, sku, units, expiry)
            np.subtract.at(self.on_order, (loc, sku), units)

    def expire(self, day: int) -> np.ndarray:
        gone = (self.exp <= day) & (self.qty > 0)
        lost = np.where(gone, self.qty, 0).sum(axis=-1)
        self.qty[gone] = 0
        self.exp[gone] = BIG
        out: np.ndarray = lost
        return out


# ---------------------------------------------------------------------------------------------
# what each policy sees and decides


@dataclass
class View:
    """What a policy may look at on a review day (end of `day`, after its sales)."""

    chain: chainsim.Chain
    day: int
    on_hand: np.ndarray        # (locations, skus)
    on_order: np.ndarray
    sales: np.ndarray          # (stores, skus, days) observed sales up to `day`
    asked: np.ndarray          # (skus, days) what the stores asked the warehouse for
    stocked_out: np.ndarray    # (stores, skus, days) closed the day with nothing on hand
    active: np.ndarray         # (skus,) listed or about to be

    @property
    def position(self) -> np.ndarray:
        total: np.ndarray = self.on_hand + self.on_order
        return total


def _round_up(units: np.ndarray, pack: np.ndarray, minimum: np.ndarray | None = None) -> np.ndarray:
    out = np.where(units > 0, -(-units // pack) * pack, 0)
    if minimum is not None:
        minimum = np.maximum(-(-minimum // pack), 1) * pack
        out = np.where(out > 0, np.maximum(out, minimum), 0)
    return out.astype(np.int64)


class SeedRule:
    name = "seed"

    def __init__(self, buffer_weeks: float) -> None:
        self.buffer_weeks = buffer_weeks

    def _order(self, weekly: np.ndarray, position: np.ndarray, floor: int) -> np.ndarray:
        target = 2 * weekly + np.maximum(self.buffer_weeks * weekly, floor)
        order: np.ndarray = np.ceil(np.maximum(target - position, 0)).astype(np.int64)
        return order

    def stores(self, v: View) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        weekly = v.sales[:, :, v.day - 27:v.day + 1].sum(axis=2) / 4.0
        want = self._order(weekly, v.position[1:], DISPLAY_MIN) * v.active[None, :]
        return _round_up(want, v.chain.store_pack[None, :]), []

    def warehouse(self, v: View) -> np.ndarray:
        weekly = v.asked[:, v.day - 27:v.day + 1].sum(axis=1) / 4.0
        want = self._order(weekly, v.position[WAREHOUSE], 0) * v.active
        return _round_up(want, v.chain.pack, v.chain.minimum)


class MinMax:
    name = "minmax"

    def _order(self, daily: np.ndarray, position: np.ndarray, lead: np.ndarray, floor: int) -> np.ndarray:
        low = np.maximum(np.ceil(daily * (lead + 7)), floor)
        high = low + np.ceil(daily * 14)
        return np.where(position <= low, high - position, 0).astype(np.int64)

    def stores(self, v: View) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        daily = v.sales[:, :, v.day - 27:v.day + 1].sum(axis=2) / 28.0
        want = self._order(daily, v.position[1:], np.full(daily.shape, STORE_LEAD[0]), DISPLAY_MIN)
        return _round_up(want * v.active[None, :], v.chain.store_pack[None, :]), []

    def warehouse(self, v: View) -> np.ndarray:
        daily = v.asked[:, v.day - 27:v.day + 1].sum(axis=1) / 28.0
        lead = v.chain.supplier_lead_mean[v.chain.supplier]
        want = self._order(daily, v.position[WAREHOUSE], lead, 0) * v.active
        return _round_up(want, v.chain.pack, v.chain.minimum)


class Ours:
    """`cloud.replenish` at the stores (from the warehouse) and at the warehouse (from suppliers).

    The warehouse is planned on echelon stock (`policy.echelon`, `policy.echelon_position`): its
    position counts its stores' stock and what is on its way to them, each store's up to its own
    level; its level is the stores' order-up-to levels plus what the
    sum of their forecasts (variances pooled) needs over its own lead time and review. Perishables
    must sell at the store within what is left of their life after the warehouse held them (half
    the usable days each). Stock-out days (closed with nothing on hand) go to the forecast as
    censored.
    """

    name = "ours"

    def __init__(self, chain: chainsim.Chain, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
        from cloud.replenish.forecast import ForecastSettings, Series
        from cloud.replenish.policy import BuyingTerms, Pooling
        from cloud.replenish.promotions import Promotion, PromotionCalendar

        self.chain, self.args, self.progress = chain, args, progress
        stores, skus = chain.rate.shape
        self.calendar = PromotionCalendar(tuple(
            Promotion(name, month, mday, before=1 if before else 0) for name, month, mday, before, _ in
            chainsim.PROMOTIONS))
        self.series = [Series(sku, store, chain.category[j],
                              chain.day(int(chain.launch_day[j])) if chain.launch_day[j] > 0 else None)
                       for store in chain.store_ids for j, sku in enumerate(chain.sku_ids)]
        self.settings = ForecastSettings(n_jobs=args.jobs)
        self.size = dict(zip(chain.store_ids, chain.store_size.tolist(), strict=True))
        life = chain.shelf_life * 0.9  # suppliers deliver with 90 % of the life left
        ones = np.ones(stores * skus)
        # fill-rate targets met per store × category (ours) at the least stock value, or per series
        categories = {name: k for k, name in enumerate(chainsim.CATEGORIES)}
        cat = np.array([categories[name] for name in chain.category], dtype=np.int64)
        store_pool = (np.arange(stores)[:, None] * len(categories) + cat[None, :]).ravel()
        pooled = args.pool == "on"
        self.store_terms = BuyingTerms(
            pack=np.tile(chain.store_pack, stores), minimum=np.tile(chain.store_pack, stores),
            capacity=chain.capacity.ravel(), lead_mean=ones * STORE_LEAD[0], lead_sd=ones * STORE_LEAD[1],
            usable_days=np.tile(np.maximum(life * 0.5, 3.0), stores),
            fill_rate=ones * args.fill_rate, display_min=(ones * DISPLAY_MIN).astype(np.int64),
            pooling=Pooling(store_pool, np.tile(chain.unit_cost, stores), args.least_fill_rate) if pooled else None)
        self.warehouse_terms = BuyingTerms(
            pack=chain.pack, minimum=chain.minimum, capacity=np.full(skus, 10**9, dtype=np.int64),
            lead_mean=chain.supplier_lead_mean[chain.supplier], lead_sd=chain.supplier_lead_sd[chain.supplier],
            usable_days=np.maximum(life * 0.5, 3.0), fill_rate=np.full(skus, args.warehouse_fill_rate),
            display_min=np.zeros(skus, dtype=np.int64),
            pooling=Pooling(cat, chain.unit_cost, args.least_fill_rate) if pooled else None)
        self.forecast: Any = None
        self.forecast_day = -1
        self.seconds: list[float] = []
        self.evaluated: list[tuple[int, np.ndarray]] = []  # (first day, (series, 7) forecast)
        self.emergencies: dict[str, int] = defaultdict(int)
        self.transfers = 0

    def _refresh(self, v: View) -> None:
        from cloud.replenish.forecast import SalesHistory, forecast_demand

        if self.forecast is not None and v.day - self.forecast_day < self.args.forecast_every:
            return
        stores, skus = self.chain.rate.shape
        out = v.stocked_out[:, :, :v.day + 1].reshape(stores * skus, -1) if self.args.censor == "on" else None
        history = SalesHistory(self.chain.first_day, v.sales[:, :, :v.day + 1].reshape(stores * skus, -1), out)
        t0 = time.perf_counter()
        self.forecast = forecast_demand(history, self.series, 42, self.calendar, self.size, self.settings)
        self.seconds.append(time.perf_counter() - t0)
        self.forecast_day = v.day
        self.evaluated.append((v.day + 1, self.forecast.mean[:, :7].copy()))

    def _mean(self) -> np.ndarray:
        mean: np.ndarray = self.forecast.mean  # reviews fall on forecast days (forecast_every: a multiple of 7)
        return mean

    def stores(self, v: View) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        from cloud.replenish.policy import emergencies, order_quantities, plan_transfers, stock_levels

        self._refresh(v)
        c = self.chain
        stores, skus = c.rate.shape
        levels = stock_levels(self._mean(), self.forecast.dispersion, self.store_terms, self.args.review)
        self.store_levels = levels.order_up_to.reshape(stores, skus)
        self.store_up_to = self.store_levels.sum(axis=0)
        on_hand = v.on_hand[1:].ravel()
        position = v.position[1:].ravel()
        index = {s: i for i, s in enumerate(c.store_ids)}
        xy = c.store_xy

        def km(a: str, b: str) -> float:
            return float(np.hypot(*(xy[index[a]] - xy[index[b]])))

        moves, position = plan_transfers(self.series, on_hand, position, levels, km, self.args.max_km,
                                         below_reorder_point=True)
        sku_index = {s: j for j, s in enumerate(c.sku_ids)}
        transfers = [(index[m.source], index[m.destination], sku_index[m.sku], m.units) for m in moves]
        self.transfers += len(transfers)
        units, _limit = order_quantities(levels, position, self.store_terms)
        region_of = dict(zip(c.store_ids, c.store_region, strict=True))
        available = {(r, sku): int(v.on_hand[WAREHOUSE, j]) for r in chainsim.REGIONS
                     for j, sku in enumerate(c.sku_ids)}
        for e in emergencies(self.series, position + units, levels, region_of, available):
            self.emergencies[e.level.name.lower()] += 1
        return units.reshape(stores, skus) * v.active[None, :], transfers

    def warehouse(self, v: View) -> np.ndarray:
        from cloud.replenish.policy import echelon, echelon_position, order_quantities, stock_levels

        stores, skus = self.chain.rate.shape
        mean = self._mean().reshape(stores, skus, -1)
        total = mean.sum(axis=0)
        daily = np.maximum(mean.mean(axis=2), 1e-12)
        pooled = (self.forecast.dispersion.reshape(stores, skus) * daily).sum(axis=0) / daily.sum(axis=0)
        levels = echelon(stock_levels(total, pooled, self.warehouse_terms, self.args.review), self.store_up_to)
        position = echelon_position(v.position[WAREHOUSE], v.position[1:], self.store_levels)
        units, _limit = order_quantities(levels, position, self.warehouse_terms)
        bought: np.ndarray = units * v.active
        return bought


# ---------------------------------------------------------------------------------------------
# the replay


def replay(c: chainsim.Chain, policy: Any, args: argparse.Namespace, progress: Callable[[str], None]
           ) -> dict[str, Any]:
    stores, skus = c.rate.shape
    rng = np.random.default_rng(args.seed + 1000)  # lead times: the same draws for every policy
    stock = Stock(stores + 1, skus)
    start = c.replay_start
    life = np.where(np.isfinite(c.shelf_life), c.shelf_life, 10**7)

    # the same opening stock for every policy: 10 days at the stores, 3 weeks at the warehouse
    listed = c.launch_day <= start
    opening = np.ceil(c.rate * 10).astype(np.int64) * listed[None, :]
    loc, sku = np.nonzero(opening)
    stock.add(loc + 1, sku, opening[loc, sku], (start + life[sku] * 0.6).astype(np.int64))
    wh = (np.ceil(c.rate.sum(axis=0) * 21).astype(np.int64)) * listed
    sku = np.flatnonzero(wh)
    stock.add(np.zeros(len(sku), dtype=np.int64), sku, wh[sku], (start + life[sku] * 0.8).astype(np.int64))

    sales = np.zeros((stores, skus, c.days), dtype=np.float64)
    sales[:, :, :start] = c.demand[:, :, :start]
    stocked_out = np.zeros((stores, skus, c.days), dtype=bool)
    history_out = history_outages(c, args.history_outages, args.seed)
    sales[:, :, :start][history_out] = 0  # an empty shelf sells nothing, whatever was wanted
    stocked_out[:, :, :start] = history_out
    asked = np.zeros((skus, c.days))
    asked[:, :start] = c.demand[:, :, :start].sum(axis=0)

    m: dict[str, float] = defaultdict(float)
    by_class_demand = np.zeros(skus)
    by_class_sold = np.zeros(skus)
    by_class_value = np.zeros(skus)
    by_class_store_units = np.zeros(skus)
    asked_sku = np.zeros(skus)
    shipped_sku = np.zeros(skus)
    by_class_warehouse_units = np.zeros(skus)
    pos_count = 0
    counted_days = 0
    for day in range(start, c.days):
        stock.receive(day)
        expired = stock.expire(day)
        counted = day >= start + BURN_IN
        demand = c.demand[:, :, day].astype(np.int64)
        sold = take_fefo(stock.qty[1:], stock.exp[1:], demand).sum(axis=-1)
        sales[:, :, day] = sold
        on_hand = stock.on_hand()
        stocked_out[:, :, day] = on_hand[1:] == 0
        if counted:
            counted_days += 1
            listed_now = (c.launch_day <= day)[None, :]
            m["demand"] += demand.sum()
            m["sold"] += sold.sum()
            by_class_demand += demand.sum(axis=0)
            by_class_sold += sold.sum(axis=0)
            m["stockout_days"] += ((on_hand[1:] == 0) & listed_now).sum()
            m["listed_days"] += listed_now.sum() * stores
            m["inventory_units"] += on_hand.sum()
            m["inventory_value"] += (on_hand * c.unit_cost[None, :]).sum()
            by_class_value += (on_hand * c.unit_cost[None, :]).sum(axis=0)
            by_class_store_units += on_hand[1:].sum(axis=0)
            by_class_warehouse_units += on_hand[0]
            m["store_inventory_value"] += (on_hand[1:] * c.unit_cost[None, :]).sum()
            m["warehouse_inventory_value"] += (on_hand[0] * c.unit_cost).sum()
            m["expired_units"] += expired.sum()
            m["expired_value"] += (expired * c.unit_cost[None, :]).sum()
        if (day - start) % args.review == args.review - 1 or day == start:
            view = View(c, day, on_hand, stock.on_order.copy(), sales, asked, stocked_out,
                        c.launch_day <= day + 14)
            wanted, transfers = policy.stores(view)
            for src, dst, j, units in transfers:  # store to store, arriving the next day
                row = (src + 1, j)
                taken = take_fefo(stock.qty[row][None], stock.exp[row][None], np.array([units]))[0]
                k = np.flatnonzero(taken)
                stock.send(day + 1, np.full(len(k), dst + 1), np.full(len(k), j), taken[k], stock.exp[row][k])
            shipment = _allocate(wanted, stock.on_hand()[WAREHOUSE])
            _ship(stock, shipment, day, rng)
            asked[:, day] = wanted.sum(axis=0)
            if counted:
                m["asked"] += wanted.sum()
                m["shipped"] += shipment.sum()
                asked_sku += wanted.sum(axis=0)
                shipped_sku += shipment.sum(axis=0)
                m["store_deliveries"] += (shipment.sum(axis=1) > 0).sum()
                m["transfers"] += len(transfers)
            view = View(c, day, stock.on_hand(), stock.on_order.copy(), sales, asked, stocked_out,
                        c.launch_day <= day + 14)
            buy = policy.warehouse(view)
            for supplier in np.unique(c.supplier[buy > 0]):
                lines = np.flatnonzero((buy > 0) & (c.supplier == supplier))
                lead = max(1, round(rng.normal(c.supplier_lead_mean[supplier], c.supplier_lead_sd[supplier])))
                expiry = (day + lead + life[lines] * 0.9).astype(np.int64)
                stock.send(day + lead, np.zeros(len(lines), dtype=np.int64), lines, buy[lines], expiry)
                if counted:
                    m["purchase_orders"] += 1
                    m["purchase_lines"] += len(lines)
                    m["purchase_value"] += float((buy[lines] * c.unit_cost[lines]).sum())
                pos_count += 1
        if (day - start) % 28 == 27:
            progress(f"{policy.name}: week {(day - start + 1) // 7}/{(c.days - start) // 7}")
    cls = np.array(c.demand_class)
    return {
        "fill_rate": round(m["sold"] / max(m["demand"], 1), 4),
        "fill_rate_per_class": {k: round(float(by_class_sold[cls == k].sum() / max(by_class_demand[cls == k].sum(), 1)), 4)
                                for k in chainsim.CLASSES},
        "warehouse_fill_rate": round(m["shipped"] / max(m["asked"], 1), 4),
        "warehouse_fill_rate_per_class": {k: round(float(shipped_sku[cls == k].sum() / max(asked_sku[cls == k].sum(), 1)), 4)
                                          for k in chainsim.CLASSES},
        "days_of_cover_per_class": {k: {"stores": round(float(by_class_store_units[cls == k].sum()
                                                             / max(by_class_demand[cls == k].sum(), 1)), 1),
                                        "warehouse": round(float(by_class_warehouse_units[cls == k].sum()
                                                                 / max(by_class_demand[cls == k].sum(), 1)), 1)}
                                    for k in chainsim.CLASSES},
        "avg_inventory_value_per_class": {k: round(float(by_class_value[cls == k].sum() / counted_days))
                                          for k in chainsim.CLASSES},
        "stockout_rate": round(m["stockout_days"] / max(m["listed_days"], 1), 4),
        "avg_inventory_units": round(m["inventory_units"] / counted_days),
        "avg_inventory_value": round(m["inventory_value"] / counted_days),
        "avg_store_inventory_value": round(m["store_inventory_value"] / counted_days),
        "avg_warehouse_inventory_value": round(m["warehouse_inventory_value"] / counted_days),
        "expired_units": int(m["expired_units"]),
        "expired_value": round(m["expired_value"]),
        "purchase_orders": int(m["purchase_orders"]),
        "purchase_lines": int(m["purchase_lines"]),
        "store_deliveries": int(m["store_deliveries"]),
        "transfers": int(m["transfers"]),
        "lots_merged": stock.overflow,
        "_sales": sales,
    }


def history_outages(c: chainsim.Chain, rate: float, seed: int) -> np.ndarray:
    """(stores, skus, history days): the days of the history each store × SKU stood empty.

    A stock-out-heavy past for `--history-outages`: on any day an outage starts with probability
    `rate` and lasts 3–10 days (a missed delivery, a supplier out of stock). The days before the
    replay were otherwise well stocked, so with rate 0 there are none."""
    stores, skus = c.rate.shape
    start = c.replay_start
    out = np.zeros((stores, skus, start), dtype=bool)
    if rate <= 0:
        return out
    rng = np.random.default_rng(seed + 2000)  # the same outages for every policy
    begins = rng.random((stores, skus, start)) < rate
    lengths = rng.integers(3, 11, (stores, skus, start))
    for s, k, d in zip(*np.nonzero(begins), strict=True):
        out[s, k, d:d + lengths[s, k, d]] = True
    listed = np.arange(start)[None, :] >= c.launch_day[:, None]
    return out & listed[None, :, :]


def _allocate(wanted: np.ndarray, available: np.ndarray) -> np.ndarray:
    """What the warehouse ships per (store, SKU): all that was asked, or shares of what it has."""
    asked = wanted.sum(axis=0)
    short = asked > available
    if not short.any():
        return wanted
    share = np.where(short[None, :], wanted * (available / np.maximum(asked, 1))[None, :], wanted)
    out = np.floor(share).astype(np.int64)
    rest = np.where(short, available - out.sum(axis=0), 0)  # largest remainders first
    order = np.argsort(-(share - out), axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(wanted.shape[0])[:, None].repeat(wanted.shape[1], 1), 0)
    return out + ((rank < rest[None, :]) & (share > out)).astype(np.int64)


def _ship(stock: Stock, shipment: np.ndarray, day: int, rng: np.random.Generator) -> None:
    """Take the shipment FEFO from the warehouse's lots and send each store its slice of them."""
    total = shipment.sum(axis=0)
    if not total.any():
        return
    exp_before = stock.exp[WAREHOUSE].copy()
    taken = take_fefo(stock.qty[WAREHOUSE], stock.exp[WAREHOUSE], total)  # (skus, SLOTS)
    order = np.argsort(exp_before, axis=-1, kind="stable")
    lot_units = np.take_along_axis(taken, order, -1)
    lot_exp = np.take_along_axis(exp_before, order, -1)
    lot_hi = np.cumsum(lot_units, axis=-1)
    lot_lo = lot_hi - lot_units
    store_hi = np.cumsum(shipment, axis=0).T  # (skus, stores)
    store_lo = store_hi - shipment.T
    overlap = np.clip(np.minimum(lot_hi[:, None, :], store_hi[:, :, None])
                      - np.maximum(lot_lo[:, None, :], store_lo[:, :, None]), 0, None)  # (skus, stores, SLOTS)
    lead = np.where(rng.random(shipment.shape[0]) < 0.3, 2, 1)
    sku, store, slot = np.nonzero(overlap)
    for d in (1, 2):
        k = lead[store] == d
        stock.send(day + d, store[k] + 1, sku[k], overlap[sku[k], store[k], slot[k]], lot_exp[sku[k], slot[k]])


def forecast_accuracy(c: chainsim.Chain, ours: Ours, sales: np.ndarray) -> dict[str, Any]:
    """MASE per series and its share below 1 per true demand class; MAE relative to seasonal naive."""
    stores, skus = c.rate.shape
    demand = c.demand.reshape(stores * skus, -1).astype(float)
    observed = sales.reshape(stores * skus, -1)
    listed = np.arange(c.days)[None, :] >= np.tile(c.launch_day, stores)[:, None]
    both = listed[:, 7:] & listed[:, :-7]
    scale = np.where(both, np.abs(demand[:, 7:] - demand[:, :-7]), 0).sum(1) / np.maximum(both.sum(1), 1)
    err = np.zeros(stores * skus)
    forecast_sum = np.zeros(stores * skus)
    demand_sum = np.zeros(stores * skus)
    naive_err = np.zeros(stores * skus)
    count = np.zeros(stores * skus)
    for first, fc in ours.evaluated:
        if first < c.replay_start + BURN_IN or first + 7 > c.days:
            continue
        actual = demand[:, first:first + 7]
        naive = observed[:, first - 7:first]
        on = listed[:, first:first + 7]
        err += np.where(on, np.abs(fc - actual), 0).sum(1)
        forecast_sum += np.where(on, fc, 0).sum(1)
        demand_sum += np.where(on, actual, 0).sum(1)
        naive_err += np.where(on, np.abs(naive - actual), 0).sum(1)
        count += on.sum(1)
    ok = (count > 0) & (scale > 0)
    mase = np.where(ok, err / np.maximum(count, 1) / np.where(scale > 0, scale, 1), np.nan)
    rel = np.where(ok & (naive_err > 0), err / np.where(naive_err > 0, naive_err, 1), np.nan)
    cls = np.tile(np.array(c.demand_class), stores)
    per_class = {}
    for name in chainsim.CLASSES:
        k = ok & (cls == name)
        if k.any():
            per_class[name] = {"series": int(k.sum()), "mase_median": round(float(np.median(mase[k])), 3),
                               "share_mase_below_1": round(float((mase[k] < 1).mean()), 3),
                               "relmae_vs_seasonal_naive": round(float(err[k].sum() / naive_err[k].sum()), 3),
                               "bias": round(float(forecast_sum[k].sum() / demand_sum[k].sum() - 1), 3)}
    return {
        "series": int(ok.sum()),
        "share_mase_below_1": round(float((mase[ok] < 1).mean()), 3),
        "mase_median": round(float(np.nanmedian(mase)), 3),
        "relmae_median": round(float(np.nanmedian(rel)), 3),
        "per_class": per_class,
    }


def time_forecasts(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    """`--time-forecasts N`: our forecast over every store × SKU of the chain's year of history, N
    times in a row, and nothing else (the replay's per-run seconds share the machine with the
    replay itself). The first run includes compiling statsforecast's numba code."""
    from cloud.replenish.forecast import SalesHistory, forecast_demand

    c = chainsim.build(args.seed, args.stores, args.skus, args.weeks)
    ours = Ours(c, args, progress)
    stores, skus = c.rate.shape
    history = SalesHistory(c.first_day, c.demand[:, :, :c.replay_start].astype(float).reshape(stores * skus, -1))
    seconds, loads = [], []
    for k in range(args.time_forecasts):
        loads.append(os.getloadavg()[0])
        t0 = time.perf_counter()
        forecast_demand(history, ours.series, 42, ours.calendar, ours.size, ours.settings)
        seconds.append(time.perf_counter() - t0)
        progress(f"forecast {k + 1}/{args.time_forecasts}: {seconds[-1]:.2f} s over {len(ours.series)} series")
    rest = seconds[1:] or seconds
    return {"series": len(ours.series), "history_days": c.replay_start, "n_jobs": args.jobs,
            "seconds": [round(x, 2) for x in seconds], "median_after_first": round(statistics.median(rest), 2),
            "under_60s": bool(max(seconds) < 60.0),
            "machine": {"cpus": os.cpu_count(), "load_1m_before_each": [round(x, 2) for x in loads]}}


def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    c = chainsim.build(args.seed, args.stores, args.skus, args.weeks)
    progress(f"chain built in {time.perf_counter() - t0:.1f} s: {args.stores} stores, {args.skus} SKUs, "
             f"{args.weeks} weeks, {int(c.demand[:, :, c.replay_start:].sum())} units of demand")
    t0 = time.perf_counter()
    import cloud.replenish.forecast  # noqa: F401  (timed: statsforecast's import)
    import_seconds = time.perf_counter() - t0
    ours = Ours(c, args, progress)
    results: dict[str, Any] = {}
    for policy in (SeedRule(args.seed_buffer), MinMax(), ours):
        t0 = time.perf_counter()
        results[policy.name] = replay(c, policy, args, progress)
        results[policy.name]["seconds"] = round(time.perf_counter() - t0, 1)
    accuracy = forecast_accuracy(c, ours, results["ours"].pop("_sales"))
    for r in results.values():
        r.pop("_sales", None)
    results["ours"]["emergencies"] = dict(ours.emergencies)
    seed, mine = results["seed"], results["ours"]
    seconds = ours.seconds
    targets = {
        "fill_rate_at_least_98pct": bool(mine["fill_rate"] >= 0.98),
        "fill_rate_at_least_seed": bool(mine["fill_rate"] >= seed["fill_rate"]),
        "inventory_value_25pct_below_seed": bool(mine["avg_inventory_value"] <= 0.75 * seed["avg_inventory_value"]),
        "expired_value_at_most_half_seed": bool(mine["expired_value"] <= 0.5 * seed["expired_value"]),
        "mase_below_1_on_70pct": bool(accuracy["share_mase_below_1"] >= 0.70),
        "forecast_under_60s": bool(max(seconds) < 60.0),
    }
    return {
        "chain": {"seed": args.seed, "stores": args.stores, "warehouses": 1, "skus": args.skus,
                  "weeks": args.weeks, "burn_in_days": BURN_IN, "review_days": args.review,
                  "series": args.stores * args.skus, "history_outages": args.history_outages,
                  "history_stockout_share": round(float(history_outages(c, args.history_outages, args.seed)
                                                        .mean()), 4)},
        "policies": results,
        "ours_settings": {"pool": args.pool, "least_fill_rate": args.least_fill_rate,
                          "fill_rate": args.fill_rate, "warehouse_fill_rate": args.warehouse_fill_rate},
        "inventory_vs_seed": round(mine["avg_inventory_value"] / max(seed["avg_inventory_value"], 1), 3),
        "expired_vs_seed": round(mine["expired_value"] / max(seed["expired_value"], 1), 3),
        "forecast": {**accuracy, "runs": len(seconds), "censored": args.censor == "on",
                     "seconds_per_run": {"first": round(seconds[0], 2), "median": round(statistics.median(seconds), 2),
                                         "max": round(max(seconds), 2)},
                     "import_seconds": round(import_seconds, 2), "n_jobs": args.jobs},
        "targets": targets,
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
    }


def main(argv: list[str], prog: str = "shelfsync bench replenish") -> int:
    ap = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n  shelfsync bench replenish --json\n"
               "  shelfsync bench replenish --seed 7 --stores 5 --skus 100 --weeks 26\n"
               "  shelfsync bench replenish --jobs 2 --json > replenish.json   (progress on stderr)\n"
               "  shelfsync bench replenish --time-forecasts 5   (forecast seconds for 10,000 series only)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--seed", type=int, default=1, help="the chain's seed (demand, master data, lead times)")
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--skus", type=int, default=500)
    ap.add_argument("--weeks", type=int, default=52, help="weeks replayed (after a year of history)")
    ap.add_argument("--review", type=int, default=7, help="days between reviews, every policy (default 7)")
    ap.add_argument("--forecast-every", type=int, default=7, help="days between forecast runs (ours)")
    ap.add_argument("--fill-rate", type=float, default=0.98, help="our stores' target (default 0.98)")
    ap.add_argument("--warehouse-fill-rate", type=float, default=0.90,
                    help="our warehouse's target on its own lead time (default 0.90: on echelon stock the "
                         "stores' safety stock stands behind it)")
    ap.add_argument("--max-km", type=float, default=30.0, help="transfers between stores at most this far")
    ap.add_argument("--seed-buffer", type=float, default=0.5, help="the seed rule's buffer in weeks of sales")
    ap.add_argument("--jobs", type=int, default=1, help="statsforecast worker processes (default 1)")
    ap.add_argument("--censor", choices=("on", "off"), default="on",
                    help="our forecast reads stock-out days as censored demand (on, as the cloud's run "
                         "does) or as sales (off)")
    ap.add_argument("--history-outages", type=float, default=0.0,
                    help="a stock-out-heavy past: the daily chance a store × SKU's shelf empties for "
                         "3-10 days in the history before the replay (default 0: a well-stocked past)")
    ap.add_argument("--pool", choices=("on", "off"), default="on",
                    help="our fill-rate targets met per store × category at the least stock value (on) or "
                         "by every store × SKU alone (off)")
    ap.add_argument("--least-fill-rate", type=float, default=0.90,
                    help="with --pool on, no store × SKU is planned below this fill rate (default 0.90)")
    ap.add_argument("--time-forecasts", type=int, default=0, metavar="N",
                    help="only time our forecast over every store × SKU (10,000 series by default) N times "
                         "on the year of history, and print that (no replay)")
    ap.add_argument("--json", action="store_true", help="print one JSON object (progress on stderr)")
    args = ap.parse_args(argv)
    if args.stores < 1 or not 1 <= args.skus <= 99_999 or args.weeks < 6:
        ap.error("need --stores >= 1, --skus 1..99999 and --weeks >= 6 (4 of them are burn-in)")
    if args.review < 1 or args.forecast_every < 1 or args.forecast_every % args.review:
        ap.error("--review must be >= 1 and --forecast-every a multiple of it")
    if not (0 < args.fill_rate < 1 and 0 < args.warehouse_fill_rate < 1 and 0 < args.least_fill_rate < 1):
        ap.error("fill-rate targets are between 0 and 1")
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    if not 0 <= args.history_outages < 1:
        ap.error("--history-outages is a daily probability, 0 <= p < 1")

    def progress(msg: str) -> None:
        print(f"[replenish] {msg}", file=sys.stderr, flush=True)

    if args.time_forecasts > 0:
        timed = time_forecasts(args, progress)
        print(json.dumps(timed) if args.json else
              f"{timed['series']} series: {', '.join(f'{x:.2f}' for x in timed['seconds'])} s "
              f"(median after the first {timed['median_after_first']} s), load "
              f"{', '.join(f'{x:.1f}' for x in timed['machine']['load_1m_before_each'])}")
        return 0
    res = run(args, progress)
    print(json.dumps(res) if args.json else table(res))
    return 0


def table(res: dict[str, Any]) -> str:
    """The figures as a reader wants them: policies side by side, then the forecasts and targets."""
    rows = [("fill rate", "fill_rate", "{:.2%}"), ("stock-out rate", "stockout_rate", "{:.2%}"),
            ("avg inventory, units", "avg_inventory_units", "{:,}"),
            ("avg inventory, value", "avg_inventory_value", "{:,}"),
            ("  of which stores", "avg_store_inventory_value", "{:,}"),
            ("  of which warehouse", "avg_warehouse_inventory_value", "{:,}"),
            ("expired, units", "expired_units", "{:,}"), ("expired, value", "expired_value", "{:,}"),
            ("purchase orders", "purchase_orders", "{:,}"), ("store deliveries", "store_deliveries", "{:,}"),
            ("transfers", "transfers", "{:,}"), ("warehouse fill of store orders", "warehouse_fill_rate", "{:.2%}")]
    policies = res["policies"]
    out = [f"{'':32}" + "".join(f"{name:>14}" for name in policies)]
    for label, key, fmt in rows:
        out.append(f"{label:32}" + "".join(f"{fmt.format(p[key]):>14}" for p in policies.values()))
    f = res["forecast"]
    out += ["", f"forecast: {f['series']} series, MASE < 1 on {f['share_mase_below_1']:.1%}, "
                f"{f['runs']} runs, {f['seconds_per_run']['median']} s median "
                f"({f['seconds_per_run']['max']} s max) per run of {res['chain']['series']} series"]
    for name, c in f["per_class"].items():
        out.append(f"  {name:14} MASE median {c['mase_median']:.3f}, < 1 on {c['share_mase_below_1']:.1%}, "
                   f"MAE / seasonal naive {c['relmae_vs_seasonal_naive']:.3f}, bias {c['bias']:+.1%}")
    out += ["", "targets: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in res["targets"].items())]
    return "\n".join(out)
