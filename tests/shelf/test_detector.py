"""The stable-to-stable event detector (edge/shelf/detector.py) on tables of sample sequences."""

from __future__ import annotations

import random
from typing import Any

import pytest

from edge.fusion.domain import UnexplainedWeight, WeightEvent
from edge.shelf.detector import BinDetector, DetectorConfig

TARE = 1200.0
HZ = 10


def run(
    det: BinDetector,
    segments: list[tuple[float, float]],
    *,
    noise: float = 2.0,
    seed: int = 0,
    t0: float = 1_800_000_000.0,
) -> list[WeightEvent | UnexplainedWeight]:
    """Feed (seconds, grams) segments at 10 Hz; a level given as None would be a hand (wobble)."""
    rng = random.Random(seed)
    out = []
    t = t0
    for seconds, grams in segments:
        for _ in range(round(seconds * HZ)):
            obs = det.feed(t, grams + rng.gauss(0, noise))
            if obs is not None:
                out.append(obs)
            t += 1 / HZ
    return out


def hand(level: float, seconds: float = 1.5) -> list[tuple[float, float]]:
    """A hand in the bin: big swings around the level."""
    return [(0.1, level + (80 if i % 2 else -60)) for i in range(round(seconds * HZ))]


def detector(unit: float = 400.0, count: int | None = None, **cfg: Any) -> BinDetector:
    return BinDetector("A1-1", "00950123456789", unit, TARE, DetectorConfig(**cfg), count=count)


@pytest.mark.parametrize(
    ("unit", "before", "after"),
    [
        (85.0, 10, 9),
        (85.0, 10, 6),
        (400.0, 5, 3),
        (2000.0, 4, 0),
        (10_000.0, 3, 4),
        (185.0, 2, 6),
    ],
)
def test_a_stable_change_counts_whole_units(unit: float, before: int, after: int) -> None:
    det = detector(unit)
    events = run(
        det, [(3, TARE + before * unit), *hand(TARE + before * unit), (4, TARE + after * unit)]
    )
    assert len(events) == 1
    e = events[0]
    assert isinstance(e, WeightEvent)
    assert (e.delta_count, e.count) == (after - before, after)
    assert e.delta_g == pytest.approx((after - before) * unit, abs=3)
    assert e.grams == pytest.approx(after * unit, abs=3)


def test_the_first_stable_level_sets_the_count_without_an_event() -> None:
    det = detector()
    assert run(det, [(3, TARE + 5 * 400)]) == []
    assert det.count == 5


def test_a_bump_that_rings_out_leaves_no_event() -> None:
    det = detector(85.0)
    level = TARE + 10 * 85
    assert (
        run(
            det,
            [(3, level), (0.1, level + 300), (0.1, level - 250), (0.1, level + 120), (3, level)],
        )
        == []
    )
    assert det.count == 10


def test_leaning_with_a_trembling_hand_leaves_no_event() -> None:
    det = detector(85.0)
    level = TARE + 10 * 85
    assert run(det, [(3, level), *hand(level + 1500, 2.5), (3, level)]) == []


def test_slow_drift_is_tracked_not_counted() -> None:
    det = detector(85.0)
    level = TARE + 10 * 85
    # 2 g per 15 min, as a ramp over one simulated hour at 10 Hz.
    segments = [(1.0, level + 8.0 * i / 3600) for i in range(3600)]
    assert run(det, segments) == []
    assert det.baseline == pytest.approx(level + 8, abs=2)


def test_a_foreign_item_is_unexplained_weight() -> None:
    det = detector(400.0)
    events = run(det, [(3, TARE + 2000), *hand(TARE + 2000), (4, TARE + 2000 + 185)])
    assert len(events) == 1
    e = events[0]
    assert isinstance(e, UnexplainedWeight)
    assert e.delta_g == pytest.approx(185, abs=3)
    assert e.nearest_count == 0
    assert det.count == 5  # the count does not move on an unexplained change


def test_a_residual_beyond_the_tolerance_is_unexplained() -> None:
    det = detector(400.0, tolerance=0.1)
    events = run(det, [(3, TARE + 2000), *hand(TARE + 2000), (4, TARE + 2000 - 400 - 60)])
    assert isinstance(events[0], UnexplainedWeight)
    assert events[0].nearest_count == -1


def test_an_outage_without_change_makes_no_event() -> None:
    det = detector()
    run(det, [(3, TARE + 2000)])
    det.interrupt()
    assert run(det, [(3, TARE + 2000)], t0=1_800_000_100.0) == []


