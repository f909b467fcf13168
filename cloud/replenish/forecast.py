"""Daily demand per SKU × location from daily sales history (pure: arrays in, arrays out).

How one forecast run goes, every step vectorised over all series at once:

1. Weekly profile: each series' weekday shares, shrunk towards its store × category profile by
   how many units it sold (a slow item's own weekdays are noise; the category's are not).
2. Promotions: on every promotion day of the history, the baseline (the trailing 28-day
   deseasonalised level times the weekday share) is set against what sold; the ratio, shrunk
   towards the category and then the calendar's default (`promotions.estimate_uplifts`), is the
   series' uplift. Promotion days are divided by it, so the models below see a clean history, and
   future promotion days are multiplied by it.
3. Class (`classify`, Syntetos–Boylan ADI/CV²) over the fit window picks the model, fitted with
   statsforecast (Nixtla), one `StatsForecast` per model over all its series:
   smooth and erratic → SeasonalExponentialSmoothingOptimized (season 7); the same with a clear
   trend → Holt (damped additive-trend ETS) on the deseasonalised series; intermittent and lumpy →
   CrostonSBA (the Syntetos–Boylan approximation) times the weekday profile.
   AutoETS with a full model search measured ~100 ms per series here (10,000 series would take
   ~15 min on two cores), which is why the model is chosen by class instead of searched.
4. New series (fewer than `min_history_days` listed days) start from a prior: the same SKU at the
   other stores per unit of store size, else the mean of the store's category (the mean, not the
   median: demand levels in a category are right-skewed, and the prior is an expectation), else
   the category across the chain per unit of store size; their own days blend in as they come
   (weight n / (n + prior_days)). A series not yet listed forecasts zero until its listing day.

Censored demand: on a day a series stocked out, what sold is a lower bound. Such days are left out
of the profiles, levels, uplifts and dispersion, and the models see max(sold, trailing level ×
weekday share) for them, so a shelf that was empty does not teach the forecast that nobody wants
the item (the vicious circle of forecasting from sales).
5. Dispersion: the variance-to-mean ratio of daily demand around the deseasonalised level over
   the last 8 weeks (at least 1, the Poisson case), shrunk towards the category's median by units
   sold (a slow item's handful of sales says little about its spread), which the safety stock
   (`service`) needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, CrostonSBA, HistoricAverage
from statsforecast.models import SeasonalExponentialSmoothingOptimized as SeasonalES

from cloud.replenish.classify import DemandClass, classify, trending
from cloud.replenish.promotions import NO_PROMOTION, PromotionCalendar, estimate_uplifts
from cloud.replenish.series import Series

__all__ = ["DemandForecast", "ForecastSettings", "SalesHistory", "Series", "forecast_demand"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
WEEK = 7


@dataclass(frozen=True)
class SalesHistory:
    """Units sold per series (rows, in the order of the `Series` list) and day (columns).

    `stocked_out` marks days the series had nothing sellable at some point (the ledger knows): what
    sold then is a lower bound of demand, not demand, and is read as such.
    """

    first_day: date
    units: Floats
    stocked_out: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        if self.units.ndim != 2:
            raise ValueError("sales history must be a (series, days) array")
        if not np.isfinite(self.units).all() or (self.units < 0).any():
            raise ValueError("sales history must be finite and non-negative")
        if self.stocked_out is not None and self.stocked_out.shape != self.units.shape:
            raise ValueError("stocked_out must have the shape of units")

    @property
    def days(self) -> int:
        return int(self.units.shape[1])

    @property
    def next_day(self) -> date:
        return self.first_day + timedelta(days=self.days)


@dataclass(frozen=True)
class ForecastSettings:
    fit_days: int = 182           # the window the models see (promotion uplifts use all history)
    min_history_days: int = 28    # fewer listed days: a prior, not a model
    prior_days: float = 14.0      # own days worth as much as the prior for a new series
    profile_weight: float = 50.0  # units sold at which a series' own weekdays count half
    baseline_days: int = 28       # trailing window of the promotion baseline
    dispersion_days: int = 56
    n_jobs: int = 1               # StatsForecast worker processes

    def __post_init__(self) -> None:
        if self.fit_days < 2 * WEEK or self.min_history_days < 2 * WEEK:
            raise ValueError("fit_days and min_history_days must cover at least two weeks")
        if self.n_jobs < 1:
            raise ValueError("n_jobs must be >= 1")


@dataclass(frozen=True)
class DemandForecast:
    """Expected daily demand (series, horizon) from `first_day`, and what produced it."""

    first_day: date
    mean: Floats
    dispersion: Floats           # variance / mean of daily demand, >= 1
    demand_class: Ints           # DemandClass per series
    method: tuple[str, ...]
    uplift: Floats               # (series, promotions)

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])


def _weekdays(first: date, days: int) -> Ints:
    return (np.arange(days) + first.weekday()) % WEEK


def _group_ids(values: Sequence[str]) -> Ints:
    _, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def _weekday_profile(y: Floats, usable: npt.NDArray[np.bool_], weekday: Ints, group: Ints,
                     weight: float) -> Floats:
    """Weekday shares (series, 7), mean 1: own shares shrunk towards the group's pooled shares."""
    n = y.shape[0]
    units = np.zeros((n, WEEK))
    days = np.zeros((n, WEEK))
    for w in range(WEEK):
        on = usable & (weekday == w)[None, :]
        units[:, w] = np.where(on, y, 0.0).sum(axis=1)
        days[:, w] = on.sum(axis=1)
    groups = int(group.max()) + 1
    pooled_units = np.stack([np.bincount(group, units[:, w], groups) for w in range(WEEK)], axis=1)
    pooled_days = np.stack([np.bincount(group, days[:, w], groups) for w in range(WEEK)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = _normalise(np.where(pooled_days > 0, pooled_units / pooled_days, 0.0))
        own = _normalise(np.where(days > 0, units / days, 0.0))
    total = units.sum(axis=1, keepdims=True)
    return _normalise((total * own + weight * pooled[group]) / (total + weight))


def _normalise(rates: Floats) -> Floats:
    mean = rates.mean(axis=1, keepdims=True)
    return np.where(mean > 0, rates / np.where(mean > 0, mean, 1.0), 1.0)


def _trailing_level(z: Floats, usable: npt.NDArray[np.bool_], window: int) -> Floats:
    """Mean of `z` over usable days in [t - window, t) for every t (NaN without any)."""
    values = np.where(usable, z, 0.0)
    c = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    k = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(usable, axis=1)], axis=1)
    # sums over [t - window, t): c[t] - c[max(t - window, 0)], by shifted slices (no fancy indexing)
    rows, days = z.shape
    head = np.zeros((rows, min(window, days)))
    lag = np.concatenate([head, c[:, :max(days - window, 0)]], axis=1)
    lag_k = np.concatenate([head, k[:, :max(days - window, 0)]], axis=1)
    s, n = c[:, :-1] - lag, k[:, :-1] - lag_k
    with np.errstate(divide="ignore", invalid="ignore"):
        level: Floats = np.where(n > 0, s / n, np.nan)
    return level


