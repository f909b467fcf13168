"""The products list: the catalogue and what the ledger holds without a catalogue entry, found by
name, category or GTIN, with units on hand — a store token's own only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloud.auth import Role, create_token
from cloud.keys import MAKER
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone, new_delta_id
from tests.console.conftest import sign_in
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, cloud, raw, until

__all__ = ["cloud", "raw"]
CAT, DOG, NAMELESS = "06923450000106", "06923450000113", "06923450000120"


def _receipts(store: str, *lines: tuple[str, int]) -> bytes:
    now = datetime.now(UTC)
    return contract.encode(DeltaBatch(store, "gw-1", now, tuple(
        StockDelta(id=new_delta_id(), seq=i + 1, sku=sku, kind=Kind.RECEIPT, qty=qty, zone=Zone.BACKROOM,
                   occurred_at=now, source=Source.MANUAL, confidence=1.0) for i, (sku, qty) in enumerate(lines))))


async def _rows(page: Any) -> dict[str, str]:
    cells = await page.locator("#products-table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.sku, r.querySelector('td.num').textContent.trim()])")
    return dict(cells)


async def test_products_are_found_by_name_category_and_gtin(cloud: Cloud, raw: RawPublisher, new_page: Any) -> None:
    for sku, body in ((CAT, {"name": "Indoor Adult Cat 2 kg", "category": "dry_food"}),
                      (DOG, {"name": "Mini Adult Dog 2 kg", "category": "dry_food"})):
        async with cloud.session.put(f"{cloud.url}/v1/products/{sku}", json=body,
                                     headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            assert r.status in (200, 201)
    raw.publish(contract.gateway_topic("pr-1", "gw-1", Stream.DELTAS), _receipts("pr-1", (CAT, 4), (NAMELESS, 2)))
    raw.publish(contract.gateway_topic("pr-2", "gw-1", Stream.DELTAS), _receipts("pr-2", (CAT, 6)))

    async def booked() -> bool:
        _, body = await cloud.get("/v1/gateways")
        return sum(g["deltas"] for g in body["gateways"]) == 3

    await until(booked, what="the receipts in the ledger")
    page = await new_page()
    await sign_in(page, cloud.url, ADMIN, then="/products")
    assert await _rows(page) == {CAT: "10", DOG: "0", NAMELESS: "2"}  # the nameless one is listed too
    assert "Not in the catalogue" in await page.locator(f"tr[data-sku='{NAMELESS}']").inner_text()
    for text, wanted in (("cat", {CAT}), ("DRY_FOOD", {CAT, DOG}), ("0120", {NAMELESS}), ("0106", {CAT}),
                         ("nothing", set())):
        await page.goto(f"{cloud.url}/products?q={text}")
        assert set(await _rows(page)) == wanted, text

    shop = await new_page()
    token = await create_token(cloud.app[MAKER], "manager-pr-2", Role.STORE, "pr-2")
    await sign_in(shop, cloud.url, token, then="/products")
    assert (await _rows(shop))[CAT] == "6"  # its own shelf, not the chain's
