"""Counting while trading: an absolute count is the truth at its cut-off (its occurred_at), and
the deltas the reconciler books afterwards for picks made before it must leave the ledger's book
true — absorbed by the count when their units had left the counted stock by then, applied after
it when they were still there (in a shopper's hands, which a stocktake reads too).

Each table test replays the reconciler's deltas with the ledger's own arithmetic
(cloud/db/ledger.py) and compares the floor with what the world holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.db.ledger import Move, replay
from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    ExitRead,
    Observation,
    OddWeight,
    OrderLine,
    PosLine,
    ZoneCount,
)
from edge.fusion.reconciler import Misplacement, Reconciler
from firmware_sim.world import catalog
from shared.contract import Kind, StockDelta

CAT, DOG = catalog()[0].gtin, catalog()[6].gtin
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
PLAN = {"A1-1": BinInfo("A1-1", CAT, 2000.0, refill_at=2, capacity=8),
        "A1-2": BinInfo("A1-2", DOG, 400.0, refill_at=4, capacity=19),
        "B1-1": BinInfo("B1-1", DOG, 400.0, refill_at=4, capacity=19)}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ledger_floor(sku: str, opening: int, counts: list[ZoneCount],
                 out: list[StockDelta | Misplacement]) -> int:
    """The ledger's floor figure for a SKU: the opening count, later counts and the deltas."""
    moves = [Move(f"open-{sku}", "count", opening, "floor", m(0))]
    moves += [Move(f"count-{sku}-{c.at.isoformat()}", "count", c.qty, "floor", c.at) for c in counts
              if c.sku == sku]
    moves += [Move(d.id, d.kind.value, d.qty, d.zone.value, d.occurred_at,
                   from_zone=d.from_zone.value if d.from_zone else None)
              for d in out if isinstance(d, StockDelta) and d.sku == sku]
    return replay(moves).zone_total("floor")


def run(r: Reconciler, timeline: list[tuple[float, list[Observation]]], until: float) -> list[
        StockDelta | Misplacement]:
    """Observations at their minutes, the clock ticking every half minute in between."""
    out: list[StockDelta | Misplacement] = []
    at = {t: obs for t, obs in timeline}
    minute = 0.0
    while minute <= until:
        for o in at.get(minute, []):
            out += r.observe(o)
        out += r.tick(m(minute))
        minute += 0.5
    return out


def opened(r: Reconciler, dog: int = 30) -> None:
    r.run([ZoneCount(m(0), CAT, "floor", 10), ZoneCount(m(0), DOG, "floor", dog),
           BinLevel(m(0), "A1-1", 5), BinLevel(m(0), "A1-2", 10), BinLevel(m(0), "B1-1", 10)])


def test_a_sale_slower_than_the_window_across_a_count_leaves_the_book_true() -> None:
    """Picked at 0, still in the shopper's basket when the shop is counted at 30 (the count reads
    it: 30 units), paid at 35. The window booked shrink at 25 for the pick (dated 0, absorbed by
    the count); the sale retracts it — and the retraction must be absorbed with it, or the book
    holds a unit the shopper took home."""
    r = Reconciler(PLAN)
    opened(r)
    count = ZoneCount(m(30), DOG, "floor", 30)
    out = run(r, [(0.0, [BinChange(m(0), "A1-2", -1, 9, -400.0)]), (30.0, [count]),
                  (35.0, [PosLine(m(35), "T1", 0, "sale", DOG, 1)])], until=120)
    assert [(d.kind, d.qty) for d in out if isinstance(d, StockDelta)] == [
        (Kind.SHRINK, -1), (Kind.SALE, -1), (Kind.ADJUST, 1)]
    assert ledger_floor(DOG, 30, [count], out) == 29  # the world: 30 - the unit sold
    assert r.floor_figure(DOG) == 29


def test_units_a_thief_still_held_at_the_count_are_booked_after_it() -> None:
    """Two units picked at 0; the count at 5 reads both in the thief's bag (30); the door reads
    one of them leaving at 6 and misses the other. Both left after the count, so both shrinks
    apply after it: the one the door saw at the read, the one it missed with it (its hand
    walked out then), not back at the pick, where the count would absorb it."""
    r = Reconciler(PLAN, portal=True)
    opened(r)
    count = ZoneCount(m(5), DOG, "floor", 30)
    out = run(r, [(0.0, [BinChange(m(0), "A1-2", -2, 8, -800.0)]), (5.0, [count]),
                  (6.0, [ExitRead(m(6), DOG, "E1")])], until=120)
    shrinks = [d for d in out if isinstance(d, StockDelta) and d.kind is Kind.SHRINK]
    assert [(d.qty, d.occurred_at) for d in shrinks] == [(-1, m(6)), (-1, m(6))]
    assert ledger_floor(DOG, 30, [count], out) == 28
    assert r.floor_figure(DOG) == 28


