"""The ledger's arithmetic (cloud/db/ledger.py): counts, FEFO, moves, and order independence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.db.ledger import Move, SkuBook, available, replay

T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def mv(id: str, kind: str, qty: int, minute: float, zone: str = "floor", lot: str = "",
       expiry: date | None = None, from_zone: str | None = None) -> Move:
    return Move(id, kind, qty, zone, at(minute), lot, expiry, from_zone)


def test_a_sale_before_a_count_but_delivered_after_it_is_absorbed() -> None:
    receipt = mv("a", "receipt", 10, 0)
    count = mv("b", "count", 8, 30)
    late_sale = mv("c", "sale", -3, 20)  # rang up offline at 09:20, arrives after the 09:30 count
    assert replay([receipt, count, late_sale]).zone_total("floor") == 8


def test_a_sale_after_a_count_still_applies() -> None:
    assert replay([mv("a", "receipt", 10, 0), mv("b", "count", 8, 30),
                   mv("c", "sale", -3, 40)]).zone_total("floor") == 5


def test_a_count_is_per_zone() -> None:
    book = replay([mv("a", "receipt", 10, 0, zone="backroom"), mv("b", "receipt", 4, 0),
                   mv("c", "count", 1, 5)])
    assert (book.zone_total("floor"), book.zone_total("backroom")) == (1, 10)


def test_sales_without_a_lot_consume_first_expiry_first() -> None:
    book = replay([
        mv("a", "receipt", 5, 0, lot="LATE", expiry=date(2027, 6, 1)),
        mv("b", "receipt", 5, 0, lot="SOON", expiry=date(2026, 12, 1)),
        mv("c", "sale", -7, 10),
    ])
    assert book.qty == {("floor", "LATE"): 3}


def test_a_sale_naming_its_lot_takes_that_lot_first() -> None:
    book = replay([
        mv("a", "receipt", 5, 0, lot="LATE", expiry=date(2027, 6, 1)),
        mv("b", "receipt", 5, 0, lot="SOON", expiry=date(2026, 12, 1)),
        mv("c", "sale", -2, 10, lot="LATE"),
    ])
    assert book.qty == {("floor", "LATE"): 3, ("floor", "SOON"): 5}


def test_overselling_books_a_negative_unknown_lot_that_a_count_corrects() -> None:
    book = replay([mv("a", "receipt", 2, 0, lot="L1"), mv("b", "sale", -3, 1)])
    assert book.qty == {("floor", ""): -1}
    assert book.on_hand == -1
    assert replay([mv("a", "receipt", 2, 0, lot="L1"), mv("b", "sale", -3, 1),
                   mv("c", "count", 4, 2)]).on_hand == 4


def test_a_zone_count_keeps_the_latest_expiring_lots() -> None:
    book = replay([
        mv("a", "receipt", 5, 0, lot="SOON", expiry=date(2026, 12, 1)),
        mv("b", "receipt", 5, 0, lot="LATE", expiry=date(2027, 6, 1)),
        mv("c", "count", 6, 10),
    ])
    assert book.qty == {("floor", "LATE"): 5, ("floor", "SOON"): 1}


def test_a_move_carries_its_lots_between_zones() -> None:
    book = replay([
        mv("a", "receipt", 6, 0, zone="backroom", lot="L1", expiry=date(2027, 1, 1)),
        mv("b", "move", 4, 5, zone="floor", from_zone="backroom"),
    ])
    assert book.qty == {("backroom", "L1"): 2, ("floor", "L1"): 4}


def test_expired_lots_are_not_available() -> None:
    book = replay([
        mv("a", "receipt", 3, 0, lot="OLD", expiry=date(2026, 11, 1)),
        mv("b", "receipt", 4, 0, lot="NEW", expiry=date(2027, 11, 1)),
    ])
    assert book.on_hand == 7
    assert available(book, date(2026, 11, 26)) == 4
    assert available(book, date(2026, 11, 26), reserved=3, safety=2) == 0


# --- properties -------------------------------------------------------------------------------

LOTS = st.sampled_from(["", "L1", "L2", "L3"])
EXPIRY = {"L1": date(2026, 12, 1), "L2": date(2027, 3, 1), "L3": None}


@st.composite
def moves(draw: st.DrawFn) -> list[Move]:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["sale", "return", "receipt", "shrink", "count", "move", "adjust"]))
        zone = draw(st.sampled_from(["floor", "backroom"]))
        minute = draw(st.integers(0, 30))  # few distinct instants: ties are exercised
        lot = draw(LOTS)
        qty = draw(st.integers(1, 9))
        if kind in ("sale", "shrink"):
            qty = -qty
        elif kind == "count":
            qty = draw(st.integers(0, 12))
        elif kind == "adjust":
            qty = draw(st.sampled_from([-1, 1])) * qty
        from_zone = ("backroom" if zone == "floor" else "floor") if kind == "move" else None
        out.append(mv(f"m{i:03d}", kind, qty, minute, zone, lot, EXPIRY.get(lot), from_zone))
    return out


@given(moves(), st.randoms(use_true_random=False), st.integers(0, 5))
@settings(max_examples=300, deadline=None)
def test_any_delivery_order_and_any_duplication_give_the_same_book(
        history: list[Move], rnd: object, dups: int) -> None:
    expected = replay(history)
    shuffled = list(history) + list(history[:dups])
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    # Duplicates are dropped on id before the ledger sees them (the unique key does it in SQL).
    unique = list({m.id: m for m in shuffled}.values())
    assert replay(unique).qty == expected.qty


@given(moves(), st.integers(0, 25))
@settings(max_examples=300, deadline=None)
def test_applying_newer_movements_incrementally_equals_a_full_replay(history: list[Move], cut: int) -> None:
    ordered = sorted(history, key=lambda m: m.order)
    book = replay(ordered[:cut])
    for m in ordered[cut:]:
        book.apply(m)
    assert book.qty == replay(history).qty


@given(moves())
@settings(max_examples=300, deadline=None)
def test_units_are_conserved_between_counts(history: list[Move]) -> None:
    """Without counts, on_hand is exactly the sum of the signed quantities (moves are net zero)."""
    no_counts = [m for m in history if m.kind != "count"]
    book = replay(no_counts)
    assert book.on_hand == sum(m.qty for m in no_counts if m.kind != "move")
    assert all(q != 0 for q in book.qty.values())


def test_an_empty_book_is_empty() -> None:
    assert SkuBook().on_hand == 0
