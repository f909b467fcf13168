"""Demand classes by ADI and CV² (Syntetos, Boylan & Croston 2005).

Syntetos, A. A., Boylan, J. E. & Croston, J. D. (2005), "On the categorization of demand patterns",
Journal of the Operational Research Society 56(5), 495–503: with ADI the average interval between
days with demand and CV² the squared coefficient of variation of the non-zero demand sizes, the
cut-offs ADI = 1.32 and CV² = 0.49 split demand into four classes, and the paper shows which
method wins in each: exponential smoothing (or Croston) where demand is smooth, the
Syntetos–Boylan approximation (SBA) where it is intermittent, erratic or lumpy. We keep
exponential smoothing for the two frequent classes because it models the weekly pattern that a
store's daily sales have and Croston-type methods ignore.

Two classes of our own: NEW, a series with too little history to fit (priors forecast it), and
DORMANT, one that sold nothing in the whole window (forecast zero).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


class DemandClass(IntEnum):
    SMOOTH = 0
    ERRATIC = 1
    INTERMITTENT = 2
    LUMPY = 3
    NEW = 4
    DORMANT = 5

    @property
    def label(self) -> str:
        return self.name.lower()


def adi_cv2(sales: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """ADI and CV² per row of (series, days); NaN marks days the series was not listed.

    ADI is listed days / days with demand (inf with no demand); CV² is the squared coefficient of
    variation of the non-zero sizes (0 with fewer than two).
    """
    listed = ~np.isnan(sales)
    y = np.where(listed, sales, 0.0)
    demand_days = (y > 0).sum(axis=1)
    days = listed.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(demand_days > 0, days / np.maximum(demand_days, 1), np.inf)
        size_mean = y.sum(axis=1) / np.maximum(demand_days, 1)
        size_sq = np.where(y > 0, (y - size_mean[:, None]) ** 2, 0.0).sum(axis=1)
        size_var = size_sq / np.maximum(demand_days - 1, 1)
        cv2 = np.where(demand_days > 1, size_var / np.maximum(size_mean, 1e-12) ** 2, 0.0)
    return adi, cv2


def classify(sales: npt.NDArray[np.float64], min_days: int) -> npt.NDArray[np.int64]:
    """A DemandClass per row of (series, days), NaN where not listed; < `min_days` listed days is NEW."""
    adi, cv2 = adi_cv2(sales)
    days = (~np.isnan(sales)).sum(axis=1)
    classes = np.where(
        adi < ADI_CUTOFF,
        np.where(cv2 < CV2_CUTOFF, DemandClass.SMOOTH, DemandClass.ERRATIC),
        np.where(cv2 < CV2_CUTOFF, DemandClass.INTERMITTENT, DemandClass.LUMPY),
    )
    classes = np.where(np.isinf(adi), DemandClass.DORMANT, classes)
    return np.where(days < min_days, DemandClass.NEW, classes).astype(np.int64)


def trending(sales: npt.NDArray[np.float64], min_weeks: int = 8, t_min: float = 4.0,
             change_min: float = 0.25) -> npt.NDArray[np.bool_]:
    """Series whose weekly totals rise or fall clearly: |t| of an OLS slope over the trailing whole
    weeks above `t_min` and a change of at least `change_min` of the mean over the window."""
    n, days = sales.shape
    weeks = days // 7
    if weeks < min_weeks:
        return np.zeros(n, dtype=bool)
    y = sales[:, days - weeks * 7:].reshape(n, weeks, 7)
    complete = ~np.isnan(y).any(axis=2)  # weeks the series was listed throughout
    w = np.where(complete, np.nan_to_num(y).sum(axis=2), 0.0)
    k = complete.sum(axis=1).astype(float)
    x = np.broadcast_to(np.arange(weeks, dtype=float), (n, weeks))
    km = np.maximum(k, 1)
    xm = (x * complete).sum(axis=1) / km
    wm = w.sum(axis=1) / km
    dx = np.where(complete, x - xm[:, None], 0.0)
    sxx = (dx**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (dx * (w - wm[:, None])).sum(axis=1) / sxx
        resid = np.where(complete, w - wm[:, None] - slope[:, None] * dx, 0.0)
        se = np.sqrt((resid**2).sum(axis=1) / np.maximum(k - 2, 1) / sxx)
        t = np.abs(slope) / se
        change = np.abs(slope) * k / np.maximum(wm, 1e-9)
    clear: npt.NDArray[np.bool_] = (k >= min_weeks) & (t > t_min) & (change > change_min) & (wm > 0)
    return clear
