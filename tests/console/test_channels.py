"""The channels page in a real headless Chromium against a platform simulator over HTTP: listings in
sync, a push the platform fails shows its error without a reload, and "retry" pushes it again and
succeeds; finance reads the page without the button and its post is refused; a store token cannot
open it. And the page's figure for a listing is the one the platform sync pushes (availability.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from cloud.auth import Role
from cloud.channels import availability
from cloud.channels.base import Listing
from cloud.channels.sync import SyncOptions
from cloud.console import queries_channels
from cloud.db.orders import channel_configs
from cloud.keys import SYNC
from shared.contract import Zone
from tests.channels.conftest import Sim, start_sim
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, gtin, named, serve
from tests.integration.conftest import until

__all__ = ["start_sim"]  # the platform simulators' fixture (tests/channels/conftest.py)

A, B = gtin(41), gtin(42)
STORE = "sh-1"
CHANNEL = "jd-flagship"
# one try per push and no automatic retry: a failure stays until someone retries it
OPTIONS = SyncOptions(hold_increases_s=0.0, max_tries=2, backoff_s=0.01, backoff_max_s=0.02,
                      reconcile_every_s=3600, retry_failed_s=3600, record_every_s=0.05)


@dataclass
class World:
    chain: Chain
    sim: Sim

    def listing(self, sku: str) -> Listing:
        n = 1 if sku == A else 2
        return Listing(CHANNEL, sku, f"{n}0001", f"{n}0002")

    def holds(self, sku: str, qty: int) -> bool:
        return self.sim.held(self.listing(sku)) == qty


@pytest.fixture
async def world(tmp_path: Path, start_sim: Callable[..., Awaitable[Sim]]) -> AsyncIterator[World]:
    sim = await start_sim("jd")
    async with serve(f"sqlite:///{tmp_path / 'ledger.db'}", {CHANNEL: named(sim.config, CHANNEL)}, OPTIONS) as c:
        w = World(c, sim)
        await c.store(STORE)
        await c.put(f"/v1/products/{A}", {"name": "Indoor Cat 2 kg"})
        await c.put(f"/v1/channels/{CHANNEL}", {"platform": "jd", "stores": [{"store": STORE, "ship": True}]})
        await c.put(f"/v1/channels/{CHANNEL}/listings", {"listings": [
            {"sku": sku, "channel_sku": w.listing(sku).sku_id, "item_id": w.listing(sku).item_id} for sku in (A, B)]})
        await c.channel("shop-tills", [STORE])  # a channel without a platform API: nothing is pushed
        await asyncio.wait_for(c.app[SYNC].ready.wait(), 10)
        yield w


async def test_a_failed_push_shows_the_platforms_error_and_a_retry_succeeds(world: World, new_page: Any) -> None:
    chain = world.chain
    await chain.counted(STORE, A, 12, zone=Zone.FLOOR)
    await chain.counted(STORE, B, 5, zone=Zone.FLOOR)
    await until(lambda: world.holds(A, 12) and world.holds(B, 5), 20, "both figures on the platform")
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-ops", Role.HQ), then="/channels")
    row = page.locator(f"tr[data-channel='{CHANNEL}']")
    await expect(row.locator("[data-figure=in_sync]")).to_have_text("2")
    await expect(row.locator("[data-figure=failed]")).to_have_text("0")
    await expect(page.locator("tr[data-channel='shop-tills']")).to_contain_text("nothing is pushed")
    await page.wait_for_selector("#live[data-state=open]")

    await world.sim.faults({"next": ["5xx", "5xx"]})  # every try of the next push fails
    await chain.counted(STORE, A, 9, zone=Zone.FLOOR)
    failed = page.locator(f"#failed [data-listing='{CHANNEL}/10002']")
    await expect(failed).to_be_visible()  # without a reload: the push record's live event
    await expect(failed.locator("[data-error]")).to_contain_text("HTTP 502")  # the platform's answer
    await expect(row.locator("[data-figure=failed]")).to_have_text("1")
    assert world.holds(A, 12)  # the platform still shows the old figure

    await failed.locator("[data-retry]").click()
    await expect(page.locator("#channels-live .notice.ok")).to_contain_text(f"{CHANNEL} / 10002")
    await until(lambda: world.holds(A, 9), 20, "the retried figure on the platform")
    await expect(page.locator("#failed [data-listing]")).to_have_count(0)
    await expect(row.locator("[data-figure=in_sync]")).to_have_text("2")
    entries = await chain.audit("push")
    assert [(e.action, e.target, e.who) for e in entries] == [("push.retry", f"listing:{CHANNEL}/10002",
                                                              "hq-ops (hq)")]
    assert entries[0].before is not None and "HTTP 502" in str(entries[0].before["error"])

    # the channel's own page: every listing, its figure, its last push and how it went
    await page.goto(f"{chain.url}/channels/{CHANNEL}")
    listing = page.locator("#listings tr[data-listing='10002']")
    await expect(listing).to_have_attribute("data-state", "in_sync")
    await expect(listing.locator("[data-figure=want]")).to_have_text("9")
    await expect(listing.locator("[data-figure=pushed]")).to_have_text("9")
    await expect(listing).to_contain_text("asked in the console")  # the retry's push


async def test_finance_reads_the_page_without_retry_and_a_store_token_cannot_open_it(
        world: World, new_page: Any) -> None:
    chain = world.chain
    await world.sim.faults({"next": ["5xx", "5xx"]})
    await chain.counted(STORE, A, 4, zone=Zone.FLOOR)
    await until(lambda: chain.app[SYNC].stats.failures == 1, 20, "a failed push")
    await chain.app[SYNC].records.flush()
    finance = await new_page(PHONE)
    await sign_in(finance, chain.url, await chain.token("finance", Role.FINANCE), then="/channels")
    failed = finance.locator(f"#failed [data-listing='{CHANNEL}/10002']")
    await expect(failed.locator("[data-error]")).to_contain_text("HTTP 502")
    await expect(finance.locator("[data-retry]")).to_have_count(0)
    assert await csrf_post(finance, f"/channels/{CHANNEL}/retry", {"listing": "10002"}) == 403
    await finance.goto(f"{chain.url}/channels/{CHANNEL}?state=failed")
    await expect(finance.locator("#listings tr[data-listing]")).to_have_count(1)
    await expect(finance.locator("[data-retry]")).to_have_count(0)
    assert world.sim.held(world.listing(A)) in (None, 0)  # nothing was pushed for finance
    assert await chain.audit("push") == []

    store = await new_page()
    await sign_in(store, chain.url, await chain.token("manager-1", Role.STORE, STORE))
    await expect(store.locator("nav.nav a[href='/channels']")).to_have_count(0)
    answer = await store.goto(f"{chain.url}/channels")
    assert answer is not None and answer.status == 403
    answer = await store.goto(f"{chain.url}/channels/{CHANNEL}")
    assert answer is not None and answer.status == 403


async def test_the_pages_figure_for_each_listing_is_the_one_platform_sync_pushes(db_url: str) -> None:
    """queries_channels sums in SQL what availability.py computes per store in Python: safety stock
    per store, share, minimum and maximum, stores outside the channel left out, one sum for the
    channels with the same stores and safety stock; on both databases."""
    async with serve(db_url) as chain:
        stores = ["s-1", "s-2", "s-3", "s-4"]
        for s in stores:
            await chain.store(s)
        skus = [gtin(50 + i) for i in range(6)]
        for i, sku in enumerate(skus):
            for j, s in enumerate(stores):
                if (i + j) % 3:
                    await chain.counted(s, sku, (i * 7 + j * 3) % 11, zone=Zone.FLOOR)
        rules: list[dict[str, Any]] = [{}, {"safety": 2}, {"share_pct": 60, "min_qty": 3},
                                       {"safety": 1, "share_pct": 50, "max_qty": 4}]
        for n, extra in enumerate(rules):
            await chain.channel(f"c-{n}", stores[n % 2:n % 2 + 2 + n % 2], **extra)
            await chain.put(f"/v1/channels/c-{n}/listings", {"listings": [
                {"sku": sku, "channel_sku": f"{n}-{i}"} for i, sku in enumerate(skus)]})
        await chain.channel("c-empty", [])
        await chain.put("/v1/channels/c-empty/listings", {"listings": [{"sku": skus[0], "channel_sku": "e-0"}]})
        _, held = await chain.order("c-1", "hold-1", [(skus[2], 1)])  # a hold lowers what is free
        async with chain.maker() as session:
            expected = {(f.channel, f.sku_id): f.qty for f in await availability.figures_in(session)}
            shown = {(li.channel, li.channel_sku): li.want for li in await queries_channels.listings(session)}
            configs = await channel_configs(session)
            rows = await queries_channels.channel_rows(session, datetime.now(UTC))
        assert shown == expected
        # channels that share their stores and safety stock share one sum (c-0 and c-2); the same
        # stores with another safety (c-1 and c-3) do not: both cases are in the figures above
        key = {name: (cfg.stores, cfg.rules.safety) for name, cfg in configs.items()}
        assert key["c-0"] == key["c-2"] and key["c-1"][0] == key["c-3"][0] and key["c-1"] != key["c-3"]
        assert len(shown) == 4 * len(skus) + 1 and set(configs) == {*(f"c-{n}" for n in range(4)), "c-empty"}
        assert any(q for q in shown.values()) and held["status"] == "reserved"
        # the channels page's rows: nothing pushed yet (platform "none"), so each listing is pending
        assert [(r.name, len(r.listings), r.count("pending"), r.pushed) for r in rows] == \
            [*((f"c-{n}", len(skus), len(skus), False) for n in range(4)), ("c-empty", 1, 1, False)]

