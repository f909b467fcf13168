"""A short accuracy run in simulated time (the full one is `shelfsync bench shelf`)."""

from __future__ import annotations

from tests.shelf.accuracy import HARSH, run


def test_busy_shelves_count_exactly_and_find_every_event() -> None:
    score = run(bins=4, duration_s=1800, events_per_hour=60, seed=11)
    assert score.truth > 80
    assert score.exact_share >= 0.995
    assert score.f1 >= 0.99


def test_idle_shelves_make_no_phantom_events_for_an_hour() -> None:
    # Idle: no items move, but bumps, leans, drift, creep and temperature go on.
    score = run(bins=3, duration_s=3600, events_per_hour=0, seed=12)
    assert score.truth == 0
    assert score.detected == 0


def test_shoppers_five_seconds_apart_and_frequent_bumps_still_count_exactly() -> None:
    score = run(bins=3, duration_s=1800, events_per_hour=120, seed=13, **HARSH)
    assert score.truth > 120
    assert score.exact_share >= 0.99
    assert score.f1 >= 0.99
