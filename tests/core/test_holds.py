"""The holds planner (cloud/db/holds.py, pure): which orders go when stock falls under them, and
which lots the others hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cloud.db.holds import Hold, pick, plan, room, unsettled
from cloud.db.ledger import SkuBook

TODAY = date(2026, 11, 26)
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def book(**lots: tuple[int, date | None]) -> SkuBook:
    """Lot name → (units on the floor, expiry); "unknown" is the unknown lot ""."""
    b = SkuBook()
    for name, (qty, expiry) in lots.items():
        lot = "" if name == "unknown" else name
        b.qty[("floor", lot)] = qty
        if lot:
            b.expiry[lot] = expiry
    return b


def hold(order: str, lot: str, qty: int, minute: int, line: int = 0) -> Hold:
    return Hold(order, line, "sh-1", "06900000000410", lot, qty, T0 + timedelta(minutes=minute))


def held(p: list[Hold] | tuple[Hold, ...]) -> list[tuple[str, str, int]]:
    return sorted((h.order, h.lot, h.qty) for h in p)


GONE = date(2026, 11, 25)  # expired by TODAY
SOON = date(2026, 11, 26)  # good through TODAY
LATE = date(2027, 6, 1)


def test_room_is_every_good_lot_over_all_zones_and_the_unknown_lot_when_positive() -> None:
    b = book(OLD=(3, GONE), NEW=(2, LATE), unknown=(-1, None))
    b.qty[("backroom", "NEW")] = 4
    assert room(b, TODAY) == {"NEW": 6}
    assert room(book(NEW=(2, LATE), unknown=(3, None)), TODAY) == {"NEW": 2, "": 3}


def test_holds_that_fit_stay_where_they_are() -> None:
    holds = [hold("o1", "SOON", 2, 0), hold("o2", "LATE", 1, 1)]
    p = plan(holds, book(SOON=(2, SOON), LATE=(3, LATE)), TODAY)
    assert p.release == () and held(p.holds) == held(holds)


def test_a_hold_on_an_expired_lot_moves_to_good_units_fefo() -> None:
    p = plan([hold("o1", "OLD", 2, 0)], book(OLD=(2, GONE), SOON=(1, SOON), LATE=(5, LATE)), TODAY)
    assert p.release == ()
    assert held(p.holds) == [("o1", "LATE", 1), ("o1", "SOON", 1)]


def test_when_holds_exceed_sellable_the_newest_orders_go_and_the_earliest_keep_their_units() -> None:
    holds = [hold("early", "OLD", 1, 0), hold("late", "OLD", 1, 5), hold("late", "NEW", 1, 5, line=1)]
    p = plan(holds, book(OLD=(2, GONE), NEW=(1, LATE)), TODAY)
    assert p.release == ("late",)
    assert held(p.holds) == [("early", "NEW", 1)]


def test_a_short_lot_keeps_the_earliest_orders_and_moves_the_rest() -> None:
    holds = [hold("o1", "A", 2, 0), hold("o2", "A", 2, 1)]  # a till sold two of A's four units
    p = plan(holds, book(A=(2, LATE), B=(5, date(2027, 9, 1))), TODAY)
    assert held(p.holds) == [("o1", "A", 2), ("o2", "B", 2)]


def test_nothing_can_be_held_while_the_book_is_negative() -> None:
    p = plan([hold("o1", "", 1, 0)], book(unknown=(-2, None)), TODAY)
    assert p.release == ("o1",) and p.holds == ()


def test_pick_takes_spare_units_fefo_and_names_the_unknown_lot_for_the_rest() -> None:
    b = book(SOON=(2, SOON), LATE=(3, LATE), NONE=(1, None))
    spare = {"SOON": 1, "LATE": 3, "NONE": 1, "": 0}
    assert pick(spare, b, 7) == [("SOON", 1), ("LATE", 3), ("NONE", 1), ("", 2)]
    assert spare == {"SOON": 0, "LATE": 0, "NONE": 0, "": 0}


def test_the_quick_check_finds_exactly_the_holds_that_plan_would_change() -> None:
    b = book(OLD=(2, GONE), A=(2, LATE), B=(3, date(2027, 9, 1)))  # sellable 5
    assert not unsettled({}, b, TODAY)
    assert not unsettled({"A": 2, "B": 3}, b, TODAY)
    assert unsettled({"OLD": 1}, b, TODAY)          # a hold on an expired lot
    assert unsettled({"A": 3}, b, TODAY)            # a lot held beyond its units
    assert unsettled({"A": 2, "B": 3, "": 1}, b, TODAY)  # more held than can be sold
    for per_lot in ({"A": 2, "B": 3}, {"OLD": 1}, {"A": 3}):
        holds = [hold(f"o-{lot}", lot, q, i) for i, (lot, q) in enumerate(per_lot.items())]
        p = plan(holds, b, TODAY)
        assert (p.release != () or held(p.holds) != held(holds)) == unsettled(per_lot, b, TODAY)
