"""The channels page in a real headless Chromium against a platform simulator over HTTP: listings in
sync, a push the platform fails shows its error without a reload, and "retry" pushes it again and
succeeds; finance reads the page without the button and its post is refused; a store token cannot
open it. And the page's figure for a listing is the one the platform sync pushes (availability.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import insert

from cloud.auth import Role
from cloud.channels import availability
from cloud.channels.allocation import Rules
from cloud.channels.base import Listing
from cloud.channels.records import PUSHES, Push, PushLog
from cloud.channels.sync import SyncOptions
from cloud.console import queries_channels
from cloud.console.live import Notice, Topic
from cloud.db.orders import ChannelConfig, channel_configs
from cloud.keys import CHANNEL_FIGURES, LIVE, SYNC
from shared.contract import Kind, Source, StockDelta, Zone
from tests.channels.conftest import Sim, start_sim
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, gtin, named, serve, signed_in
from tests.integration.conftest import until
from tests.orders.chain import book

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



async def test_the_figures_kept_between_reads_follow_every_change_and_equal_platform_syncs(db_url: str) -> None:
    """The pages' ChannelFigures (kept by the worker, read again only for the SKUs the live hub's
    notices name) equal availability.py's after a count, an order's hold, a new listing, a
    channel's rules changed and a push record; only the first read is a full one."""
    async with serve(db_url) as chain:
        stores = ["s-1", "s-2", "s-3"]
        for s in stores:
            await chain.store(s)
        skus = [gtin(60 + i) for i in range(5)]
        for i, sku in enumerate(skus[:4]):
            for j, s in enumerate(stores):
                await chain.counted(s, sku, 3 + (i + 2 * j) % 7, zone=Zone.FLOOR)
        await chain.channel("c-a", stores[:2])
        await chain.channel("c-b", stores[:2], share_pct=50)  # the same stores and safety as c-a
        await chain.channel("c-c", stores[1:], safety=2, max_qty=9)
        for name in ("c-a", "c-b", "c-c"):
            await chain.put(f"/v1/channels/{name}/listings", {"listings": [
                {"sku": sku, "channel_sku": f"{name}-{i}"} for i, sku in enumerate(skus[:4])]})
        live, figures = chain.app[LIVE], chain.app[CHANNEL_FIGURES]

        async def agree() -> dict[tuple[str, str], int]:
            async with chain.maker() as session:
                expected = {(f.channel, f.sku_id): f.qty for f in await availability.figures_in(session)}
                kept = await queries_channels.channel_rows(session, datetime.now(UTC), figures=figures)
                read = await queries_channels.channel_rows(session, datetime.now(UTC))
            shown = {(li.channel, li.channel_sku): li.want for r in kept for li in r.listings}
            assert shown == expected
            assert [(r.name, [(li.channel_sku, li.want, li.last) for li in r.listings]) for r in kept] == \
                [(r.name, [(li.channel_sku, li.want, li.last) for li in r.listings]) for r in read]
            return shown

        async def after(change: Awaitable[Any]) -> dict[tuple[str, str], int]:
            """The figures once the live hub has published the change's notices."""
            seen = live.generation
            await change
            await until(lambda: live.generation > seen, 10, "the change's notice")
            return await agree()

        first = await agree()
        assert (figures.full_reads, figures.partial_reads) == (1, 0)
        counted = await after(chain.counted("s-2", skus[0], 40, zone=Zone.FLOOR))
        assert counted[("c-a", "c-a-0")] > first[("c-a", "c-a-0")] and counted[("c-c", "c-c-0")] == 9
        seen = live.generation
        _, held = await chain.order("c-a", "hold-1", [(skus[1], 2)])
        assert held["status"] == "reserved"
        await until(lambda: live.generation > seen, 10, "the hold's notice")
        held_figures = await agree()
        assert held_figures[("c-a", "c-a-1")] == first[("c-a", "c-a-1")] - 2
        await after(chain.counted("s-1", skus[4], 6, zone=Zone.FLOOR))  # not listed yet: nothing shown
        added = await after(chain.put("/v1/channels/c-b/listings", {"listings": [
            {"sku": skus[4], "channel_sku": "c-b-4"}]}))
        assert added[("c-b", "c-b-4")] == 3  # half of 6
        ruled = await after(chain.channel("c-a", stores[:2], safety=1))  # c-a leaves c-b's sum
        assert ruled[("c-a", "c-a-0")] < counted[("c-a", "c-a-0")] and ruled[("c-b", "c-b-0")] \
            == counted[("c-b", "c-b-0")]
        async with chain.maker() as session, session.begin():  # push records, as the sync writes them
            now = datetime.now(UTC)
            await session.execute(insert(PUSHES), [
                {"channel": "c-c", "sku": skus[2], "item_id": "", "sku_id": "c-c-2", "qty": ruled[("c-c", "c-c-2")],
                 "previous": None, "key": "k-1", "reason": "event", "result": "ok", "attempts": 1, "error": None,
                 "started_at": now, "finished_at": now},
                {"channel": "c-c", "sku": skus[3], "item_id": "", "sku_id": "c-c-3", "qty": 1, "previous": 2,
                 "key": "k-2", "reason": "reconcile", "result": "failed", "attempts": 2, "error": "HTTP 503",
                 "started_at": now, "finished_at": now + timedelta(seconds=1)}])
        live.publish([Notice(Topic.PUSHES, "", skus[2]), Notice(Topic.PUSHES, "", skus[3])])  # PushLog's
        await agree()
        async with chain.maker() as session:
            rows = await queries_channels.channel_rows(session, datetime.now(UTC), "c-c", figures)
        assert [(li.channel_sku, li.state.value) for li in rows[0].listings if li.sku in skus[2:4]] == \
            [("c-c-2", "in_sync"), ("c-c-3", "failed")]
        assert (rows[0].last_success, rows[0].pushes, rows[0].push_failures, rows[0].drift_repairs) == \
            (now, 2, 1, 1)
        assert figures.full_reads == 1 and figures.partial_reads >= 5


