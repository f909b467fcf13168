"""The pure alert book: dedupe, hysteresis, escalation, quiet hours, resolved message."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared.alerting.rules import (
    Book,
    Condition,
    Kind,
    Lot,
    Policy,
    Role,
    expiry_conditions,
    refill_condition,
)

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def low(on_shelf: int, backroom: int = 14, is_open: bool = False) -> Condition | bool | None:
    return refill_condition(
        bin_id="A1-2",
        product="Royal Canin Indoor 2 kg",
        on_shelf=on_shelf,
        backroom=backroom,
        refill_at=2,
        is_open=is_open,
    )


def test_refill_text_says_what_to_bring_and_backroom_stock() -> None:
    c = low(1)
    assert isinstance(c, Condition)
    assert c.kind is Kind.REFILL
    assert c.title_en == "Refill A1-2: Royal Canin Indoor 2 kg — 1 left on shelf, 14 in backroom"
    assert "补货" in c.title_zh


def test_empty_backroom_gives_reorder_task() -> None:
    c = low(0, backroom=0)
    assert isinstance(c, Condition) and c.kind is Kind.REORDER


def test_hysteresis_dead_band_keeps_open_alert() -> None:
    assert low(3, is_open=True) is True
    assert low(3, is_open=False) is None
    assert low(4, is_open=True) is None


def test_flickering_shelf_sends_one_alert() -> None:
    p = Policy()
    book, sent = Book(), []
    for i, n in enumerate([2, 3, 2, 3, 1, 3, 2]):
        now = T0 + timedelta(seconds=i)
        c = low(n, is_open=book.is_open("refill:A1-2"))
        if isinstance(c, Condition):
            book = book.raise_(c, now)
        elif c is None:
            book = book.resolve("refill:A1-2", now)
        book, notes = book.tick(p, now)
        sent += notes
    assert [n.event for n in sent] == ["raised"]


def test_escalates_to_manager_once_when_not_acknowledged() -> None:
    p = Policy(escalate_after=timedelta(minutes=10))
    c = low(1)
    assert isinstance(c, Condition)
    book, n1 = Book().raise_(c, T0).tick(p, T0)
    book, n2 = book.tick(p, T0 + timedelta(minutes=9))
    book, n3 = book.tick(p, T0 + timedelta(minutes=10))
    book, n4 = book.tick(p, T0 + timedelta(minutes=30))
    assert [n.role for n in n1] == [Role.STAFF] and n2 == [] and n4 == []
    assert [(n.role, n.event) for n in n3] == [(Role.MANAGER, "escalated")]


def test_acknowledged_alert_is_not_escalated() -> None:
    p = Policy(escalate_after=timedelta(minutes=10))
    c = low(1)
    assert isinstance(c, Condition)
    book, _ = Book().raise_(c, T0).tick(p, T0)
    book, notes = book.ack(c.key, T0 + timedelta(minutes=1)).tick(p, T0 + timedelta(hours=1))
    assert notes == []


def test_quiet_hours_hold_normal_alerts_but_not_urgent() -> None:
    p = Policy(quiet_start=time(22), quiet_end=time(7))
    night = datetime(2026, 11, 26, 23, tzinfo=UTC)
    c = low(1)
    assert isinstance(c, Condition)
    urgent = Condition("offline:shelf:A1-2", Kind.OFFLINE, "-", "x", "x", urgent=True)
    book, notes = Book().raise_(c, night).raise_(urgent, night).tick(p, night)
    assert [n.key for n in notes] == ["offline:shelf:A1-2"]
    book, notes = book.tick(p, datetime(2026, 11, 27, 7, tzinfo=UTC))
    assert [n.key for n in notes if n.event == "raised"] == ["refill:A1-2"]


def test_resolved_message_sent_once_and_only_if_raised_was_sent() -> None:
    p = Policy()
    c = low(1)
    assert isinstance(c, Condition)
    book, _ = Book().raise_(c, T0).tick(p, T0)
    book, notes = book.resolve(c.key, T0).tick(p, T0)
    assert [n.event for n in notes] == ["resolved"] and "已解决" in notes[0].body
    book, notes = book.tick(p, T0 + timedelta(hours=1))
    assert notes == []
    quiet = Policy(quiet_start=time(0), quiet_end=time(23, 59))
    book2, notes = Book().raise_(c, T0).tick(quiet, T0)
    book2, notes2 = book2.resolve(c.key, T0).tick(p, T0)
    assert notes == [] and notes2 == []


def test_rate_limit_defers_beyond_budget() -> None:
    p = Policy(rate_per_hour=2)
    book = Book()
    for i in range(4):
        book = book.raise_(Condition(f"misplaced:A{i}", Kind.MISPLACED, "A", "m", "m"), T0)
    book, notes = book.tick(p, T0)
    assert len(notes) == 2
    book, notes = book.tick(p, T0 + timedelta(minutes=61))
    assert len([n for n in notes if n.role is Role.STAFF]) == 2


def test_expiry_per_category_and_expired_lots() -> None:
    today = date(2026, 11, 26)
    lots = [
        Lot("1", "Kibble", "dog_food", "L1", today + timedelta(days=80), 5, "A1"),
        Lot("2", "Treats", "treats", "L2", today + timedelta(days=80), 5, "A2"),
        Lot("3", "Wet", "cat_food", "L3", today - timedelta(days=1), 2, "A3"),
        Lot("4", "Gone", "cat_food", "L4", today - timedelta(days=1), 0, "A3"),
    ]
    cs = expiry_conditions(lots, today, Policy(expiry_days={"treats": 30}))
    assert [(c.key, c.kind) for c in cs] == [
        ("expiring:1:L1", Kind.EXPIRING),
        ("expired:3:L3", Kind.EXPIRED),
    ]
    assert cs[1].urgent


def test_sync_resolves_conditions_that_went_away() -> None:
    a = Condition("expiring:1:L1", Kind.EXPIRING, "A", "x", "x")
    book = Book().sync([a], "expiring:", T0)
    assert book.is_open(a.key)
    book = book.sync([], "expiring:", T0)
    assert not book.is_open(a.key)


def test_quiet_hours_are_the_stores_local_time_not_utc() -> None:
    from zoneinfo import ZoneInfo

    p = Policy(quiet_start=time(22), quiet_end=time(7), tz=ZoneInfo("Asia/Shanghai"))
    c = low(1)
    assert isinstance(c, Condition)
    late_in_shanghai = datetime(2026, 11, 26, 15, tzinfo=UTC)  # 23:00 in Shanghai
    book, notes = Book().raise_(c, late_in_shanghai).tick(p, late_in_shanghai)
    assert notes == []
    night_in_utc = datetime(2026, 11, 26, 23, tzinfo=UTC)  # 07:00 next morning in Shanghai
    _, notes = book.tick(p, night_in_utc)
    assert [(n.event, n.key) for n in notes] == [("raised", "refill:A1-2")]


def test_unknown_backroom_is_said_plainly_not_guessed() -> None:
    c = refill_condition(bin_id="A1-2", product="Royal Canin Indoor 2 kg", on_shelf=1, backroom=None,
                         refill_at=2, is_open=False)
    assert isinstance(c, Condition)
    assert c.kind is Kind.REFILL
    assert c.title_en == "Refill A1-2: Royal Canin Indoor 2 kg — 1 left on shelf, backroom count unknown"
    assert c.title_zh == "补货 A1-2：Royal Canin Indoor 2 kg — 货架剩 1 件，仓库数量未知"


def test_backroom_count_from_rfid_presence_counts_only_tagged_skus() -> None:
    from edge.alerts.gateway import rfid_backroom
    from edge.rfid.presence import PresenceConfig, PresenceTracker, Sighting

    tracker = PresenceTracker(PresenceConfig(aliases={"door_1": "floor", "door_4": "backroom"}))
    for i in range(3):
        tracker.observe(Sighting(f"epc-{i}", "00950123456789", "door_4", -50.0, T0))
    tracker.observe(Sighting("epc-9", "00950123456789", "door_1", -50.0, T0))
    tracker.observe(Sighting("epc-8", "00950123456796", "door_1", -50.0, T0))
    count = rfid_backroom(tracker, skus=["00950123456802"])
    assert count("00950123456789") == 3
    assert count("00950123456796") == 0  # tagged, seen on the floor only: none in the backroom
    assert count("00950123456802") == 0  # in the RFID scope, no tag seen: none
    assert count("00950123456819") is None  # never tagged: unknown, not "none"
