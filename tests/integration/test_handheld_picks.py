"""POST /v1/picks through a real gateway process, on a shop clock running 60 times real time:
a staff handheld's scan of an online-order pick claims the pick the scale saw (no shrink), while
a shopper's pick nobody pays for becomes shrink once its wait has passed on the shop's clock —
the window and a fifth (`unseen_s`), twelve shop minutes, twelve real seconds. The scan is read with biip as the till's lines are (a GS1
element string or a GTIN), idempotent on its scan id, and a bad one is a 400 naming the field."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from edge.clock import ShopClock
from firmware_sim import procs
from firmware_sim.pos import ts
from firmware_sim.weight_shelf import print_config
from shared import contract
from tests.alerts.gateway import POS, SKU, shelf_sim
from tests.integration.conftest import until
from tests.integration.test_devices import Retained
from tests.support.services import Mosquitto, free_port

SHOP_START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def outbox(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM deltas ORDER BY seq")]


async def test_a_handheld_scan_claims_the_order_pick_and_an_unpaid_pick_is_shrink_on_shop_time(
        tmp_path: Path, broker: Mosquitto) -> None:
    store, port = "sh-0093", free_port()
    clock = ShopClock(SHOP_START, time.time(), 60.0)
    async with shelf_sim(units=6) as (sim, sim_port):
        config = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
        config.write_text(config.read_text() + "\n" + print_config(sim, f"127.0.0.1:{sim_port}", rtu=False)
                          + "\n[shelf.detector]\nwindow_s = 0.5\nsettle_s = 0.2\n"
                          + "\n[reconcile]\nwindow_s = 600\ntick_s = 10\n"
                          + f'\n[clock]\nstart = "{ts(clock.start)}"\n'
                          + f'wall = "{ts(datetime.fromtimestamp(clock.wall, UTC))}"\nspeed = 60\n')
        watcher = Retained(broker, contract.gateway_topic(store, "gw-1", contract.Stream.SHELVES))
        gw = procs.gateway(config, port, f"gateway-{store}")
        headers = {"Authorization": f"Bearer {POS}"}
        book = config.parent / store / "outbox.sqlite3"
        try:
            def counted(n: int) -> bool:
                return bool(watcher.payloads) and contract.decode_snapshot(watcher.payloads[-1]).bins[0].count == n

            await until(lambda: counted(6), what="the bin counted")
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                # Staff take two units for order W1 and scan the pack's GS1 DataMatrix as they do.
                sim.set_count("A1-1", 4, hand_s=0.1)
                scan = {"scan": "HH1-000001", "order": "W1", "at": ts(clock.now()), "staff": "s-017",
                        "sku": f"]d201{SKU}17280131" + "10LOT7", "qty": 2}
                async with http.post("/v1/picks", json=scan) as r:
                    assert r.status == 200, await r.text()
                    assert await r.json() == {"scan": "HH1-000001", "order": "W1", "sku": SKU, "duplicate": False}
                async with http.post("/v1/picks", json=scan) as r:  # the handheld resends it
                    assert r.status == 200 and (await r.json())["duplicate"] is True
                async with http.post("/v1/picks", json={**scan, "qty": 3}) as r:
                    assert r.status == 409
                async with http.post("/v1/picks", json={**scan, "scan": "HH1-000002",
                                                        "sku": "(01)09520123456789"}) as r:
                    assert r.status == 400 and (await r.json())["field"] == "sku"
                async with http.post("/v1/picks", json={**scan, "scan": "HH1-000003",
                                                        "at": ts(SHOP_START.replace(year=2025))}) as r:
                    assert r.status == 400 and (await r.json())["field"] == "at"  # by the shop's clock
                await until(lambda: counted(4), what="the staff pick seen")
                picked_at = clock.now()
                # A shopper takes one more and never pays.
                sim.set_count("A1-1", 3, hand_s=0.1)
                await until(lambda: counted(3), what="the shopper's pick seen")
                await until(lambda: any(d["kind"] == "shrink" for d in outbox(book)),
                            timeout=60, what="the shrink, twelve shop minutes on (unseen_s: 1.2 x window_s)")
            deltas = outbox(book)
            [shrink] = deltas  # the order's two units are held for the customer: no shrink, no sale
            assert (shrink["kind"], shrink["qty"], shrink["bin"]) == ("shrink", -1, "A1-1")
            booked = contract.parse_ts(shrink["occurred_at"], "occurred_at")
            assert picked_at <= booked < picked_at + (clock.now() - picked_at) / 2  # dated at the pick, shop time
            assert booked.date() == SHOP_START.date()
        finally:
            watcher.close()
            gw.stop()


async def test_a_handheld_refill_scan_books_the_move_of_a_shelf_no_sensor_watches(
        tmp_path: Path, broker: Mosquitto) -> None:
    """POST /v1/refills through a real gateway process: staff carried units from the backroom onto
    a shelf no scale watches and scanned them; the reconciler books the move (backroom -> floor)
    into the outbox. The same scan of the scale's own bin books nothing (its rise does). Idempotent
    on the scan id; a bad body is a 400 naming the field."""
    from firmware_sim.handheld import scanned_code
    from firmware_sim.world import catalog

    store, port = "sh-0094", free_port()
    bird = catalog()[3].gtin
    async with shelf_sim(units=6) as (sim, sim_port):
        config = procs.gateway_config(tmp_path, store, broker.url, POS, port, status_interval=1.0)
        config.write_text(config.read_text() + "\n" + print_config(sim, f"127.0.0.1:{sim_port}", rtu=False)
                          + "\n[reconcile]\nwindow_s = 600\ntick_s = 10\nlate_s = 0.5\n")
        gw = procs.gateway(config, port, f"gateway-{store}")
        book = config.parent / store / "outbox.sqlite3"
        try:
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}",
                                             headers={"Authorization": f"Bearer {POS}"}) as http:
                now = datetime.now(UTC)
                # The scale's own bin refilled first: the reconciler takes observations in their
                # time order, so by the time the later scan's move is booked this one was judged.
                own = {"scan": "HH1-R000002", "at": ts(now - timedelta(seconds=1)), "staff": "s-017",
                       "bin": "A1-1", "sku": SKU, "qty": 2}
                async with http.post("/v1/refills", json=own) as r:
                    assert r.status == 200
                scan = {"scan": "HH1-R000001", "at": ts(now), "staff": "s-017", "bin": "Q1-1",
                        "sku": scanned_code(bird, None, None), "qty": 6}
                async with http.post("/v1/refills", json=scan) as r:
                    assert r.status == 200, await r.text()
                    assert await r.json() == {"scan": "HH1-R000001", "sku": bird, "duplicate": False}
                async with http.post("/v1/refills", json=scan) as r:  # the handheld resends it
                    assert r.status == 200 and (await r.json())["duplicate"] is True
                async with http.post("/v1/refills", json={**scan, "qty": 5}) as r:
                    assert r.status == 409
                for field, bad in (("qty", 0), ("bin", ""), ("staff", None), ("sku", "6923450000107")):
                    async with http.post("/v1/refills", json={**scan, "scan": f"HH1-bad-{field}", field: bad}) as r:
                        assert r.status == 400 and (await r.json())["field"] == field, field
                await until(lambda: any(d["kind"] == "move" for d in outbox(book)), timeout=30,
                            what="the refill's move")
            [move] = outbox(book)
            assert (move["kind"], move["sku"], move["qty"], move["zone"], move["from_zone"], move["bin"]) == (
                "move", bird, 6, "floor", "backroom", "Q1-1")
            assert move["evidence"] == {"refill": "HH1-R000001", "staff": "s-017", "bin": "Q1-1", "qty": 6}
        finally:
            gw.stop()