def _fit(model: object, alias: str, y: Floats, rows: Ints, first_col: Ints, horizon: int,
         n_jobs: int) -> Floats:
    """Forecast rows of `y` (each from its `first_col`) with one statsforecast model."""
    out = np.zeros((len(rows), horizon))
    if not len(rows):
        return out
    lengths = y.shape[1] - first_col
    cols = np.concatenate([np.arange(f, y.shape[1]) for f in first_col])
    frame = pd.DataFrame({
        "unique_id": np.repeat(np.arange(len(rows)), lengths),
        "ds": cols,
        "y": y[np.repeat(rows, lengths), cols],
    })
    engine = StatsForecast(models=[model], freq=1, n_jobs=n_jobs, fallback_model=HistoricAverage())
    result = engine.forecast(h=horizon, df=frame)
    values: Floats = result[alias].to_numpy(dtype=float).reshape(len(rows), horizon)
    return np.clip(np.nan_to_num(values), 0.0, None)


def forecast_demand(
    history: SalesHistory,
    series: Sequence[Series],
    horizon: int,
    calendar: PromotionCalendar,
    store_size: Mapping[str, float] | None = None,
    settings: ForecastSettings | None = None,
) -> DemandForecast:
    """Expected daily demand for the `horizon` days after the history, per series."""
    settings = settings or ForecastSettings()
    sizes = store_size or {}
    n, days = history.units.shape
    if len(series) != n:
        raise ValueError(f"{len(series)} series for {n} rows of history")
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    listed_idx = np.array([0 if s.listed_on is None else (s.listed_on - history.first_day).days
                           for s in series], dtype=np.int64)
    category = _group_ids([s.category for s in series])
    location = _group_ids([s.location for s in series])
    sku = _group_ids([s.sku for s in series])
    size = np.array([sizes.get(s.location, 1.0) for s in series])
    if (size <= 0).any():
        raise ValueError("store sizes must be > 0")
    loc_cat = location * (int(category.max()) + 1) + category

    y = history.units.astype(float)
    listed = np.arange(days)[None, :] >= listed_idx[:, None]
    weekday = _weekdays(history.first_day, days)
    promo = calendar.index(history.first_day, days)
    observed = listed if history.stocked_out is None else listed & ~history.stocked_out
    regular = observed & (promo == NO_PROMOTION)[None, :]
    recent = regular & (np.arange(days) >= days - settings.fit_days)[None, :]

    profile = _weekday_profile(y, recent, weekday, loc_cat, settings.profile_weight)
    season = profile[:, weekday]  # (series, days)
    level = _trailing_level(y / season, regular, settings.baseline_days)
    uplift = estimate_uplifts(y, np.where(observed, level * season, np.nan), promo, category, calendar)
    clean = y / _promotion_factor(uplift, promo)
    if history.stocked_out is not None:
        clean = np.where(listed & ~observed, np.fmax(clean, np.nan_to_num(level) * season), clean)

    start = max(days - settings.fit_days, 0)
    window = np.where(listed[:, start:], clean[:, start:], np.nan)
    demand_class = classify(window, settings.min_history_days)
    first_col = np.maximum(listed_idx - start, 0)
    frequent = np.isin(demand_class, [DemandClass.SMOOTH, DemandClass.ERRATIC])
    trend = frequent & trending(window)

    future_weekday = _weekdays(history.next_day, horizon)
    future_season = profile[:, future_weekday]
    mean = np.zeros((n, horizon))
    method = np.full(n, "zero", dtype=object)

    rows = np.flatnonzero(frequent & ~trend)
    mean[rows] = _fit(SeasonalES(season_length=WEEK), "SeasESOpt", window, rows, first_col[rows],
                      horizon, settings.n_jobs)
    method[rows] = "SeasonalESOptimized"
    rows = np.flatnonzero(trend)
    mean[rows] = future_season[rows] * _fit(
        AutoETS(model="AAN", damped=True, alias="Holt"), "Holt", window / profile[:, weekday[start:]],
        rows, first_col[rows], horizon, settings.n_jobs)
    method[rows] = "Holt"
    rows = np.flatnonzero(np.isin(demand_class, [DemandClass.INTERMITTENT, DemandClass.LUMPY]))
    mean[rows] = future_season[rows] * _fit(CrostonSBA(), "CrostonSBA", window, rows, first_col[rows],
                                            horizon, settings.n_jobs)
    method[rows] = "CrostonSBA"

    deseasonalised = np.where(observed, clean / season, 0.0)
    recent_days = observed[:, -settings.baseline_days:].sum(axis=1)
    recent_level = deseasonalised[:, -settings.baseline_days:].sum(axis=1) / np.maximum(recent_days, 1)
    new = demand_class == DemandClass.NEW
    prior = _prior_level(recent_level, ~new, sku, category, location, size)
    own_days = observed.sum(axis=1).astype(float)
    own_mean = deseasonalised.sum(axis=1) / np.maximum(own_days, 1)
    weight = own_days / (own_days + settings.prior_days)
    rows = np.flatnonzero(new)
    mean[rows] = future_season[rows] * (weight * own_mean + (1 - weight) * prior)[rows, None]
    method[rows] = "prior"

    future_days = days + np.arange(horizon)
    mean = np.where(future_days[None, :] >= listed_idx[:, None], mean, 0.0)
    future_promo = calendar.index(history.next_day, horizon)
    mean *= _promotion_factor(uplift, future_promo)

    dispersion = _dispersion(clean, season, regular, settings.dispersion_days, demand_class, category)
    return DemandForecast(history.next_day, mean, dispersion, demand_class, tuple(method), uplift)


