"""Table tests and properties of the pure reconciler (ARCHITECTURE §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.contract import Kind, StockDelta
from edge.domain import BinChange, BinInfo, OddWeight, PosLine
from edge.reconcile import Misplacement, Reconciler
from firmware_sim.world import catalog

CAT, DOG = catalog()[0].gtin, catalog()[6].gtin
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
BINS = {"A1-1": BinInfo("A1-1", CAT, 2000.0), "A1-2": BinInfo("A1-2", DOG, 400.0)}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def deltas(out: list[StockDelta | Misplacement]) -> list[tuple[Kind, str, int]]:
    return [(d.kind, d.sku, d.qty) for d in out if isinstance(d, StockDelta)]


def test_sale_confirmed_by_pick_is_one_sale_and_no_shrink() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-1", -2, 5), PosLine(m(4), "T1", 0, "sale", CAT, 2)])
    out += r.tick(m(60))
    assert deltas(out) == [(Kind.SALE, CAT, -2)]
    sale = next(d for d in out if isinstance(d, StockDelta))
    assert sale.confidence == 1.0 and sale.evidence and sale.evidence["picks"]


def test_pick_without_sale_after_window_is_shrink_with_evidence() -> None:
    r = Reconciler(BINS, window=timedelta(minutes=15))
    assert r.run([BinChange(m(0), "A1-2", -1, 9)]) == []
    assert r.tick(m(10)) == []  # window still open
    out = r.tick(m(16))
    assert deltas(out) == [(Kind.SHRINK, DOG, -1)]
    assert isinstance(out[0], StockDelta) and out[0].evidence and out[0].evidence["bin"] == "A1-2"


def test_put_back_on_same_bin_cancels_the_pick() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-2", -1, 9), BinChange(m(3), "A1-2", 1, 10)]) + r.tick(m(60))
    assert deltas(out) == []


def test_misplaced_put_back_is_a_finding_not_a_stock_change() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-2", -1, 9), OddWeight(m(2), "A1-1", 405.0)]) + r.tick(m(60))
    assert deltas(out) == []
    assert [o for o in out if isinstance(o, Misplacement)] == [Misplacement(m(2), "A1-1", DOG, 1, "A1-2")]


def test_rise_without_pending_pick_is_restock_move() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-1", 6, 8)])
    assert deltas(out) == [(Kind.MOVE, CAT, 6)]


def test_sale_before_pick_is_seen_is_still_matched() -> None:
    r = Reconciler(BINS)
    out = r.run([PosLine(m(0), "T1", 0, "sale", CAT, 1), BinChange(m(0.1), "A1-1", -1, 4)]) + r.tick(m(60))
    assert deltas(out) == [(Kind.SALE, CAT, -1)]


def test_return_goes_to_backroom() -> None:
    out = Reconciler(BINS).run([PosLine(m(0), "R1", 0, "return", DOG, 1)])
    assert [(d.kind, d.zone.value) for d in out if isinstance(d, StockDelta)] == [(Kind.RETURN, "backroom")]


obs = st.lists(st.one_of(
    st.builds(BinChange, st.integers(0, 120).map(m), st.sampled_from(list(BINS)),
              st.integers(-4, 4).filter(bool), st.integers(0, 20)),
    st.builds(PosLine, st.integers(0, 120).map(m), st.sampled_from(["T1", "T2", "T3"]), st.integers(0, 2),
              st.sampled_from(["sale", "return"]), st.sampled_from([CAT, DOG]), st.integers(1, 4)),
), max_size=30).map(lambda xs: sorted(xs, key=lambda o: o.at))


@settings(max_examples=150, deadline=None)
@given(obs)
def test_idempotence_replaying_observations_adds_nothing(xs: list) -> None:  # type: ignore[type-arg]
    r = Reconciler(BINS)
    first = r.run(xs)
    assert r.run(xs) == []
    again = Reconciler(BINS).run(xs)
    assert [d.id for d in first if isinstance(d, StockDelta)] == [d.id for d in again if isinstance(d, StockDelta)]


@settings(max_examples=150, deadline=None)
@given(obs)
def test_no_delta_without_evidence_and_shrink_never_exceeds_unclaimed_picks(xs: list) -> None:  # type: ignore[type-arg]
    r = Reconciler(BINS)
    out = r.run(xs) + r.tick(m(1000))
    ds = [d for d in out if isinstance(d, StockDelta)]
    assert all(d.evidence for d in ds)
    picked = sum(-o.delta for o in xs if isinstance(o, BinChange) and o.delta < 0)
    shrunk = sum(-d.qty for d in ds if d.kind is Kind.SHRINK)
    assert 0 <= shrunk <= picked  # conservation: shrink only from units the scales saw leave
    # POS lines are unique by (txn, line): a repeated line is the same sale, counted once.
    lines: dict[tuple[str, int], PosLine] = {}
    for o in xs:
        if isinstance(o, PosLine):
            lines.setdefault((o.txn, o.line), o)  # the first delivery of a line wins
    sold = sum(o.qty for o in lines.values() if o.kind == "sale")
    assert -sum(d.qty for d in ds if d.kind is Kind.SALE) == sold


def test_restock_after_theft_does_not_hide_the_shrink() -> None:
    r = Reconciler(BINS)
    out = r.run([BinChange(m(0), "A1-2", -4, 2), BinChange(m(5), "A1-2", 12, 14)]) + r.tick(m(60))
    assert deltas(out) == [(Kind.MOVE, DOG, 12), (Kind.SHRINK, DOG, -4)]