async def test_a_change_no_notice_names_is_shown_after_the_full_read_behind_the_pages(db_url: str) -> None:
    """A stock change that reaches no notice (another process writing the ledger) is shown once
    the full read made behind the pages (every FULL_EVERY_S) is done, the read that starts it
    answering from what it kept; a noticed change is read alone."""
    async with serve(db_url) as chain:
        await chain.store("s-1")
        a, b = gtin(71), gtin(72)
        for sku in (a, b):
            await chain.counted("s-1", sku, 5, zone=Zone.FLOOR)
        await chain.channel("c-a", ["s-1"])
        await chain.put("/v1/channels/c-a/listings", {"listings": [
            {"sku": a, "channel_sku": "a"}, {"sku": b, "channel_sku": "b"}]})
        noticed: set[str] = set()

        def changed() -> queries_channels.Noticed:
            out = set(noticed)
            noticed.clear()
            return queries_channels.Noticed(out)

        clock = [0.0]
        figures = queries_channels.ChannelFigures(changed, lambda: chain.maker, full_every_s=60,
                                                  clock=lambda: clock[0])

        async def wants() -> dict[str, int]:
            async with chain.maker() as session:
                rows = await queries_channels.channel_rows(session, datetime.now(UTC), figures=figures)
            return {li.channel_sku: li.want for li in rows[0].listings}

        assert await wants() == {"a": 5, "b": 5}
        await book(chain.maker, "s-1", count(a, 8))  # no notice
        assert await wants() == {"a": 5, "b": 5} and figures.behind is None  # kept: not due yet
        clock[0] = 61.0
        assert await wants() == {"a": 5, "b": 5}  # answered at once; the full read starts behind
        await until(lambda: figures.full_reads == 2, 10, "the full read behind the pages")
        assert figures.behind is None and figures.partial_reads == 0
        assert await wants() == {"a": 8, "b": 5}
        await book(chain.maker, "s-1", count(b, 9))
        noticed.add(b)
        assert await wants() == {"a": 8, "b": 9} and figures.partial_reads == 1
        figures.close()


def count(sku: str, qty: int) -> StockDelta:
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.COUNT, qty=qty, zone=Zone.FLOOR,
                      occurred_at=datetime.now(UTC), source=Source.MANUAL)