def test_a_shrink_for_a_unit_gone_before_the_count_is_absorbed_by_it() -> None:
    """Picked at 0 and gone unseen (no door antenna) before the count at 20, which reads 29: the
    window's shrink at 25 is dated at the pick, before the count, which already holds it."""
    r = Reconciler(PLAN)
    opened(r)
    count = ZoneCount(m(20), DOG, "floor", 29)
    out = run(r, [(0.0, [BinChange(m(0), "A1-2", -1, 9, -400.0)]), (20.0, [count])], until=60)
    assert [(d.kind, d.occurred_at) for d in out if isinstance(d, StockDelta)] == [(Kind.SHRINK, m(0))]
    assert ledger_floor(DOG, 30, [count], out) == 29
    assert r.floor_figure(DOG) == 29


def test_the_scales_taking_back_a_false_shrink_across_a_count_leave_the_book_true() -> None:
    """A unit picked at 0 lies where no scale sees it; the window books it shrink (dated 0);
    the count at 30 reads it (30). At 40 staff lay it back on its bin: the scales show one more
    than the book for the settle time, and the shrink is retracted — dated with the shrink, so
    the count, which saw the unit, absorbs both."""
    r = Reconciler(PLAN, settle=timedelta(minutes=5))
    opened(r)
    count = ZoneCount(m(30), DOG, "floor", 30)
    out = run(r, [(0.0, [BinChange(m(0), "A1-2", -1, 9, -400.0)]), (30.0, [count]),
                  (40.0, [BinChange(m(40), "A1-2", 1, 10, 401.0)])], until=120)
    assert ledger_floor(DOG, 30, [count], out) == 30
    assert r.floor_figure(DOG) == 30


# --- property: whatever happens, counts included, the reconciler's floor figure is the ledger's


def _at(minute: int) -> datetime:
    return m(minute)


def _count_at(minute: int) -> datetime:
    return m(minute + 0.25)  # never the very instant of another observation (the ledger orders by id)


day = st.lists(st.one_of(
    st.builds(ExitRead, st.integers(1, 120).map(_at), st.sampled_from([CAT, DOG]),
              st.sampled_from(["E1", "E2", "E3"])),
    st.builds(BinChange, st.integers(1, 120).map(_at), st.sampled_from(list(PLAN)),
              st.integers(-4, 6).filter(bool), st.integers(0, 20), st.none()),
    st.builds(PosLine, st.integers(1, 120).map(_at), st.sampled_from(["T1", "T2", "V3"]), st.integers(0, 2),
              st.sampled_from(["sale", "return", "void"]), st.sampled_from([CAT, DOG]), st.integers(1, 4)),
    st.builds(OrderLine, st.integers(1, 120).map(_at), st.sampled_from(["W1", "W2"]), st.integers(0, 1),
              st.sampled_from([CAT, DOG]), st.integers(1, 3)),
    st.builds(OddWeight, st.integers(1, 120).map(_at), st.sampled_from(list(PLAN)),
              st.floats(-2500, 2500).filter(lambda g: abs(g) > 1)),
    st.builds(ZoneCount, st.integers(1, 120).map(_count_at), st.sampled_from([CAT, DOG]), st.just("floor"),
              st.integers(0, 40)),
), max_size=40).map(lambda xs: sorted(_one_count_per_instant(xs), key=lambda o: o.at))


def _one_count_per_instant(xs: list[Observation]) -> list[Observation]:
    """A SKU counted twice at one instant is two stocktakes the ledger orders by their ids, which
    nothing here gives them (`ledger_floor` names a count by its SKU and time); and the same count
    twice is one count delivered twice, which the reconciler drops as a repeat. So a SKU's counts
    are at instants of their own: the first at an instant stays."""
    seen: set[tuple[str, datetime]] = set()
    out: list[Observation] = []
    for x in xs:
        if isinstance(x, ZoneCount):
            if (x.sku, x.at) in seen:
                continue
            seen.add((x.sku, x.at))
        out.append(x)
    return out


@settings(max_examples=200, deadline=None)
@given(day, st.booleans(), st.booleans())
def test_with_counts_during_the_day_the_floor_figure_is_still_the_ledger_s(
        xs: list[Observation], portal: bool, retract: bool) -> None:
    """Counts between picks and their verdicts: the reconciler's floor figure is what the ledger
    makes of the counts and the deltas, and so re-anchoring on the scales compares them with the
    book the ledger holds."""
    r = Reconciler(PLAN, settle=timedelta(minutes=5), window=timedelta(minutes=10), portal=portal,
                   restore=retract)
    opened(r, dog=30)
    out: list[StockDelta | Misplacement] = []
    for x in xs:
        out += r.tick(x.at - timedelta(seconds=5)) + r.observe(x)
    out += r.tick(m(1000))
    counts = [x for x in xs if isinstance(x, ZoneCount)]
    for sku, opening in ((CAT, 10), (DOG, 30)):
        assert ledger_floor(sku, opening, counts, out) == r.floor_figure(sku)
