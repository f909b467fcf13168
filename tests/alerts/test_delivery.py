"""Durable alert state and the retry queue, through apprise json:// to a local receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.alerts.gateway import GatewayAlerts
from shared.alerting.config import parse_alerts_config
from shared.alerting.rules import Condition, Kind
from shared.alerting.service import AlertService
from shared.alerting.store import AlertStore
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
    return GatewayAlerts(cfg, AlertStore(cfg.db), clock=clock)


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

    from shared.alerting.config import AlertConfigError

    with pytest.raises(AlertConfigError, match="staff"):
        parse_alerts_config({"staff": 5})
    with pytest.raises(AlertConfigError, match="refill_at"):
        parse_alerts_config({"bins": {"A1-1": {"product": "x"}}})


async def test_foreign_weight_raises_misplaced_and_explained_change_clears_it(tmp_path: Path) -> None:
    from edge.fusion.domain import UnexplainedWeight, WeightEvent

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

    from shared.alerting.rules import Lot

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


# --- alerts that are lost without a word (issue 14, item 11) ---------------------------------


def test_an_apprise_url_that_apprise_cannot_use_is_refused_at_start() -> None:
    import pytest

    from shared.alerting.config import AlertConfigError

    with pytest.raises(AlertConfigError) as e:
        parse_alerts_config({"staff": ["ntfy://ntfy.example/sh-0042", "jsno://127.0.0.1:8080/staff"]})
    assert str(e.value) == ('[alerts] staff[1]: not a URL apprise can send to '
                            '(unknown scheme "jsno" — did you mean "json"?)')
    with pytest.raises(AlertConfigError, match=r"\[alerts\] manager\[0\]: not a URL apprise can send to"):
        parse_alerts_config({"manager": ["json://"]})  # a known scheme without its host


async def test_an_alert_that_cannot_be_delivered_stays_queued_and_is_counted(tmp_path: Path) -> None:
    """Even a target that apprise refuses at delivery time (its URL was not checked at start, as for
    a book the cloud builds itself) is a failure to retry, never a message sent."""
    from dataclasses import replace

    from shared.alerting.rules import Role

    clock = Clock()
    async with Receiver() as rx:
        svc = service(tmp_path, rx.port, clock)
        svc.config = replace(svc.config, urls={Role.STAFF: ("jsno://127.0.0.1:1/staff",), Role.MANAGER: ()})
        svc.raise_(COND)
        assert await svc.flush() == 0
        assert svc.store.pending() == 1 and svc.delivery_failures == 1
        clock.now += timedelta(seconds=2)
        assert await svc.flush() == 0 and svc.store.pending() == 1 and svc.delivery_failures == 2
        svc.config = replace(svc.config, urls={Role.STAFF: (f"json://127.0.0.1:{rx.port}/staff",),
                                               Role.MANAGER: ()})
        clock.now += timedelta(seconds=5)
        assert await svc.flush() == 1 and svc.store.pending() == 0
        assert [p for p, _ in rx.all] == ["/staff"]
        svc.store.close()


async def test_a_failing_target_does_not_repeat_the_message_to_the_others(tmp_path: Path) -> None:
    clock = Clock()
    async with Receiver() as good, Receiver() as bad:
        cfg = parse_alerts_config({"db": str(tmp_path / "a.db"), "retry_s": 1,
                                   "staff": [f"json://127.0.0.1:{good.port}/staff",
                                             f"json://127.0.0.1:{bad.port}/staff"]})
        svc = GatewayAlerts(cfg, AlertStore(cfg.db), clock=clock)
        bad.fail = True
        svc.raise_(COND)
        for _ in range(3):  # three tries while one phone's service is down
            assert await svc.flush() == 0
            clock.now += timedelta(seconds=10)
        assert svc.store.pending() == 1
        bad.fail = False
        assert await svc.flush() == 1 and svc.store.pending() == 0
        assert len(good.all) == 1 and len(bad.all) == 1
        svc.store.close()


async def test_the_resolved_message_says_what_the_shelf_holds_now(tmp_path: Path) -> None:
    from edge.fusion.domain import WeightEvent

    clock = Clock()
    async with Receiver() as rx:
        cfg = parse_alerts_config({"db": str(tmp_path / "a.db"), "staff": [f"json://127.0.0.1:{rx.port}/s"],
                                   "bins": {"A1-2": {"product": "Kibble", "refill_at": 2}}})
        svc = GatewayAlerts(cfg, AlertStore(cfg.db), clock=clock)
        svc.observe(WeightEvent("A1-2", "0095", 800.0, -400.0, 2, -1, 0.0, True, clock.now))
        await svc.flush()
        svc.observe(WeightEvent("A1-2", "0095", 3200.0, 2400.0, 8, 6, 0.0, True, clock.now))
        await svc.flush()
        raised, resolved = (body for _, body in rx.all)
        assert raised["title"] == "Refill A1-2: Kibble — 2 left on shelf, backroom count unknown"
        assert resolved["title"] == "[Resolved] Refill A1-2: Kibble — 8 on shelf now"
        assert "【已解决】补货 A1-2：Kibble — 货架现有 8 件" in str(resolved["message"])
        svc.store.close()


async def test_a_task_marked_done_by_staff_does_not_repeat_the_old_count(tmp_path: Path) -> None:
    from edge.fusion.domain import WeightEvent

    clock = Clock()
    async with Receiver() as rx:
        cfg = parse_alerts_config({"db": str(tmp_path / "a.db"), "staff": [f"json://127.0.0.1:{rx.port}/s"],
                                   "bins": {"A1-2": {"product": "Kibble", "refill_at": 2}}})
        svc = GatewayAlerts(cfg, AlertStore(cfg.db), clock=clock)
        svc.observe(WeightEvent("A1-2", "0095", 800.0, -400.0, 2, -1, 0.0, True, clock.now))
        assert svc.done("refill:A1-2")
        await svc.flush()
        resolved = rx.all[-1][1]
        assert resolved["title"] == "[Resolved] Refill A1-2: Kibble — marked done on the staff page"
        assert "left on shelf" not in str(resolved)
        svc.store.close()
