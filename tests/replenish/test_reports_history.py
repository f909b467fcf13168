"""The replay behind the stock-out, stock-age, shrink and sell-through reports, against brute force:
for any short history of counts, sales, receipts, shrink and dated lots, the seconds with nothing
sellable are the 10-minute steps (every movement falls on one) at whose start the ledger's own book (replayed from scratch up to then)
had nothing sellable, and the units aged first-in-first-out are the units on hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.db import ledger
from cloud.db.models import Movement
from cloud.db.reports_history import _Replay, fifo_ages

T0 = datetime(2026, 3, 1, tzinfo=UTC)
START, END = T0 + timedelta(hours=30), T0 + timedelta(hours=78)  # a period across two midnights


@st.composite
def histories(draw: st.DrawFn) -> list[Movement]:
    n = draw(st.integers(1, 12))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["count", "sale", "receipt", "shrink"]))
        qty = draw(st.integers(0, 6)) if kind == "count" else draw(st.integers(1, 6))
        lot = draw(st.sampled_from(["", "L1", "L2"])) if kind in ("receipt", "count") else ""
        expiry = {"L1": date(2026, 3, 2), "L2": date(2026, 3, 3)}.get(lot)
        minute = 10 * draw(st.integers(0, 78 * 6 - 1))  # on a 10-minute step, before or in the period
        out.append(Movement(id=f"m{i:02d}", kind=kind, qty=-qty if kind in ("sale", "shrink") else qty,
                            zone="floor", from_zone=None, lot=lot, expiry=expiry, evidence=None,
                            occurred_at=T0 + timedelta(minutes=minute)))
    return sorted(out, key=lambda m: (m.occurred_at, m.id))


def _book_at(moves: list[Movement], t: datetime) -> ledger.SkuBook:
    return ledger.replay(ledger.Move(m.id, m.kind, m.qty, m.zone, m.occurred_at, m.lot, m.expiry)
                         for m in moves if m.occurred_at <= t)


@settings(max_examples=60, deadline=None)
@given(histories())
def test_empty_seconds_are_the_minutes_the_book_had_nothing_sellable(moves: list[Movement]) -> None:
    replay = _Replay(START, END)
    for m in moves:
        replay.apply(m)
    h = replay.finish()
    first = moves[0].occurred_at
    steps = [START + timedelta(minutes=k) for k in range(0, int((END - START).total_seconds() // 60), 10)]
    ranged = [t for t in steps if t >= first]
    empty = [t for t in ranged if ledger.sellable(_book_at(moves, t), t.date()) <= 0]
    assert h.ranged_s == len(ranged) * 600
    assert h.empty_s == len(empty) * 600
    book_end = _book_at(moves, END)
    assert h.on_hand_end == book_end.on_hand
    assert sum(n for _, n in fifo_ages(h, END)) == max(book_end.on_hand, 0) or not h.layers
