"""Figures that hold on a shared machine: several rounds, the median round, the spread, and a
ratio to a baseline measured in the same rounds.

One run of a benchmark says little on a machine that does other work: a collector pause, a
neighbour's compile or a slow fsync lands in one run's tail and not the next. So a benchmark that
quotes latency runs --rounds rounds, each next to a baseline that the same noise reaches (the
same server answering a trivial request at the same offered rate), and quotes the median round
with the lowest and highest beside it; the ratio to the baseline says how much of a figure is the
code rather than the machine. The machine's load average is quoted with the figures.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Any


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile by rank (nearest rank below), NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """{"median", "min", "max", "rounds"} of one figure over the rounds."""
    vals = [float(v) for v in values]
    return {"median": round(statistics.median(vals), digits), "min": round(min(vals), digits),
            "max": round(max(vals), digits), "rounds": [round(v, digits) for v in vals]}


def said(s: dict[str, Any], unit: str = "") -> str:
    """"4.1 ms (3.9-5.0)": the median round, then the lowest and highest."""
    return f"{s['median']:g}{unit} ({s['min']:g}-{s['max']:g})"


def load() -> dict[str, float]:
    """The load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}
