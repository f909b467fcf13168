"""A shelf emptying over Modbus → apprise json:// and ntfy:// → ack → refill → resolved, once each."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from edge.alerts.gateway import run_alerts
from edge.shelf.poller import ShelfPoller
from shared.alerting.rules import Status
from shared.alerting.service import AlertService
from tests.alerts.receiver import Receiver
from tests.shelf.helpers import FAST, start_bus


async def test_shelf_emptying_alert_ack_refill_resolved_each_exactly_once(tmp_path: Path) -> None:
    bus, _ = await start_bus("dini-dgt4x", "tcp", bins=1)
    obs: asyncio.Queue[object] = asyncio.Queue()
    poller = ShelfPoller(bus.bus, bus.bins, FAST, obs.put_nowait)
    stop = asyncio.Event()
    ready: asyncio.Future[AlertService] = asyncio.get_running_loop().create_future()
    async with Receiver() as rx:
        section = {
            "db": str(tmp_path / "alerts.db"),
            "staff": [
                f"json://127.0.0.1:{rx.port}/hook",
                f"ntfy://127.0.0.1:{rx.port}/store-0001-alerts",
            ],
            "manager": [f"json://127.0.0.1:{rx.port}/manager"],
            "escalate_after_s": 3600,
            "tick_s": 0.1,
            "bins": {"A1-1": {"product": "Royal Canin Indoor 2 kg", "refill_at": 1}},
        }
        tasks = [
            asyncio.create_task(poller.run()),
            asyncio.create_task(
                run_alerts(section, obs, stop, backroom=lambda sku: 14, ready=ready.set_result)
            ),
        ]
        try:
            svc = await ready
            bus.sim.set_count("A1-1", 1, hand_s=0.1)
            raised = await rx.take(2)
            paths = sorted(p for p, _ in raised)
            assert paths == ["/", "/hook"]  # ntfy posts its topic in the JSON body to "/"
            for _, body in raised:
                assert "Refill A1-1: Royal Canin Indoor 2 kg — 1 left on shelf, 14 in backroom" in str(body)
            assert svc.ack("refill:A1-1")
            assert svc.book.alerts["refill:A1-1"].status is Status.ACKED
            bus.sim.set_count("A1-1", 5, hand_s=0.1)
            resolved = await rx.take(2)
            assert all("[Resolved]" in str(b) and "已解决" in str(b) for _, b in resolved)
            async with asyncio.timeout(5):
                await svc.drained()
            assert [n.event for n in svc.delivered_log] == ["raised", "resolved"]
            assert len(rx.all) == 4
            assert svc.book.alerts["refill:A1-1"].status is Status.RESOLVED
        finally:
            stop.set()
            for t in tasks[:1]:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await bus.sim.close()
