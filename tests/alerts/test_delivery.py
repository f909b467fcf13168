"""Durable alert state and the retry queue, through apprise json:// to a local receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.alert_rules import Condition, Kind
from edge.alerts import AlertService, AlertStore, parse_alerts_config
from tests.alerts.receiver import Receiver


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


COND = Condition("misplaced:B2-1", Kind.MISPLACED, "B2", "Misplaced item on B2-1", "B2-1 放错")


def service(tmp_path: Path, port: int, clock: Clock) -> AlertService:
    cfg = parse_alerts_config(
        {
            "db": str(tmp_path / "a.db"),
            "staff": [f"json://127.0.0.1:{port}/staff"],
            "manager": [f"json://127.0.0.1:{port}/manager"],
            "escalate_after_s": 600,
            "retry_s": 1,
        }
    )
    return AlertService(cfg, AlertStore(cfg.db), clock=clock)


async def test_failed_delivery_is_retried_after_backoff_and_sent_once(tmp_path: Path) -> None:
    clock = Clock()
    async with Receiver() as rx:
        svc = service(tmp_path, rx.port, clock)
        rx.fail = True
        svc.raise_(COND)
        assert await svc.flush() == 0 and svc.store.pending() == 1
        rx.fail = False
        assert await svc.flush() == 0  # still backing off
        clock.now += timedelta(seconds=2)
        assert await svc.flush() == 1
        assert [p for p, _ in rx.all] == ["/staff"]
        svc.store.close()


async def test_alert_state_survives_restart_without_resending(tmp_path: Path) -> None:
    clock = Clock()
    async with Receiver() as rx:
        svc = service(tmp_path, rx.port, clock)
        svc.raise_(COND)
        await svc.flush()
        svc.store.close()
        svc = service(tmp_path, rx.port, clock)  # gateway restart
        assert svc.book.is_open(COND.key)
        svc.raise_(COND)
        svc.tick()
        assert await svc.flush() == 0
        clock.now += timedelta(minutes=10)
        svc.tick()
        assert await svc.flush() == 1
        assert [p for p, _ in rx.all] == ["/staff", "/manager"]
        svc.store.close()


def test_malformed_config_gives_clear_error() -> None:
    import pytest

    from edge.alerts import AlertConfigError

    with pytest.raises(AlertConfigError, match="staff"):
        parse_alerts_config({"staff": 5})
    with pytest.raises(AlertConfigError, match="refill_at"):
        parse_alerts_config({"bins": {"A1-1": {"product": "x"}}})


async def test_foreign_weight_raises_misplaced_and_explained_change_clears_it(tmp_path: Path) -> None:
    from edge.shelf_events import UnexplainedWeight, WeightEvent

    clock = Clock()
    async with Receiver() as rx:
        svc = service(tmp_path, rx.port, clock)
        svc.observe(UnexplainedWeight("B2-1", "0095", 900.0, 180.0, 2, 180.0, clock.now))
        svc.observe(UnexplainedWeight("B2-1", "0095", 1000.0, 100.0, 2, 280.0, clock.now))
        assert [a.key for a in svc.book.open_alerts()] == ["misplaced:B2-1"]
        svc.observe(WeightEvent("B2-1", "0095", 800.0, -200.0, 2, 0, 0.0, True, clock.now))
        assert svc.book.open_alerts() == []
        svc.store.close()


async def test_expiry_alerts_open_and_close_with_the_lots_on_hand(tmp_path: Path) -> None:
    from datetime import date

    from edge.alert_rules import Lot

    clock = Clock()
    lot = Lot("1", "Kibble", "dog_food", "L1", date(2026, 12, 1), 3, "A1")
    async with Receiver() as rx:
        svc = service(tmp_path, rx.port, clock)
        svc.expiry([lot])
        assert [a.key for a in svc.book.open_alerts()] == ["expiring:1:L1"]
        clock.now += timedelta(days=6)
        svc.expiry([lot])
        assert [a.key for a in svc.book.open_alerts()] == ["expired:1:L1"]
        svc.expiry([])  # pulled from the shelf
        assert svc.book.open_alerts() == []
        await svc.flush()
        events = [b["title"] for _, b in rx.all]
        assert len(events) == 4 and sum("[Resolved]" in str(t) for t in events) == 2
        svc.store.close()
