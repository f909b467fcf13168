"""Demand classes, the promotions calendar, uplifts and the forecast run (cloud/replenish)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from cloud.replenish.classify import DemandClass, adi_cv2, classify, trending
from cloud.replenish.forecast import SalesHistory, forecast_demand
from cloud.replenish.promotions import (
    DOUBLE_11,
    NO_PROMOTION,
    Promotion,
    PromotionCalendar,
    estimate_uplifts,
)
from cloud.replenish.series import Series

START = date(2025, 1, 6)  # a Monday


def tiled(pattern: list[float], days: int = 182) -> np.ndarray:
    return np.resize(np.array(pattern, dtype=float), days)


@pytest.mark.parametrize(("pattern", "expected"), [
    pytest.param([4, 5, 6], DemandClass.SMOOTH, id="every day, steady sizes"),
    pytest.param([1, 9], DemandClass.ERRATIC, id="every day, sizes 1 or 9 (CV² 1.28)"),
    pytest.param([1, 0, 0], DemandClass.INTERMITTENT, id="one every third day (ADI 3, CV² 0)"),
    pytest.param([1, 0, 0, 9, 0, 0], DemandClass.LUMPY, id="every third day, 1 or 9"),
    pytest.param([0], DemandClass.DORMANT, id="nothing sold"),
])
def test_syntetos_boylan_quadrants(pattern: list[float], expected: DemandClass) -> None:
    assert classify(tiled(pattern)[None, :], min_days=28)[0] == expected


def test_adi_and_cv2_count_only_listed_days_and_a_short_history_is_new() -> None:
    y = np.concatenate([np.full(100, np.nan), tiled([2, 0], 82)])
    adi, cv2 = adi_cv2(y[None, :])
    assert (adi[0], cv2[0]) == (2.0, 0.0)
    assert classify(y[None, -20:], min_days=28)[0] == DemandClass.NEW


def test_a_clear_trend_is_found_and_noise_is_not() -> None:
    rng = np.random.default_rng(3)
    rising = rng.poisson(np.linspace(2, 6, 182)).astype(float)
    flat = rng.poisson(np.full(182, 4.0)).astype(float)
    assert trending(np.stack([rising, flat])).tolist() == [True, False]


def test_the_calendar_marks_windows_leap_days_and_one_off_dates() -> None:
    calendar = PromotionCalendar((DOUBLE_11, Promotion("leap", 2, 29), Promotion("opening", on=date(2027, 3, 1))))
    index = calendar.index(date(2027, 11, 9), 4)
    assert index.tolist() == [NO_PROMOTION, 0, 0, NO_PROMOTION]  # the day before counts (before=1)
    assert (calendar.index(date(2027, 2, 27), 3) == 2).tolist() == [False, False, True]  # 2027 has no 02-29
    assert calendar.index(date(2028, 2, 28), 2).tolist() == [NO_PROMOTION, 1]


def test_where_windows_overlap_the_first_listed_counts() -> None:
    calendar = PromotionCalendar((Promotion("a", 6, 18), Promotion("b", 6, 17, after=2)))
    assert calendar.index(date(2026, 6, 17), 3).tolist() == [1, 0, 1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "x", "month": 2, "day": 30}, "no such day"),
    ({"name": "", "month": 1, "day": 1}, "needs a name"),
    ({"name": "x", "month": 1, "day": 1, "before": -1}, "before/after"),
    ({"name": "x", "month": 1, "day": 1, "default_uplift": 0}, "uplift"),
])
def test_a_promotion_that_cannot_be_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Promotion(**kwargs)  # type: ignore[arg-type]


def test_promotion_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        PromotionCalendar((DOUBLE_11, DOUBLE_11))


def test_uplifts_come_from_history_else_the_category_else_the_default() -> None:
    calendar = PromotionCalendar((Promotion("p", 1, 1, default_uplift=1.7),))
    promo = np.array([0, NO_PROMOTION, 0, NO_PROMOTION])
    baseline = np.array([[100.0, 100, 100, 100], [np.nan, 5, np.nan, 5], [np.nan] * 4])
    sales = np.array([[300.0, 100, 300, 100], [0, 5, 0, 5], [0.0] * 4])
    got = estimate_uplifts(sales, baseline, promo, np.array([0, 0, 1]), calendar)
    assert got[0, 0] == pytest.approx(3.0, rel=0.03)   # 600 units over a baseline of 200
    assert got[1, 0] == pytest.approx(got[0, 0] * 0 + (600 + 40 * 1.7) / (200 + 40), rel=1e-9)  # its category's
    assert got[2, 0] == pytest.approx(1.7)              # a category that never saw it: the default


def weekly_history(rate: float, days: int, rng: np.random.Generator, weekend: float = 1.0) -> np.ndarray:
    shape = np.where(((np.arange(days) + START.weekday()) % 7) >= 5, weekend, 1.0)
    return rng.poisson(rate * shape).astype(float)


def test_a_forecast_keeps_the_weekly_pattern_and_picks_a_model_per_class() -> None:
    rng = np.random.default_rng(7)
    days = 182
    units = np.stack([weekly_history(6.0, days, rng, weekend=2.0),
                      tiled([1, 0, 0, 0], days),
                      rng.poisson(np.linspace(2, 12, days)).astype(float),
                      np.zeros(days)])
    series = [Series(f"sku-{i}", "sh-a", "food") for i in range(4)]
    got = forecast_demand(SalesHistory(START, units), series, 14, PromotionCalendar(()))
    assert got.method == ("SeasonalESOptimized", "CrostonSBA", "Holt", "zero")
    first = got.first_day.weekday()
    saturday, monday = (5 - first) % 7, (7 - first) % 7
    assert got.mean[0, saturday] / got.mean[0, monday] == pytest.approx(2.0, rel=0.3)
    assert got.mean[1].mean() == pytest.approx(0.25, rel=0.3)
    assert got.mean[2, :7].mean() > 9  # the trend carries on
    assert (got.mean[3] == 0).all()
    assert (got.dispersion >= 1).all()


def test_a_promotion_seen_last_year_lifts_this_years_day() -> None:
    rng = np.random.default_rng(11)
    days = 400  # 2025-01-06 .. 2026-02-09: last year's 02-10 is in the history, this year's is not
    calendar = PromotionCalendar((Promotion("anniversary", 2, 10),))
    promo_day = (date(2025, 2, 10) - START).days
    units = np.stack([rng.poisson(np.full(days, 5.0)).astype(float) for _ in range(6)])
    units[:, promo_day] = rng.poisson(15.0, 6)
    got = forecast_demand(SalesHistory(START, units), [Series(f"s{i}", "a", "food") for i in range(6)], 7,
                          calendar)
    ahead = (date(2026, 2, 10) - got.first_day).days
    lift = got.mean[:, ahead] / np.delete(got.mean, ahead, axis=1).mean(axis=1)
    assert np.median(lift) == pytest.approx(3.0, rel=0.35)


def test_a_new_product_and_a_new_store_start_from_priors() -> None:
    rng = np.random.default_rng(5)
    days = 120
    next_day = START + timedelta(days=days)
    units = np.stack([rng.poisson(np.full(days, 4.0)).astype(float),   # sku-1 at small store a
                      *[rng.poisson(np.full(days, r)).astype(float) for r in (1.0, 2.0, 3.0)],
                      np.zeros(days), np.zeros(days)])
    series = [Series("sku-1", "a", "food"), Series("sku-2", "a", "food"), Series("sku-3", "a", "food"),
              Series("sku-4", "a", "food"),
              Series("sku-1", "b", "food", listed_on=next_day + timedelta(days=3)),  # b opens in 3 days
              Series("sku-9", "a", "food", listed_on=next_day)]                    # a new product at a
    got = forecast_demand(SalesHistory(START, units), series, 10, PromotionCalendar(()),
                          store_size={"a": 1.0, "b": 2.0})
    assert got.method[4:] == ("prior", "prior")
    assert (got.mean[4, :3] == 0).all()                             # not on sale before it opens
    assert got.mean[4, 3:].mean() == pytest.approx(8.0, rel=0.15)   # sku-1 sells 4 at a, b is twice a
    assert got.mean[5].mean() == pytest.approx(2.5, rel=0.2)        # the mean of food at a


def test_stock_out_days_are_read_as_censored_not_as_no_demand() -> None:
    rng = np.random.default_rng(9)
    days = 182
    true = rng.poisson(np.full((8, days), 5.0)).astype(float)
    out = np.zeros((8, days), dtype=bool)
    out[:, -56::2] = True  # empty shelf every other day for the last eight weeks
    sold = np.where(out, 0.0, true)
    series = [Series(f"s{i}", "a", "food") for i in range(8)]
    naive = forecast_demand(SalesHistory(START, sold), series, 7, PromotionCalendar(()))
    aware = forecast_demand(SalesHistory(START, sold, out), series, 7, PromotionCalendar(()))
    assert naive.mean.mean() < 4.0
    assert aware.mean.mean() == pytest.approx(5.0, rel=0.12)


def test_history_that_cannot_be_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        SalesHistory(START, np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="series for"):
        forecast_demand(SalesHistory(START, np.zeros((2, 30))), [Series("a", "b", "c")], 7, PromotionCalendar())
    with pytest.raises(ValueError, match="shape"):
        SalesHistory(START, np.zeros((2, 30)), np.zeros((2, 29), dtype=bool))


def test_a_slow_items_spread_from_a_handful_of_sales_leans_on_its_category() -> None:
    """Three sales of 5 in eight weeks say little about the spread: the variance-to-mean ratio used
    for safety stock is pulled towards the category's (Poisson-like here), not taken at face value."""
    rng = np.random.default_rng(2)
    days = 182
    units = np.vstack([rng.poisson(np.full((10, days), 3.0)).astype(float), np.zeros((1, days))])
    units[10, ::40] = 5.0  # a sale of 5 every 40 days, three of them in the last 8 weeks
    series = [Series(f"s{i}", "a", "treats") for i in range(11)]
    got = forecast_demand(SalesHistory(START, units), series, 7, PromotionCalendar(()))
    raw = float(np.var(units[10, -56:], ddof=1) / units[10, -56:].mean())
    assert raw > 4 and got.dispersion[10] < 0.6 * raw
