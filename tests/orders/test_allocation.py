"""The pure allocation core: channel quantities and order plans."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from cloud.channels.allocation import Candidate, Pick, Rules, Short, channel_quantity, free_units, plan


def test_share_rounds_down_like_sellbrite() -> None:
    assert channel_quantity([10], Rules(share_pct=90)) == 9
    assert channel_quantity([1], Rules(share_pct=90)) == 0
    assert channel_quantity([2], Rules(share_pct=40)) == 0


def test_min_lists_units_that_exist_and_never_more() -> None:
    assert channel_quantity([1], Rules(share_pct=90, min_qty=1)) == 1
    assert channel_quantity([0], Rules(min_qty=3)) == 0  # Sellbrite would list 3; that oversells


def test_max_caps_and_safety_zeroes_a_store_at_or_below_it() -> None:
    assert channel_quantity([50, 50], Rules(max_qty=5)) == 5
    assert free_units(sellable=3, reserved=0, safety=3) == 0
    assert free_units(sellable=5, reserved=1, safety=3) == 1
    assert free_units(sellable=2, reserved=5) == 0


def test_one_store_fills_the_order_when_it_can_nearest_first() -> None:
    cands = [Candidate("far", 100.0, {"a": 9, "b": 9}), Candidate("near", 1.0, {"a": 9}),
             Candidate("mid", 10.0, {"a": 1, "b": 1})]
    assert {p.store for p in plan([("a", 1), ("b", 1)], cands, split=False)} == {"mid"}
    assert {p.store for p in plan([("a", 2), ("b", 1)], cands, split=False)} == {"far"}


def test_without_a_distance_the_store_with_most_stock_wins() -> None:
    cands = [Candidate("x", None, {"a": 2}), Candidate("y", None, {"a": 7})]
    assert plan([("a", 1)], cands, split=False) == [Pick(0, "y", "a", 1)]


def test_shortage_names_each_sku_and_what_exists() -> None:
    cands = [Candidate("x", None, {"a": 2}), Candidate("y", None, {"a": 1, "b": 1})]
    assert plan([("a", 4), ("b", 1)], cands, split=True) == [Short("a", 4, 3)]
    # everything exists, but in two stores, and this channel does not split
    assert plan([("a", 2), ("b", 1)], cands, split=False) == [Short("b", 1, 0)]


orders = st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 5)), min_size=1, max_size=4)
stores = st.lists(st.tuples(st.one_of(st.none(), st.floats(0, 500)),
                            st.dictionaries(st.sampled_from("abc"), st.integers(0, 6))),
                  min_size=0, max_size=4)


@given(orders, stores, st.booleans())
def test_a_plan_fills_exactly_what_was_asked_and_never_more_than_is_free(lines: list[tuple[str, int]],
                                                                          spec: list, split: bool) -> None:
    cands = [Candidate(f"s{i}", d, free) for i, (d, free) in enumerate(spec)]
    result = plan(lines, cands, split)
    free = {c.store: c.free for c in cands}
    wanted = Counter()
    for sku, q in lines:
        wanted[sku] += q
    if result and isinstance(result[0], Pick):
        took: Counter[tuple[str, str]] = Counter()
        per_line: Counter[int] = Counter()
        for p in result:
            assert isinstance(p, Pick)
            took[(p.store, p.sku)] += p.qty
            per_line[p.line] += p.qty
            assert lines[p.line][0] == p.sku
        assert all(per_line[i] == q for i, (_, q) in enumerate(lines))
        assert all(n <= free[s].get(k, 0) for (s, k), n in took.items())
        if not split:
            assert len({p.store for p in result if isinstance(p, Pick)}) == 1
    else:
        total = {k: sum(c.free.get(k, 0) for c in cands) for k in wanted}
        can_split = all(total[k] >= n for k, n in wanted.items())
        one_store = any(all(c.free.get(k, 0) >= n for k, n in wanted.items()) for c in cands)
        assert not one_store and (not split or not can_split)
        assert result  # a refusal always says what is short
