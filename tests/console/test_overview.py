"""The chain overview sorts by any figure and filters by name and state, in place (htmx swaps the
table; the address keeps the choice, so a reload or a shared link shows the same view)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared import contract
from shared.contract import (
    DeltaBatch,
    GatewayState,
    GatewayStatus,
    Kind,
    Source,
    StockDelta,
    Stream,
    Zone,
    new_delta_id,
)
from tests.console.conftest import sign_in
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, cloud, raw, until

__all__ = ["cloud", "raw"]
SKU = "06923450000106"
SOLD = {"ov-a": 5, "ov-b": 1, "ov-c": 3}


def _sales(store: str, units: int) -> bytes:
    now = datetime.now(UTC)
    deltas = [StockDelta(id=new_delta_id(), seq=1, sku=SKU, kind=Kind.RECEIPT, qty=10, zone=Zone.FLOOR,
                         occurred_at=now, source=Source.MANUAL, confidence=1.0)]
    deltas += [StockDelta(id=new_delta_id(), seq=2 + i, sku=SKU, kind=Kind.SALE, qty=-1, zone=Zone.FLOOR,
                          occurred_at=now, source=Source.POS, confidence=1.0) for i in range(units)]
    return contract.encode(DeltaBatch(store, "gw-1", now, tuple(deltas)))


async def _order(page: Any) -> list[str]:
    return [s for s in await page.locator("#stores-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.store)")]


async def test_the_overview_sorts_and_filters_in_place(cloud: Cloud, raw: RawPublisher, new_page: Any) -> None:
    for store, units in SOLD.items():
        raw.publish(contract.gateway_topic(store, "gw-1", Stream.STATUS), contract.encode(
            GatewayStatus(store, "gw-1", GatewayState.ONLINE, datetime.now(UTC))))
        raw.publish(contract.gateway_topic(store, "gw-1", Stream.DELTAS), _sales(store, units))
    raw.publish(contract.gateway_topic("ov-c", "gw-1", Stream.STATUS), contract.encode(
        GatewayStatus("ov-c", "gw-1", GatewayState.OFFLINE, datetime.now(UTC))))

    async def ready() -> bool:
        _, body = await cloud.get("/v1/gateways")
        states = {g["store"]: g["state"] for g in body["gateways"]}
        return states == {"ov-a": "online", "ov-b": "online", "ov-c": "offline"} and \
            sum(g["deltas"] for g in body["gateways"]) == 3 + sum(SOLD.values())

    await until(ready, what="three stores reported")
    async with cloud.session.put(f"{cloud.url}/v1/stores/ov-b", json={"name": "Beijing Road"},
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status in (200, 201)
    page = await new_page()
    await sign_in(page, cloud.url, ADMIN)
    await page.evaluate("window.__not_reloaded = true")
    assert await _order(page) == ["ov-a", "ov-b", "ov-c"]  # by store

    await page.click("#stores-table th a:text('Sold today')")  # figures sort largest first
    await page.wait_for_selector("#stores-table th a[aria-sort=descending]:text('Sold today')")
    assert await _order(page) == ["ov-a", "ov-c", "ov-b"]
    assert "sort=sold" in page.url and "dir=desc" in page.url
    await page.click("#stores-table th a:text('Sold today')")
    await page.wait_for_selector("#stores-table th a[aria-sort=ascending]:text('Sold today')")
    assert await _order(page) == ["ov-b", "ov-c", "ov-a"]

    await page.select_option("select[name=state]", "offline")
    await page.wait_for_function("document.querySelectorAll('#stores-table tbody tr').length === 1")
    assert await _order(page) == ["ov-c"]
    assert "1 of 3 stores" in await page.locator("#stores-table header").inner_text()
    await page.select_option("select[name=state]", "all")
    await page.wait_for_function("document.querySelectorAll('#stores-table tbody tr').length === 3")
    await page.fill("input[name=q]", "beijing")  # by name, as typed
    await page.wait_for_selector("#stores-table tbody tr[data-store=ov-b]:only-child")
    assert await _order(page) == ["ov-b"]
    assert await page.evaluate("window.__not_reloaded === true")
    await page.reload()  # the address holds the view
    assert await _order(page) == ["ov-b"]
    assert await page.input_value("input[name=q]") == "beijing"