async def test_head_offices_first_overview_makes_the_channels_first_read_ahead(db_url: str) -> None:
    """After a worker starts, the channels pages' first (full) read is made behind head office's
    first overview, not by the first channels visit; a store's overview does not make it (it may
    not open the channels pages). The figures it kept are the ones the page then shows."""
    async with serve(db_url) as chain:
        await chain.store("s-1")
        await chain.counted("s-1", A, 7, zone=Zone.FLOOR)
        await chain.channel("c-a", ["s-1"])
        await chain.put("/v1/channels/c-a/listings", {"listings": [{"sku": A, "channel_sku": "a-1"}]})
        figures = chain.app[CHANNEL_FIGURES]
        manager = await chain.token("manager-1", Role.STORE, "s-1")
        async with signed_in(chain, manager) as store, store.get(f"{chain.url}/") as r:
            assert r.status == 200
        assert figures.full_reads == 0
        async with signed_in(chain, await chain.token("hq-w", Role.HQ)) as hq:
            async with hq.get(f"{chain.url}/") as r:
                assert r.status == 200
            await until(lambda: figures.full_reads == 1, 10, "the channels' first read, ahead")
            async with hq.get(f"{chain.url}/channels/c-a") as r:
                assert r.status == 200
            assert figures.full_reads == 1 and figures.partial_reads == 0
            async with chain.maker() as session:
                [row] = await queries_channels.channel_rows(session, datetime.now(UTC), "c-a", figures)
            assert [(li.channel_sku, li.want) for li in row.listings] == [("a-1", 7)]
            async with hq.get(f"{chain.url}/") as r:  # once made, not again
                assert r.status == 200
            assert figures.full_reads == 1


def _push(channel: str, sku: str, sku_id: str, at: datetime, *, result: str = "ok", reason: str = "event",
          qty: int = 1, **extra: Any) -> dict[str, Any]:
    """A push record as the sync driver's PushLog writes it."""
    return {"channel": channel, "sku": sku, "item_id": "", "sku_id": sku_id, "qty": qty, "previous": None,
            "key": f"k-{uuid.uuid4()}", "reason": reason, "result": result, "attempts": 1 if result == "ok" else 2,
            "error": None if result == "ok" else "HTTP 503", "started_at": at,
            "finished_at": at + timedelta(milliseconds=200), **extra}


def _shown(rows: list[queries_channels.ChannelRow]) -> list[tuple[Any, ...]]:
    """Everything the channels pages show of each channel, listing by listing."""
    return [(r.name, r.last_success, r.pushes, r.push_failures, r.drift_repairs,
             [(li.channel_sku, li.want, li.last, li.state) for li in r.listings],
             {s: r.count(s) for s in queries_channels.State},
             [(li.channel, li.channel_sku) for li in queries_channels.failed([r])]) for r in rows]


