"""Load-cell physics for the weighing-module simulator: what a shelf scale really reports.

A `LoadCell` turns the true load on a bin (grams of product plus the tray) into readings with
the defects that make weight shelves hard (numbers from ../../shared/research/shelf.md §2):

- white noise, sigma in grams (default 2 g) and a display division (1 g);
- settling: a load change reaches its value through a damped ring (time constant ~0.25 s);
- a hand in the bin before the load changes: the reading swings by tens of grams for 0.6-2.5 s;
- drift (2 g per 15 min, the HX711 figure) and creep after a load change (OIML R60 §5.5.1 allows
  creep up to 0.7 MPE over 30 min; we use 0.05 % of the change with a 10 min time constant);
- temperature: a daily swing times a zero coefficient;
- bumps (a knock that rings out to the old value) and leaning (a pressing, trembling hand).

It is a pure function of time: every effect is a deterministic term of simulated seconds, only
the white noise comes from a seeded generator. `grams(t)` accepts a float or a numpy array, so
the accuracy run evaluates an hour of 10 Hz samples in one call while the Modbus server asks
for one value per request. The module's own stability flag (`stable(t)`) follows the Unipulse
F159 style of motion detection: the reading moved less than a band over the last second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Times = float | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CellSpec:
    noise_g: float = 2.0
    division_g: float = 1.0
    settle_tau_s: float = 0.25
    ring_hz: float = 2.5
    drift_g_per_h: float = 8.0  # 2 g / 15 min
    creep_fraction: float = 0.0005
    creep_tau_s: float = 600.0
    temp_coeff_g_per_c: float = 0.3
    temp_swing_c: float = 3.0
    temp_period_s: float = 86_400.0
    dead_load_g: float = 1_200.0  # the tray and bin on the cell
    motion_band_g: float = 6.0
    capacity_g: float = 60_000.0


class Term(Protocol):
    @property
    def start(self) -> float: ...

    def value(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

    def settled_after(self) -> float: ...

    def final(self) -> float: ...


def _wobble(
    x: npt.NDArray[np.float64], amp: float, f1: float, f2: float, p1: float, p2: float
) -> npt.NDArray[np.float64]:
    """Two incommensurate sines: a hand pressing, lifting, trembling."""
    out: npt.NDArray[np.float64] = amp * (
        np.sin(2 * math.pi * f1 * x + p1) + 0.6 * np.sin(2 * math.pi * f2 * x + p2)
    )
    return out


@dataclass(frozen=True, slots=True)
class Step:
    """A hand in the bin for `hand_s`, then the load changes by `delta_g` and settles."""

    start: float
    delta_g: float
    hand_s: float
    hand_g: float
    f1: float
    f2: float
    p1: float
    p2: float
    tau: float
    ring_hz: float
    creep: float
    creep_tau: float

    def value(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = t - self.start
        hand = (x >= 0) & (x < self.hand_s)
        y = x - self.hand_s
        after = y >= 0
        yp = np.where(after, y, 0.0)
        settle = self.delta_g * (
            1 - np.exp(-yp / self.tau) * np.cos(2 * math.pi * self.ring_hz * yp)
        )
        creep = self.delta_g * self.creep * (1 - np.exp(-yp / self.creep_tau))
        out = np.where(after, settle + creep, 0.0)
        out = out + np.where(hand, _wobble(x, self.hand_g, self.f1, self.f2, self.p1, self.p2), 0.0)
        result: npt.NDArray[np.float64] = out
        return result

    def settled_after(self) -> float:
        return self.start + self.hand_s + 8 * self.creep_tau

    def final(self) -> float:
        return self.delta_g * (1 + self.creep)

    @property
    def end(self) -> float:
        """When the load change happens (the hand leaves)."""
        return self.start + self.hand_s


@dataclass(frozen=True, slots=True)
class Bump:
    """A knock on the shelf: rings out to the old value within about a second."""

    start: float
    amp_g: float
    hz: float

    def value(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = t - self.start
        xp = np.where(x >= 0, x, 0.0)
        out: npt.NDArray[np.float64] = np.where(
            x >= 0, self.amp_g * np.exp(-xp / 0.2) * np.sin(2 * math.pi * self.hz * xp), 0.0
        )
        return out

    def settled_after(self) -> float:
        return self.start + 5.0

    def final(self) -> float:
        return 0.0


@dataclass(frozen=True, slots=True)
class Lean:
    """Someone leans on the shelf edge: extra load with a trembling hand, then gone."""

    start: float
    duration_s: float
    grams: float
    tremor_g: float
    f1: float
    f2: float

    def value(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = t - self.start
        on = (x >= 0) & (x < self.duration_s)
        out: npt.NDArray[np.float64] = np.where(
            on, self.grams + _wobble(x, self.tremor_g, self.f1, self.f2, 0.3, 1.1), 0.0
        )
        return out

    def settled_after(self) -> float:
        return self.start + self.duration_s

    def final(self) -> float:
        return 0.0


@dataclass(slots=True)
class LoadCell:
    """One weighing module's cell. Times are simulated seconds from any fixed origin."""

    spec: CellSpec
    seed: int
    load_g: float = 0.0  # product on the bin at t0
    t0: float = 0.0
    terms: list[Term] = field(default_factory=list)
    _base: float = 0.0  # load folded in from settled terms
    _target: float = 0.0  # product load once every scheduled change has happened
    _rng: np.random.Generator = field(init=False)
    _drift_sign: float = field(init=False)
    _temp_phase: float = field(init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._drift_sign = 1.0 if self._rng.random() < 0.5 else -1.0
        self._temp_phase = float(self._rng.uniform(0, 2 * math.pi))
        self._base = self.load_g
        self._target = self.load_g

    @property
    def target_g(self) -> float:
        """Product load after every change scheduled so far (the truth, without creep)."""
        return self._target

    def set_load(self, at: float, load_g: float, hand_s: float | None = None) -> Step | None:
        """The product load becomes `load_g`: a hand at `at`, the load lands hand_s later."""
        delta = load_g - self._target
        if delta == 0 and hand_s is None:
            return None
        return self.change(at, delta, hand_s)

    def change(self, at: float, delta_g: float, hand_s: float | None = None) -> Step:
        rng, s = self._rng, self.spec
        step = Step(
            start=at,
            delta_g=delta_g,
            hand_s=float(rng.uniform(0.6, 2.5)) if hand_s is None else hand_s,
            hand_g=40.0 + 0.25 * abs(delta_g) * float(rng.uniform(0.5, 1.0)),
            f1=float(rng.uniform(1.2, 2.6)),
            f2=float(rng.uniform(3.1, 4.4)),
            p1=float(rng.uniform(0, 6.28)),
            p2=float(rng.uniform(0, 6.28)),
            tau=s.settle_tau_s,
            ring_hz=s.ring_hz,
            creep=s.creep_fraction,
            creep_tau=s.creep_tau_s,
        )
        self._target += delta_g
        self.terms.append(step)
        return step

    def bump(self, at: float, amp_g: float | None = None) -> Bump:
        b = Bump(
            at,
            float(self._rng.uniform(30, 300)) if amp_g is None else amp_g,
            float(self._rng.uniform(4, 9)),
        )
        self.terms.append(b)
        return b

    def lean(self, at: float, duration_s: float, grams: float) -> Lean:
        lean = Lean(
            at,
            duration_s,
            grams,
            tremor_g=max(15.0, 0.1 * abs(grams)),
            f1=float(self._rng.uniform(1.5, 2.5)),
            f2=float(self._rng.uniform(3.3, 4.7)),
        )
        self.terms.append(lean)
        return lean

    def fold(self, now: float) -> None:
        """Fold terms that finished long ago into the base load (keeps evaluation cheap)."""
        keep: list[Term] = []
        for term in self.terms:
            if term.settled_after() < now:
                self._base += term.final()
            else:
                keep.append(term)
        self.terms = keep

    def grams(self, t: Times) -> Times:
        """The noiseless reading (tray + product + every effect) at simulated time(s) t."""
        s = self.spec
        ts = np.asarray(t, dtype=np.float64)
        out = (
            s.dead_load_g
            + self._base
            + self._drift_sign * s.drift_g_per_h * (ts - self.t0) / 3600.0
        )
        out = out + s.temp_coeff_g_per_c * s.temp_swing_c * np.sin(
            2 * math.pi * (ts - self.t0) / s.temp_period_s + self._temp_phase
        )
        for term in self.terms:
            out = out + term.value(ts)
        if np.ndim(t) == 0:
            return float(out)
        result: npt.NDArray[np.float64] = out
        return result

    def sample(self, t: Times) -> Times:
        """What the module reports: the reading plus white noise, rounded to the division."""
        s = self.spec
        clean = np.asarray(self.grams(t))
        noisy = clean + self._rng.normal(0.0, s.noise_g, size=clean.shape)
        quantised = np.clip(
            np.round(noisy / s.division_g) * s.division_g, -s.capacity_g, s.capacity_g
        )
        if np.ndim(t) == 0:
            return float(quantised)
        result: npt.NDArray[np.float64] = quantised
        return result

    def stable(self, t: float) -> bool:
        """The module's motion detection: moved less than a band over the last second."""
        window = np.asarray(self.grams(np.linspace(t - 1.0, t, 6)))
        return bool(np.ptp(window) < self.spec.motion_band_g)


# --- scripted bins for accuracy runs (simulated time, no server) -----------------------------


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """What really happened: `delta_count` units moved; the load landed at `at`."""

    at: float
    delta_count: int
    delta_g: float


@dataclass(slots=True)
class ScriptedBin:
    """A bin with a scripted day: picks and restocks of whole units, bumps and leans."""

    cell: LoadCell
    unit_g: float
    count: int
    truth: list[TruthEvent]


def scripted_bin(
    seed: int,
    *,
    unit_g: float,
    count: int,
    duration_s: float,
    t0: float = 0.0,
    events_per_hour: float = 40.0,
    min_gap_s: float = 12.0,
    bumps_per_hour: float = 6.0,
    leans_per_hour: float = 3.0,
    spec: CellSpec = CellSpec(),
    unit_spread: float = 0.003,
) -> ScriptedBin:
    """Picks of 1-4 units (and put-backs/restocks) at random, never closer than `min_gap_s`
    (two hands at once are one event to any scale); bumps and short leans in between."""
    rng = np.random.default_rng(seed)
    count = min(count, int(0.8 * spec.capacity_g / unit_g))
    cell = LoadCell(spec, seed=seed + 1, t0=t0)
    cell.set_load(
        t0, sum(unit_g * (1 + rng.normal(0, unit_spread)) for _ in range(count)), hand_s=0.0
    )
    cell.fold(t0 + 1e12)
    truth: list[TruthEvent] = []
    t = t0 + 5.0
    rate = events_per_hour / 3600
    while rate > 0:
        t += min_gap_s + float(rng.exponential(1 / rate))
        if t > t0 + duration_s - 20:
            break
        n = int(rng.integers(1, 5))
        # Keep the load within 80 % of the cell's capacity (more would overload the module).
        if (count >= n and rng.random() < 0.7) or (count + n + 1) * unit_g > 0.8 * spec.capacity_g:
            n = -min(n, count)
        if n == 0:
            continue
        grams = float(sum(unit_g * (1 + rng.normal(0, unit_spread)) for _ in range(abs(n))))
        step = cell.change(t, math.copysign(grams, n))
        count += n
        truth.append(TruthEvent(step.end, n, math.copysign(grams, n)))
    for rate_h, kind in ((bumps_per_hour, "bump"), (leans_per_hour, "lean")):
        k = int(rng.poisson(rate_h * duration_s / 3600))
        for at in rng.uniform(t0 + 5, t0 + duration_s - 10, size=k):
            # Keep disturbances off the hand-in-bin periods, as a shopper can't do both at once.
            if any(abs(float(at) - e.at) < 6 for e in truth):
                continue
            if kind == "bump":
                cell.bump(float(at))
            else:
                cell.lean(float(at), float(rng.uniform(0.5, 2.5)), float(rng.uniform(100, 3000)))
    return ScriptedBin(cell, unit_g, count, truth)
