"""What the cloud keeps for the console from the gateways' streams, through a real Mosquitto into
SQLite and PostgreSQL: a status's details and the last will, the retained shelves snapshot (never
rolled back by an older one), staff alerts with their history in any order of delivery; payloads
that name another store than their topic are dead letters. And the contract's new optional fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.db.gateway_snapshots import gateway_views
from cloud.db.store_alerts import store_alerts
from cloud.keys import MAKER
from shared import contract
from shared.contract import (
    AlertNotice,
    BinView,
    ContractError,
    GatewayState,
    GatewayStatus,
    ShelfSnapshot,
    Source,
    Stream,
)
from tests.console.conftest import live, sign_in
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, cloud, raw, until

__all__ = ["cloud", "raw"]
STORE = "sh-0077"
SKU = "06923450000106"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def _status(state: GatewayState, at: datetime, **kw: Any) -> bytes:
    return contract.encode(GatewayStatus(STORE, "gw-1", state, at, **kw))


async def _views(c: Cloud) -> list[Any]:
    async with c.app[MAKER]() as session:
        return await gateway_views(session, [STORE])


async def test_a_status_keeps_outbox_and_devices_and_the_will_only_the_state(cloud: Cloud, raw: RawPublisher) -> None:
    topic = contract.gateway_topic(STORE, "gw-1", Stream.STATUS)
    raw.publish(topic, _status(GatewayState.ONLINE, T0, version="0.1.0", outbox_depth=5, oldest_unsent_s=120.0,
                               devices={"camera:cam-1": "offline", "scale-bus:bus-1": "online",
                                        "reader:door": "online"}))
    await until(lambda: _has_view(cloud), what="the status recorded")
    [g] = await _views(cloud)
    assert (g.state, g.version, g.outbox_depth) == ("online", "0.1.0", 5)
    assert g.oldest_unsent_at == T0 - timedelta(seconds=120)
    assert g.devices_of("camera") == (0, 1) and g.devices_of("scale-bus") == (1, 0) and g.devices_of("reader") == (1, 0)
    raw.publish(topic, _status(GatewayState.OFFLINE, T0 - timedelta(hours=1)))  # the will, written at connect
    await until(lambda: _state_is(cloud, "offline"), what="the will recorded")
    [g] = await _views(cloud)
    assert g.outbox_depth == 5 and g.devices_of("camera") == (0, 1)  # as last reported


async def _has_view(c: Cloud) -> bool:
    views = await _views(c)
    return bool(views) and views[0].online_at is not None


async def _state_is(c: Cloud, state: str) -> bool:
    views = await _views(c)
    return bool(views) and views[0].state == state


def _snapshot(at: datetime, count: int, store: str = STORE) -> bytes:
    return contract.encode(ShelfSnapshot(store, "gw-1", at, (
        BinView("A1-1", SKU, count, True, Source.WEIGHT, grams=count * 400.0, refill_at=2),
        BinView("B1-1", SKU, 3, True, Source.VISION))))


async def test_the_newest_shelves_snapshot_is_kept_and_an_older_one_never_rolls_it_back(
        cloud: Cloud, raw: RawPublisher) -> None:
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STATUS), _status(GatewayState.ONLINE, T0))
    await until(lambda: _has_view(cloud), what="the gateway known")
    topic = contract.gateway_topic(STORE, "gw-1", Stream.SHELVES)
    raw.publish(topic, _snapshot(T0 + timedelta(minutes=2), 7))
    await until(lambda: _bins(cloud, 7), what="the snapshot recorded")
    raw.publish(topic, _snapshot(T0 + timedelta(minutes=1), 1))  # redelivered late: older
    raw.publish(topic, _snapshot(T0 + timedelta(minutes=3), 4, store="sh-0099"))  # names another store
    await until(lambda: cloud.ingest_stats.dead_letters == 1, what="the dead letter")
    [g] = await _views(cloud)
    assert [(b.bin, b.count, b.refill_at, b.source) for b in g.bins] == [
        ("A1-1", 7, 2, Source.WEIGHT), ("B1-1", 3, None, Source.VISION)]
    raw.publish(topic, _snapshot(T0 + timedelta(minutes=4), 0))
    await until(lambda: _bins(cloud, 0), what="the newer snapshot")


async def _bins(c: Cloud, count: int) -> bool:
    views = await _views(c)
    return bool(views) and bool(views[0].bins) and views[0].bins[0].count == count


def _alert(status: str, at: datetime, store: str = STORE) -> bytes:
    return contract.encode(AlertNotice(store, "gw-1", "refill:A1-1", "refill", status, "A1",
                                       f"Refill A1-1 ({status})", f"补货 A1-1（{status}）", True, T0, at))


async def test_an_alert_keeps_its_history_whatever_order_its_notices_arrive_in(
        cloud: Cloud, raw: RawPublisher) -> None:
    topic = contract.gateway_topic(STORE, "gw-1", Stream.ALERTS)
    for status, minutes in (("resolved", 9), ("open", 0), ("acked", 4), ("open", 0)):  # late, and once twice
        raw.publish(topic, _alert(status, T0 + timedelta(minutes=minutes)))
    raw.publish(topic, _alert("open", T0, store="sh-0099"))  # another store's, on this topic
    await until(lambda: cloud.ingest_stats.dead_letters == 1, what="the dead letter")

    async def settled() -> bool:
        async with cloud.app[MAKER]() as session:
            alerts = await store_alerts(session, STORE)
        return len(alerts) == 1 and len(alerts[0].history) == 3

    await until(settled, what="three states recorded")
    async with cloud.app[MAKER]() as session:
        [a] = await store_alerts(session, STORE)
    assert [s for s, _ in a.history] == ["open", "acked", "resolved"]
    assert a.status == "resolved" and a.at == T0 + timedelta(minutes=9)
    assert a.title("en") == "Refill A1-1 (resolved)" and a.title("zh") == "补货 A1-1（resolved）"


async def test_the_overview_and_store_page_show_what_the_gateway_said(
        cloud: Cloud, raw: RawPublisher, new_page: Any) -> None:
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STATUS), _status(
        GatewayState.ONLINE, datetime.now(UTC), outbox_depth=37, oldest_unsent_s=400.0,
        devices={"camera:cam-1": "offline", "scale-bus:bus-1": "online"}))
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.SHELVES), _snapshot(datetime.now(UTC), 0))
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.ALERTS), _alert("open", datetime.now(UTC)))
    await until(lambda: _bins(cloud, 0), what="the snapshot recorded")
    page = await new_page()
    await sign_in(page, cloud.url, ADMIN)
    row = page.locator(f"tr[data-store={STORE}]")
    text = await row.inner_text()
    assert "37 waiting" in text and "oldest 6 min" in text
    assert "Cameras 1 down" in text and "Scales 1 up" in text
    assert await row.locator("td[data-figure=empty]").inner_text() == "1"
    assert await row.locator("td[data-figure=alerts]").inner_text() == "1"
    assert "attention" in (await row.get_attribute("class") or "")
    # the will arrives while the page is open: the row turns offline by itself
    await live(page)
    raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.STATUS), _status(GatewayState.OFFLINE, datetime.now(UTC)))
    await page.wait_for_selector(f"tr[data-store={STORE}] .badge.bad:text('Offline')", timeout=5000)
    await page.goto(f"{cloud.url}/stores/{STORE}")
    tile = page.locator("#shelves .bin[data-bin='A1-1']")
    assert await tile.get_attribute("data-state") == "empty" and "Empty" in await tile.inner_text()
    assert "Refill at 2" in await tile.inner_text()
    assert "Refill A1-1 (open)" in await page.locator("#alerts").inner_text()


def test_the_status_and_bin_fields_are_optional_and_checked() -> None:
    old = {"v": 1, "store": STORE, "gateway": "gw-1", "state": "online", "at": "2026-12-01T00:00:00.000Z"}
    assert contract.decode_status(json.dumps(old)).oldest_unsent_s is None  # a gateway from before
    status = GatewayStatus(STORE, "gw-1", GatewayState.ONLINE, T0, oldest_unsent_s=12.34)
    assert contract.decode_status(contract.encode(status)).oldest_unsent_s == 12.3
    for bad in (-1, "10", True):
        with pytest.raises(ContractError) as e:
            contract.decode_status(json.dumps({**old, "oldest_unsent_s": bad}))
        assert e.value.field == "oldest_unsent_s"
    view = BinView("A1-1", SKU, 3, True, refill_at=2)
    assert BinView.from_json(view.to_json(), "") == view
    assert "refill_at" not in BinView("A1-1", SKU, 3, True).to_json()
    with pytest.raises(ContractError) as e:
        BinView.from_json({**view.to_json(), "refill_at": -1}, "bins[0].")
    assert e.value.field == "bins[0].refill_at"
