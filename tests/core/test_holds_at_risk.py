"""When a book update may skip reading the holds (cloud/db/holds.py `at_risk`, pure): never when
`plan` would release an order or move a hold."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.db.holds import at_risk, plan
from cloud.db.ledger import SkuBook
from tests.core.test_holds import GONE, LATE, SOON, TODAY, book, held, hold

LOTS = ["A", "B", "C", ""]
EXPIRY = st.sampled_from([GONE, SOON, LATE, None])


@st.composite
def books(draw: st.DrawFn) -> SkuBook:
    b = SkuBook()
    for lot in draw(st.lists(st.sampled_from(LOTS), unique=True, max_size=4)):
        for zone in draw(st.lists(st.sampled_from(["floor", "backroom"]), unique=True, min_size=1)):
            b.qty[(zone, lot)] = draw(st.integers(-2, 8))
        if lot:
            b.expiry[lot] = draw(EXPIRY)
    return b


@settings(max_examples=400, deadline=None)
@given(before=books(), wanted=st.lists(st.tuples(st.sampled_from(LOTS), st.integers(1, 4)), max_size=5),
       settled_on=st.sampled_from([TODAY, TODAY - timedelta(days=1)]),
       change=st.lists(st.tuples(st.sampled_from(["floor", "backroom"]), st.sampled_from(LOTS),
                                 st.integers(-6, 6)), max_size=4),
       new_expiry=st.dictionaries(st.sampled_from(LOTS[:3]), EXPIRY, max_size=1))
def test_a_change_it_calls_safe_leaves_every_hold_where_it_is(
        before: SkuBook, wanted: list[tuple[str, int]], settled_on: date,
        change: list[tuple[str, str, int]], new_expiry: dict[str, date | None]) -> None:
    # Holds as a book update leaves them: settled against the book before (perhaps the day
    # before, and a lot expired at midnight since).
    holds = plan([hold(f"o{i}", lot, q, i) for i, (lot, q) in enumerate(wanted)], before, settled_on).holds
    after = before.copy()
    for zone, lot, q in change:
        after.qty[(zone, lot)] = after.qty.get((zone, lot), 0) + q
    for lot, expiry in new_expiry.items():
        after.expiry.setdefault(lot, expiry)  # a receipt of a lot the book did not know
    if not at_risk(before, after, sum(h.qty for h in holds), TODAY):
        p = plan(list(holds), after, TODAY)
        assert p.release == () and held(p.holds) == held(holds)


def test_the_changes_that_can_break_a_hold_are_at_risk() -> None:
    before = book(A=(4, LATE), B=(5, date(2027, 9, 1)))
    # a sale of one of B's units: the 4 held fit in B's 4 even if every one of them is there
    assert not at_risk(before, book(A=(4, LATE), B=(4, date(2027, 9, 1))), 4, TODAY)
    assert at_risk(before, book(A=(4, LATE), B=(3, date(2027, 9, 1))), 4, TODAY)  # now they may not
    assert at_risk(before, book(A=(3, LATE), B=(5, date(2027, 9, 1))), 4, TODAY)  # A may hold 4: now 3
    assert at_risk(before, book(A=(4, LATE), B=(5, date(2027, 9, 1))), 10, TODAY)  # more held than sellable
    assert at_risk(book(A=(4, TODAY)), book(A=(4, TODAY), B=(9, LATE)), 1, TODAY + timedelta(days=1))  # A expired
    assert at_risk(None, before, 1, TODAY)  # a replayed SKU: the book before is unknown
    assert not at_risk(None, before, 0, TODAY)  # nothing held
    assert plan([hold("o1", "A", 4, 0)], book(A=(3, LATE), B=(5, LATE)), TODAY).holds != ()
