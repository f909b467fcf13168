"""The platform sync driver: keep every listing's figure on its platform equal to what the channel
may sell, within a second of a stock change.

- **Event driven.** It subscribes to `StockEvents` (published after every commit that changes
  stock or reservations); a set of changed (store, SKU) keys becomes one read of the affected
  listings' figures (`availability.listing_figures`). There is no loop polling for changes.
- **Coalescing.** One push in flight per listing; figures that arrive meanwhile replace the
  wanted figure, and the next push sends the latest one only.
- **Decreases at once, increases held briefly.** A decrease (a sale, a reservation) is pushed
  immediately. An increase waits `hold_increases_s` first (research/cloud.md §2, the Cin7 hazard:
  an absolute figure computed before another channel's orders are ingested inflates stock; the
  hold gives those orders time to arrive and lower the figure before it is pushed).
- **Retries.** Transient errors back off exponentially (with jitter) and a platform's rate-limit
  error waits at least what the platform asked; at most `max_tries` tries, then a visible failure:
  logged at ERROR, recorded in platform_pushes, counted in shelfsync_sync_push_failures_total.
  While a channel is failing, each push gets one try (a probe) and failures log at WARNING; the
  first success ends that and retries the channel's failed listings at once. Every
  `retry_failed_s` a failing channel is probed with one failed listing (other channels' failed
  listings are retried), so a platform that was down converges within that once it returns.
  Rejected requests (bad signature, invalid values) are not retried. A failing channel raises a
  chain alert.
- **Rate limits.** Each channel's requests are paced to its configured rate (aiolimiter).
- **Reconciliation.** At start and every `reconcile_every_s`, every listing's figure is read
  back from its platform and drift is repaired (a push with previous = what the platform holds).
- **Records.** Every push, successful or not, is one row in platform_pushes (records.py).
- **One driver per deployment.** `platform_sync(app)` (the cleanup_ctx the app registers) drives
  only while it holds a PostgreSQL advisory lock; other workers wait for the lock. SQLite is one
  process, so its worker always drives.

Pushes are absolute figures with an idempotency key per (listing, figure) push: a retry after a
timeout cannot double-apply, and a platform with a compare-and-set (Shopify, the mini-program)
also refuses to overwrite a figure that changed under us (`Stale`), which the driver answers by
adopting the platform's figure as `previous` and pushing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from aiolimiter import AsyncLimiter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloud.channels import config, records
from cloud.channels.availability import listing_figures
from cloud.channels.base import Listing, RateLimited, Rejected, Stale, StockAdapter, Transient
from cloud.channels.platforms import adapter_for
from cloud.channels.records import Push, PushLog, uncancelled
from cloud.channels.relay import EventRelay
from cloud.events import StockEvents
from cloud.keys import (
    CHAIN_ALERTS,
    CHANNELS,
    EVENTS,
    HEALTH,
    MAKER,
    METRICS,
    RELAY,
    SETTINGS,
    SYNC,
    SYNC_OPTIONS,
)
from shared import metrics
from shared.alerting.rules import Condition, Kind
from shared.backoff import Backoff

if TYPE_CHECKING:
    from cloud.alerts import ChainAlerts
    from cloud.channels.config import ChannelConfig

log = logging.getLogger(__name__)

LOCK_KEY = 0x5E1F_5C_01  # pg advisory lock id of the platform sync leader


class Figure(Protocol):
    """What a listing may sell now (availability.ListingFigure)."""

    @property
    def channel(self) -> str: ...
    @property
    def sku(self) -> str: ...
    @property
    def item_id(self) -> str: ...
    @property
    def sku_id(self) -> str: ...
    @property
    def qty(self) -> int: ...


# skus=None: every listing
Figures = Callable[[Collection[str] | None], Awaitable[Sequence[Figure]]]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    hold_increases_s: float = 0.5
    max_tries: int = 5
    backoff_s: float = 0.25  # the first retry's delay; doubles each try
    backoff_max_s: float = 30.0
    reconcile_every_s: float = 300.0
    retry_failed_s: float = 10.0
    record_every_s: float = 0.5
    keep_records_days: float = 7.0  # platform_pushes retention


@dataclass
class Stats:
    pushes: int = 0
    failures: int = 0
    rejected: int = 0
    retries: int = 0
    replays: int = 0  # pushes the platform had already applied (an earlier try's answer was lost)
    stale: int = 0
    drift_repaired: int = 0
    reconciliations: int = 0
    events: int = 0
    leader: bool = False


@dataclass
class _State:
    """One listing: the figure the ledger wants shown and the one we believe the platform holds."""

    listing: Listing
    want: int | None = None
    held: int | None = None  # None: unknown (never read, or a push failed)
    failed: bool = False
    worker: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


# (channel, why) when a channel's pushes fail for good; (channel, None) when one succeeds again
AlertHook = Callable[[str, str | None], None]


class PlatformSync:
    def __init__(self, events: StockEvents, adapters: dict[str, StockAdapter], figures: Figures,
                 log_: PushLog, options: SyncOptions = SyncOptions(), alert: AlertHook | None = None) -> None:
        self.events, self.adapters, self.figures, self.records = events, adapters, figures, log_
        self.options = options
        # A fifth of each delay random, so the listings of one failing platform do not retry in step.
        self._retry = Backoff(options.backoff_s, options.backoff_max_s, jitter=0.2)
        self._alert = alert
        self.failing: set[str] = set()  # channels whose last push ended in a visible failure
        self._running = False
        self._elsewhere: set[str] = set()
        self._elsewhere_ready = asyncio.Event()
        self.stats = Stats()
        self._states: dict[tuple[str, str, str], _State] = {}
        self._limiters = {name: AsyncLimiter(max(1.0, a.rate), 1.0) for name, a in adapters.items()}
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()  # the first reconciliation has run

    # -- the loops -------------------------------------------------------------------------
    async def run(self) -> None:
        """Drive until cancelled: the event consumer, the reconciliation timer, the record writer."""
        queue = self.events.subscribe()  # subscribe before the first read: no change falls between
        self._running = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume_elsewhere(), name="sync-events-elsewhere")
                group.create_task(self.records.run(), name="sync-records")
                group.create_task(self._consume(queue), name="sync-events")
                group.create_task(self._reconcile_loop(), name="sync-reconcile")
                group.create_task(self._retry_failed_loop(), name="sync-retry-failed")
        finally:
            self._running = False
            self.events.unsubscribe(queue)
            for task in self._tasks:
                task.cancel()
            for st in self._states.values():
                if st.worker is not None:
                    st.worker.cancel()
            workers = [st.worker for st in self._states.values() if st.worker is not None]
            await asyncio.gather(*workers, return_exceptions=True)

    async def _consume(self, queue: asyncio.Queue[set[tuple[str, str]]]) -> None:
        while True:
            keys = await queue.get()  # a set that grew while we were busy: bursts coalesce here
            self.stats.events += 1
            await self._refresh({sku for _, sku in keys})

    def changed_elsewhere(self, skus: set[str]) -> None:
        """SKUs whose stock changed on another cloud worker (relay.py); ignored unless driving."""
        if self._running:
            self._elsewhere |= skus
            self._elsewhere_ready.set()

    async def _consume_elsewhere(self) -> None:
        while True:
            await self._elsewhere_ready.wait()
            self._elsewhere_ready.clear()
            skus, self._elsewhere = self._elsewhere, set()
            self.stats.events += 1
            await self._refresh(skus)

    async def _refresh(self, skus: set[str]) -> None:
        try:
            figures = await uncancelled(self.figures(skus))
        except Exception:  # a failed read must not stop the driver; the reconciliation repairs
            log.exception("platform sync: reading figures for %d SKUs failed", len(skus))
            return
        self.apply(figures, reason="event")

    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("platform sync: reconciliation failed")
            self.ready.set()
            try:
                before = datetime.now(UTC) - timedelta(days=self.options.keep_records_days)
                await uncancelled(records.prune(self.records.maker, before))
            except Exception:
                log.exception("platform sync: pruning old push records failed")
            await asyncio.sleep(self.options.reconcile_every_s)

    async def _retry_failed_loop(self) -> None:
        """Every retry_failed_s: retry the failed listings of channels that work, and probe each
        failing channel with one of its failed listings (its success retries the rest at once)."""
        while True:
            await asyncio.sleep(self.options.retry_failed_s)
            probed: set[str] = set()
            for st in list(self._states.values()):
                channel = st.listing.channel
                if st.failed and st.worker is None and channel not in probed:
                    if channel in self.failing:
                        probed.add(channel)
                    st.failed = False
                    self._start(st, "retry")

    def _retry_channel(self, channel: str) -> None:
        for st in list(self._states.values()):
            if st.listing.channel == channel and st.failed and st.worker is None:
                st.failed = False
                self._start(st, "retry")

    # -- figures in --------------------------------------------------------------------------
    def apply(self, figures: Sequence[Figure], reason: str) -> None:
        """New wanted figures: start a push for each listing whose figure differs from what its
        platform holds (or wake the push in flight, which then sends the latest figure)."""
        for f in figures:
            if f.channel not in self.adapters:
                continue  # a channel with no platform configured (pos, none, or not yet set up)
            listing = Listing(f.channel, f.sku, f.item_id, f.sku_id)
            st = self._states.get(listing.key)
            if st is None:
                st = self._states[listing.key] = _State(listing)
            st.want = f.qty
            st.changed.set()
            if st.want != st.held and st.worker is None:
                self._start(st, reason)

    def push_now(self, channel: str, sku: str, sku_id: str) -> bool:
        """Push one listing's figure now, even one we believe its platform holds (a person asked:
        the console's "push now"). False unless this worker drives platform sync."""
        if not self._running or channel not in self.adapters:
            return False
        found = [st for st in self._states.values()
                 if st.listing.channel == channel and st.listing.sku_id == sku_id]
        for st in found:
            st.failed = False
            st.held = None  # forget what we believed it holds: the figure goes out again
            if st.worker is None and st.want is not None:
                self._start(st, "manual")
        if not found or any(st.want is None for st in found):  # not read yet: read its figure, then push
            task = asyncio.create_task(self._refresh({sku}), name=f"sync-manual-{channel}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    def _start(self, st: _State, reason: str) -> None:
        st.worker = asyncio.create_task(self._drive(st, reason), name=f"sync-{st.listing.key}")

    async def reconcile(self) -> None:
        """Read every listing's figure back from its platform; push where it drifted."""
        figures = await uncancelled(self.figures(None))
        wanted = [f for f in figures if f.channel in self.adapters]

        async def read(f: Figure) -> None:
            listing = Listing(f.channel, f.sku, f.item_id, f.sku_id)
            st = self._states.get(listing.key)
            if st is None:
                st = self._states[listing.key] = _State(listing)
            if st.worker is not None:
                return  # a push is in flight; it will settle the figure
            try:
                await self._limiters[f.channel].acquire()
                held = await self.adapters[f.channel].get_stock(listing)
            except (Transient, Rejected) as e:
                log.warning("platform sync: reading %s %s back failed: %s", f.channel, f.sku_id, e)
                st.held = None
                return
            if st.worker is not None:
                return  # a push started while we read; its result is newer than ours
            if held != f.qty:
                self.stats.drift_repaired += 1
                log.info("platform sync: %s %s drifted (platform %s, want %s)", f.channel, f.sku_id,
                         held, f.qty)
            st.held = held

        await asyncio.gather(*(read(f) for f in wanted))
        self.stats.reconciliations += 1
        self.apply(wanted, reason="reconcile")

    # -- pushing one listing -----------------------------------------------------------------
    async def _drive(self, st: _State, reason: str) -> None:
        try:
            while st.want is not None and st.want != st.held:
                await self._hold_increase(st)
                if st.want is None or st.want == st.held:
                    break
                target = st.want
                st.changed.clear()
                if not await self._push(st, target, reason):
                    st.failed = True
                    return
                reason = "event"
        finally:
            st.worker = None

    async def _hold_increase(self, st: _State) -> None:
        """An increase waits up to hold_increases_s for other channels' orders to lower it; a
        figure that turns into a decrease meanwhile ends the wait at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.hold_increases_s
        while st.want is not None and st.held is not None and st.want > st.held:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            st.changed.clear()
            try:
                await asyncio.wait_for(st.changed.wait(), remaining)
            except TimeoutError:
                return

    async def _push(self, st: _State, target: int, reason: str) -> bool:
        listing, adapter, opts = st.listing, self.adapters[st.listing.channel], self.options
        key = f"{uuid.uuid4().hex}"
        started, previous, error = datetime.now(UTC), st.held, ""
        # A channel whose pushes already fail for good gets one try per push (a probe) until one
        # succeeds: a platform that is down is not hammered with every listing's retries.
        tries = 1 if listing.channel in self.failing else opts.max_tries
        for attempt in range(1, tries + 1):
            await self._limiters[listing.channel].acquire()
            try:
                result = await adapter.set_stock(listing, target, previous=st.held, key=key)
            except Stale as e:
                self.stats.stale += 1
                if st.held is not None and e.current < st.held:
                    # The platform sold units we have not seen yet (its order is on the way to us):
                    # keep them off our figure too, so the push cannot offer them again. Once the
                    # order arrives the wanted figure falls to match; if it never does, the
                    # listing's next push (an increase, held briefly) restores the figure.
                    target = max(0, target - (st.held - e.current))
                st.held, key, error = e.current, uuid.uuid4().hex, str(e)
                delay = 0.0  # the platform told us what it holds: push again at once
            except RateLimited as e:
                error, delay = str(e), max(e.retry_after, self._backoff(attempt))
            except Transient as e:
                error, delay = str(e), self._backoff(attempt)
            except Rejected as e:
                self.stats.rejected += 1
                self._record(st, target, previous, key, reason, "rejected", attempt, str(e), started)
                log.log(logging.WARNING if listing.channel in self.failing else logging.ERROR,
                        "platform sync: %s refused %s = %d: %s", listing.channel, listing.sku_id, target, e)
                st.held = None
                self._fail(listing.channel, f"the platform refused a push: {e}")
                return False
            else:
                st.held = target
                self.stats.pushes += 1
                self.stats.replays += result.replayed
                self._record(st, target, previous, key, reason, "ok", attempt, None, started)
                if listing.channel in self.failing:  # the platform is back
                    self.failing.discard(listing.channel)
                    self._raise(listing.channel, None)
                    self._retry_channel(listing.channel)
                return True
            if attempt < tries:
                self.stats.retries += 1
                log.info("platform sync: %s %s try %d failed (%s); again in %.2fs", listing.channel,
                         listing.sku_id, attempt, error, delay)
                await asyncio.sleep(delay)
        self.stats.failures += 1
        st.held = None  # a timed-out push may or may not have landed: read it back before trusting
        self._record(st, target, previous, key, reason, "failed", tries, error, started)
        if listing.channel in self.failing:
            log.warning("platform sync: %s is still failing (%s = %d: %s)", listing.channel,
                        listing.sku_id, target, error)
        else:
            log.error("platform sync: %s %s = %d failed after %d tries: %s", listing.channel, listing.sku_id,
                      target, tries, error)
            self._fail(listing.channel, f"pushes fail after {tries} tries: {error}")
        return False

    def _fail(self, channel: str, why: str) -> None:
        self.failing.add(channel)
        self._raise(channel, why)

    def _raise(self, channel: str, why: str | None) -> None:
        if self._alert is not None:
            try:
                self._alert(channel, why)
            except Exception:  # an alert that cannot be raised must not stop the pushes
                log.exception("platform sync: raising the alert for %s failed", channel)

    def _backoff(self, attempt: int) -> float:
        """The delay before try `attempt` + 1 (attempt counts from 1)."""
        return self._retry.delay(attempt - 1)

    def _record(self, st: _State, qty: int, previous: int | None, key: str, reason: str, result: str,
                attempts: int, error: str | None, started: datetime) -> None:
        li = st.listing
        self.records.add(Push(li.channel, li.sku, li.item_id, li.sku_id, qty, previous, key, reason, result,
                              attempts, error, started, datetime.now(UTC)))

    # -- reporting -----------------------------------------------------------------------------
    def pending(self) -> int:
        return sum(1 for st in self._states.values() if st.want != st.held)

    def health(self) -> dict[str, object]:
        s = self.stats
        return {"leader": s.leader, "channels": sorted(self.adapters), "listings": len(self._states),
                "pending": self.pending(), "pushes": s.pushes, "failures": s.failures, "rejected": s.rejected,
                "retries": s.retries, "replays": s.replays, "stale": s.stale,
                "drift_repaired": s.drift_repaired, "reconciliations": s.reconciliations}


class SyncReadings(Collector):
    """The driver's counters as Prometheus metrics, read at scrape time."""

    def __init__(self, sync: PlatformSync) -> None:
        s = sync.stats
        self._inner = metrics.Readings([
            metrics.Reading("shelfsync_sync_pushes_total", "Platform pushes that succeeded", "counter",
                            lambda: s.pushes),
            metrics.Reading("shelfsync_sync_push_failures_total",
                            "Platform pushes that failed after every retry", "counter", lambda: s.failures),
            metrics.Reading("shelfsync_sync_push_rejected_total", "Platform pushes the platform refused",
                            "counter", lambda: s.rejected),
            metrics.Reading("shelfsync_sync_retries_total", "Platform push retries", "counter",
                            lambda: s.retries),
            metrics.Reading("shelfsync_sync_push_replays_total", "Platform pushes a retry found already "
                            "applied (the platform answered its idempotency key as a repeat)", "counter",
                            lambda: s.replays),
            metrics.Reading("shelfsync_sync_drift_repaired_total",
                            "Listings the reconciliation found drifted", "counter", lambda: s.drift_repaired),
            metrics.Reading("shelfsync_sync_pending_listings", "Listings whose platform figure is not yet "
                            "the wanted one", "gauge", sync.pending),
            metrics.Reading("shelfsync_sync_leader", "1 on the worker driving platform sync", "gauge",
                            lambda: s.leader),
        ])

    def collect(self) -> Iterator[Metric]:
        return self._inner.collect()


@contextlib.asynccontextmanager
async def leadership(engine: AsyncEngine, retry_s: float = 5.0) -> AsyncIterator[None]:
    """Hold the platform-sync leader lock for the body (PostgreSQL advisory lock on a connection
    kept for the purpose; waits, retrying every retry_s, while another worker holds it).
    SQLite: one process, always the leader."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        while not (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar():
            await conn.rollback()
            await asyncio.sleep(retry_s)
        await conn.commit()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY}))


ALERT_BOOK = "chain"  # the alert book of chain-wide conditions (the alerts file routes it like any store)


def chain_alert(alerts: ChainAlerts, channels: Mapping[str, ChannelConfig]) -> AlertHook:
    """Raise "stock is not reaching <platform>" in the chain alerts while a channel's pushes fail
    for good, and resolve it when one succeeds again."""

    def hook(channel: str, why: str | None) -> None:
        key = f"offline:platform:{channel}"
        if why is None:
            alerts.book(ALERT_BOOK).resolve(key)
            return
        platform = channels[channel].platform if channel in channels else "its platform"
        alerts.book(ALERT_BOOK).raise_(Condition(
            key, Kind.OFFLINE, "-", f"Channel {channel}: stock is not reaching {platform} ({why[:200]})",
            f"渠道 {channel}：库存无法同步到 {platform}（{why[:200]}）", urgent=True))

    return hook


async def _restarting(run: Callable[[], Awaitable[None]], what: str, pause_s: float = 5.0) -> None:
    """Run until cancelled; an unexpected error (a database gone away) is logged and run restarts."""
    while True:
        try:
            await run()
        except Exception:
            log.exception("%s stopped; starting again in %gs", what, pause_s)
            await asyncio.sleep(pause_s)


# Set before startup to override settings.channels / the default options (tests, benchmarks).


async def platform_sync(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: drive platform sync for the channels in settings.channels (none: do nothing)."""
    channels: dict[str, config.ChannelConfig] = app.get(CHANNELS) or config.load(app[SETTINGS].channels)
    if not channels:
        yield
        return
    maker: async_sessionmaker[AsyncSession] = app[MAKER]
    adapters = {name: adapter_for(c) for name, c in channels.items()}

    async def figures(skus: Collection[str] | None) -> Sequence[Figure]:
        return await listing_figures(maker, skus=skus)

    alerts = app.get(CHAIN_ALERTS)  # the cloud's chain alerts, when this worker runs them
    sync = PlatformSync(app[EVENTS], adapters, figures, PushLog(maker), app.get(SYNC_OPTIONS, SyncOptions()),
                        alert=chain_alert(alerts, channels) if alerts is not None else None)
    app[SYNC] = sync
    app[HEALTH]["sync"] = sync.health
    app[METRICS].register(SyncReadings(sync))
    engine = maker.kw["bind"]

    async def lead() -> None:
        async with leadership(engine):
            sync.stats.leader = True
            log.info("platform sync: driving %s", ", ".join(sorted(adapters)))
            try:
                await sync.run()
            finally:
                sync.stats.leader = False

    tasks = [asyncio.create_task(_restarting(lead, "platform sync"), name="platform-sync")]
    if engine.dialect.name == "postgresql":  # several workers may share the database
        relay = EventRelay(engine, app[EVENTS], app[SETTINGS].client_id, sync.changed_elsewhere)
        app[RELAY] = relay
        tasks.append(asyncio.create_task(_restarting(relay.run, "stock event relay"),
                                         name="stock-event-relay"))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for adapter in adapters.values():
        await adapter.close()


__all__ = ["PlatformSync", "SyncOptions", "leadership", "platform_sync"]
