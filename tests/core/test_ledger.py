"""The ledger's arithmetic (cloud/db/ledger.py): counts, FEFO, moves, and order independence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.db.ledger import Move, SkuBook, available, replay, sellable

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


# --- expired lots (issue 14): FEFO among unexpired lots only; expired units leave by write-off ----

OLD = date(2026, 11, 20)   # expired by T0's date (2026-11-26)
SOON = date(2026, 11, 26)  # the last day it may be sold is T0's own date
NEW = date(2027, 6, 1)
DAY = T0.date()


def stock() -> list[Move]:
    return [mv("r1", "receipt", 3, 0, lot="OLD", expiry=OLD), mv("r2", "receipt", 4, 0, lot="NEW", expiry=NEW)]


def write_off(id: str, qty: int, minute: float, lot: str = "", kind: str = "shrink") -> Move:
    return Move(id, kind, qty, "floor", at(minute), lot, None, None, reason="expired")


def test_a_sale_without_a_lot_skips_lots_that_had_expired_when_it_occurred() -> None:
    book = replay([*stock(), mv("s", "sale", -2, 10)])
    assert book.qty == {("floor", "OLD"): 3, ("floor", "NEW"): 2}
    assert sellable(book, DAY) == 2


def test_an_unlotted_sale_lowers_sellable_by_what_it_sold() -> None:
    before = replay(stock())
    after = replay([*stock(), mv("s", "sale", -3, 10)])
    assert sellable(before, DAY) - sellable(after, DAY) == 3


def test_a_till_sale_naming_an_expired_lot_is_booked_against_that_lot() -> None:
    book = replay([*stock(), mv("s", "sale", -1, 10, lot="OLD")])
    assert book.qty == {("floor", "OLD"): 2, ("floor", "NEW"): 4}
    assert sellable(book, DAY) == 4  # the unit that left was never sellable


def test_a_named_lot_that_is_short_is_completed_from_unexpired_lots_only() -> None:
    book = replay([*stock(), mv("r3", "receipt", 1, 0, lot="MID", expiry=date(2027, 1, 1)),
                   mv("s", "sale", -3, 10, lot="MID")])
    assert book.qty == {("floor", "OLD"): 3, ("floor", "NEW"): 2}


def test_a_sale_beyond_the_unexpired_stock_goes_to_the_unknown_lot_not_to_expired_units() -> None:
    book = replay([*stock(), mv("s", "sale", -6, 10)])
    assert book.qty == {("floor", "OLD"): 3, ("floor", ""): -2}
    assert sellable(book, DAY) == -2  # the book is wrong until a count: nothing may be sold


def test_expiry_is_decided_by_the_date_the_movement_occurred_not_by_the_wall_clock() -> None:
    lots = [mv("r1", "receipt", 2, 0, lot="SOON", expiry=SOON), mv("r2", "receipt", 2, 0, lot="NEW", expiry=NEW)]
    on_its_last_day = replay([*lots, mv("s", "sale", -1, 60)])  # 10:00 UTC on 2026-11-26
    assert on_its_last_day.qty == {("floor", "SOON"): 1, ("floor", "NEW"): 2}
    next_day = replay([*lots, mv("s", "sale", -1, 15 * 60 + 1)])  # 00:01 UTC on 2026-11-27
    assert next_day.qty == {("floor", "SOON"): 2, ("floor", "NEW"): 1}


def test_an_expiry_write_off_without_a_lot_takes_expired_units_first() -> None:
    book = replay([*stock(), write_off("w", -3, 10)])
    assert book.qty == {("floor", "NEW"): 4}
    assert sellable(book, DAY) == 4  # writing off what could not be sold changes nothing sellable


def test_an_expiry_write_off_naming_its_lot_and_an_adjust_with_the_reason_take_the_expired_lot() -> None:
    assert replay([*stock(), write_off("w", -2, 10, lot="OLD")]).qty == {("floor", "OLD"): 1, ("floor", "NEW"): 4}
    assert replay([*stock(), write_off("w", -3, 10, kind="adjust")]).qty == {("floor", "NEW"): 4}


def test_shrink_without_the_expired_reason_does_not_take_expired_units() -> None:
    book = replay([*stock(), mv("t", "shrink", -1, 10)])  # a theft the door saw
    assert book.qty == {("floor", "OLD"): 3, ("floor", "NEW"): 3}


def test_a_zone_count_still_keeps_the_latest_expiring_lots_when_some_have_expired() -> None:
    book = replay([*stock(), mv("c", "count", 5, 10)])
    assert book.qty == {("floor", "NEW"): 4, ("floor", "OLD"): 1}


def test_a_move_carries_unexpired_lots_before_expired_ones() -> None:
    book = replay([mv("a", "receipt", 2, 0, zone="backroom", lot="OLD", expiry=OLD),
                   mv("b", "receipt", 2, 0, zone="backroom", lot="NEW", expiry=NEW),
                   mv("c", "move", 3, 5, zone="floor", from_zone="backroom")])
    assert book.qty == {("floor", "NEW"): 2, ("floor", "OLD"): 1, ("backroom", "OLD"): 1}


AGED = {"L1": date(2026, 11, 25), "L2": date(2026, 11, 26), "L3": None, "L4": date(2027, 3, 1)}


@st.composite
def aged_moves(draw: st.DrawFn) -> list[Move]:
    """Histories over lots that expire before, on and after the day of the run."""
    out = []
    for i in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["receipt", "sale", "count", "move", "shrink", "adjust", "return"]))
        lot = draw(st.sampled_from(["", "L1", "L2", "L3", "L4"]))
        qty = draw(st.integers(1, 6))
        qty = {"sale": -qty, "shrink": -qty, "count": qty - 1}.get(kind, qty)
        zone = draw(st.sampled_from(["floor", "backroom"]))
        reason = "expired" if kind in ("shrink", "adjust") and draw(st.booleans()) else None
        if kind == "adjust":
            qty = draw(st.sampled_from([-1, 1])) * qty
        out.append(Move(f"h{i:02d}", kind, qty, zone, at(draw(st.integers(0, 60 * 24 * 2))), lot, AGED.get(lot),
                        ("backroom" if zone == "floor" else "floor") if kind == "move" else None, reason))
    return out


@given(aged_moves(), st.integers(1, 6), st.sampled_from(["", "L1", "L2", "L3", "L4"]), st.integers(0, 60 * 24 * 3))
@settings(max_examples=400, deadline=None)
def test_no_sale_raises_sellable_and_an_unlotted_one_lowers_it_by_what_it_sold(
        history: list[Move], n: int, lot: str, minute: int) -> None:
    sale = mv("zz-sale", "sale", -n, minute, lot=lot)
    before = replay(m for m in history if m.order < sale.order)
    after = before.copy()
    after.apply(sale)
    day = sale.occurred_at.date()
    assert sellable(after, day) <= sellable(before, day)
    if lot == "":
        assert sellable(after, day) == sellable(before, day) - n
