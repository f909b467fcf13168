"""The policy's arithmetic as tables: packs, minimum orders, capacity, shelf life, transfers before
purchases, purchase suggestions per supplier and the three-level emergency (cloud/replenish/policy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.replenish.policy import (
    BuyingTerms,
    EmergencyLevel,
    Limit,
    StockLevels,
    demand_to,
    echelon,
    echelon_position,
    emergencies,
    order_quantities,
    plan_transfers,
    purchase_suggestions,
    stock_levels,
)
from cloud.replenish.series import Series


def terms(n: int = 1, *, pack: int = 1, minimum: int = 0, capacity: int = 10**6, lead: float = 2.0,
          lead_sd: float = 0.0, usable: float = np.inf, fill: float = 0.98, display: int = 0) -> BuyingTerms:
    return BuyingTerms(
        pack=np.full(n, pack, dtype=np.int64), minimum=np.full(n, minimum, dtype=np.int64),
        capacity=np.full(n, capacity, dtype=np.int64), lead_mean=np.full(n, lead), lead_sd=np.full(n, lead_sd),
        usable_days=np.full(n, usable), fill_rate=np.full(n, fill), display_min=np.full(n, display, dtype=np.int64))


def levels(up_to: int, cap: int, reorder: int = 0) -> StockLevels:
    return StockLevels(np.array([reorder]), np.array([up_to]), np.array([cap]), np.zeros(1))


# order-up-to, cap, position, pack, minimum, capacity → units ordered, why it is less than the need
ORDERS = [
    pytest.param(30, 10**6, 23, 6, 0, 10**6, 12, Limit.NONE, id="need 7 in packs of 6: two packs"),
    pytest.param(30, 10**6, 24, 6, 0, 10**6, 6, Limit.NONE, id="need exactly one pack"),
    pytest.param(30, 10**6, 30, 6, 0, 10**6, 0, Limit.NONE, id="at the level: nothing"),
    pytest.param(30, 10**6, 45, 6, 0, 10**6, 0, Limit.NONE, id="above the level: nothing, never negative"),
    pytest.param(30, 10**6, 25, 6, 10, 10**6, 12, Limit.NONE, id="minimum 10 in packs of 6 is 12"),
    pytest.param(30, 10**6, 25, 1, 40, 10**6, 40, Limit.NONE, id="a small need is raised to the minimum"),
    pytest.param(30, 28, 20, 6, 0, 28, 6, Limit.CAPACITY, id="cut to the whole packs that fit"),
    pytest.param(30, 24, 20, 6, 0, 24, 0, Limit.MINIMUM, id="not one pack fits: nothing"),
    pytest.param(30, 40, 20, 1, 25, 40, 0, Limit.MINIMUM, id="what fits is below the minimum: nothing"),
    pytest.param(30, 26, 20, 3, 0, 100, 6, Limit.SHELF_LIFE, id="cut to what sells before expiry"),
    pytest.param(30, 30, 35, 3, 0, 30, 0, Limit.NONE, id="position above the cap: nothing"),
]


@pytest.mark.parametrize(("up_to", "cap", "position", "pack", "minimum", "capacity", "units", "limit"), ORDERS)
def test_order_quantities(up_to: int, cap: int, position: int, pack: int, minimum: int, capacity: int,
                          units: int, limit: Limit) -> None:
    got, why = order_quantities(levels(up_to, cap), np.array([position]),
                                terms(pack=pack, minimum=minimum, capacity=capacity))
    assert (int(got[0]), Limit(int(why[0]))) == (units, limit)


def test_demand_to_counts_fractional_days_and_continues_the_last_week_past_the_horizon() -> None:
    mean = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])  # last week averages 5
    assert demand_to(mean, np.array([2.5]))[0] == pytest.approx(1 + 2 + 0.5 * 3)
    assert demand_to(mean, np.array([10.0]))[0] == pytest.approx(36 + 2 * 5)
    assert demand_to(mean, np.array([np.inf]))[0] == np.inf


def test_the_order_up_to_level_covers_lead_time_and_review_with_safety_stock() -> None:
    mean = np.full((1, 42), 3.0)
    got = stock_levels(mean, np.ones(1), terms(lead=2.0), review_days=7)
    assert got.order_up_to[0] > 3.0 * 9 and got.safety_stock[0] > 0
    assert got.reorder_point[0] >= 3.0 * 2 and got.reorder_point[0] < got.order_up_to[0]


def test_more_lead_time_spread_and_a_higher_target_need_more_stock() -> None:
    mean = np.full((1, 42), 3.0)
    base = stock_levels(mean, np.ones(1), terms(), 7).order_up_to[0]
    assert stock_levels(mean, np.ones(1), terms(lead_sd=2.0), 7).order_up_to[0] > base
    assert stock_levels(mean, np.ones(1), terms(fill=0.995), 7).order_up_to[0] > base
    assert stock_levels(mean, np.ones(1), terms(fill=0.90), 7).order_up_to[0] < base


def test_a_perishable_is_capped_at_what_sells_before_it_expires() -> None:
    mean = np.full((1, 42), 2.0)  # 2 a day; lead 2 days + 5 usable days: 14 sell before expiry
    got = stock_levels(mean, np.ones(1), terms(lead=2.0, usable=5.0), review_days=14)
    assert got.cap[0] == 14 and got.order_up_to[0] == 14


def test_capacity_caps_the_level_and_the_display_minimum_floors_it() -> None:
    mean = np.full((1, 42), 5.0)
    assert stock_levels(mean, np.ones(1), terms(capacity=20), 7).order_up_to[0] == 20
    idle = np.zeros((1, 42))
    assert stock_levels(idle, np.ones(1), terms(display=2), 7).order_up_to[0] == 2
    assert stock_levels(idle, np.ones(1), terms(), 7).order_up_to[0] == 0


def test_an_echelon_adds_the_stores_levels_to_the_warehouses() -> None:
    warehouse = StockLevels(np.array([10]), np.array([50]), np.array([80]), np.array([5.0]))
    got = echelon(warehouse, np.array([30]))
    assert (got.reorder_point[0], got.order_up_to[0], got.cap[0]) == (40, 80, 110)


def test_a_stores_stock_above_its_own_level_does_not_count_for_the_others() -> None:
    """Stock stuck at one store (above its level) cannot fill another's shortage: the warehouse's
    echelon position counts each store's position only up to that store's order-up-to level."""
    stores_position = np.array([[12, 0], [0, 3]])   # (stores, skus)
    stores_up_to = np.array([[4, 5], [4, 5]])
    got = echelon_position(np.array([10, 10]), stores_position, stores_up_to)
    assert got.tolist() == [10 + 4 + 0, 10 + 0 + 3]


def test_buying_terms_refuse_impossible_master_data() -> None:
    with pytest.raises(ValueError, match="pack sizes"):
        terms(pack=0)
    with pytest.raises(ValueError, match="fill-rate"):
        terms(fill=1.0)
    with pytest.raises(ValueError, match="shelf life"):
        terms(usable=0.0)
    with pytest.raises(ValueError, match="lead times"):
        terms(lead=-1.0)


STORES = [Series("sku-1", "sh-a", "treats"), Series("sku-1", "sh-b", "treats"),
          Series("sku-1", "hz-c", "treats"), Series("sku-2", "sh-b", "treats")]
KM = {frozenset({"sh-a", "sh-b"}): 5.0, frozenset({"sh-a", "hz-c"}): 160.0, frozenset({"sh-b", "hz-c"}): 165.0}


def km(a: str, b: str) -> float:
    return 0.0 if a == b else KM[frozenset({a, b})]


def test_surplus_moves_to_a_store_nearby_before_anything_is_bought() -> None:
    up_to = np.array([10, 10, 10, 10])
    lv = StockLevels(np.zeros(4, dtype=np.int64), up_to, np.full(4, 100), np.zeros(4))
    on_hand = np.array([18, 2, 0, 0])
    position = np.array([18, 4, 0, 10])  # sh-b has 2 on the way
    moves, after = plan_transfers(STORES, on_hand, position, lv, km, max_km=30.0)
    assert [(m.sku, m.source, m.destination, m.units) for m in moves] == [("sku-1", "sh-a", "sh-b", 6)]
    assert after.tolist() == [12, 10, 0, 10]  # hz-c is too far: it still needs 10
    units, _ = order_quantities(lv, after, terms(4))
    assert units.tolist() == [0, 0, 10, 0]


def test_only_units_on_hand_move_and_a_source_keeps_its_own_level() -> None:
    lv = StockLevels(np.zeros(2, dtype=np.int64), np.array([10, 10]), np.full(2, 100), np.zeros(2))
    two = STORES[:2]
    moves, _ = plan_transfers(two, np.array([12, 0]), np.array([30, 0]), lv, km, max_km=30.0)
    assert [(m.source, m.units) for m in moves] == [("sh-a", 2)]  # 18 more are still on their way


def test_with_below_reorder_point_only_a_store_that_would_run_short_receives() -> None:
    lv = StockLevels(np.array([4, 4, 4]), np.array([10, 10, 10]), np.full(3, 100), np.zeros(3))
    three = [STORES[0], STORES[1], Series("sku-1", "sh-d", "treats")]
    dist = {**KM, frozenset({"sh-a", "sh-d"}): 8.0, frozenset({"sh-b", "sh-d"}): 3.0}
    moves, after = plan_transfers(three, np.array([20, 6, 3]), np.array([20, 6, 3]), lv,
                                  lambda a, b: dist[frozenset({a, b})], 30.0, below_reorder_point=True)
    assert [(m.destination, m.units) for m in moves] == [("sh-d", 7)]  # sh-b (6, above 4) waits
    assert after.tolist() == [13, 6, 10]


def test_a_transfer_below_the_smallest_worth_moving_is_not_made() -> None:
    lv = StockLevels(np.zeros(2, dtype=np.int64), np.array([10, 10]), np.full(2, 100), np.zeros(2))
    moves, after = plan_transfers(STORES[:2], np.array([12, 0]), np.array([12, 0]), lv, km, 30.0, min_units=3)
    assert moves == () and after.tolist() == [12, 0]


def test_purchase_suggestions_group_lines_per_supplier() -> None:
    got = purchase_suggestions(STORES, np.array([12, 0, 6, 24]), ["acme", "acme", "acme", "petco"],
                               np.array([10.0, 10.0, 10.0, 2.5]))
    assert [(p.supplier, [(line.location, line.units) for line in p.lines], p.value) for p in got] == [
        ("acme", [("hz-c", 6), ("sh-a", 12)], 180.0), ("petco", [("sh-b", 24)], 60.0)]


REGION = {"sh-a": "sh", "sh-b": "sh", "hz-c": "hz"}


@pytest.mark.parametrize(("positions", "warehouse", "expected"), [
    pytest.param([2, 9, 9], 100, [("sku-1", "sh", EmergencyLevel.STORE, ("sh-a",), 3)], id="one store short"),
    pytest.param([2, 1, 9], 100, [("sku-1", "sh", EmergencyLevel.SEVERAL_STORES, ("sh-a", "sh-b"), 7)],
                 id="two stores short: the warehouse ships"),
    pytest.param([2, 1, 9], 5, [("sku-1", "sh", EmergencyLevel.REGION, ("sh-a", "sh-b"), 7)],
                 id="the warehouse cannot cover: urgent supplier order"),
    pytest.param([5, 5, 5], 0, [], id="nobody below the reorder point"),
])
def test_the_three_level_emergency(positions: list[int], warehouse: int,
                                   expected: list[tuple[str, str, EmergencyLevel, tuple[str, ...], int]]) -> None:
    lv = StockLevels(np.array([5, 5, 5]), np.array([10, 10, 10]), np.full(3, 100), np.zeros(3))
    found = emergencies(STORES[:3], np.array(positions), lv, REGION, {("sh", "sku-1"): warehouse})
    assert [(e.sku, e.region, e.level, e.stores, e.shortfall) for e in found] == expected