def _promotion_factor(uplift: Floats, index: Ints) -> Floats:
    """(series, days): each series' uplift on the promotion days of `index`, 1 elsewhere."""
    if not uplift.shape[1]:  # a calendar without promotions
        return np.ones((uplift.shape[0], len(index)))
    return np.where(index[None, :] >= 0, uplift[:, np.maximum(index, 0)], 1.0)


def _prior_level(level: Floats, known: npt.NDArray[np.bool_], sku: Ints, category: Ints,
                 location: Ints, size: Floats) -> Floats:
    """A starting daily level for every series from the established (`known`) ones."""
    skus = int(sku.max()) + 1
    per_size = np.where(known, level / size, 0.0)
    sku_units = np.bincount(sku, np.where(known, level, 0.0), skus)
    sku_rate = sku_units / np.maximum(np.bincount(sku, size * known, skus), 1e-12)
    has_sku = np.bincount(sku, known, skus) > 0
    prior = np.full(level.shape, np.nan)
    loc_cat: dict[tuple[int, int], float] = {}
    cat_rate: dict[int, float] = {}
    for c in np.unique(category):
        in_cat = known & (category == c)
        if in_cat.any():
            cat_rate[int(c)] = float(np.mean(per_size[in_cat]))
        for loc in np.unique(location[category == c]):
            here = in_cat & (location == loc)
            if here.sum() >= 3:
                loc_cat[int(loc), int(c)] = float(np.mean(level[here]))
    overall = float(np.mean(per_size[known])) if known.any() else 0.0
    for i in range(len(level)):
        if has_sku[sku[i]]:
            prior[i] = sku_rate[sku[i]] * size[i]
        elif (int(location[i]), int(category[i])) in loc_cat:
            prior[i] = loc_cat[int(location[i]), int(category[i])]
        else:
            prior[i] = cat_rate.get(int(category[i]), overall) * size[i]
    return prior


