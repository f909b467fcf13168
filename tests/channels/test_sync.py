"""The sync driver against the six platform simulators over HTTP, with its push records in a real
SQLite database. The wanted figures come from a small in-memory table (the ledger-backed source
is exercised end to end in test_sync_e2e.py), published through the real StockEvents."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloud.channels import records
from cloud.channels.availability import ListingFigure
from cloud.channels.base import Listing
from cloud.channels.sync import PlatformSync, SyncOptions, leadership
from cloud.db import engines
from cloud.db.migrate import upgrade
from cloud.events import StockEvents
from tests.channels.conftest import KINDS, Sim
from tests.integration.conftest import until

FAST = SyncOptions(hold_increases_s=0.0, backoff_s=0.05, backoff_max_s=0.2, reconcile_every_s=3600,
                   retry_failed_s=3600, record_every_s=0.05)


class Ledger:
    """The wanted figures: (channel, sku) → qty, for every listing of every sim."""

    def __init__(self, sims: dict[str, Sim], skus: Sequence[int]) -> None:
        self.sims = sims
        self.listings = {(s.config.name, n): s.listing(n) for s in sims.values() for n in skus}
        self.qty = {key: 0 for key in self.listings}

    async def figures(self, skus: Collection[str] | None) -> Sequence[ListingFigure]:
        return [ListingFigure(li.channel, li.sku, li.item_id, li.sku_id, self.qty[key])
                for key, li in self.listings.items() if skus is None or li.sku in skus]

    def set(self, events: StockEvents, n: int, qty: int, channels: Collection[str] | None = None) -> None:
        for (channel, m), li in self.listings.items():
            if m == n and (channels is None or channel in channels):
                self.qty[(channel, m)] = qty
                sku = li.sku
        events.publish([("store-1", sku)])

    def listing(self, kind: str, n: int) -> Listing:
        return self.listings[(self.sims[kind].config.name, n)]


@dataclass
class Rig:
    sync: PlatformSync
    events: StockEvents
    ledger: Ledger
    sims: dict[str, Sim]
    maker: async_sessionmaker[AsyncSession]
    alerts: list[tuple[str, str | None]]

    def holds(self, n: int, qty: int, kinds: Collection[str] = KINDS) -> bool:
        return all(self.sims[k].held(self.ledger.listing(k, n)) == qty for k in kinds)

    async def pushes(self, channel: str | None = None) -> list[dict[str, object]]:
        await self.sync.records.flush()
        return list(reversed(await records.recent(self.maker, channel, limit=1000)))


@pytest.fixture
async def rig(start_sim, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    options: SyncOptions = getattr(request, "param", FAST)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    engine = engines.make_engine(url)
    maker = engines.sessionmaker(engine)
    sims = {kind: await start_sim(kind) for kind in KINDS}
    ledger = Ledger(sims, [1, 2])
    events = StockEvents()
    adapters = {s.config.name: s.adapter() for s in sims.values()}
    alerts: list[tuple[str, str | None]] = []
    sync = PlatformSync(events, adapters, ledger.figures, records.PushLog(maker, options.record_every_s), options,
                        alert=lambda channel, why: alerts.append((channel, why)))
    task = asyncio.create_task(sync.run())
    await asyncio.wait_for(sync.ready.wait(), 10)
    try:
        yield Rig(sync, events, ledger, sims, maker, alerts)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()


async def test_a_stock_change_reaches_every_platform(rig: Rig) -> None:
    rig.ledger.set(rig.events, 1, 12)
    await until(lambda: rig.holds(1, 12), 10, "every platform holds 12")
    rig.ledger.set(rig.events, 1, 11)
    await until(lambda: rig.holds(1, 11), 10, "every platform holds 11")
    pushes = await rig.pushes()
    assert {p["result"] for p in pushes} == {"ok"}
    assert {p["channel"] for p in pushes} == {s.config.name for s in rig.sims.values()}
    taobao = [p for p in pushes if p["channel"] == "taobao-test" and p["sku_id"] == rig.ledger.listing(
        "taobao", 1).sku_id]
    assert [(p["qty"], p["reason"]) for p in taobao] == [(12, "event"), (11, "event")]


async def test_a_burst_of_changes_is_coalesced_per_listing(rig: Rig) -> None:
    for qty in range(100, 50, -1):
        rig.ledger.set(rig.events, 2, qty)
    await until(lambda: rig.holds(2, 51), 10, "every platform holds the last figure")
    for sim in rig.sims.values():
        changes = [h for h in sim.platform.history if h[2].endswith(rig.ledger.listing(sim.config.platform, 2).sku_id)]
        assert changes[-1][3] == 51
        assert len(changes) < 25, f"{sim.config.platform}: {len(changes)} pushes for 50 changes"


@pytest.mark.parametrize("rig", [SyncOptions(hold_increases_s=1.5, backoff_s=0.05, reconcile_every_s=3600,
                                             record_every_s=0.05)], indirect=True)
async def test_an_increase_is_held_and_a_decrease_meanwhile_goes_at_once(rig: Rig) -> None:
    rig.ledger.set(rig.events, 1, 10)
    await until(lambda: rig.holds(1, 10), 10, "first figure (held 1.5 s: it is an increase from 0)")
    rig.ledger.set(rig.events, 1, 15)  # an increase: held
    await asyncio.sleep(0)
    rig.ledger.set(rig.events, 1, 8)  # a decrease arrives within the hold: pushed at once
    await until(lambda: rig.holds(1, 8), 1.2, "the decrease, before the hold would have ended")
    for sim in rig.sims.values():
        sku_id = rig.ledger.listing(sim.config.platform, 1).sku_id
        assert 15 not in [h[3] for h in sim.platform.history if h[2].endswith(sku_id)]


async def test_transient_errors_and_rate_limits_are_retried_until_the_figure_lands(rig: Rig) -> None:
    for sim in rig.sims.values():
        await sim.faults({"next": ["5xx", "ratelimit", "5xx"]})
    rig.ledger.set(rig.events, 1, 7)
    await until(lambda: rig.holds(1, 7), 15, "every platform holds 7 after retries")
    pushes = [p for p in await rig.pushes() if p["qty"] == 7]
    assert all(p["result"] == "ok" for p in pushes)
    assert sorted(p["attempts"] for p in pushes) [-1] == 4
    assert rig.sync.stats.retries >= 3 * len(KINDS) - len(KINDS)


async def test_five_failures_are_a_visible_failure_and_the_listing_is_retried_later(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sim = rig.sims["jd"]
    await sim.faults({"next": ["5xx"] * 5})
    with caplog.at_level(logging.ERROR, logger="cloud.channels.sync"):
        rig.ledger.set(rig.events, 1, 5, channels=[sim.config.name])
        await until(lambda: rig.sync.stats.failures == 1, 10, "a visible failure")
    assert "failed after 5 tries" in caplog.text
    failed = [p for p in await rig.pushes(sim.config.name) if p["result"] == "failed"]
    assert len(failed) == 1 and failed[0]["attempts"] == 5 and "502" in str(failed[0]["error"])
    assert sim.held(rig.ledger.listing("jd", 1)) != 5
    assert len(rig.alerts) == 1 and rig.alerts[0][0] == sim.config.name and "5 tries" in str(rig.alerts[0][1])
    await rig.sync.reconcile()  # the periodic reconciliation (or the failed-listing timer) repairs it
    await until(lambda: sim.held(rig.ledger.listing("jd", 1)) == 5, 10, "repaired")
    assert rig.alerts[1:] == [(sim.config.name, None)]  # the alert is resolved


async def test_a_rejected_push_is_not_retried(rig: Rig) -> None:
    sim = rig.sims["pdd"]
    sim.platform.creds = type(sim.platform.creds)(sim.platform.creds.app_key, "rotated-secret",
                                                  sim.platform.creds.session)
    rig.ledger.set(rig.events, 1, 3, channels=[sim.config.name])
    await until(lambda: rig.sync.stats.rejected == 1, 10, "a rejected push")
    pushes = [p for p in await rig.pushes(sim.config.name) if p["qty"] == 3]
    assert [(p["result"], p["attempts"]) for p in pushes] == [("rejected", 1)]
    assert sim.platform.counts["bad_signature"] == 1


@pytest.mark.parametrize("rig", [SyncOptions(hold_increases_s=0.0, backoff_s=0.2, backoff_max_s=0.4, max_tries=6,
                                             reconcile_every_s=3600, retry_failed_s=3600, record_every_s=0.05)],
                         indirect=True)
async def test_a_push_still_running_on_the_platform_is_retried_with_its_key_until_it_is_answered(rig: Rig) -> None:
    """The first try is slow: the adapter gives up after 0.5 s while the platform finishes it later
    (here once Shopify has answered a retry "in progress", not after a time a loaded machine could
    outrun). Shopify answers the retries with the same key IDEMPOTENCY_CONCURRENT_REQUEST ("in
    progress, try again") and then the first try's result; Douyin answers 40003
    isv.idempotent-id-existed. Both are one write on the platform and a success in the push
    records, not a refusal."""
    kinds = ("shopify", "douyin")
    for kind in kinds:
        await rig.sims[kind].faults({"next": ["slow"], "hang_s": 3600})
    rig.ledger.set(rig.events, 1, 9, channels=[rig.sims[k].config.name for k in kinds])
    await until(lambda: rig.sims["shopify"].platform.counts["concurrent"] >= 1, 15, "a retry while in progress")
    for kind in kinds:
        await rig.sims[kind].faults({"release": True})
    await until(lambda: rig.holds(1, 9, kinds), 15, "both platforms hold 9")

    async def nines(kind: str) -> list[dict[str, object]]:
        return [p for p in await rig.pushes(rig.sims[kind].config.name) if p["qty"] == 9]

    async def recorded() -> bool:
        return all([await nines(kind) for kind in kinds])

    await until(recorded, 15, "both pushes recorded")
    for kind in kinds:
        pushes = await nines(kind)
        assert [p["result"] for p in pushes] == ["ok"], (kind, pushes)
        assert int(str(pushes[0]["attempts"])) >= 2
        assert [h[3] for h in rig.sims[kind].platform.history] == [9], kind
    assert rig.sims["shopify"].platform.counts["concurrent"] >= 1
    assert rig.sims["douyin"].platform.counts["replays"] == 1
    assert rig.sync.stats.rejected == 0 and rig.sync.stats.failures == 0 and rig.sync.stats.replays >= 1
    assert rig.alerts == []


@pytest.mark.parametrize("kind", ["shopify", "wechat"])
async def test_a_stale_compare_value_is_answered_with_the_platforms_figure(rig: Rig, kind: str) -> None:
    sim = rig.sims[kind]
    rig.ledger.set(rig.events, 1, 10, channels=[sim.config.name])
    await until(lambda: rig.holds(1, 10, [kind]), 10, "first figure")
    await sim.faults({"next": ["stale"]})  # a platform order takes one unit just before our write
    rig.ledger.set(rig.events, 1, 6, channels=[sim.config.name])
    await until(lambda: rig.holds(1, 6, [kind]), 10, "the figure lands after the stale answer")
    assert rig.sync.stats.stale == 1 and sim.platform.counts["stale"] == 1
    sku_id = rig.ledger.listing(kind, 1).sku_id
    changes = [h[3] for h in sim.platform.history if h[2].endswith(sku_id)]
    # the platform's own sale is kept off (6 - 1) until the increase hold ends (0 s here), then 6
    assert changes[-2:] == [5, 6]


async def test_drift_on_a_platform_is_repaired_by_reconciliation(rig: Rig) -> None:
    rig.ledger.set(rig.events, 2, 9)
    await until(lambda: rig.holds(2, 9), 10, "every platform holds 9")
    for sim in rig.sims.values():  # someone edits stock in each platform's seller console
        li = rig.ledger.listing(sim.config.platform, 2)
        key = next(k for k in sim.platform.stock if k[1].endswith(li.sku_id))
        sim.platform.stock[key] = 40
    before = rig.sync.stats.drift_repaired
    await rig.sync.reconcile()
    await until(lambda: rig.holds(2, 9), 10, "drift repaired")
    assert rig.sync.stats.drift_repaired - before == len(KINDS)
    assert {p["reason"] for p in await rig.pushes() if p["qty"] == 9} == {"event", "reconcile"}


@pytest.mark.parametrize("rig", [SyncOptions(hold_increases_s=0.0, backoff_s=0.05, backoff_max_s=0.1,
                                             reconcile_every_s=3600, retry_failed_s=0.5,
                                             record_every_s=0.05)], indirect=True)
async def test_a_platform_down_for_a_while_converges_with_no_lost_or_doubled_update(rig: Rig) -> None:
    """Every platform is down (the 10-minute case is in `shelfsync bench sync --outage`) while
    figures change, until every channel has failed visibly and been probed again; when they
    return every platform holds the last figure, and every successful push was of a figure the
    ledger wanted, each landing once."""
    for sim in rig.sims.values():
        await sim.faults({"down_for": 3600})  # until brought back below, however slow the machine
    wanted = [0]  # the figure the first reconciliation pushed

    def refused() -> dict[str, int]:  # requests each platform has refused while down
        return {name: sim.platform.counts["down"] for name, sim in rig.sims.items()}

    for qty in (30, 25, 21):  # the figures change while the platforms are down, each one tried
        before = refused()
        rig.ledger.set(rig.events, 1, qty)
        wanted.append(qty)
        await until(lambda: all(n > before[name] for name, n in refused().items()),  # noqa: B023 (this turn)
                    30, "every platform refusing requests after the figure changed")
    await until(lambda: rig.sync.stats.failures >= len(KINDS), 30, "visible failures while down")

    async def probed() -> bool:  # a failing channel's single-try probe has failed too
        return any(p["result"] == "failed" and p["attempts"] == 1 for p in await rig.pushes())

    await until(probed, 30, "a failing channel probed while down")
    for sim in rig.sims.values():
        await sim.faults({"down_for": 0})
    await until(lambda: rig.holds(1, 21), 30, "convergence after the outage")
    failed = [p for p in await rig.pushes() if p["result"] == "failed"]
    assert {p["attempts"] for p in failed} == {5, 1}  # a failing channel is probed with single tries
    assert len([p for p in failed if p["attempts"] == 5]) == len(KINDS)
    assert rig.alerts.count((rig.sims["jd"].config.name, None)) == 1  # each alert resolved once
    for sim in rig.sims.values():
        sku_id = rig.ledger.listing(sim.config.platform, 1).sku_id
        changes = [h[3] for h in sim.platform.history if h[2].endswith(sku_id)]
        assert changes[-1] == 21 and set(changes) <= set(wanted)
        assert len(changes) == len(set(changes)), f"{sim.config.platform} applied a figure twice: {changes}"
    assert rig.sync.pending() == 0


@pytest.mark.postgres
async def test_only_one_worker_drives_platform_sync_on_postgresql(pg_url: str) -> None:
    first, second = engines.make_engine(pg_url), engines.make_engine(pg_url)
    leading = [asyncio.Event(), asyncio.Event()]
    release = [asyncio.Event(), asyncio.Event()]

    async def worker(n: int, engine: AsyncEngine) -> None:
        async with leadership(engine, retry_s=0.05):
            leading[n].set()
            await release[n].wait()

    try:
        one = asyncio.create_task(worker(0, first))
        await asyncio.wait_for(leading[0].wait(), 5)
        two = asyncio.create_task(worker(1, second))
        with pytest.raises(TimeoutError):  # the second worker waits while the first leads
            await asyncio.wait_for(asyncio.shield(leading[1].wait()), 0.5)
        release[0].set()
        await one
        await asyncio.wait_for(leading[1].wait(), 5)  # and takes over when the first stops
        release[1].set()
        await two
    finally:
        await first.dispose()
        await second.dispose()


async def test_the_driver_paces_each_platform_to_its_rate_limit(start_sim, tmp_path: Path) -> None:
    """30 listings change at once on a platform allowing 10 requests/s: the driver paces itself
    (8/s configured) and the platform never has to answer its rate-limit error."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    engine = engines.make_engine(url)
    sim = await start_sim("taobao", limit=10.0)
    ledger = Ledger({"taobao": sim}, list(range(1, 31)))
    events = StockEvents()
    adapter = sim.adapter(rate=8.0)
    sync = PlatformSync(events, {sim.config.name: adapter}, ledger.figures,
                        records.PushLog(engines.sessionmaker(engine), 0.05), FAST)
    task = asyncio.create_task(sync.run())
    try:
        await asyncio.wait_for(sync.ready.wait(), 10)
        sim.platform.counts.clear()
        for n in range(1, 31):
            ledger.qty[(sim.config.name, n)] = 5
        events.publish([("store-1", ledger.listing("taobao", n).sku) for n in range(1, 31)])
        await until(lambda: all(sim.held(ledger.listing("taobao", n)) == 5 for n in range(1, 31)), 20,
                    "every listing at 5")
        assert sim.platform.counts["rate_limited"] == 0 and sync.stats.retries == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()


async def test_push_records_past_the_retention_are_pruned(rig: Rig) -> None:
    old, new = datetime.now(UTC) - timedelta(days=30), datetime.now(UTC)
    for started in (old, new):
        rig.sync.records.add(records.Push("jd-test", "04000000000017", "1", "2", 1, None, "k", "event", "ok", 1,
                                          None, started, started))
    await rig.sync.records.flush()
    assert await records.prune(rig.maker, datetime.now(UTC) - timedelta(days=7)) == 1
    assert [p["started_at"] for p in await rig.pushes("jd-test") if p["key"] == "k"] == [new]


async def test_a_flush_returns_only_once_the_batch_already_being_written_is_readable(tmp_path: Path) -> None:
    """The record writer may be inside its transaction when someone else (a test, the console's
    push-now) flushes; that flush must wait for the batch in flight, not return at once because the
    buffer it finds is empty."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    engine = engines.make_engine(url)
    log = records.PushLog(engines.sessionmaker(engine), every=3600)
    try:
        now = datetime.now(UTC)
        log.add(records.Push("jd-test", "04000000000017", "1", "2", 5, None, "k1", "event", "ok", 1, None, now, now))
        in_flight = asyncio.create_task(log.flush())
        await asyncio.sleep(0)  # the first flush has taken the batch and is writing it
        await log.flush()
        assert [p["key"] for p in await records.recent(log.maker, "jd-test")] == ["k1"]
        await in_flight
    finally:
        await engine.dispose()