def test_a_change_made_while_the_bin_was_unreadable_is_reported_once_it_is_back() -> None:
    det = detector()
    run(det, [(3, TARE + 2000)])
    det.interrupt()
    events = run(det, [(4, TARE + 1200)], t0=1_800_000_100.0)
    assert [(e.delta_count, e.count) for e in events if isinstance(e, WeightEvent)] == [(-2, 3)]
    # ... as one the bin made unseen: when it began, and how many hands it was, nobody saw.
    assert [(e.unseen, e.began) for e in events] == [(True, None)]
    # The next hand is seen again.
    events = run(det, [*hand(TARE + 1200), (4, TARE + 800)], t0=1_800_000_200.0)
    assert [(e.delta_count, e.unseen, e.began is not None) for e in events] == [(-1, False, True)]


def test_an_empty_bin_re_zeroes_as_it_drifts() -> None:
    det = detector(85.0)
    segments = [(1.0, TARE + 20.0 * i / 600) for i in range(600)]  # 20 g in 10 min, empty
    assert run(det, segments) == []
    assert det.count == 0
    assert det.tare_g == pytest.approx(TARE + 20, abs=3)


def test_a_change_below_the_noise_floor_is_not_an_event() -> None:
    det = detector(400.0)
    assert run(det, [(3, TARE + 2000), *hand(TARE + 2000), (4, TARE + 2000 - 12)]) == []


def test_an_event_needs_the_module_stable_bit_when_configured() -> None:
    det = detector(400.0)
    level = TARE + 2000
    for i in range(30):
        det.feed(1e9 + i / HZ, level, True)
    assert det.count == 5
    # The level changes but the module keeps saying "moving": nothing is judged.
    for i in range(50):
        assert det.feed(1e9 + 3 + i / HZ, level - 400, False) is None
    obs = [det.feed(1e9 + 8 + i / HZ, level - 400, True) for i in range(30)]
    assert [o.delta_count for o in obs if isinstance(o, WeightEvent)] == [-1]


def test_json_line_has_the_watch_fields() -> None:
    det = detector()
    (e,) = run(det, [(3, TARE + 2000), *hand(TARE + 2000), (4, TARE + 1600)])
    assert isinstance(e, WeightEvent)
    assert set(e.to_json()) == {
        "bin",
        "sku",
        "grams",
        "delta_g",
        "count",
        "delta_count",
        "stable",
        "at",
    }
    assert str(e.to_json()["at"]).endswith("Z")


def test_bad_detector_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        DetectorConfig(tolerance=0.7)
    with pytest.raises(ValueError, match="unit weight"):
        BinDetector("A1-1", "x", 0.0, 0.0)


@pytest.mark.parametrize(("name", "laid", "lifted", "own", "want"), [
    # A 1 kg bag on an 85 g bin: 11.8 units, unexplained; lifted an hour later at 1,003 g (the
    # cell crept): within tolerance of 12 units, but it is the bag, not a pick of 12 (seed 23).
    ("the foreign load alone", 1000.3, 1003.3, 0, None),
    # The bag and two units of the bin's own in one hand: a pick of 2, the bag gone.
    ("the foreign load and two own units", 1000.3, 1003.3 + 2 * 85, 2, -2),
])
def test_a_foreign_load_lifted_again_is_told_by_its_weight_not_read_as_own_units(
        name: str, laid: float, lifted: float, own: int, want: int | None) -> None:
    det = detector(85.0)
    base = TARE + 13 * 85
    events = run(det, [(3, base), *hand(base), (4, base + laid), *hand(base + laid),
                       (4, base + laid - lifted)])
    assert len(events) == 2, name
    assert isinstance(events[0], UnexplainedWeight)
    if want is None:
        assert isinstance(events[1], UnexplainedWeight) and events[1].nearest_count == 0
    else:
        assert isinstance(events[1], WeightEvent) and events[1].delta_count == want
    assert det.count == 13 - own


def test_a_fall_of_own_units_after_a_foreign_load_is_still_own_units() -> None:
    """A shopper's hand of 3 while a foreign 185 g item lies on a 400 g bin: a pick of 3."""
    det = detector(400.0)
    events = run(det, [(3, TARE + 2000), *hand(TARE + 2000), (4, TARE + 2185), *hand(TARE + 2185),
                       (4, TARE + 2185 - 1200)])
    assert isinstance(events[1], WeightEvent) and events[1].delta_count == -3 and det.count == 2