DISPERSION_WEIGHT = 20.0  # units sold in the window at which a series' own ratio counts half


def _dispersion(clean: Floats, season: Floats, usable: npt.NDArray[np.bool_], window: int,
                demand_class: Ints, category: Ints) -> Floats:
    y = clean[:, -window:]
    s = season[:, -window:]
    ok = usable[:, -window:]
    days = ok.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(ok, y / s, 0.0).sum(axis=1) / np.maximum(days, 1)
        expected = level[:, None] * s
        var = np.where(ok, (y - expected) ** 2, 0.0).sum(axis=1) / np.maximum(days - 1, 1)
        ratio = var / np.maximum(level, 1e-9)
    known = (days >= 14) & (level > 0) & (demand_class != DemandClass.NEW)
    ratio = np.clip(np.where(known, ratio, np.nan), 1.0, 50.0)
    prior = np.full(ratio.shape, 1.5)
    for c in np.unique(category):
        here = known & (category == c)
        if here.any():
            prior[category == c] = float(np.median(ratio[here]))
    # a ratio from a handful of sales is mostly noise: shrink it towards the category's by units sold
    units = np.where(ok, y, 0.0).sum(axis=1)
    weight = units / (units + DISPERSION_WEIGHT)
    return np.where(known, weight * ratio + (1 - weight) * prior, prior)
