"""Stable-to-stable weight events for one bin: samples in, observations out. Pure, no I/O.

A shelf scale is trusted only between two stable periods (research §3: AiFi's variance gate
over 0.5 s, CMU's 60-sample rolling std, US10753787's stable/unstable states). The detector:

1. keeps a window of the last `window_s` of samples; the bin is *stable* when the window spans
   the whole period, its standard deviation is at most `stable_std_g` and (if the module says)
   the module's own stability bit is set;
2. while stable and within `track_g` of the baseline, lets the baseline follow slowly (drift,
   creep and temperature move absolute weight — "relative changes are reliable", AiFi FAQ);
   when the bin holds no items it also moves the zero (re-zero while empty, like a module's
   zero tracking, but logged as our own decision);
3. on motion (unstable window, or a level away from the baseline) waits until the bin has been
   stable again for `settle_s`, then compares the new level with the old baseline:
   - |Δ| below `min_delta_g` (default 5 % of a unit, at least 20 g): a bump or lean that left
     nothing behind;
   - otherwise count = round(Δ / unit weight); accepted when the residual is within
     `tolerance` x unit weight (US11450011's integer-tolerance rule) -> `WeightEvent`,
     else -> `UnexplainedWeight` (a misplaced item, a wrong unit weight, a hand on the shelf).
   An unexplained rise is remembered as a foreign load lying on the bin: a later fall that takes
   it off again (the same grams within `foreign_g`, or 0.5 %, alone or with whole units of the
   bin's own) is told by the load it lifts, not read as the nearest number of own units — a 1 kg
   bag laid on an 85 g bin (11.8 units: unexplained) and lifted an hour later (1,003 g after the
   cell's creep: 11.8 units, within tolerance of 12) is not a pick of 12;
   Both are stamped `at` the settled reading and `began` at the first reading that moved: when
   the hand went in, which is when the pick happened (the reconciler pairs it with a handheld's
   scan made that moment; a scale read a few times a second in a shop simulated faster than life
   settles many of the shop's seconds later).
4. `interrupt()` — the bin timed out — drops the window but keeps the baseline, so the first
   stable level after the outage is compared with the last trusted one: a real change made
   while the bin was unreadable is reported, a timeout itself never makes a change.

Times are POSIX seconds (float) so the accuracy run can feed simulated time directly.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.fusion.domain import UnexplainedWeight, WeightEvent


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    window_s: float = 1.0
    stable_std_g: float = 5.0
    settle_s: float = 0.5
    track_g: float = 8.0
    track_alpha: float = 0.05
    min_delta_g: float | None = None  # default: 5 % of a unit, at least 20 g
    tolerance: float = 0.2  # |residual| <= tolerance * unit weight
    use_module_stable: bool = True
    min_samples: int = 4
    foreign_g: float = 8.0  # a foreign load lifted weighs what it weighed laid down within this (or 0.5 %)

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.settle_s < 0 or self.stable_std_g <= 0:
            raise ValueError("window_s and stable_std_g must be > 0, settle_s >= 0")
        if not 0 < self.tolerance < 0.5:
            raise ValueError("tolerance must be in (0, 0.5): a fraction of the unit weight")


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class BinDetector:
    """The event detector of one bin. Feed it every sample in time order."""

    def __init__(
        self,
        bin_id: str,
        sku: str,
        unit_g: float,
        tare_g: float,
        config: DetectorConfig = DetectorConfig(),
        count: int | None = None,
    ) -> None:
        if unit_g <= 0:
            raise ValueError(f"bin {bin_id}: unit weight must be > 0, got {unit_g}")
        self.bin, self.sku, self.unit_g, self.tare_g, self.config = (
            bin_id,
            sku,
            unit_g,
            tare_g,
            config,
        )
        # Smaller changes are bumps and settling tails; anything larger must be explained, so a
        # light foreign item on a heavy product's bin still shows up as unexplained weight.
        self.min_delta_g = (
            config.min_delta_g
            if config.min_delta_g is not None
            else min(0.5 * unit_g, max(20.0, 0.05 * unit_g))
        )
        self.count: int | None = count
        self.baseline: float | None = None  # gross grams of the last trusted stable level
        self._window: deque[tuple[float, float, bool]] = deque()
        self._active = False
        self._stable_since: float | None = None
        self._began: float | None = None  # the first reading of the change being judged
        self._unseen = False  # the change being judged happened while the bin could not be read
        self.stable = False
        self._foreign: list[float] = []  # unexplained rises still lying on the bin, grams

    @property
    def grams(self) -> float | None:
        return None if self.baseline is None else self.baseline - self.tare_g

    def interrupt(self) -> None:
        """The bin could not be read: forget the window, keep the last trusted level."""
        self._window.clear()
        self._stable_since = None
        self.stable = False
        if self.baseline is not None:
            self._active = True
            self._began = None  # the change happened unseen, some time during the outage
            self._unseen = True

    def _window_stats(self) -> tuple[float, float, bool]:
        n = len(self._window)
        first = self._window[0][1]
        s = s2 = 0.0
        module_ok = True
        for _, g, ok in self._window:
            d = g - first
            s += d
            s2 += d * d
            module_ok = module_ok and ok
        mean = s / n
        var = max(s2 / n - mean * mean, 0.0)
        return first + mean, math.sqrt(var * n / (n - 1)) if n > 1 else 0.0, module_ok

    def feed(
        self, t: float, gross_g: float, module_stable: bool = True
    ) -> WeightEvent | UnexplainedWeight | None:
        cfg, window = self.config, self._window
        window.append((t, gross_g, module_stable or not cfg.use_module_stable))
        while window[0][0] < t - cfg.window_s:
            window.popleft()
        # The window must cover (nearly) the whole period to judge stability.
        if len(window) < cfg.min_samples or t - window[0][0] < 0.8 * cfg.window_s:
            self.stable = False
            self._stable_since = None
            return None
        mean, std, module_ok = self._window_stats()
        self.stable = std <= cfg.stable_std_g and module_ok
        if not self.stable:
            self._stable_since = None
            if self.baseline is not None:
                self._start(t)
            return None
        if self._stable_since is None:
            self._stable_since = t
        if self.baseline is None:
            self.baseline = mean
            if self.count is None:
                self.count = max(0, round((mean - self.tare_g) / self.unit_g))
            return None
        if not self._active:
            if abs(mean - self.baseline) <= cfg.track_g:
                self._track(mean)
                return None
            self._start(t)  # a slow change beyond the drift band: judge it once settled
        if t - self._stable_since < cfg.settle_s:
            return None
        return self._resolve(t, mean)

    def _start(self, t: float) -> None:
        if not self._active:
            self._active = True
            self._began = t

    def _track(self, mean: float) -> None:
        assert self.baseline is not None
        step = self.config.track_alpha * (mean - self.baseline)
        self.baseline += step
        if self.count == 0 and abs(self.baseline - self.tare_g) < self.min_delta_g:
            # Re-zero while empty: the empty bin defines zero.
            self.tare_g += self.config.track_alpha * (self.baseline - self.tare_g)

    def _resolve(self, t: float, level: float) -> WeightEvent | UnexplainedWeight | None:
        assert self.baseline is not None and self.count is not None
        self._active = False
        began = _at(self._began) if self._began is not None else None
        unseen, self._began, self._unseen = self._unseen, None, False
        delta = level - self.baseline
        self.baseline = level
        if abs(delta) < self.min_delta_g:
            return None
        net = level - self.tare_g
        if delta < 0 and self._foreign:
            lifted = self._lift_foreign(delta)
            if lifted is not None:
                grams, k = lifted
                self._foreign.remove(grams)
                if k == 0:  # the foreign load alone: no unit of ours moved
                    return UnexplainedWeight(self.bin, self.sku, net, delta, 0, delta + grams, _at(t), began,
                                             unseen)
                self.count += k
                return WeightEvent(self.bin, self.sku, net, delta, self.count, k,
                                   delta + grams - k * self.unit_g, True, _at(t), began, unseen)
        k = round(delta / self.unit_g)
        residual = delta - k * self.unit_g
        if k != 0 and abs(residual) <= self.config.tolerance * self.unit_g and self.count + k >= 0:
            self.count += k
            return WeightEvent(
                self.bin, self.sku, net, delta, self.count, k, residual, True, _at(t), began, unseen
            )
        if delta > 0:
            self._foreign = [*self._foreign[-3:], delta]
        return UnexplainedWeight(self.bin, self.sku, net, delta, k, residual, _at(t), began, unseen)

    def _lift_foreign(self, delta: float) -> tuple[float, int] | None:
        """A fall that lifts one of the foreign loads lying on the bin, alone or with whole units of
        the bin's own (k <= 0), fitting better than own units alone: (its grams, k)."""
        own = abs(delta - round(delta / self.unit_g) * self.unit_g)
        best: tuple[float, float, int] | None = None
        for grams in self._foreign:
            rest = delta + grams
            k = round(rest / self.unit_g)
            if k > 0 or self.count is None or self.count + k < 0:
                continue
            miss = abs(rest - k * self.unit_g)
            fits = miss <= max(self.config.foreign_g, 0.005 * grams) and miss < own
            if fits and (best is None or miss < best[0]):
                best = (miss, grams, k)
        return None if best is None else (best[1], best[2])
