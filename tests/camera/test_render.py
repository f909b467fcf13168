"""The renderer is a pure function of its inputs, and its truth describes what it drew."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim import render as R
from firmware_sim.camera import look_of
from firmware_sim.world import catalog


def _shelf() -> list[R.LaneSpec]:
    return [
        R.LaneSpec(
            f"L{i}", R.CATALOG[i], R.slots_for(R.CATALOG[i]), min(i, R.slots_for(R.CATALOG[i]))
        )
        for i in range(8)
    ]


def test_same_seed_renders_the_same_bytes() -> None:
    cond = R.Conditions(glare=0.5, shadow=0.3, hand=True, blur=1.0, motion=4.0)
    a = R.render_jpeg(_shelf(), cond, seed=5, size=(640, 360))
    b = R.render_jpeg(_shelf(), cond, seed=5, size=(640, 360))
    assert a.jpeg == b.jpeg
    assert a.lanes == b.lanes


def test_a_mounted_camera_keeps_its_rois_while_light_and_noise_change() -> None:
    a = R.render_jpeg(
        _shelf(), R.Conditions(brightness=0.7), seed=1, size=(640, 360), layout_seed=9
    )
    b = R.render_jpeg(
        _shelf(), R.Conditions(brightness=1.2), seed=2, size=(640, 360), layout_seed=9
    )
    assert [t.quad for t in a.lanes] == [t.quad for t in b.lanes]
    assert a.jpeg != b.jpeg


def test_truth_reports_each_lanes_count_slots_and_a_quad_inside_the_frame() -> None:
    shelf = _shelf()
    frame = R.render_jpeg(shelf, R.Conditions(), seed=3, size=(960, 540))
    assert [(t.id, t.count, t.slots) for t in frame.lanes] == [
        (s.id, s.count, s.slots) for s in shelf
    ]
    for t in frame.lanes:
        xs, ys = zip(*t.quad, strict=True)
        assert 0 <= min(xs) < max(xs) <= 960 and 0 <= min(ys) < max(ys) <= 540


def test_a_hand_in_front_of_the_shelf_is_reported_as_occlusion() -> None:
    rng = np.random.default_rng(0)
    shelf = R.random_shelf(rng, 20, R.CATALOG)
    occluded = [
        max(
            t.occluded for t in R.render(shelf, R.Conditions(hand=True), seed=s, size=(640, 360))[1]
        )
        for s in range(5)
    ]
    assert max(occluded) > 0.05


def test_a_count_above_the_slots_is_refused() -> None:
    look = R.CATALOG[0]
    with pytest.raises(ValueError, match="out of range"):
        R.render([R.LaneSpec("L1", look, 2, 3)], R.Conditions(), seed=0)


def test_heldout_conditions_never_fall_in_the_training_bands() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        c = R.random_conditions(rng, "train")
        assert not 0.8 <= c.brightness < 1.0
        assert not 0.9 <= c.blur < 1.3
        assert not -0.2 < c.colour_temp < 0.2


@pytest.mark.parametrize(
    "look",
    [*R.CATALOG, *(look_of(p) for p in catalog())],
    ids=lambda look: look.name,
)
def test_every_product_a_camera_can_show_has_a_shape_the_training_renders_draw(look: R.Look) -> None:
    """The counter learns unit shapes from `random_look`: a product flatter or taller than every
    trained shape of its package (the Petkit bowl box, 160 x 70 mm; the feather wand on its card,
    40 x 200 mm) is read by its height alone, and a flat unit looks like one of many small ones."""
    low, high = R.ASPECTS[look.package]
    assert low <= R.aspect_of(look) <= high, (look.package, round(R.aspect_of(look), 3), (low, high))
