"""The chain-wide plan (cloud/replenish/plan.py) on small chains: who is lifted from where, what is
bought by whom, and when a region is short. Pure: arrays in, suggestions out."""

from __future__ import annotations

from datetime import date

import numpy as np

from cloud.replenish.plan import NO_CAP, ChainFacts, Location, PlanSettings, SkuTerms, plan
from cloud.replenish.policy import EmergencyLevel

TODAY = date(2026, 12, 6)
KIBBLE = SkuTerms("kibble", "food", "acme", lead_mean=4, lead_sd=1, pack=6, minimum=12, unit_cost=10.0)


def _facts(locations: tuple[Location, ...], rates: list[float], free: list[int],
           skus: tuple[SkuTerms, ...] = (KIBBLE,)) -> ChainFacts:
    rng = np.random.default_rng(3)
    sales = np.array([rng.poisson(r, 84) for r in rates], dtype=float)
    n = len(rates)
    return ChainFacts(TODAY, locations, skus, sales, np.array(free), np.zeros(n, dtype=np.int64),
                      np.full(n, NO_CAP))


def test_a_short_store_is_lifted_from_a_near_surplus_and_not_from_a_far_one() -> None:
    near = (Location("a", lat=31.20, lon=121.40), Location("b", lat=31.22, lon=121.45))
    got = plan(_facts(near, [6.0, 0.0], [1, 60]))
    assert [(t.source, t.destination) for t in got.transfers] == [("b", "a")]
    far = (Location("a", lat=31.20, lon=121.40), Location("b", lat=39.90, lon=116.40))  # Beijing
    got = plan(_facts(far, [6.0, 0.0], [1, 60]))
    assert got.transfers == ()
    assert [(p.location, p.supplier) for p in got.purchases] == [("a", "acme")]
    assert all(p.units % 6 == 0 and p.units >= 12 for p in got.purchases)


def test_with_a_warehouse_only_the_warehouse_buys_and_stores_get_what_it_has() -> None:
    chain = (Location("s1", lat=31.2, lon=121.4), Location("s2", lat=35.0, lon=118.0),
             Location("wh", "warehouse", lat=31.0, lon=121.0))
    got = plan(_facts(chain, [6.0, 6.0, 0.0], [0, 0, 5]))
    sent = {t.destination: t.units for t in got.transfers if t.source == "wh"}
    assert sum(sent.values()) == 5  # no more than the warehouse has free
    assert {p.location for p in got.purchases} == {"wh"}
    # the two stores lack more than the warehouse has: the region is short
    assert [(e.level, e.stores) for e in got.emergencies] == [(EmergencyLevel.REGION, ("s1", "s2"))]


def test_a_sku_without_terms_is_moved_but_never_bought() -> None:
    loose = SkuTerms("toy", "toys")
    near = (Location("a", lat=31.20, lon=121.40), Location("b", lat=31.22, lon=121.45))
    got = plan(_facts(near, [3.0, 0.0], [0, 40], skus=(loose,)))
    assert got.purchases == () and got.unbuyable == 1
    assert [(t.sku, t.source, t.destination) for t in got.transfers] == [("toy", "b", "a")]


def test_a_product_new_within_the_history_starts_from_its_prior_not_from_the_days_before_it() -> None:
    # "treat" is sold at store a for years (4 a day); at store b it arrived 7 days ago and sells 4 a day
    chain = (Location("a", lat=31.20, lon=121.40), Location("b", lat=33.0, lon=119.0))
    treat = SkuTerms("treat", "food", "acme", lead_mean=4, pack=1, minimum=1, unit_cost=1.0)
    sales = np.array([np.full(84, 4.0), np.r_[np.zeros(77), np.full(7, 4.0)]])
    facts = ChainFacts(TODAY, chain, (treat,), sales, np.array([40, 0]), np.zeros(2, dtype=np.int64),
                       np.full(2, NO_CAP))
    as_if_old = plan(facts).levels.order_up_to[1]
    listed = plan(ChainFacts(TODAY, chain, (treat,), sales, np.array([40, 0]), np.zeros(2, dtype=np.int64),
                             np.full(2, NO_CAP), listed=np.array([-1, 77]))).levels.order_up_to[1]
    # 11 days of lead time and review at 4 a day: 44 units before safety stock
    assert listed >= 44 > as_if_old, (listed, as_if_old)


# two regions: north (wh-n, n1) around Shanghai, south (wh-s, s1) around Hangzhou, ~170 km apart
REGIONS = (Location("n1", lat=31.23, lon=121.47), Location("s1", lat=30.27, lon=120.15),
           Location("wh-n", "warehouse", lat=31.10, lon=121.30),
           Location("wh-s", "warehouse", lat=30.20, lon=120.10))


def test_each_store_is_served_by_its_regions_warehouse_first() -> None:
    got = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [0, 0, 200, 200]))
    assert sorted((t.source, t.destination) for t in got.transfers) == [("wh-n", "n1"), ("wh-s", "s1")]
    # served_by puts n1 in the south's region: the south's warehouse supplies it and buys for it
    moved = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [0, 0, 200, 200]),
                 PlanSettings(served_by={"n1": "wh-s"}))
    assert sorted((t.source, t.destination) for t in moved.transfers) == [("wh-s", "n1"), ("wh-s", "s1")]
    # a name that is not a warehouse of the chain: the nearest, as without it
    stale = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [0, 0, 200, 200]), PlanSettings(served_by={"n1": "s1"}))
    assert sorted((t.source, t.destination) for t in stale.transfers) == [("wh-n", "n1"), ("wh-s", "s1")]


def test_a_store_its_warehouse_cannot_cover_gets_another_regions_stock_and_no_emergency() -> None:
    # wh-n is empty; n1 (6 a day, nothing left) would run short before any delivery: wh-s, whose own
    # store s1 is served first, sends n1 what is left over
    got = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [0, 0, 0, 300]))
    sent = {(t.source, t.destination): t.units for t in got.transfers}
    assert set(sent) == {("wh-s", "s1"), ("wh-s", "n1")}
    k = [(s.location, s.sku) for s in got.series].index(("n1", "kibble"))
    assert sent["wh-s", "n1"] == got.levels.order_up_to[k]  # up to its order-up-to level
    assert got.emergencies == ()
    # not enough for both: the own region's store first, the rest to the other region
    tight = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [0, 0, 0, 70]))
    sent = {(t.source, t.destination): t.units for t in tight.transfers}
    ks = [(s.location, s.sku) for s in tight.series].index(("s1", "kibble"))
    assert sent["wh-s", "s1"] == tight.levels.order_up_to[ks] and sum(sent.values()) == 70
    assert [(e.level, e.region, e.stores) for e in tight.emergencies] == [(EmergencyLevel.REGION, "wh-n", ("n1",))]


def test_a_store_above_its_reorder_point_waits_for_its_own_warehouse() -> None:
    # n1 holds 30 (5 days at 6 a day; lead 1 day): not short before a delivery, so wh-s keeps its stock
    got = plan(_facts(REGIONS, [6.0, 6.0, 0.0, 0.0], [30, 0, 0, 300]))
    assert [(t.source, t.destination) for t in got.transfers] == [("wh-s", "s1")]