@pytest.mark.postgres
async def test_the_figures_kept_on_one_worker_follow_what_another_worker_committed(pg_url: str) -> None:
    """Two workers on one database: the push records another worker's PushLog writes, and its stock
    changes, reach this worker's kept figures over NOTIFY, and read again only by what is new (no
    full read): every channel's push figures (last success, pushes and failures in the last hour,
    drift repairs in the last day), each listing's state, the counts and the failed list equal a
    fresh read of the database, now and an hour and a day later."""
    async with serve(pg_url) as other, serve(pg_url) as here:
        await until(lambda: other.app[LIVE].listening.is_set() and here.app[LIVE].listening.is_set(), 10,
                    "both workers listening")
        for s in ("s-1", "s-2"):
            await other.store(s)
        skus = [gtin(80 + i) for i in range(4)]
        for i, sku in enumerate(skus):
            await other.counted("s-1", sku, 4 + i, zone=Zone.FLOOR)
        for name, platform, stores, safety in (("c-a", "jd", ["s-1", "s-2"], 0), ("c-b", "taobao", ["s-1"], 1)):
            await other.put(f"/v1/channels/{name}", {"platform": platform, "safety": safety, "stores": [
                {"store": s, "ship": True} for s in stores]})
        for name in ("c-a", "c-b"):
            await other.put(f"/v1/channels/{name}/listings", {"listings": [
                {"sku": sku, "channel_sku": f"{name}-{i}"} for i, sku in enumerate(skus)]})
        figures = here.app[CHANNEL_FIGURES]
        old = datetime.now(UTC) - timedelta(hours=5)
        async with other.maker() as session, session.begin():  # before the first read: a full read's
            await session.execute(insert(PUSHES), [
                _push("c-a", skus[0], "c-a-0", old, reason="reconcile"),
                _push("c-a", skus[1], "c-a-1", old - timedelta(hours=20), reason="reconcile"),  # outside both
                _push("c-b", skus[0], "c-b-0", old, result="failed")])

        async def agree(at: datetime | None = None) -> list[tuple[Any, ...]]:
            at = at or datetime.now(UTC)
            async with here.maker() as session:
                kept = await queries_channels.channel_rows(session, at, figures=figures)
                read = await queries_channels.channel_rows(session, at)
            assert _shown(kept) == _shown(read)
            return _shown(kept)

        first = await agree()
        assert (figures.full_reads, first[0][1:5], first[1][1:5]) == \
            (1, (old + timedelta(milliseconds=200), 0, 0, 1), (None, 0, 0, 0))

        pushes = PushLog(other.maker)
        pushes.on_written = lambda batch: other.app[LIVE].publish(Notice(Topic.PUSHES, "", p.sku) for p in batch)
        heard = here.app[LIVE].subscribe()  # what this worker's hub publishes, the other's NOTIFYs among it

        async def hears(*wanted: Notice) -> None:
            """Until this worker has heard `wanted` (a burst's notices may come in several NOTIFYs)."""
            missing = set(wanted)
            async with asyncio.timeout(10):
                while missing:
                    missing -= await heard.get()

        async def written(*records: dict[str, Any]) -> None:
            for r in records:
                pushes.add(Push(**r))
            await pushes.flush()
            await hears(*(Notice(Topic.PUSHES, "", r["sku"]) for r in records))

        now = datetime.now(UTC)
        async with here.maker() as session:
            wants = {(r.name, li.channel_sku): li.want for r in await queries_channels.channel_rows(
                session, now, figures=figures) for li in r.listings}
        await written(_push("c-a", skus[0], "c-a-0", now, qty=wants[("c-a", "c-a-0")]),
                      _push("c-a", skus[1], "c-a-1", now, result="failed", reason="reconcile"),
                      _push("c-b", skus[2], "c-b-2", now - timedelta(minutes=50), qty=wants[("c-b", "c-b-2")]))
        pushed = await agree()
        assert pushed[0][1:5] == (now + timedelta(milliseconds=200), 2, 1, 2)
        assert [li[3] for li in pushed[0][5]] == [queries_channels.State.IN_SYNC, queries_channels.State.FAILED,
                                                  queries_channels.State.PENDING, queries_channels.State.PENDING]
        assert pushed[1][1:5] == (now - timedelta(minutes=50) + timedelta(milliseconds=200), 1, 0, 0)
        assert pushed[0][7] == [("c-a", "c-a-1")] and pushed[1][7] == [("c-b", "c-b-0")]

        await other.counted("s-1", skus[0], 30, zone=Zone.FLOOR)  # the in-sync listing falls behind
        await hears(Notice(Topic.STOCK, "s-1", skus[0]))
        moved = await agree()
        assert moved[0][5][0][3] is queries_channels.State.PENDING
        await written(_push("c-a", skus[1], "c-a-1", datetime.now(UTC), qty=wants[("c-a", "c-a-1")]))
        retried = await agree()
        assert retried[0][3:5] == (1, 2) and retried[0][7] == []  # the failure is no longer the newest push
        assert figures.full_reads == 1 and figures.partial_reads >= 3

        # the windows move on without a read of the records: an hour later, a day later
        await agree(datetime.now(UTC) + timedelta(minutes=55))
        later = await agree(datetime.now(UTC) + timedelta(hours=2))
        assert later[0][2:5] == (0, 0, 2) and later[1][2:5] == (0, 0, 0)
        assert (await agree(datetime.now(UTC) + timedelta(hours=25)))[0][2:5] == (0, 0, 0)
        assert figures.full_reads == 1


