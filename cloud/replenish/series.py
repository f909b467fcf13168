"""What a replenishment series is: one SKU at one location, and which of its days were stock-outs
(no heavy imports, so the policy and its callers need neither pandas nor statsforecast to name one).

Censored demand: on a day a series had nothing sellable for most of its opening hours, what sold is
not what was wanted (the shelf was empty), so the forecast must not read the day as "nobody wanted
it" (Nahmias 1994, "Demand estimation in lost sales inventory systems"; the vicious circle of
forecasting from sales). `empty_share` measures, per day, the share of the opening hours at which
the sellable level was zero, from the level's steps as the ledger replays them;
`stocked_out` marks the days above STOCKED_OUT_SHARE, which the forecast then reads as censored
(`forecast.SalesHistory.stocked_out`).

A level below zero is not an empty shelf: the ledger lets a book go negative when more was sold
than it held (sales booked before the first count or receipt, a missed delivery note), which says
the book was wrong there, not that the shelf was empty. Such hours count as unknown, never as a
stock-out: a till that keeps selling proves something was on the shelf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import numpy as np
import numpy.typing as npt

STOCKED_OUT_SHARE = 0.5  # "most of its opening hours"


@dataclass(frozen=True)
class Series:
    """One SKU at one location. `listed_on`: first day it was on sale there (None: before history)."""

    sku: str
    location: str
    category: str
    listed_on: date | None = None


@dataclass(frozen=True)
class OpeningHours:
    """When the chain's locations sell, every day, in the chain's time zone (opens < closes)."""

    opens: time = time(9, 0)
    closes: time = time(21, 0)
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError(f"opening hours: opens ({self.opens:%H:%M}) must be before closes "
                             f"({self.closes:%H:%M})")

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The opening hours of `day` (a local date) as UTC times."""
        return (datetime.combine(day, self.opens, self.tz).astimezone(UTC),
                datetime.combine(day, self.closes, self.tz).astimezone(UTC))


def empty_share(levels: Sequence[tuple[datetime, int]], first_day: date, days: int,
                hours: OpeningHours) -> npt.NDArray[np.float64]:
    """Per day from `first_day`, the share of its opening hours at which the level was 0 (below
    0: the book was wrong, not counted).

    `levels` are the level's steps, (from when, level from then on), in time order; before the
    first step nothing was held (level 0). Times are aware datetimes.
    """
    windows = [hours.window(first_day + timedelta(days=d)) for d in range(days)]
    if not windows:
        return np.zeros(0)
    origin = min(windows[0][0], levels[0][0]) if levels else windows[0][0]
    t = np.array([0.0, *((at - origin).total_seconds() for at, _ in levels)])
    empty = np.array([1.0, *(1.0 if n == 0 else 0.0 for _, n in levels)])
    if (np.diff(t) < 0).any():
        raise ValueError("levels must be in time order")
    # empty seconds up to each step, then up to any instant x: F(x) = before[k] + (x − t[k])·empty[k]
    before = np.concatenate([[0.0], np.cumsum(np.diff(t) * empty[:-1])])

    def upto(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        k = np.searchsorted(t, x, side="right") - 1
        out: npt.NDArray[np.float64] = before[k] + (x - t[k]) * empty[k]
        return out

    a = np.array([(w[0] - origin).total_seconds() for w in windows])
    b = np.array([(w[1] - origin).total_seconds() for w in windows])
    share: npt.NDArray[np.float64] = (upto(b) - upto(a)) / (b - a)
    return share


def stocked_out(levels: Sequence[tuple[datetime, int]], first_day: date, days: int,
                hours: OpeningHours) -> npt.NDArray[np.bool_]:
    """Days (from `first_day`) with nothing sellable for most of the opening hours."""
    out: npt.NDArray[np.bool_] = empty_share(levels, first_day, days, hours) > STOCKED_OUT_SHARE
    return out
