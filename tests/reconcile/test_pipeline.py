"""The gateway's seam to the reconciler: committed POS sales and shelf events in, deltas out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from edge.clock import ManualClock
from edge.fusion.domain import BinInfo, UnexplainedWeight, WeightEvent
from edge.fusion.pipeline import Pipeline, pos_line
from firmware_sim.world import catalog
from shared.contract import Kind, Source, StockDelta, Zone, new_delta_id

DOG = catalog()[6].gtin
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
BINS = {"A1-2": BinInfo("A1-2", DOG, 400.0, refill_at=4, capacity=19)}


def pick(at: datetime, k: int, count: int) -> WeightEvent:
    return WeightEvent("A1-2", DOG, count * 400.0, -400.0 * k, count, -k, 0.0, True, at)


def sale(at: datetime, txn: str, qty: int) -> StockDelta:
    return StockDelta(id=new_delta_id(), seq=0, sku=DOG, kind=Kind.SALE, qty=-qty, zone=Zone.FLOOR,
                      occurred_at=at, source=Source.POS, ref=f"{txn}/1")


class Sink:
    def __init__(self) -> None:
        self.deltas: list[StockDelta] = []
        self.got = asyncio.Event()

    async def __call__(self, deltas: Sequence[StockDelta]) -> None:
        self.deltas.extend(deltas)
        self.got.set()


async def test_a_sold_pick_books_nothing_more_and_an_unpaid_one_becomes_shrink() -> None:
    clock = ManualClock(T0)
    sink = Sink()
    p = Pipeline(BINS, sink, clock=clock)
    p.on_observation(pick(T0, 1, 9))
    p.on_sales([sale(T0 + timedelta(minutes=5), "T1", 1)])  # the webhook booked it already
    p.on_observation(pick(T0 + timedelta(minutes=6), 2, 7))
    clock.time = T0 + timedelta(minutes=40)
    p.tick()
    assert await p.flush() == 1
    [shrink] = sink.deltas
    assert (shrink.kind, shrink.qty, shrink.bin) == (Kind.SHRINK, -2, "A1-2")
    assert shrink.evidence and shrink.evidence["qty"] == 2


async def test_run_ticks_and_flushes_what_the_reconciler_decides() -> None:
    """Once the shop's clock is past the refill by the lateness allowed, run() hands it over."""
    sink = Sink()
    p = Pipeline(BINS, sink, clock=ManualClock(T0 + timedelta(minutes=1)), tick=timedelta(seconds=0.01))
    p.on_observation(WeightEvent("A1-2", DOG, 7600.0, 6800.0, 19, 17, 0.0, True, T0))  # a refill
    task = asyncio.create_task(p.run())
    try:
        await asyncio.wait_for(sink.got.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [(d.kind, d.qty) for d in sink.deltas] == [(Kind.MOVE, 17)]


async def test_a_failed_append_keeps_the_deltas_for_the_next_flush() -> None:
    calls: list[int] = []

    async def flaky(deltas: Sequence[StockDelta]) -> None:
        calls.append(len(deltas))
        if len(calls) == 1:
            raise OSError("outbox away")

    p = Pipeline(BINS, flaky, clock=ManualClock(T0 + timedelta(minutes=1)))
    p.on_observation(WeightEvent("A1-2", DOG, 7600.0, 6800.0, 19, 17, 0.0, True, T0))
    p.tick()
    try:
        await p.flush()
        raise AssertionError("the append error must reach the caller")
    except OSError:
        pass
    assert await p.flush() == 1 and calls == [1, 1]


def test_pos_refs_become_till_lines_and_odd_ones_are_skipped() -> None:
    line = pos_line(sale(T0, "order:W7:T9", 2))
    assert line is not None and (line.txn, line.line, line.kind, line.qty) == ("order:W7:T9", 1, "sale", 2)
    bad = StockDelta(id=new_delta_id(), seq=0, sku=DOG, kind=Kind.SALE, qty=-1, zone=Zone.FLOOR,
                     occurred_at=T0, source=Source.POS, ref="no-line")
    assert pos_line(bad) is None
    p = Pipeline(BINS, Sink(), clock=ManualClock(T0))
    p.on_observation(UnexplainedWeight("Z9-9", DOG, 0.0, 50.0, 0, 50.0, T0))  # a bin not planned
    p.on_observation("a camera count")  # not a shelf event
    assert p.reconciler.tick(T0 + timedelta(hours=1)) == []


async def test_a_committed_count_anchors_the_floor_so_the_scales_take_back_a_false_shrink() -> None:
    """Re-anchoring needs the book's floor figure: a count (the back office's, or an RFID
    stocktake's) gives it. Without one, the unit back on the shelf leaves the shrink standing."""
    from edge.fusion.domain import BinLevel as FirstLevel
    from edge.fusion.reconciler import Reconciler

    def run(counted: bool) -> list[StockDelta]:
        clock = ManualClock(T0)
        sink = Sink()
        p = Pipeline(BINS, sink, clock=clock, reconciler=Reconciler(BINS, settle=timedelta(minutes=5)))
        if counted:
            p.on_counts([StockDelta(id=new_delta_id(), seq=0, sku=DOG, kind=Kind.COUNT, qty=10,
                                    zone=Zone.FLOOR, occurred_at=T0, source=Source.RFID)])
        p.on_observation(FirstLevel(T0, "A1-2", 10, sku=DOG, grams=4000.0))
        p.on_observation(pick(T0 + timedelta(minutes=1), 1, 9))
        for minute in range(2, 60):
            clock.time = T0 + timedelta(minutes=minute)
            if minute == 40:  # a unit is back that the scale cannot tell for the picked one (410 g)
                p.on_observation(WeightEvent("A1-2", DOG, 4010.0, 410.0, 10, 1, 0.0, True, clock.time))
            p.tick()
        return p._queue

    assert [(d.kind, d.qty) for d in run(counted=False)] == [(Kind.SHRINK, -1)]
    assert [(d.kind, d.qty) for d in run(counted=True)] == [(Kind.SHRINK, -1), (Kind.ADJUST, 1)]


async def test_staff_movements_move_the_floor_figure_and_a_refill_scan_books_an_unwatched_shelf() -> None:
    """What staff post to the gateway reaches the reconciler: a committed count sets its floor
    figure, a write-off off the shelf moves it (as the ledger moves the floor), and a handheld's
    refill scan of a shelf no sensor watches is the move the reconciler books; of a watched shelf,
    nothing (its rise books it)."""
    from edge.pos import StaffRefill

    bird = catalog()[3].gtin
    clock = ManualClock(T0)
    p = Pipeline(BINS, Sink(), clock=clock)

    def staff(kind: Kind, qty: int, zone: Zone, at: datetime, from_zone: Zone | None = None) -> StockDelta:
        return StockDelta(id=new_delta_id(), seq=0, sku=DOG, kind=kind, qty=qty, zone=zone, from_zone=from_zone,
                          occurred_at=at, source=Source.MANUAL, ref="W-1")

    p.on_counts([staff(Kind.COUNT, 10, Zone.FLOOR, T0), staff(Kind.COUNT, 4, Zone.BACKROOM, T0),
                 # two lines of one write-off, alike but for their lots: two units off the floor
                 staff(Kind.SHRINK, -1, Zone.FLOOR, T0 + timedelta(minutes=1)),
                 staff(Kind.SHRINK, -1, Zone.FLOOR, T0 + timedelta(minutes=1)),
                 staff(Kind.MOVE, 1, Zone.BACKROOM, T0 + timedelta(minutes=2), from_zone=Zone.FLOOR),
                 staff(Kind.RECEIPT, 6, Zone.BACKROOM, T0 + timedelta(minutes=2))])
    p.on_refill(StaffRefill("refill:R1", "R1", T0 + timedelta(minutes=3), bird, 5, "s-017", bin="Q1-1"))
    p.on_refill(StaffRefill("refill:R2", "R2", T0 + timedelta(minutes=3), DOG, 5, "s-017", bin="A1-2"))
    clock.time = T0 + timedelta(minutes=10)
    p.tick()
    assert p.reconciler.floor_figure(DOG) == 7
    assert [(d.kind, d.sku, d.qty, d.from_zone) for d in p._queue] == [(Kind.MOVE, bird, 5, Zone.BACKROOM)]


async def test_a_change_the_bin_made_while_it_could_not_be_read_is_its_new_level_not_a_pick() -> None:
    """A scale off for hours comes back three units lighter: the till sold them meanwhile, and the
    fall is the net of the outage's hands, not one hand to wait for a sale — no shrink. Its new
    level is what the reconciler compares with the book. The same fall seen happen is a pick that
    nothing paid for: a shrink after the window, which the scales take back once they have agreed
    with the book for `settle` (a false shrink on the staff's phones meanwhile)."""
    def run(unseen: bool) -> list[tuple[Kind, int]]:
        clock = ManualClock(T0)
        p = Pipeline(BINS, Sink(), clock=clock)
        p.on_counts([StockDelta(id=new_delta_id(), seq=0, sku=DOG, kind=Kind.COUNT, qty=10, zone=Zone.FLOOR,
                                occurred_at=T0, source=Source.RFID)])
        for minute in (20, 40, 60):  # sold while the scale was off
            p.on_sales([sale(T0 + timedelta(minutes=minute), f"T{minute}", 1)])
        back = T0 + timedelta(hours=2)
        p.on_observation(WeightEvent("A1-2", DOG, 2800.0, -1200.0, 7, -3, 0.0, True, back, None, unseen=unseen))
        for minute in range(121, 200):
            clock.time = T0 + timedelta(minutes=minute)
            p.tick()
        assert p.reconciler.floor_figure(DOG) == 7  # the book's 10 less the three sales: the scale's level
        return [(d.kind, d.qty) for d in p._queue]

    assert run(unseen=True) == []
    assert run(unseen=False) == [(Kind.SHRINK, -3), (Kind.ADJUST, 3)]
