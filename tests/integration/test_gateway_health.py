"""The gateway's /healthz tells the truth and /readyz answers 503 when it is not ready: a broker
really stopped (Mosquitto) and a weighing bus that really stops answering (the Modbus simulator)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim import procs
from firmware_sim.weight_shelf import print_config
from tests.alerts.gateway import shelf_sim
from tests.integration.conftest import POS, until
from tests.support.services import Mosquitto, free_port


async def _get(session: aiohttp.ClientSession, port: int, path: str) -> tuple[int, Any]:
    async with session.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.json()


async def _ok(session: aiohttp.ClientSession, port: int, expected: bool) -> bool:
    health = (await _get(session, port, "/healthz"))[1]
    ready = (await _get(session, port, "/readyz"))[0]
    return bool(health["ok"]) is expected and (ready == 200) is expected


def _config(tmp_path: Path, store: str, broker: Mosquitto, port: int, mqtt_extra: str = "",
            extra: str = "") -> Path:
    path = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
    text = path.read_text().replace("status_interval = 1.0\n", f"status_interval = 1.0\n{mqtt_extra}")
    path.write_text(text + "\n" + extra)
    return path


async def test_healthz_is_not_ok_once_the_broker_link_is_down_past_the_threshold(
        tmp_path: Path, broker: Mosquitto) -> None:
    port = free_port()
    config = _config(tmp_path, "sh-0201", broker, port, mqtt_extra="unhealthy_after_s = 1\n")
    gw = await asyncio.to_thread(procs.gateway, config, port, "gateway-sh-0201")
    try:
        async with aiohttp.ClientSession() as s:
            await until(lambda: _ok(s, port, True), what="healthy and ready with the broker up")
            await asyncio.to_thread(broker.stop)
            await until(lambda: _ok(s, port, False), what="ok: false with the broker down")
            _, health = await _get(s, port, "/healthz")
            assert not health["mqtt_connected"] and health["mqtt_down_s"] >= 1
            assert any("broker" in p for p in health["problems"]), health
            status, ready = await _get(s, port, "/readyz")
            assert status == 503 and ready["ready"] is False
            # The POS webhook still takes sales: the outbox holds them for the broker.
            at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            async with s.post(f"http://127.0.0.1:{port}/v1/pos/transactions", headers={"Authorization": f"Bearer {POS}"},
                              json={"txn": "T1", "at": at, "kind": "sale",
                                    "lines": [{"sku": "06923450000106", "qty": 1}]}) as r:
                assert r.status == 200
            assert (await _get(s, port, "/healthz"))[1]["outbox_depth"] == 1
            await asyncio.to_thread(broker.start)
            await until(lambda: _ok(s, port, True), timeout=40, what="healthy again once the broker is back")
    finally:
        await asyncio.to_thread(gw.stop)


async def test_readyz_is_503_while_the_broker_is_away_even_before_healthz_gives_up(
        tmp_path: Path, broker: Mosquitto) -> None:
    port = free_port()
    config = _config(tmp_path, "sh-0202", broker, port)  # the default threshold: 60 s
    gw = await asyncio.to_thread(procs.gateway, config, port, "gateway-sh-0202")
    try:
        async with aiohttp.ClientSession() as s:
            await until(lambda: _ok(s, port, True), what="healthy and ready")
            await asyncio.to_thread(broker.stop)

            async def not_ready() -> bool:
                return (await _get(s, port, "/readyz"))[0] == 503

            await until(not_ready, what="not ready without the broker")
            _, health = await _get(s, port, "/healthz")
            assert health["ok"] is True and health["problems"] == []  # a short outage is no alarm
    finally:
        await asyncio.to_thread(gw.stop)


async def test_healthz_is_not_ok_when_every_bin_is_unavailable(tmp_path: Path, broker: Mosquitto) -> None:
    async with shelf_sim() as (sim, sim_port):
        port = free_port()
        config = _config(tmp_path, "sh-0203", broker, port,
                         extra=print_config(sim, f"127.0.0.1:{sim_port}", rtu=False))
        # The simulator answers from this event loop: start and stop the gateway off the loop.
        gw = await asyncio.to_thread(procs.gateway, config, port, "gateway-sh-0203")
        try:
            async with aiohttp.ClientSession() as s:
                await until(lambda: _ok(s, port, True), what="healthy with the scale answering")
                sim.faults.timeout_rate = 1.0  # the weighing bus stops answering
                await until(lambda: _ok(s, port, False), timeout=30, what="ok: false with every bin down")
                _, health = await _get(s, port, "/healthz")
                assert health["problems"] == ["every scale bus is offline (sim-1)"], health
                assert health["mqtt_connected"] is True
                sim.faults.timeout_rate = 0.0
                await until(lambda: _ok(s, port, True), timeout=30, what="healthy once the bus answers")
        finally:
            await asyncio.to_thread(gw.stop)
