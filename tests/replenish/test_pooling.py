"""Fill-rate targets met per pool of series (a store's category) at the least stock value
(cloud/replenish/service.py `pooled_order_up_to`, policy.py `Pooling`): checked against the
negative binomial's shortage summed from scipy's probability mass, not the module's own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cloud.replenish.policy import BuyingTerms, Pooling, stock_levels
from cloud.replenish.service import order_up_to, pooled_order_up_to, window_variance

LEAD, REVIEW = 1.3, 7.0
Windows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # mean and var over L+R, L; mean R


def _loss(mean: float, var: float, level: float) -> float:
    """E[(D − level)⁺] for D negative binomial with this mean and variance (Poisson-like if var ≈ mean)."""
    if mean <= 0:
        return 0.0
    var = max(var, mean * (1 + 1e-6) + 1e-9)
    k = np.arange(0, int(mean + 60 * np.sqrt(var) + 200))
    pmf = stats.nbinom.pmf(k, mean * mean / (var - mean), mean / var)
    return float((np.clip(k - level, 0, None) * pmf).sum())


def _windows(daily: np.ndarray, dispersion: np.ndarray) -> Windows:
    n = len(daily)
    mean_l, mean_lr = daily * LEAD, daily * (LEAD + REVIEW)
    var_l = window_variance(mean_l, np.full(n, LEAD), dispersion, np.zeros(n))
    var_lr = window_variance(mean_lr, np.full(n, LEAD + REVIEW), dispersion, np.zeros(n))
    return mean_lr, var_lr, mean_l, var_l, mean_lr - mean_l


def _short(level: float, mean_lr: float, var_lr: float, mean_l: float, var_l: float) -> float:
    return _loss(mean_lr, var_lr, level) - _loss(mean_l, var_l, level)


def _pool_fill(levels: np.ndarray, windows: Windows) -> float:
    mean_lr, var_lr, mean_l, var_l, mean_r = windows
    short = sum(_short(float(levels[i]), mean_lr[i], var_lr[i], mean_l[i], var_l[i]) for i in range(len(levels)))
    return 1.0 - short / float(mean_r.sum())


def test_a_pool_meets_its_target_with_less_value_than_every_series_alone() -> None:
    """A cheap steady seller and a dear slow one in one store's category: the pool's fill rate is
    the target at a lower stock value, the dear item holding less and the cheap one more."""
    daily, dispersion = np.array([3.0, 0.15]), np.array([1.5, 2.5])
    value = np.array([5.0, 200.0])
    w = _windows(daily, dispersion)
    fill = np.full(2, 0.98)
    alone = order_up_to(*w, fill)
    pooled = pooled_order_up_to(*w, fill, np.zeros(2, dtype=np.int64), value, np.zeros(2), np.full(2, 1e6))
    assert _pool_fill(alone, w) >= 0.98 and _pool_fill(pooled, w) >= 0.98
    assert (pooled * value).sum() < (alone * value).sum()
    assert pooled[1] < alone[1] and pooled[0] > alone[0]


def test_each_pool_meets_its_own_target_and_a_pool_of_one_is_the_series_alone() -> None:
    daily, dispersion = np.array([0.4, 0.15, 0.8]), np.array([1.5, 2.5, 1.2])
    w = _windows(daily, dispersion)
    fill = np.array([0.98, 0.95, 0.99])
    alone = order_up_to(*w, fill)
    pooled = pooled_order_up_to(*w, fill, np.array([0, 1, 2]), np.array([10.0, 90.0, 3.0]), np.zeros(3),
                                np.full(3, 1e6))
    assert pooled.tolist() == alone.tolist()


def test_a_capped_series_is_made_up_by_the_others_in_its_pool() -> None:
    """A perishable capped below its own level (what sells before it expires): the pool's other
    series carry its shortfall; capped far below, the others stop at the most fill rate."""
    daily, dispersion = np.array([4.0, 0.5]), np.array([1.4, 1.4])
    w = _windows(daily, dispersion)
    fill, pool, value = np.full(2, 0.98), np.zeros(2, dtype=np.int64), np.array([10.0, 10.0])
    free = pooled_order_up_to(*w, fill, pool, value, np.zeros(2), np.full(2, 1e6))
    cap = float(free[1]) - 1
    capped = pooled_order_up_to(*w, fill, pool, value, np.zeros(2), np.array([1e6, cap]))
    assert capped[1] == cap and capped[0] > free[0]
    assert _pool_fill(capped, w) >= 0.98
    mean = daily[:, None] * np.ones((1, 28))
    terms = BuyingTerms(
        pack=np.ones(2, dtype=np.int64), minimum=np.zeros(2, dtype=np.int64), capacity=np.array([10**6, 3]),
        lead_mean=np.full(2, LEAD), lead_sd=np.zeros(2), usable_days=np.full(2, np.inf),
        fill_rate=fill, display_min=np.zeros(2, dtype=np.int64), pooling=Pooling(pool, value))
    most = order_up_to(*w, np.full(2, 0.999))[0]
    assert stock_levels(mean, dispersion, terms, REVIEW).order_up_to.tolist() == [most, 3]


def test_stock_levels_keep_every_series_at_the_least_fill_rate_and_the_display_minimum() -> None:
    n = 3
    mean = np.array([[4.0], [0.1], [0.0]]) * np.ones((1, 28))
    terms = BuyingTerms(
        pack=np.ones(n, dtype=np.int64), minimum=np.zeros(n, dtype=np.int64),
        capacity=np.full(n, 10**6, dtype=np.int64), lead_mean=np.full(n, LEAD), lead_sd=np.zeros(n),
        usable_days=np.full(n, np.inf), fill_rate=np.full(n, 0.98), display_min=np.full(n, 2, dtype=np.int64),
        pooling=Pooling(np.zeros(n, dtype=np.int64), np.array([1.0, 500.0, 500.0]), least_fill_rate=0.93))
    got = stock_levels(mean, np.array([1.3, 2.0, 1.0]), terms, REVIEW).order_up_to
    w = _windows(np.array([4.0, 0.1]), np.array([1.3, 2.0]))
    slow_fill = 1 - _short(float(got[1]), w[0][1], w[1][1], w[2][1], w[3][1]) / w[4][1]
    assert slow_fill >= 0.93 and got[2] == 2  # nothing sells: the display minimum, no more


def test_pooling_that_cannot_be_is_refused() -> None:
    with pytest.raises(ValueError, match="least and most"):
        Pooling(np.zeros(1, dtype=np.int64), np.ones(1), least_fill_rate=1.0)
    with pytest.raises(ValueError, match="least and most"):
        Pooling(np.zeros(1, dtype=np.int64), np.ones(1), least_fill_rate=0.95, most_fill_rate=0.9)
    with pytest.raises(ValueError, match="unit values"):
        Pooling(np.zeros(1, dtype=np.int64), np.zeros(1))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0.02, 2.5), st.floats(1.0, 3.0), st.floats(1.0, 300.0), st.integers(0, 2),
                          st.integers(0, 3), st.integers(4, 60)), min_size=1, max_size=6),
       st.floats(0.85, 0.99))
def test_pooled_levels_stay_within_their_bounds_and_every_pool_meets_its_target(
        rows: list[tuple[float, float, float, int, int, int]], target: float) -> None:
    daily = np.array([r[0] for r in rows])
    w = _windows(daily, np.array([r[1] for r in rows]))
    pool = np.array([r[3] for r in rows], dtype=np.int64)
    low, high = np.array([r[4] for r in rows], dtype=float), np.array([r[5] for r in rows], dtype=float)
    fill = np.full(len(rows), target)
    got = pooled_order_up_to(*w, fill, pool, np.array([r[2] for r in rows]), low, high)
    assert ((got >= np.minimum(low, high)) & (got <= high)).all()
    alone = np.minimum(np.maximum(order_up_to(*w, fill), low), high)
    for p in np.unique(pool):
        k = pool == p
        sub: Windows = (w[0][k], w[1][k], w[2][k], w[3][k], w[4][k])
        if _pool_fill(alone[k], sub) >= target:  # the caps let every series alone meet it: the pool does too
            assert _pool_fill(got[k], sub) >= target - 1e-6
