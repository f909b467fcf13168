"""What the channels page reads: per channel, its listings in sync, pending or failed (with the
platform's error), its last successful push, its push rate and its drift repairs.

A listing's state compares the figure the channel may sell now with the newest push record of the
listing (channels/records.py `platform_pushes`):

- **failed**: the newest push failed after its retries, or the platform refused it (the record
  keeps the platform's error);
- **in sync**: the newest push succeeded with the figure the channel may sell now;
- **pending**: never pushed, or the stock moved since the last push (the driver pushes within a
  second; a listing that stays pending is the one to look at).

The figure is availability.py's (`sku_quantity`: free units over the channel's stores, after its
safety stock, then its share, minimum and maximum), summed here in SQL per SKU: the page reads
every listing of a chain at once, and loading every stock row of every listed SKU into Python (as
the sync driver's per-SKU read does) would take seconds for a chain of hundreds of stores.
tests/console/test_channels.py checks the two agree.

Drift repairs are the pushes the reconciliation made (reason `reconcile`: it read a figure back
from the platform that differed from ours), counted from the push records so every worker shows
the same; the sync driver's own counters (the /healthz `sync` block) are shown where it runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.channels.allocation import channel_quantity
from cloud.channels.records import PUSHES
from cloud.db.models import Listing, StockLevel
from cloud.db.orders import ChannelConfig, channel_configs

RATE_WINDOW = timedelta(hours=1)  # the push rate is taken over this window
DRIFT_WINDOW = timedelta(hours=24)  # drift repairs are counted over this window
NOT_PUSHED = frozenset({"none", "pos"})  # platforms with no API: nothing to push


class State(StrEnum):
    IN_SYNC = "in_sync"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LastPush:
    qty: int
    previous: int | None
    reason: str
    result: str  # ok | failed | rejected
    attempts: int
    error: str | None
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class ListingRow:
    channel: str
    sku: str
    channel_sku: str
    item_id: str
    want: int  # what the channel may sell now
    last: LastPush | None

    @property
    def state(self) -> State:
        return listing_state(self.last, self.want)


def listing_state(last: LastPush | None, want: int) -> State:
    if last is None:
        return State.PENDING
    if last.result != "ok":
        return State.FAILED
    return State.IN_SYNC if last.qty == want else State.PENDING


@dataclass
class ChannelRow:
    name: str
    platform: str
    config: ChannelConfig
    listings: list[ListingRow] = field(default_factory=list)
    last_success: datetime | None = None
    pushes: int = 0  # in RATE_WINDOW
    push_failures: int = 0  # in RATE_WINDOW
    drift_repairs: int = 0  # in DRIFT_WINDOW

    @property
    def pushed(self) -> bool:
        """False for a channel on a platform without an API (nothing is pushed there)."""
        return self.platform not in NOT_PUSHED

    _counts: Counter[State] = field(default_factory=Counter, repr=False)
    _counted: int = field(default=-1, repr=False)

    def count(self, state: State | str) -> int:
        """The listings in `state`, counted once (the page asks a dozen times per channel); again
        only if listings were added since."""
        if self._counted != len(self.listings):
            self._counts = Counter(li.state for li in self.listings)
            self._counted = len(self.listings)
        return self._counts[State(state)]

    @property
    def per_minute(self) -> float:
        return self.pushes / (RATE_WINDOW.total_seconds() / 60)


async def wanted_figures(session: AsyncSession, cfg: ChannelConfig) -> dict[str, int]:
    """SKU → what the channel may sell now, for every SKU it lists (availability.sku_quantity's
    figure: Σ over its stores of max(0, sellable − reserved − safety), then channel_quantity)."""
    return (await wanted_by_channel(session, {cfg.name: cfg}))[cfg.name]


async def wanted_by_channel(session: AsyncSession,
                            configs: Mapping[str, ChannelConfig]) -> dict[str, dict[str, int]]:
    """Channel → SKU → what it may sell now, for every SKU it lists. The sum over the stores is
    the costly part (every stock row of those stores: 400,000 for a channel of 200 stores with
    2,000 SKUs), and it depends only on the stores and the safety stock: channels that share both
    (a chain selling the same shops' stock on several platforms) share one sum."""
    groups: dict[tuple[tuple[str, ...], int], list[ChannelConfig]] = defaultdict(list)
    for cfg in configs.values():
        groups[(cfg.stores, cfg.rules.safety)].append(cfg)
    listed: dict[str, list[str]] = defaultdict(list)
    if configs:
        for name, sku in (await session.execute(select(Listing.channel, Listing.sku).distinct()
                                                .where(Listing.channel.in_(list(configs))))).all():
            listed[name].append(sku)
    out: dict[str, dict[str, int]] = {}
    for (stores, safety), cfgs in groups.items():
        names = [c.name for c in cfgs]
        totals: dict[str, int] = {}
        if stores and any(listed[n] for n in names):
            spare = StockLevel.sellable - StockLevel.reserved - safety
            skus = select(Listing.sku).where(Listing.channel.in_(names))
            q = (select(StockLevel.sku, func.sum(case((spare > 0, spare), else_=0)))
                 .where(StockLevel.store.in_(list(stores)), StockLevel.sku.in_(skus))
                 .group_by(StockLevel.sku))
            totals = {sku: int(n or 0) for sku, n in (await session.execute(q)).all()}
        for cfg in cfgs:
            out[cfg.name] = {sku: channel_quantity([totals.get(sku, 0)], cfg.rules) if stores else 0
                             for sku in listed[cfg.name]}
    return out


async def listings(session: AsyncSession, channel: str | None = None,
                   configs: Mapping[str, ChannelConfig] | None = None) -> list[ListingRow]:
    """Every listing (of one channel, when named) with its wanted figure and newest push."""
    if configs is None:
        configs = await channel_configs(session, channel)
    newest = (select(PUSHES.c.channel, PUSHES.c.sku_id, func.max(PUSHES.c.id).label("id"))
              .group_by(PUSHES.c.channel, PUSHES.c.sku_id))
    if channel is not None:
        newest = newest.where(PUSHES.c.channel == channel)
    last = newest.subquery()
    q = (select(Listing.channel, Listing.sku, Listing.channel_sku, Listing.item_id, PUSHES.c.qty,
                PUSHES.c.previous, PUSHES.c.reason, PUSHES.c.result, PUSHES.c.attempts, PUSHES.c.error,
                PUSHES.c.finished_at)
         .outerjoin(last, and_(last.c.channel == Listing.channel, last.c.sku_id == Listing.channel_sku))
         .outerjoin(PUSHES, PUSHES.c.id == last.c.id)
         .where(Listing.channel.in_(list(configs)))
         .order_by(Listing.channel, Listing.channel_sku))
    wants = await wanted_by_channel(session, configs)
    out = []
    for r in (await session.execute(q)).all():
        push = LastPush(r.qty, r.previous, r.reason, r.result, r.attempts, r.error, r.finished_at) \
            if r.result is not None else None
        want = wants[r.channel].get(r.sku, 0)
        out.append(ListingRow(r.channel, r.sku, r.channel_sku, r.item_id, want, push))
    return out


async def channel_rows(session: AsyncSession, now: datetime, channel: str | None = None) -> list[ChannelRow]:
    """One row per channel (or the one named), its listings and its push figures."""
    configs = await channel_configs(session, channel)
    rows = {name: ChannelRow(name, cfg.platform, cfg) for name, cfg in sorted(configs.items())}
    for li in await listings(session, channel, configs):
        rows[li.channel].listings.append(li)
    scope = PUSHES.c.channel.in_(list(rows))
    ok = (select(PUSHES.c.channel, func.max(PUSHES.c.finished_at))
          .where(scope, PUSHES.c.result == "ok").group_by(PUSHES.c.channel))
    for name, at in (await session.execute(ok)).all():
        rows[name].last_success = at
    rate = (select(PUSHES.c.channel, func.count(), func.sum(case((PUSHES.c.result != "ok", 1), else_=0)))
            .where(scope, PUSHES.c.started_at >= now - RATE_WINDOW).group_by(PUSHES.c.channel))
    for name, n, failed in (await session.execute(rate)).all():
        rows[name].pushes, rows[name].push_failures = int(n), int(failed or 0)
    drift = (select(PUSHES.c.channel, func.count())
             .where(scope, PUSHES.c.reason == "reconcile", PUSHES.c.started_at >= now - DRIFT_WINDOW)
             .group_by(PUSHES.c.channel))
    for name, n in (await session.execute(drift)).all():
        rows[name].drift_repairs = int(n)
    return list(rows.values())


def totals(rows: Collection[ChannelRow]) -> dict[str, int]:
    pushed = [r for r in rows if r.pushed]
    return {"listings": sum(len(r.listings) for r in pushed),
            **{s.value: sum(r.count(s) for r in pushed) for s in State},
            "pushes": sum(r.pushes for r in pushed), "drift": sum(r.drift_repairs for r in pushed)}


def failed(rows: Collection[ChannelRow], limit: int = 100) -> list[ListingRow]:
    """The failed listings of channels that push, newest failure first."""
    out = [li for r in rows if r.pushed for li in r.listings if li.state is State.FAILED]
    out.sort(key=lambda li: (li.last.finished_at if li.last else datetime.min), reverse=True)
    return out[:limit]


def by_state(rows: Collection[ListingRow]) -> Mapping[State, list[ListingRow]]:
    out: dict[State, list[ListingRow]] = defaultdict(list)
    for li in rows:
        out[li.state].append(li)
    return out


def states_chart(rows: Collection[ChannelRow], labels: Mapping[str, str]) -> dict[str, Any]:
    """ECharts option: each pushing channel's listings by state, stacked bars."""
    pushed = [r for r in rows if r.pushed and r.listings]
    colours = {State.IN_SYNC: "#17663a", State.PENDING: "#e0a100", State.FAILED: "#b42318"}
    return {
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "category", "data": [r.name for r in pushed]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "stack": "listings", "name": labels[s.value], "barMaxWidth": 48,
                    "itemStyle": {"color": colours[s]}, "data": [r.count(s) for r in pushed]} for s in State],
    }


__all__ = ["DRIFT_WINDOW", "NOT_PUSHED", "RATE_WINDOW", "ChannelRow", "LastPush", "ListingRow", "State",
           "by_state", "channel_rows", "failed", "listing_state", "listings", "states_chart", "totals",
           "wanted_by_channel", "wanted_figures"]
