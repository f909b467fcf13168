"""The store world: seeded, slice-independent, and its ground truth adds up."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from firmware_sim.world import (
    BACKROOM,
    FLOOR,
    CarriedIn,
    Delivery,
    OnlineOrder,
    Pick,
    PutBack,
    Restock,
    Return,
    Sale,
    StoreWorld,
    Theft,
    Transfer,
    Void,
    WorldConfig,
)
from tests.reconcile.trading import START


def test_a_trading_week_is_the_same_however_it_is_sliced() -> None:
    whole = StoreWorld(seed=4, start=START, config=WorldConfig.trading())
    sliced = StoreWorld(seed=4, start=START, config=WorldConfig.trading())
    end = START + timedelta(days=2)
    events = whole.advance(end)
    pieces, t = [], START
    while t < end:
        t = min(end, t + timedelta(minutes=7))
        pieces += sliced.advance(t)
    assert events == pieces and whole.snapshot() == sliced.snapshot()


def test_every_unit_is_somewhere_and_the_events_explain_where() -> None:
    world = StoreWorld(seed=2, start=START, config=WorldConfig.trading(theft=0.02, misplace=0.3))
    made = len(world.units)
    events = world.advance(START + timedelta(days=3))
    kinds = Counter(type(e).__name__ for e in events)
    assert {"Pick", "PutBack", "Sale", "Void", "Theft", "Restock", "Delivery", "OnlineOrder", "Return",
            "CarriedIn", "Transfer"} <= set(kinds)
    delivered = sum(len(e.uids) for e in events if isinstance(e, Delivery | Transfer))
    assert len(world.units) == made + delivered
    zones = Counter(u.zone for u in world.units.values())
    stolen = sum(len(e.uids) for e in events if isinstance(e, Theft))
    assert zones["stolen"] == stolen
    snap = world.snapshot()
    for g in world.products:
        s = world.stock(g)
        assert s["on_hand"] == sum(n for (gtin, _, _, _), n in snap.items() if gtin == g)
        assert s["backroom"] == world.on_hand(g, BACKROOM)


def test_shoppers_pay_after_their_trip_and_some_put_back_on_the_wrong_bin() -> None:
    world = StoreWorld(seed=3, start=START, config=WorldConfig.trading(misplace=0.5, abandon=0.05))
    events = world.advance(START + timedelta(days=1))
    picked_at = {uid: e.at for e in events if isinstance(e, Pick) and e.by == "shopper" for uid in e.uids}
    delays = [(e.at - picked_at[uid]).total_seconds() / 60 for e in events if isinstance(e, Sale)
              and not e.txn.startswith("W") for uid in e.uids]
    assert delays and 0 < sorted(delays)[len(delays) // 2] < 20 and max(delays) <= 24 + 1e-6
    wrong = [e for e in events if isinstance(e, PutBack) and e.misplaced]
    assert wrong and all(world.bins[e.bin].gtin != e.gtin or len(world._home[e.gtin]) > 1 for e in wrong)
    # online orders: placed, picked by staff, collected and paid under the order id
    orders = {e.order for e in events if isinstance(e, OnlineOrder)}
    staff = {e.order for e in events if isinstance(e, Pick) and e.order}
    paid = {e.txn for e in events if isinstance(e, Sale) and e.txn.startswith("W")}
    assert paid and paid <= staff <= orders
    # shops open 09:00-21:00 (the last shoppers finish their trip): deliveries come before opening
    assert all(9 * 60 <= e.at.hour * 60 + e.at.minute <= 21 * 60 + 20
               for e in events if isinstance(e, Pick) and e.by == "shopper")
    assert all(e.at.hour == 7 for e in events if isinstance(e, Delivery))
    assert any(isinstance(e, Restock) for e in events) and any(isinstance(e, Void) for e in events)


def test_the_default_world_keeps_the_instant_shopper_the_device_simulators_know() -> None:
    world = StoreWorld(seed=1)
    events = world.advance(world.start + timedelta(hours=2))
    sales = [e for e in events if isinstance(e, Sale)]
    picks = {(uid, e.at) for e in events if isinstance(e, Pick) for uid in e.uids}
    assert sales and all((uid, s.at) in picks for s in sales for uid in s.uids)
    assert not any(isinstance(e, Void | OnlineOrder) for e in events)
    assert world.on_hand(world.bins["A1-1"].gtin, FLOOR) >= 0


def test_at_closing_time_shoppers_finish_their_trips_and_nobody_else_comes_in() -> None:
    world = StoreWorld(seed=2, start=START, config=WorldConfig.trading(shoppers_per_hour=120))
    world.advance(START + timedelta(hours=12))  # mid-afternoon: shoppers in the aisles
    in_baskets = sum(1 for u in world.units.values() if u.zone == "basket")
    assert in_baskets > 0
    closed_at = world.now
    last = world.close_doors()
    assert closed_at <= last <= closed_at + timedelta(minutes=2)
    after = world.advance(last + timedelta(minutes=30))
    assert not any(isinstance(e, Pick) and e.by == "shopper" for e in after)
    assert any(isinstance(e, Sale) for e in after)  # those inside paid on their way out
    assert sum(1 for u in world.units.values() if u.zone == "basket") == 0


def test_returns_and_transfers_are_carried_in_through_the_door() -> None:
    """A customer carries a return in and reaches the till minutes later: the unit is not the
    shop's until the till takes it back. Staff carry transfers in, straight to the backroom."""
    world = StoreWorld(seed=5, start=START, config=WorldConfig.trading())
    events = world.advance(START + timedelta(days=2))
    came = {u: e for e in events if isinstance(e, CarriedIn) for u in e.uids}
    returns = [e for e in events if isinstance(e, Return)]
    transfers = [e for e in events if isinstance(e, Transfer)]
    assert returns and transfers
    for r in returns:
        [uid] = r.uids
        assert came[uid].by == "customer" and timedelta(0) < r.at - came[uid].at <= timedelta(minutes=3)
    for t in transfers:
        assert all(came[u].by == "staff" and came[u].at == t.at for u in t.uids)
        assert 2 <= len(t.uids) <= 6 and len({world.units[u].lot for u in t.uids}) == 1
    # Until the till takes it back, a unit carried in is still the customer's: not in the book's truth.
    walking = StoreWorld(seed=5, start=START, config=WorldConfig.trading())
    first = returns[0]
    [uid] = first.uids
    walking.advance(came[uid].at)
    before = walking.stock(first.lines[0].gtin)["on_hand"]
    assert walking.units[uid].zone == "sold"
    walking.advance(first.at)
    assert walking.stock(first.lines[0].gtin)["on_hand"] == before + 1


def test_a_world_without_walk_ins_trades_the_same_day_otherwise() -> None:
    """What comes in by the door draws from its own generator: the shoppers are the same."""
    plain = StoreWorld(seed=6, start=START, config=WorldConfig.trading(transfers_per_day=0.0))
    more = StoreWorld(seed=6, start=START, config=WorldConfig.trading())
    picks = [(e.at, e.bin, len(e.uids)) for e in plain.advance(START + timedelta(days=1)) if isinstance(e, Pick)]
    assert picks[:200] == [(e.at, e.bin, len(e.uids)) for e in more.advance(START + timedelta(days=1))
                           if isinstance(e, Pick)][:200]
