"""The promotions calendar and the uplift each promotion brings to a series.

A promotion is a recurring day of the year (Double 11 on 11-11, 618 on 06-18, the chain's own days)
or a one-off date, with a window of days before and after it. Demand on a promotion day is the
series' baseline times an uplift. The uplift is estimated from the series' own history and shrunk
towards its category's pooled uplift, which is in turn shrunk towards the promotion's configured
default: a series with a long promotion history speaks for itself, one without it (a new product, a
first 618) starts from what its category or the chain expects. The shrinkage is the usual
empirical-Bayes ratio estimator, (Σ sales + κ·prior) / (Σ baseline + κ), with κ in units.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

NO_PROMOTION = -1


@dataclass(frozen=True)
class Promotion:
    """One promotion: every year on `month`-`day`, or once on `on`; `before`/`after` widen it."""

    name: str
    month: int = 0
    day: int = 0
    on: date | None = None
    before: int = 0
    after: int = 0
    default_uplift: float = 1.5  # what the chain expects when neither series nor category has seen it

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a promotion needs a name")
        if self.on is None:
            try:
                date(2024, self.month, self.day)  # a leap year, so 02-29 is accepted
            except ValueError as e:
                day = f"{self.month:02d}-{self.day:02d}"
                raise ValueError(f"promotion {self.name!r}: no such day {day}") from e
        if self.before < 0 or self.after < 0:
            raise ValueError(f"promotion {self.name!r}: before/after must be >= 0")
        if not self.default_uplift > 0:
            raise ValueError(f"promotion {self.name!r}: default uplift must be > 0")

    def days(self, first: date, last: date) -> Iterable[date]:
        """Every day of this promotion's windows that falls in [first, last]."""
        if self.on is not None:
            centres = [self.on]
        else:
            centres = []
            for year in range(first.year - 1, last.year + 2):
                try:
                    centres.append(date(year, self.month, self.day))
                except ValueError:  # 02-29 in a common year
                    continue
        for centre in centres:
            for offset in range(-self.before, self.after + 1):
                day = centre + timedelta(days=offset)
                if first <= day <= last:
                    yield day


DOUBLE_11 = Promotion("double-11", 11, 11, before=1, default_uplift=2.5)
SIX_EIGHTEEN = Promotion("618", 6, 18, before=1, default_uplift=2.0)


@dataclass(frozen=True)
class PromotionCalendar:
    """The promotions a chain runs. Where two windows overlap, the one listed first counts."""

    promotions: tuple[Promotion, ...] = (DOUBLE_11, SIX_EIGHTEEN)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [p.name for p in self.promotions]
        if len(set(names)) != len(names):
            raise ValueError(f"promotion names must be unique: {names}")
        object.__setattr__(self, "_names", frozenset(names))

    def index(self, first: date, days: int) -> npt.NDArray[np.int64]:
        """For each of `days` days from `first`, the promotion's position, or NO_PROMOTION."""
        out = np.full(days, NO_PROMOTION, dtype=np.int64)
        last = first + timedelta(days=days - 1)
        for k in reversed(range(len(self.promotions))):  # first listed wins: written last
            for day in self.promotions[k].days(first, last):
                out[(day - first).days] = k
        return out


def estimate_uplifts(
    sales: npt.NDArray[np.float64],
    baseline: npt.NDArray[np.float64],
    promo_index: npt.NDArray[np.int64],
    category: npt.NDArray[np.int64],
    calendar: PromotionCalendar,
    series_weight: float = 10.0,
    category_weight: float = 40.0,
) -> npt.NDArray[np.float64]:
    """Uplift per series and promotion, shape (series, promotions).

    `sales` and `baseline` are (series, days); baseline is what the series would have sold on that
    day without a promotion (NaN where the series was not listed). `promo_index` is the calendar's
    index for those days. Weights are in units of baseline demand.
    """
    n, promotions = sales.shape[0], len(calendar.promotions)
    uplift = np.ones((n, promotions))
    n_categories = int(category.max()) + 1 if n else 0
    for k, promotion in enumerate(calendar.promotions):
        days = promo_index == k
        if not days.any():
            uplift[:, k] = promotion.default_uplift
            continue
        b = baseline[:, days]
        seen = ~np.isnan(b)
        sold = np.where(seen, sales[:, days], 0.0).sum(axis=1)
        base = np.where(seen, b, 0.0).sum(axis=1)
        cat_sold = np.bincount(category, weights=sold, minlength=n_categories)
        cat_base = np.bincount(category, weights=base, minlength=n_categories)
        prior = (cat_sold + category_weight * promotion.default_uplift) / (cat_base + category_weight)
        uplift[:, k] = (sold + series_weight * prior[category]) / (base + series_weight)
    return uplift
