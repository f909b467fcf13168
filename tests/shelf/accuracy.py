"""The weight-event accuracy run: scripted shelves in simulated time, scored against the truth.

Shared by tests/shelf/test_accuracy.py (a short run) and `shelfsync bench shelf` (the full one).
Physics per the issue: sigma = 2 g, drift 2 g / 15 min, creep, temperature, bumps and leans, picks
and restocks of 1-4 units, unit weights log-uniform between 85 g and 10 kg, 10 samples/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.fusion.domain import UnexplainedWeight, WeightEvent
from edge.shelf.detector import BinDetector, DetectorConfig
from firmware_sim.loadcell import CellSpec, scripted_bin

T0 = 1_800_000_000.0
HZ = 10.0
MATCH_AFTER_S = 8.0  # a detection up to this long after the load landed belongs to that event


@dataclass(frozen=True)
class Score:
    truth: int
    detected: int
    matched: int
    exact: int
    duration_h: float

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_share(self) -> float:
        return self.exact / self.matched if self.matched else 1.0

    @property
    def phantoms(self) -> int:
        return self.detected - self.matched

    def __add__(self, other: Score) -> Score:
        return Score(
            self.truth + other.truth,
            self.detected + other.detected,
            self.matched + other.matched,
            self.exact + other.exact,
            self.duration_h + other.duration_h,
        )


def run_bin(
    seed: int,
    duration_s: float,
    events_per_hour: float,
    detector: DetectorConfig | None = None,
    spec: CellSpec | None = None,
    **script: float,
) -> Score:
    detector, spec = detector or DetectorConfig(), spec or CellSpec()
    rng = np.random.default_rng(seed)
    unit = float(math.exp(rng.uniform(math.log(85), math.log(10_000))))
    sb = scripted_bin(
        seed,
        unit_g=unit,
        count=int(rng.integers(3, 13)),
        duration_s=duration_s,
        t0=T0,
        events_per_hour=events_per_hour,
        spec=spec,
        **script,
    )
    ts = T0 + np.arange(0.0, duration_s, 1 / HZ)
    grams = np.asarray(sb.cell.sample(ts)).tolist()
    det = BinDetector("b", "00950123456789", unit, spec.dead_load_g, detector)
    detections: list[WeightEvent | UnexplainedWeight] = []
    for t, g in zip(ts.tolist(), grams, strict=True):
        obs = det.feed(t, g)
        if obs is not None:
            detections.append(obs)
    used: set[int] = set()
    exact = 0
    for obs in detections:
        at = obs.at.timestamp()
        for k, e in enumerate(sb.truth):
            if k not in used and e.at - 0.5 <= at <= e.at + MATCH_AFTER_S:
                used.add(k)
                exact += isinstance(obs, WeightEvent) and obs.delta_count == e.delta_count
                break
    return Score(len(sb.truth), len(detections), len(used), exact, duration_s / 3600)


def run(
    bins: int, duration_s: float, events_per_hour: float, seed: int = 0, **script: float
) -> Score:
    """`script` goes to `scripted_bin` (min_gap_s, bumps_per_hour, leans_per_hour)."""
    total = Score(0, 0, 0, 0, 0.0)
    for i in range(bins):
        total = total + run_bin(seed * 100_003 + i, duration_s, events_per_hour, **script)
    return total


# The scenario, and a harsher one: shoppers 5 s apart, a bump every 2 minutes.
STANDARD: dict[str, float] = {"min_gap_s": 12.0, "bumps_per_hour": 6.0, "leans_per_hour": 3.0}
HARSH: dict[str, float] = {"min_gap_s": 5.0, "bumps_per_hour": 30.0, "leans_per_hour": 10.0}
