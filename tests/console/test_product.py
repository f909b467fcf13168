"""The product page against a platform simulator over HTTP: stock per store, zone and lot, what the
channel may sell, the listing's last push; "push now" (head office) pushes the listing again even
though the driver believes the platform holds its figure (drift nobody noticed), and the page shows
the new push without a reload. Finance reads it without the button, a store token without channels."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cloud.auth import Role, create_token
from cloud.channels import records
from cloud.channels.base import Listing
from cloud.keys import MAKER
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone, new_delta_id
from tests.channels.conftest import Sim, start_sim
from tests.channels.test_sync_e2e import cloud_with_sync
from tests.console.conftest import live, sign_in
from tests.integration.conftest import ADMIN, RawPublisher, raw, until
from tests.support.services import Mosquitto

__all__ = ["raw", "start_sim"]
STORE, SKU = "sh-0061", "06923450000113"
LISTING = Listing("jd", SKU, "20001", "20002")


async def test_push_now_pushes_a_listing_again_and_the_page_shows_it(
        tmp_path: Path, broker: Mosquitto, raw: RawPublisher, start_sim: Callable[..., Awaitable[Sim]],
        new_page: Any) -> None:
    sim = await start_sim("jd")
    async with cloud_with_sync(f"sqlite:///{tmp_path / 'ledger.db'}", broker, {"jd": sim}) as (url, app):
        import aiohttp
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as api:
            for path, body in ((f"/v1/stores/{STORE}", {"name": "Minhang"}),
                               (f"/v1/products/{SKU}", {"name": "Mini Adult Dog 2 kg", "unit_cost": 27.5}),
                               ("/v1/channels/jd", {"platform": "jd", "stores": [{"store": STORE}]}),
                               ("/v1/channels/jd/listings", {"listings": [
                                   {"sku": SKU, "channel_sku": LISTING.sku_id, "item_id": LISTING.item_id}]})):
                async with api.put(url + path, json=body) as r:
                    assert r.status in (200, 201), await r.text()
        expiry = date.today() + timedelta(days=20)
        raw.publish(contract.gateway_topic(STORE, "gw-1", Stream.DELTAS), contract.encode(DeltaBatch(
            STORE, "gw-1", datetime.now(UTC), (StockDelta(
                id=new_delta_id(), seq=1, sku=SKU, kind=Kind.RECEIPT, qty=9, zone=Zone.FLOOR,
                occurred_at=datetime.now(UTC), source=Source.MANUAL, confidence=1.0, lot="L7", expiry=expiry),))))
        await until(lambda: sim.held(LISTING) == 9, what="the platform holds the figure")

        page = await new_page()
        await sign_in(page, url, ADMIN, then=f"/products/{SKU}")
        row = page.locator(f"#product-stock tr[data-store={STORE}][data-lot=L7]")
        assert await row.locator("td[data-figure=qty]").inner_text() == "9"
        assert "20 d left" in await row.inner_text()  # a lot near its expiry says so
        assert await page.locator("tr[data-channel=jd] td[data-figure=may_sell]").inner_text() == "9"
        listing = page.locator("li[data-listing='jd/20002']")
        await until(lambda: _after_first_push(page), what="the first push on the page")
        assert await listing.locator("[data-figure=pushed]").inner_text() == "9"
        await live(page)
        await page.evaluate("window.__not_reloaded = true")

        # the platform's figure drifts (someone edited it there); the driver still believes 9
        [key] = [k for k in sim.platform.stock if k[1] == LISTING.sku_id or k[1].endswith("/" + LISTING.sku_id)]
        sim.platform.stock[key] = 3
        await listing.locator("button", has_text="Push now").click()
        assert "A push of jd / 20002 was asked for." in await page.locator("#product-channels .notice").inner_text()
        await until(lambda: sim.held(LISTING) == 9, what="the listing pushed again")
        await page.wait_for_selector("li[data-listing='jd/20002'][data-reason=manual][data-result=ok]", timeout=5000)
        assert await page.evaluate("window.__not_reloaded === true")
        pushes = await records.recent(app[MAKER], "jd")
        assert pushes[0]["reason"] == "manual" and pushes[0]["qty"] == 9

        finance = await new_page()
        await sign_in(finance, url, await create_token(app[MAKER], "finance", Role.FINANCE, None), then=f"/products/{SKU}")
        assert await finance.locator("li[data-listing='jd/20002']").count() == 1
        assert await finance.locator("li[data-listing='jd/20002'] button").count() == 0
        csrf = json.loads(await finance.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
        answer = await finance.request.post(f"{url}/products/{SKU}/push", form={
            "channel": "jd", "listing": LISTING.sku_id, "csrf": csrf})
        assert answer.status == 403

        shop = await new_page()
        await sign_in(shop, url, await create_token(app[MAKER], "manager", Role.STORE, STORE), then=f"/products/{SKU}")
        assert await shop.locator(f"#product-stock tr[data-store={STORE}]").count() == 1
        assert await shop.locator("li[data-listing]").count() == 0 and await shop.locator("tr[data-channel]").count() == 0


async def _after_first_push(page: Any) -> bool:
    if await page.locator("li[data-listing='jd/20002'][data-result=ok]").count():
        return True
    await page.reload()  # before the page was open the push was recorded, or not yet: look again
    return False
