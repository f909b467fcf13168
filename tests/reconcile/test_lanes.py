"""Camera lanes in the fusion: the lane tracker (frames to lasting count changes) and the
reconciler taking a lane's changes as picks and put-backs, alone or beside a scale. Pure: tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import ManualClock
from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    CameraStatus,
    ExitRead,
    LaneChange,
    LaneCount,
    LaneUnavailable,
    PosLine,
    ZoneCount,
)
from edge.fusion.lanes import LaneTracker
from edge.fusion.pipeline import Pipeline, ReconcileConfigError, reconcile_unseen_s
from edge.fusion.reconciler import Misplacement, Reconciler
from firmware_sim.world import catalog
from shared.contract import Kind, StockDelta

TOY, BOWL, CAT = catalog()[12].gtin, catalog()[14].gtin, catalog()[0].gtin
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
# A lane only (no scale), a bin with both a scale and a lane, and a scale only.
BINS = {"T1-1": BinInfo("T1-1", TOY, 140.0, scale=False, lane=True),
        "T1-2": BinInfo("T1-2", BOWL, 320.0, lane=True),
        "A1-1": BinInfo("A1-1", CAT, 2000.0)}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def deltas(out: list[StockDelta | Misplacement]) -> list[tuple[Kind, str, int]]:
    return [(d.kind, d.sku, d.qty) for d in out if isinstance(d, StockDelta)]


def frames(tracker: LaneTracker, counts: list[int], conf: float = 0.95,
           start: float = 0.0) -> list[LaneChange]:
    out = []
    for i, n in enumerate(counts):
        got = tracker.observe(LaneCount("T1-1", "T1-1", TOY, n, conf, s(start + i)))
        if got is not None:
            out.append(got)
    return out


# --- the tracker ----------------------------------------------------------------------------


def test_a_count_held_for_three_frames_is_a_change_dated_at_its_first_frame() -> None:
    t = LaneTracker()
    assert frames(t, [5, 5, 5]) == []  # its level, not a change
    got = frames(t, [5, 4, 4, 4, 4], start=10)
    assert [(c.delta, c.count, c.before, c.at) for c in got] == [(-1, 4, 5, s(11))]
    assert got[0].confidence == pytest.approx(0.95)


def test_single_misread_frames_and_unsure_frames_change_nothing() -> None:
    t = LaneTracker()
    frames(t, [5, 5, 5])
    assert frames(t, [5, 4, 5, 6, 5, 4, 4, 5], start=10) == []
    assert frames(t, [3, 3, 3], conf=0.3, start=30) == []  # below min_confidence
    assert t.level("T1-1") == 5


def test_a_lane_that_went_away_starts_over_what_changed_meanwhile_is_not_a_pick() -> None:
    t = LaneTracker()
    t.lane_of_camera("T1-1", "cam-t")
    frames(t, [5, 5, 5])
    t.observe(LaneUnavailable("T1-1", "T1-1", TOY, "blocked", s(5)))
    assert frames(t, [2, 2, 2, 2], start=60) == []
    assert t.level("T1-1") == 2
    t.observe(CameraStatus("cam-t", False, "black", s(100)))
    assert t.level("T1-1") is None
    assert frames(t, [1, 1, 1], start=200) == []


def test_the_tracker_rejects_a_senseless_setting() -> None:
    with pytest.raises(ValueError, match="frames"):
        LaneTracker(frames=0)


# --- the reconciler: a lane alone -----------------------------------------------------------


def test_a_lane_drop_paid_by_a_sale_is_no_shrink() -> None:
    r = Reconciler(BINS)
    out = r.run([LaneChange(m(0), "T1-1", -1, 3, 0.93, 4, "T1-1"), PosLine(m(6), "T1", 0, "sale", TOY, 1)])
    out += r.tick(m(60))
    assert deltas(out) == [(Kind.SALE, TOY, -1)]
    sale = next(d for d in out if isinstance(d, StockDelta))
    assert sale.confidence == 1.0  # the lane's pick confirmed it


def test_an_unpaid_lane_drop_the_door_did_not_see_waits_for_the_count_which_books_it_with_its_evidence() -> None:
    """A lane counts its front row, and a run of misread frames holds a wrong count until the next
    change: a fall only it saw that no sale claims is not shrink by time. The count, two units
    short of the book, books it, dated at the pick, with the lane's word and the count's."""
    r = Reconciler(BINS, portal=True, tagged=frozenset())  # the toy carries no tag
    r.observe(ZoneCount(m(-1), TOY, "floor", 9))
    assert r.run([LaneChange(m(0), "T1-1", -2, 1, 0.91, 3, "T1-1")]) == []
    assert r.tick(m(31)) == [] and r.tick(m(600)) == []
    r.observe(ZoneCount(m(660), TOY, "floor", 7))
    out = r.tick(m(661))
    assert deltas(out) == [(Kind.SHRINK, TOY, -2)]
    ev = out[0].evidence if isinstance(out[0], StockDelta) else None
    assert ev is not None and ev["bin"] == "T1-1" and out[0].occurred_at == m(0)
    assert ev["counted"] == {"at": m(660).isoformat(), "qty": 7, "book": 9}
    assert ev["seen"] == {"lane": {"lane": "T1-1", "delta": -2, "count": 1, "before": 3, "confidence": 0.91,
                                   "full": True}}  # (the most this lane has shown: at least 2)


def test_a_lane_s_misread_fall_is_no_shrink_when_the_count_finds_the_units() -> None:
    r = Reconciler(BINS, portal=True, tagged=frozenset())
    r.observe(ZoneCount(m(-1), TOY, "floor", 9))
    r.run([LaneChange(m(0), "T1-1", -1, 2, 0.79, 3, "T1-1")])  # a misread run, no hand
    r.observe(ZoneCount(m(660), TOY, "floor", 9))
    assert deltas(r.tick(m(661)) + r.tick(m(2 * 24 * 60))) == []


def test_a_lane_drop_put_back_on_the_lane_is_no_shrink() -> None:
    r = Reconciler(BINS)
    out = r.run([LaneChange(m(0), "T1-1", -1, 3, 0.9, 4), LaneChange(m(4), "T1-1", 1, 4, 0.9, 3)])
    assert deltas(out + r.tick(m(90))) == []


def test_a_lane_rise_is_not_taken_for_another_sku_s_units_by_its_weight() -> None:
    # A lane counts what lies there; only a scale tells a foreign unit by its weight.
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-1", -1, 4, -2000.0), LaneChange(m(2), "T1-1", 14, 18, 0.9, 4)])
    assert not any(isinstance(o, Misplacement) for o in out)


# --- the reconciler: a bin with a scale and a lane ------------------------------------------


def test_scale_and_lane_agreeing_are_one_pick_with_both_in_the_evidence() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(s(0), "T1-2", -1, 5, -320.4), LaneChange(s(2), "T1-2", -1, 3, 0.9, 4, "cam-T1-2")])
    out += r.tick(m(30))
    assert deltas(out) == [(Kind.SHRINK, BOWL, -1)]  # one unit, not two
    ev = out[0].evidence if isinstance(out[0], StockDelta) else None
    assert ev is not None and set(ev["seen"]) == {"scale", "lane", "believed"}  # type: ignore[arg-type]


@pytest.mark.parametrize(("grams", "full_before", "expected", "believed"), [
    (-960.0, False, -3, "scale"),  # the scale is sure of 3 (to the gram): it stands
    (-850.0, False, -2, "lane"),  # 2.66 units on the scale, read as 3 (confidence 0.66): the lane's 2 stand
    # The lane showed its fullest front row before: its 2 mean "at least 2", not fewer than the scale's 3.
    (-850.0, True, -3, "scale"),
])
def test_scale_and_lane_disagreeing_the_more_confident_wins_both_in_the_evidence(
        grams: float, full_before: bool, expected: int, believed: str) -> None:
    r = Reconciler(BINS)
    if not full_before:  # (a refill showed 6 in the front row an hour ago)
        r.observe(LaneChange(m(-60), "T1-2", 3, 6, 0.9, 3))
    scale_delta = round(grams / 320.0)
    out = r.run([BinChange(s(0), "T1-2", scale_delta, 9, grams),
                 LaneChange(s(3), "T1-2", -2, 2, 0.95, 4, "cam-T1-2")])
    out += r.tick(m(30))
    assert deltas(out) == [(Kind.SHRINK, BOWL, expected)]
    ev = out[0].evidence if isinstance(out[0], StockDelta) else None
    assert ev is not None
    seen = ev["seen"]
    assert isinstance(seen, dict) and seen["believed"] == believed
    assert seen["scale"]["delta"] == scale_delta and seen["lane"]["delta"] == -2


def test_the_lane_first_then_a_more_confident_scale_corrects_the_pick() -> None:
    r = Reconciler(BINS)
    out = r.run([LaneChange(s(0), "T1-2", -1, 3, 0.7, 4), BinChange(s(2), "T1-2", -2, 8, -640.5),
                 PosLine(m(5), "T9", 0, "sale", BOWL, 2)])
    out += r.tick(m(60))
    assert deltas(out) == [(Kind.SALE, BOWL, -2)]  # the scale's 2 were paid: nothing left as shrink


def test_a_lane_s_word_on_a_scaled_bin_the_scale_did_not_echo_is_no_pick() -> None:
    # The scale's silence says nothing changed (a hand in the picture, a misread front row).
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "T1-2", -1, 5, -320.0), LaneChange(m(3), "T1-2", -1, 3, 0.9, 4),
                 LaneChange(m(20), "T1-2", -2, 1, 0.99, 3)])
    out += r.tick(m(60))
    assert deltas(out) == [(Kind.SHRINK, BOWL, -1)]


# --- what the door's silence says of a tagged SKU -------------------------------------------


def test_a_tagged_unit_the_door_did_not_read_waits_for_the_count_an_untagged_one_does_not() -> None:
    r = Reconciler(BINS, portal=True, tagged=frozenset({CAT}))
    r.run([ZoneCount(m(-1), CAT, "floor", 5), BinLevel(m(-1), "A1-1", 5),
           BinChange(m(0), "A1-1", -1, 4, -2000.0), BinChange(m(0), "T1-2", -1, 3, -320.0)])
    assert deltas(r.tick(m(31))) == [(Kind.SHRINK, BOWL, -1)]  # untagged: the window and a fifth
    assert deltas(r.tick(m(300))) == []  # tagged and not read leaving: most likely still here
    r.observe(ZoneCount(m(600), CAT, "floor", 4))  # the night's count: one unit fewer than the book
    assert deltas(r.tick(m(601))) == [(Kind.SHRINK, CAT, -1)]


def test_a_tagged_pick_the_count_found_is_no_shrink_and_one_nothing_settles_is_shrink_after_hold() -> None:
    r = Reconciler(BINS, portal=True, tagged=frozenset({CAT}))
    r.run([ZoneCount(m(-1), CAT, "floor", 5), BinLevel(m(-1), "A1-1", 5),
           BinChange(m(0), "A1-1", -1, 4, -2000.0)])
    r.observe(ZoneCount(m(600), CAT, "floor", 5))  # every unit the book has: it is in the shop
    assert deltas(r.tick(m(601)) + r.tick(m(2 * 24 * 60))) == []
    r = Reconciler(BINS, portal=True, tagged=frozenset({CAT}))
    r.run([BinChange(m(0), "A1-1", -1, 4, -2000.0)])  # (no count ever)
    assert deltas(r.tick(m(24 * 60))) == []
    assert deltas(r.tick(m(24 * 60 + 1))) == [(Kind.SHRINK, CAT, -1)]


def test_a_tagged_unit_read_leaving_unpaid_is_shrink_at_once() -> None:
    r = Reconciler(BINS, portal=True, tagged=frozenset({CAT}))
    r.run([BinChange(m(0), "A1-1", -1, 4, -2000.0), ExitRead(m(10), CAT, "e1")])
    assert deltas(r.tick(m(12))) == [(Kind.SHRINK, CAT, -1)]


def test_a_sale_later_than_the_window_still_claims_a_tagged_pick_that_waits() -> None:
    r = Reconciler(BINS, portal=True, tagged=frozenset({CAT}))
    out = r.run([BinChange(m(0), "A1-1", -1, 4, -2000.0)]) + r.tick(m(40))
    out += r.run([PosLine(m(45), "T2", 0, "sale", CAT, 1)]) + r.tick(m(200))
    assert deltas(out) == [(Kind.SALE, CAT, -1)]


# --- the gateway's seam: camera frames through the pipeline ---------------------------------


async def test_the_pipeline_turns_a_lane_s_frames_into_a_pick_that_an_unpaid_window_makes_shrink() -> None:
    clock = ManualClock(T0)
    booked: list[StockDelta] = []

    async def append(deltas: Sequence[StockDelta]) -> None:
        booked.extend(deltas)

    p = Pipeline({"T1-1": BINS["T1-1"]}, append, clock=clock)
    p.lanes.lane_of_camera("T1-1", "cam-t")
    for i, n in enumerate([4, 4, 4, 4, 3, 3, 3, 3]):  # its level, then a unit taken
        p.on_observation(LaneCount("T1-1", "T1-1", TOY, n, 0.93, s(i)))
    p.on_observation(LaneCount("T1-9", "T1-9", TOY, 1, 0.93, s(1)))  # a lane the planogram lacks
    clock.time = m(40)
    p.tick()
    assert await p.flush() == 1
    [shrink] = booked
    assert (shrink.kind, shrink.qty, shrink.bin) == (Kind.SHRINK, -1, "T1-1")
    assert shrink.evidence and shrink.evidence["pick_at"] == s(4).isoformat()
    assert shrink.evidence["seen"]["lane"]["confidence"] == 0.93  # type: ignore[index]


def test_unseen_s_in_the_reconcile_section_defaults_to_the_window_and_a_fifth() -> None:
    assert reconcile_unseen_s({"window_s": 1000}) == 1200.0
    assert reconcile_unseen_s({"unseen_s": 3600}) == 3600.0
    with pytest.raises(ReconcileConfigError, match="unseen_s"):
        reconcile_unseen_s({"unseen_s": -1})


def test_a_lane_rising_to_its_fullest_front_row_never_undercuts_the_scale_s_refill() -> None:
    # Staff fill the bin: 5 units on the scale (its grams a little off: confidence 0.6), the lane's
    # front row full again at 6 (+2). Units behind the front row are hidden: the lane says "at least".
    r = Reconciler(BINS)
    r.observe(LaneChange(m(-60), "T1-2", -2, 4, 0.9, 6))  # it has shown 6 before
    out = r.run([BinChange(s(0), "T1-2", 5, 9, 5 * 320.0 + 128.0), LaneChange(s(2), "T1-2", 2, 6, 0.97, 4)])
    out += r.tick(m(60))  # (believing the lane's 2 would leave 3 units picked: a shrink)
    assert deltas(out) == [(Kind.MOVE, BOWL, 5)]