async def test_a_push_record_committed_after_a_newer_one_is_counted(db_url: str) -> None:
    """The kept push figures take the records written since the last read by id: a record whose id
    is below one already taken (its transaction committed after a newer one's) is still counted,
    as is the newer one once; on both databases."""
    async with serve(db_url) as chain:
        await chain.store("s-1")
        await chain.channel("c-a", ["s-1"])
        await chain.put("/v1/channels/c-a/listings", {"listings": [{"sku": A, "channel_sku": "a"}]})
        noticed = [queries_channels.Noticed(set())]

        def changed() -> queries_channels.Noticed:
            out, noticed[0] = noticed[0], queries_channels.Noticed(set())
            return out

        clock = [0.0]
        figures = queries_channels.ChannelFigures(changed, lambda: chain.maker, clock=lambda: clock[0])

        async def shown() -> tuple[Any, ...]:
            now = datetime.now(UTC)
            async with chain.maker() as session:
                [kept] = await queries_channels.channel_rows(session, now, figures=figures)
                [read] = await queries_channels.channel_rows(session, now)
            assert _shown([kept]) == _shown([read])
            return (kept.pushes, kept.push_failures, kept.last_success is not None)

        async def write(*records: dict[str, Any]) -> None:
            async with chain.maker() as session, session.begin():
                await session.execute(insert(PUSHES), list(records))
            noticed[0] = queries_channels.Noticed({A}, pushes=True)

        assert await shown() == (0, 0, False)
        now = datetime.now(UTC)
        await write(_push("c-a", A, "a", now, id=3))
        assert await shown() == (1, 0, True)
        await write(_push("c-a", A, "a", now, result="failed", id=2))  # ids 1 and 2 were looked for
        assert await shown() == (2, 1, True) and figures.looked_for == 1
        clock[0] += 31  # id 1 never comes: no longer looked for
        assert await shown() == (2, 1, True) and figures.looked_for == 0
        await write(_push("c-a", A, "a", now, id=4))
        assert await shown() == (3, 1, True)
        assert figures.full_reads == 1
        figures.close()


def test_rows_made_again_for_a_few_skus_equal_rows_made_from_scratch() -> None:
    """ChannelFigures makes the rows of the SKUs read again in place (and changes the counts and
    the failed list by what they changed), or sorts a channel's rows again when its listings of
    those SKUs changed; either way the result equals every row made from scratch. Random changes
    of pushes (ok, failed, rejected, none), free units, listings removed and added, 40 rounds."""
    rng = random.Random(16)
    stores = ("s-1", "s-2")
    configs = {n: ChannelConfig(n, "jd", Rules(1, 80, 0, 20), False, 0, stores, ()) for n in ("c-a", "c-b")}
    figures = queries_channels.ChannelFigures(lambda: queries_channels.Noticed(set()), lambda: None)  # type: ignore[arg-type,return-value]  # why: no read is made here
    skus = [gtin(100 + i) for i in range(60)]
    now = datetime.now(UTC)

    def push() -> queries_channels.LastPush | None:
        result = rng.choice(["ok", "ok", "failed", "rejected", None])
        return None if result is None else queries_channels.LastPush(
            rng.randint(0, 9), None, "event", result, 1, None, now + timedelta(seconds=rng.randint(0, 999)))

    listed = figures._listed
    for name in configs:
        for i, sku in enumerate(skus):
            listed[(name, f"{name}-{i:03d}")] = (name, sku, f"{name}-{i:03d}", "", push())
    figures._free[(stores, 1)] = {sku: rng.randint(0, 30) for sku in skus}

    def shown() -> dict[str, Any]:
        return {n: (k.listings, {s: k.counts[s] for s in queries_channels.State}, k.failures)
                for n, k in figures._rows(configs).items()}

    shown()
    for n in range(40):
        touched = set(rng.sample(skus, rng.randint(1, 12)))
        for key, li in list(listed.items()):
            if li[1] in touched:
                if rng.random() < 0.05:
                    del listed[key]
                else:
                    listed[key] = (*li[:4], push())
        if rng.random() < 0.3:
            name = rng.choice(sorted(configs))
            listed[(name, f"new-{n}")] = (name, rng.choice(sorted(touched)), f"new-{n}", "", push())
        for sku in touched:
            figures._free[(stores, 1)][sku] = rng.randint(0, 30)
        figures._touched = set(touched)
        again = shown()
        figures._built = None
        assert again == shown(), n
