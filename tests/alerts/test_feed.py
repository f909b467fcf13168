"""The alert book's side of the gateway: AlertNotice payloads queued durably for the `alerts` topic,
and the staff page kept to the store LAN."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from edge.alerts.staff_page import staff_app
from shared import contract
from shared.alerting.config import parse_alerts_config
from shared.alerting.rules import Condition, Kind
from shared.alerting.service import AlertService
from shared.alerting.store import AlertStore
from tests.support.services import free_port

COND = Condition("refill:A1-2", Kind.REFILL, "A1", "Refill A1-2: Kibble — 1 left on shelf, 3 in backroom",
                 "补货 A1-2：Kibble — 货架剩 1 件，仓库有 3 件")


def service(tmp_path: Path, **extra: object) -> AlertService:
    cfg = parse_alerts_config({"db": str(tmp_path / "a.db"), **extra})
    return AlertService(cfg, AlertStore(cfg.db), source=("sh-0042", "gw-1"))


def test_each_state_change_is_queued_for_the_alerts_topic_and_kept_until_published(tmp_path: Path) -> None:
    svc = service(tmp_path)
    assert svc.feed is not None
    svc.raise_(COND)
    svc.tick()  # the first notice is sent: a timer change, not a new state for the topic
    svc.ack(COND.key)
    svc.resolve(COND.key)
    rows = svc.feed.unpublished(10)
    notices = [contract.decode_alert(p) for _, p in rows]
    assert [n.status for n in notices] == ["open", "acked", "resolved"]
    assert {(n.store, n.gateway, n.key, n.kind, n.aisle) for n in notices} == {
        ("sh-0042", "gw-1", "refill:A1-2", "refill", "A1")}
    assert notices[0].title_zh == COND.title_zh
    svc.feed.published(rows[0][0])
    svc.store.close()
    again = service(tmp_path)  # a restart keeps what the broker has not acknowledged
    assert again.feed is not None
    assert [contract.decode_alert(p).status for _, p in again.feed.unpublished(10)] == ["acked", "resolved"]
    again.store.close()


def test_alert_notice_rejects_an_unknown_status() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    notice = contract.AlertNotice("sh-1", "gw-1", "k", "refill", "open", "A1", "en", "zh", False, now, now)
    assert contract.decode_alert(contract.encode(notice)) == notice
    with pytest.raises(contract.ContractError, match="status"):
        contract.decode_alert(contract.encode(notice).replace(b'"open"', b'"lost"'))


def test_a_bad_timezone_or_network_is_a_clear_config_error() -> None:
    from shared.alerting.config import AlertConfigError

    with pytest.raises(AlertConfigError, match="unknown time zone 'Mars/Olympus'"):
        parse_alerts_config({"timezone": "Mars/Olympus"})
    with pytest.raises(AlertConfigError, match="staff_networks"):
        parse_alerts_config({"staff_networks": ["not-a-network"]})


@pytest.mark.parametrize(("networks", "status"), [(None, 200), (["10.20.0.0/16"], 403)])
async def test_staff_page_answers_only_on_the_store_lan(tmp_path: Path, networks: list[str] | None,
                                                        status: int) -> None:
    svc = service(tmp_path, **({"staff_networks": networks} if networks else {}))
    app = web.Application()
    app.add_subapp("/staff/", staff_app(svc))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/staff/api/alerts"
        ) as r:
            assert r.status == status  # loopback is private: allowed unless the list excludes it
    finally:
        await runner.cleanup()
        svc.store.close()
