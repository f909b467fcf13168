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

That sum reads every stock row the channels sell from (400,000 for 200 stores x 2,000 SKUs), and
with the listings and their newest push took 1.4-1.9 s per read on the bench's chain. The pages
read them through `ChannelFigures`, which each worker keeps: every listing with its newest push,
and per set of stores and safety stock the free units of each listed SKU. A read first takes the
SKUs changed since the last one (the console's notices: stock and holds, listings and channel
rules, both as stock notices, and push records; from this worker and, over NOTIFY, the others)
and reads again only theirs. What the notices cannot tell (a change by another process that does
not relay them) is bounded by a full read every `FULL_EVERY_S`, made behind the pages: they keep
the figures of the partial reads meanwhile, and the SKUs changed while it ran are read again
after it. A new set of stores and safety stock (a channel's rules changed) is summed whole once.

Drift repairs are the pushes the reconciliation made (reason `reconcile`: it read a figure back
from the platform that differed from ours), counted from the push records so every worker shows
the same; the sync driver's own counters (the /healthz `sync` block) are shown where it runs.

The push figures (last success, pushes and failures in RATE_WINDOW, drift repairs in
DRIFT_WINDOW) are kept the same way (`PushFigures`): a full read takes the records the windows
need, then a read after a push notice takes the records written since by id (a primary key
lookup), and each window is counted at the moment asked from the start times kept in order. An
aggregate over every push record per read (33,000 on the bench's chain, a day of them) was most of
the "channels live" partial's wait for the database. Each channel's listings are counted by state
and its failed ones sorted when its rows are made, not on each read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.channels.allocation import Rules, channel_quantity
from cloud.channels.records import PUSHES
from cloud.console.kept import ReadBehind
from cloud.db.models import Listing, StockLevel
from cloud.db.orders import ChannelConfig, channel_configs

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)  # the push rate is taken over this window
DRIFT_WINDOW = timedelta(hours=24)  # drift repairs are counted over this window
NOT_PUSHED = frozenset({"none", "pos"})  # platforms with no API: nothing to push
FULL_EVERY_S = 600.0  # ChannelFigures reads everything again this often, behind the pages
SKUS_PER_READ = 500  # a partial read names at most this many SKUs per statement
WINDOW_SLACK = timedelta(minutes=1)  # a full read of the push records reaches this far before the windows
GAP_WAIT_S = 30.0  # a push record's id skipped by a newer one's is looked for this long (not committed yet)
GAPS_KEPT = 1000  # at most this many such ids below the newest are looked for


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
    state: State = field(init=False, compare=False)  # once: the pages count and filter by it often

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", listing_state(self.last, self.want))


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
    failures: Sequence[ListingRow] | None = None  # the failed listings newest first, when kept

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


GroupKey = tuple[tuple[str, ...], int]  # a channel's stores and safety stock: what its free units depend on
Listed = tuple[str, str, str, str, LastPush | None]  # channel, sku, channel_sku, item_id, newest push


def _groups(configs: Mapping[str, ChannelConfig]) -> dict[GroupKey, list[ChannelConfig]]:
    groups: dict[GroupKey, list[ChannelConfig]] = defaultdict(list)
    for cfg in configs.values():
        groups[(cfg.stores, cfg.rules.safety)].append(cfg)
    return groups


def _chunks(skus: Iterable[str]) -> list[list[str]]:
    ordered = sorted(skus)
    return [ordered[i:i + SKUS_PER_READ] for i in range(0, len(ordered), SKUS_PER_READ)]


async def _free_sums(session: AsyncSession, key: GroupKey, names: Collection[str],
                     skus: Collection[str] | None = None) -> dict[str, int]:
    """SKU → Σ over the stores of max(0, sellable − reserved − safety), for every SKU the channels
    `names` list (or for `skus`); a SKU without a stock row in those stores is left out."""
    stores, safety = key
    if not stores:
        return {}
    spare = StockLevel.sellable - StockLevel.reserved - safety
    q = (select(StockLevel.sku, func.sum(case((spare > 0, spare), else_=0)))
         .where(StockLevel.store.in_(list(stores))).group_by(StockLevel.sku))
    listed = select(Listing.sku).where(Listing.channel.in_(list(names)))
    wheres = [StockLevel.sku.in_(listed)] if skus is None else [StockLevel.sku.in_(c) for c in _chunks(skus)]
    out: dict[str, int] = {}
    for where in wheres:
        out.update({sku: int(n or 0) for sku, n in (await session.execute(q.where(where))).all()})
    return out


def _want(rules: Rules, stores: tuple[str, ...], free: Mapping[str, int], sku: str) -> int:
    return channel_quantity([free.get(sku, 0)], rules) if stores else 0


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
    listed: dict[str, list[str]] = defaultdict(list)
    if configs:
        for name, sku in (await session.execute(select(Listing.channel, Listing.sku).distinct()
                                                .where(Listing.channel.in_(list(configs))))).all():
            listed[name].append(sku)
    out: dict[str, dict[str, int]] = {}
    for key, cfgs in _groups(configs).items():
        names = [c.name for c in cfgs]
        totals = await _free_sums(session, key, names) if any(listed[n] for n in names) else {}
        for cfg in cfgs:
            out[cfg.name] = {sku: _want(cfg.rules, key[0], totals, sku) for sku in listed[cfg.name]}
    return out


async def _read_listed(session: AsyncSession, channels: Collection[str] | None = None,
                       skus: Collection[str] | None = None) -> list[Listed]:
    """Every listing (of `channels`, of `skus`) with its newest push record, by channel and
    channel SKU."""
    out: list[Listed] = []
    for chunk in (None,) if skus is None else _chunks(skus):
        newest = (select(PUSHES.c.channel, PUSHES.c.sku_id, func.max(PUSHES.c.id).label("id"))
                  .group_by(PUSHES.c.channel, PUSHES.c.sku_id))
        q = (select(Listing.channel, Listing.sku, Listing.channel_sku, Listing.item_id).order_by(
            Listing.channel, Listing.channel_sku))
        if channels is not None:
            newest = newest.where(PUSHES.c.channel.in_(list(channels)))
            q = q.where(Listing.channel.in_(list(channels)))
        if chunk is not None:
            ids = select(Listing.channel_sku).where(Listing.sku.in_(chunk))
            newest = newest.where(PUSHES.c.sku_id.in_(ids))
            q = q.where(Listing.sku.in_(chunk))
        last = newest.subquery()
        q = (q.add_columns(PUSHES.c.qty, PUSHES.c.previous, PUSHES.c.reason, PUSHES.c.result,
                           PUSHES.c.attempts, PUSHES.c.error, PUSHES.c.finished_at)
             .outerjoin(last, and_(last.c.channel == Listing.channel, last.c.sku_id == Listing.channel_sku))
             .outerjoin(PUSHES, PUSHES.c.id == last.c.id))
        for r in (await session.execute(q)).all():
            push = LastPush(r.qty, r.previous, r.reason, r.result, r.attempts, r.error, r.finished_at) \
                if r.result is not None else None
            out.append((r.channel, r.sku, r.channel_sku, r.item_id, push))
    return out


async def listings(session: AsyncSession, channel: str | None = None,
                   configs: Mapping[str, ChannelConfig] | None = None) -> list[ListingRow]:
    """Every listing (of one channel, when named) with its wanted figure and newest push, read now
    (ChannelFigures keeps the same up to date for the pages)."""
    if configs is None:
        configs = await channel_configs(session, channel)
    read = await _read_listed(session, list(configs))
    wants = await wanted_by_channel(session, configs)
    return [ListingRow(ch, sku, channel_sku, item_id, wants[ch].get(sku, 0), push)
            for ch, sku, channel_sku, item_id, push in read]


@dataclass(frozen=True, slots=True)
class ChannelPushes:
    """One channel's push figures at a moment, as channel_rows' SQL aggregate gives them."""
    last_success: datetime | None = None  # the newest finish of a successful push
    pushes: int = 0  # started in RATE_WINDOW
    failures: int = 0  # of those, not ok
    drift_repairs: int = 0  # reason `reconcile`, started in DRIFT_WINDOW


class PushFigures:
    """Per channel, what the channels page shows of its push records (ChannelPushes), kept from
    the records read so far: those a full read finds in the windows, then each record written
    since, by id (`PUSH_COLUMNS`; the id is the table's own, from its sequence). Each window's
    count is taken at the moment asked, from the start times kept in order.

    A record whose id is below one already taken (a transaction that took its id first and
    committed later: two drivers writing at a leader's hand-over) is looked for again for
    GAP_WAIT_S; what comes later than that, or what a full read's moment misses, is bounded by the
    next full read (every FULL_EVERY_S)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.top = 0  # the highest record id taken
        self.gaps: dict[int, float] = {}  # ids under `top` not seen yet → since when
        self._success: dict[str, datetime] = {}
        self._started: dict[str, list[datetime]] = defaultdict(list)  # every push kept, in order
        self._failed: dict[str, list[datetime]] = defaultdict(list)  # the failed ones
        self._drift: dict[str, list[datetime]] = defaultdict(list)  # the reconciliation's ones

    def take(self, rows: Iterable[Sequence[Any]], *, complete_to: int | None = None) -> int:
        """Take records (PUSH_COLUMNS): those above `top` and those looked for; the number taken.
        `complete_to`: the rows are every record up to that id that some window needs (a full
        read into a new PushFigures). Otherwise they are every record above `looked_for_since()`,
        so an id they skip below the newest is looked for."""
        seen: set[int] = set()
        channels: set[str] = set()
        for id_, channel, started, finished, result, reason in rows:
            if id_ <= self.top and self.gaps.pop(id_, None) is None:
                continue
            seen.add(id_)
            channels.add(channel)
            if result == "ok":
                self.success(channel, finished)
            else:
                self._failed[channel].append(started)
            self._started[channel].append(started)
            if reason == "reconcile":
                self._drift[channel].append(started)
        for channel in channels:  # the new ones are mostly the newest: sorting what is nearly sorted is cheap
            for kept in (self._started, self._failed, self._drift):
                kept[channel].sort()
        if complete_to is not None:
            self.top = max(self.top, complete_to)
        elif seen and max(seen) > self.top:
            top, now = max(seen), self.clock()
            for id_ in range(max(self.top + 1, top - GAPS_KEPT), top):
                if id_ not in seen:
                    self.gaps[id_] = now
            self.top = top
        return len(seen)

    def success(self, channel: str, at: datetime | None) -> None:
        """A channel's newest successful finish, read apart (a full read's aggregate)."""
        if at is not None and (channel not in self._success or at > self._success[channel]):
            self._success[channel] = at

    def looked_for_since(self) -> int:
        """The id above which a read of the new records starts: below the gaps still looked for."""
        limit = self.clock() - GAP_WAIT_S
        for id_ in [i for i, since in self.gaps.items() if since < limit]:
            del self.gaps[id_]
        return min(self.gaps, default=self.top + 1) - 1

    def at(self, channel: str, now: datetime) -> ChannelPushes:
        """`channel`'s figures at `now`. Start times out of the windows at `now` (less WINDOW_SLACK)
        are let go: `now` only moves on (a wall clock). A success the sync's retention deletes
        (SyncOptions.keep_records_days) is shown until the next full read."""
        started, failed, drift = self._started.get(channel, []), self._failed.get(channel, []), \
            self._drift.get(channel, [])
        rate_from, drift_from = now - RATE_WINDOW, now - DRIFT_WINDOW
        for kept, since in ((started, rate_from), (failed, rate_from), (drift, drift_from)):
            gone = bisect_left(kept, since - WINDOW_SLACK)
            if gone:  # never what a window at `now` or shortly before it needs
                del kept[:gone]
        return ChannelPushes(self._success.get(channel), len(started) - bisect_left(started, rate_from),
                             len(failed) - bisect_left(failed, rate_from),
                             len(drift) - bisect_left(drift, drift_from))


PUSH_COLUMNS = (PUSHES.c.id, PUSHES.c.channel, PUSHES.c.started_at, PUSHES.c.finished_at, PUSHES.c.result,
                PUSHES.c.reason)


async def _read_pushes(session: AsyncSession, clock: Callable[[], float]) -> PushFigures:
    """The push figures from scratch: the newest id, then up to it the records some window may
    need from now on, then each channel's newest success (a max: taking a record again later
    changes nothing). A record written meanwhile above that id is taken by the next read of the
    new ones."""
    now = datetime.now(UTC)
    kept = PushFigures(clock)
    top = int((await session.execute(select(func.max(PUSHES.c.id)))).scalar() or 0)
    needed = or_(PUSHES.c.started_at >= now - RATE_WINDOW - WINDOW_SLACK,
                 and_(PUSHES.c.reason == "reconcile",
                      PUSHES.c.started_at >= now - DRIFT_WINDOW - WINDOW_SLACK))
    rows = (await session.execute(select(*PUSH_COLUMNS).where(PUSHES.c.id <= top, needed))).all()
    kept.take(rows, complete_to=top)
    successes = select(PUSHES.c.channel, func.max(PUSHES.c.finished_at)).where(
        PUSHES.c.result == "ok", PUSHES.c.id <= top).group_by(PUSHES.c.channel)
    for channel, at in (await session.execute(successes)).all():
        kept.success(channel, at)
    return kept


async def _read_new_pushes(session: AsyncSession, kept: PushFigures) -> int:
    """Take the records written since the last read (and those still looked for)."""
    since = kept.looked_for_since()
    rows = (await session.execute(select(*PUSH_COLUMNS).where(PUSHES.c.id > since))).all()
    return kept.take(rows)


FullRead = tuple[dict[tuple[str, str], Listed], dict[GroupKey, dict[str, int]], PushFigures]  # `_read_all`


class Noticed(NamedTuple):
    """What the live hub's notices named since the last read."""
    skus: set[str] | None  # whose stock, holds, listings or pushes changed; None: unknown, read everything
    pushes: bool = False  # a push record was written


@dataclass(frozen=True, slots=True)
class Kept:
    """One channel as ChannelFigures keeps it between reads (shared: never changed)."""
    listings: Sequence[ListingRow]  # by channel SKU
    counts: Counter[State]
    failures: Sequence[ListingRow]  # newest failure first
    pushes: ChannelPushes = ChannelPushes()  # at the moment of the read

    @classmethod
    def of(cls, listings: Sequence[ListingRow]) -> Kept:
        return cls(tuple(listings), Counter(li.state for li in listings), tuple(_failed(listings)))


class ChannelFigures:
    """Every listing with its newest push and, per set of stores and safety stock, the free units
    of each listed SKU, kept by a worker and brought up to date at each read (module docstring);
    and each channel's push figures (PushFigures), its listings counted by state and its failed
    ones newest first, so that a read with nothing changed reads and counts nothing.

    `changed()` gives what the notices named since it was last called (`Noticed`: the SKUs whose
    stock, holds, listings, channel rules or pushes changed, None when unknown: read everything;
    and whether a push record was written); it is called under the lock before the reads it
    causes, so a change noticed during a read is read again next time. `note()` takes the same
    between reads (what keeps the notices heard meanwhile down to a set of SKUs). `maker()` gives a
    session maker for the full reads made behind the pages."""

    def __init__(self, changed: Callable[[], Noticed],
                 maker: Callable[[], async_sessionmaker[AsyncSession]], *, full_every_s: float = FULL_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.changed, self.maker, self.full_every_s, self.clock = changed, maker, full_every_s, clock
        self.full_reads = 0  # reads of everything, here or behind the pages
        self.partial_reads = 0  # reads of the changed SKUs only
        self._lock = asyncio.Lock()
        self._listed: dict[tuple[str, str], Listed] = {}  # (channel, channel_sku) → listing
        self._free: dict[GroupKey, dict[str, int]] = {}  # every listed SKU of its channels, 0 when none
        self._read_at: float | None = None  # when the full read the figures come from began
        self._dirty: set[str] = set()  # changed, not read again yet
        self._behind: ReadBehind[FullRead] = ReadBehind("channel-figures", "channels page")
        self._unknown = False  # a change was noted that names no SKU
        self._touched: set[str] | None = None  # SKUs read again since the rows were made (None: all)
        self._built: tuple[object, dict[str, Kept]] | None = None  # the rows made last, for which rules
        self._pushes: PushFigures | None = None  # None until the first full read
        self._pushed = False  # a push record was noted, not read yet
        self._filled: object = None  # the groups `_fill` completed for, until the listings change again
        self._groups_done: object = None  # the groups `_fill` last completed for
        self._refill: dict[str, set[str]] | None = None  # channel → its SKUs read again since (None: all)
        self._warming: asyncio.Task[None] | None = None

    def note(self, skus: set[str] | None, pushes: bool = False) -> None:
        """SKUs changed (None: unknown), and whether a push record was written, heard between
        reads: read again at the next one."""
        self._pushed |= pushes
        if skus is None:
            self._unknown = True
            return
        self._dirty |= skus
        self._behind.note(skus)

    async def listings(self, configs: Mapping[str, ChannelConfig],
                       channel: str | None = None) -> list[ListingRow]:
        """Every listing of `configs` (every channel: the figures are kept for all; or of the one
        named) with what its channel may sell now and its newest push, by channel and channel SKU."""
        kept = await self.channels(configs, datetime.now(UTC))
        return [li for name, k in kept.items() if channel is None or name == channel for li in k.listings]

    async def channels(self, configs: Mapping[str, ChannelConfig], now: datetime) -> dict[str, Kept]:
        """Per channel of `configs`, by name: its listings (what its channel may sell now and the
        newest push of each, by channel SKU), counted by state, its failed ones, its push figures
        at `now`.

        The reads are made in a session of their own, begun after the changes are taken: a
        caller's transaction with a snapshot taken before (repeatable read) could miss a change
        whose notice is taken here, and the old figure would be kept until the SKU changes again."""
        async with self._lock, self.maker()() as session:
            self.note(*self.changed())
            began = self.clock()
            if self._unknown or self._read_at is None or self._pushes is None:
                self.close()
                self._unknown, self._dirty, self._pushed = False, set(), False
                try:
                    self._listed, self._free, self._pushes = await _read_all(session, configs, self.clock)
                    self._touched, self._filled, self._refill = None, None, None
                except BaseException:
                    self._read_at = None
                    raise
                self._read_at = began
                self.full_reads += 1
            else:
                if self._dirty:
                    dirty, self._dirty = self._dirty, set()
                    try:
                        await self._read_skus(session, dirty)
                    except BaseException:
                        self._dirty |= dirty
                        raise
                    self.partial_reads += 1
                if self._pushed or self._pushes.gaps:
                    self._pushed = False
                    try:
                        await _read_new_pushes(session, self._pushes)
                    except BaseException:
                        self._pushed = True
                        raise
                if began - self._read_at > self.full_every_s and self._behind.task is None:
                    self._read_behind(configs)
            await self._fill(session, configs)
            built = self._rows(configs)
            pushes = self._pushes
            return {name: replace(k, pushes=pushes.at(name, now)) for name, k in built.items()}

    async def _read_skus(self, session: AsyncSession, skus: set[str]) -> None:
        fresh = await _read_listed(session, skus=skus)
        self._touch(skus)
        self._filled = None
        for key in [k for k, li in self._listed.items() if li[1] in skus]:
            del self._listed[key]
        self._listed.update(((li[0], li[2]), li) for li in fresh)
        if self._refill is not None:
            for li in fresh:
                self._refill.setdefault(li[0], set()).add(li[1])
        for free in self._free.values():
            for sku in skus:
                free.pop(sku, None)  # summed again by _fill if still listed

    async def _fill(self, session: AsyncSession, configs: Mapping[str, ChannelConfig]) -> None:
        """Sum what is missing: a new set of stores and safety stock whole, the changed SKUs.
        Nothing is missing while neither the listings nor the groups changed since the last time
        (the usual read: going through 10,000 listings to find that out was a third of its CPU);
        while only some SKUs were read again, only theirs are looked at."""
        groups = _groups(configs)
        filled = sorted((key, sorted(c.name for c in cfgs)) for key, cfgs in groups.items())
        if self._filled == filled:
            return
        same_groups = self._groups_done == filled and all(k in self._free for k in groups)
        refill = self._refill if same_groups else None
        for key in [k for k in self._free if k not in groups]:
            del self._free[key]
            self._touched = None
        listed = _listed_skus(self._listed.values()) if refill is None else refill
        for key, cfgs in groups.items():
            names = [c.name for c in cfgs]
            wanted = set().union(*(listed.get(n, set()) for n in names))
            free = self._free.get(key)
            if free is None:
                free = self._free[key] = await _free_sums(session, key, names) if wanted else {}
                self._touched = None
            missing = [sku for sku in wanted if sku not in free]
            if missing:
                free.update(await _free_sums(session, key, names, missing))
                self._touch(missing)
            for sku in missing:
                free.setdefault(sku, 0)
        self._filled = self._groups_done = filled
        self._refill = {}

    def _touch(self, skus: Iterable[str]) -> None:
        if self._touched is not None:
            self._touched.update(skus)

    def _rows(self, configs: Mapping[str, ChannelConfig]) -> dict[str, Kept]:
        """Each channel's listing rows, counts and failed ones; made again only for the SKUs read
        again since the last read (`_rows_again`), every one when the rules changed (10,000 rows:
        30-60 ms of CPU on the bench's chain)."""
        shown = {}  # channel → (its rules, its stores, its group's free units); `stores` sorts each time
        for name, cfg in configs.items():
            stores = cfg.stores
            shown[name] = (cfg.rules, stores, self._free.get((stores, cfg.rules.safety), {}))
        rules = sorted((n, r, st) for n, (r, st, _) in shown.items())
        built, touched = self._built, self._touched
        if built is not None and built[0] == rules and touched is not None:
            if touched:
                self._built = built = (rules, self._rows_again(built[1], shown, touched))
        else:
            out: dict[str, list[ListingRow]] = {name: [] for name in sorted(shown)}
            for (ch, sku, channel_sku, item_id, push) in (li for _, li in sorted(self._listed.items())):
                how = shown.get(ch)
                if how is not None:
                    out[ch].append(ListingRow(ch, sku, channel_sku, item_id, _want(*how, sku), push))
            self._built = built = (rules, {name: Kept.of(rows) for name, rows in out.items()})
        self._touched = set()
        return built[1]

    def _rows_again(self, kept: Mapping[str, Kept], shown: Mapping[str, tuple[Rules, tuple[str, ...],
                    Mapping[str, int]]], touched: set[str]) -> dict[str, Kept]:
        """`kept` with the rows of the SKUs in `touched` made again: in place, and the counts and
        failed list changed by what they changed, while a channel lists those SKUs under the same
        channel SKUs as before (a sale, a hold, a push); a channel whose listings of them changed
        gets its rows sorted again. After a few sales this was a sort and a row for each of the
        10,000 listings, and their counting (15-70 ms on a busy machine)."""
        fresh: dict[str, dict[str, Listed]] = defaultdict(dict)  # channel → channel SKU → listing
        for li in self._listed.values():
            if li[1] in touched:
                fresh[li[0]][li[2]] = li
        out: dict[str, Kept] = {}
        for name, k in kept.items():
            how, new = shown[name], fresh.get(name, {})
            at = [i for i, li in enumerate(k.listings) if li.sku in touched]
            if not at and not new:
                out[name] = k
            elif sorted(k.listings[i].channel_sku for i in at) == sorted(new):
                rows, counts, failures_moved = list(k.listings), Counter(k.counts), False
                for i in at:
                    old = rows[i]
                    ch, sku, channel_sku, item_id, push = new[old.channel_sku]
                    rows[i] = row = ListingRow(ch, sku, channel_sku, item_id, _want(*how, sku), push)
                    counts[old.state] -= 1
                    counts[row.state] += 1
                    failures_moved |= State.FAILED in (old.state, row.state)
                out[name] = Kept(tuple(rows), counts, tuple(_failed(rows)) if failures_moved else k.failures)
            else:
                rows = [li for li in k.listings if li.sku not in touched]
                rows += [ListingRow(ch, sku, channel_sku, item_id, _want(*how, sku), push)
                         for ch, sku, channel_sku, item_id, push in new.values()]
                rows.sort(key=lambda li: li.channel_sku)
                out[name] = Kept.of(rows)
        return out

    def _read_behind(self, configs: Mapping[str, ChannelConfig]) -> None:
        """Read everything again in a task of its own; reads keep the kept figures until it is done,
        then the SKUs changed meanwhile are read again."""
        began = self.clock()

        async def read() -> FullRead:
            async with self.maker()() as session:
                return await _read_all(session, configs, self.clock)

        def take(fresh: FullRead, changed: set[str]) -> None:
            self._listed, self._free, self._pushes = fresh
            self._read_at = began
            self._touched, self._filled, self._refill = None, None, None
            self._dirty |= changed
            self._pushed = True  # the records written while it ran are read next
            self.full_reads += 1

        self._behind.start(read, self._lock, take)

    @property
    def looked_for(self) -> int:
        """Push record ids below the newest taken that are looked for (not committed yet, maybe)."""
        return len(self._pushes.gaps) if self._pushes is not None else 0

    @property
    def behind(self) -> asyncio.Task[None] | None:
        """The full read running behind the pages, if one is."""
        return self._behind.task

    def warm(self) -> None:
        """Make the first (full) read now, in a task of its own, unless one was made or is under
        way: the first channels visit after a worker starts then finds the figures kept instead of
        waiting 0.6-2.4 s for them (the bench's chain). The pages call it on a visit that may lead
        there (the overview, by head office or finance)."""
        if self._read_at is not None or self._warming is not None or self._lock.locked():
            return

        async def run() -> None:
            async with self.maker()() as session:
                configs = await channel_configs(session)
            await self.listings(configs)

        def done(task: asyncio.Task[None]) -> None:
            if self._warming is task:
                self._warming = None
            if not task.cancelled() and task.exception() is not None:
                log.warning("channels page: the first read made ahead failed: %s", task.exception())

        self._warming = asyncio.create_task(run(), name="channel-figures-warm")
        self._warming.add_done_callback(done)

    def close(self) -> None:
        """Stop a full read running behind the pages (at shutdown, or when one is made here)."""
        self._behind.cancel()

    def stop(self) -> None:
        """At shutdown: stop every read this runs in a task of its own."""
        self.close()
        if self._warming is not None:
            self._warming.cancel()
            self._warming = None


def _listed_skus(listed: Iterable[Listed]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for li in listed:
        out[li[0]].add(li[1])
    return out


async def _read_all(session: AsyncSession, configs: Mapping[str, ChannelConfig], clock: Callable[[], float]
                    ) -> FullRead:
    listed = {(li[0], li[2]): li for li in await _read_listed(session)}
    by_channel = _listed_skus(listed.values())
    free: dict[GroupKey, dict[str, int]] = {}
    for key, cfgs in _groups(configs).items():
        names = [c.name for c in cfgs]
        wanted = set().union(*(by_channel.get(n, set()) for n in names))
        sums = await _free_sums(session, key, names) if wanted else {}
        free[key] = {sku: sums.get(sku, 0) for sku in wanted}
    return listed, free, await _read_pushes(session, clock)


async def channel_rows(session: AsyncSession, now: datetime, channel: str | None = None,
                       figures: ChannelFigures | None = None) -> list[ChannelRow]:
    """One row per channel (or the one named), its listings and its push figures: kept by
    `figures` when given (the pages), else read now."""
    if figures is not None:
        every = await channel_configs(session)
        kept = await figures.channels(every, now)
        return [_kept_row(cfg, kept[name]) for name, cfg in sorted(every.items())
                if channel is None or name == channel]
    configs = await channel_configs(session, channel)
    found = await listings(session, channel, configs)
    rows = {name: ChannelRow(name, cfg.platform, cfg) for name, cfg in sorted(configs.items())}
    for li in found:
        rows[li.channel].listings.append(li)
    scope = PUSHES.c.channel.in_(list(rows))
    # one pass over the push records for the four figures (three statements took 60 ms here)
    recent, ok = PUSHES.c.started_at >= now - RATE_WINDOW, PUSHES.c.result == "ok"
    drift = and_(PUSHES.c.reason == "reconcile", PUSHES.c.started_at >= now - DRIFT_WINDOW)
    figures_q = (select(PUSHES.c.channel, func.max(case((ok, PUSHES.c.finished_at))),
                        func.sum(case((recent, 1), else_=0)), func.sum(case((and_(recent, ~ok), 1), else_=0)),
                        func.sum(case((drift, 1), else_=0)))
                 .where(scope).group_by(PUSHES.c.channel))
    for name, at, n, failed, repairs in (await session.execute(figures_q)).all():
        row = rows[name]
        row.last_success, row.pushes, row.push_failures, row.drift_repairs = \
            at, int(n or 0), int(failed or 0), int(repairs or 0)
    return list(rows.values())


def _kept_row(cfg: ChannelConfig, kept: Kept) -> ChannelRow:
    p = kept.pushes
    return ChannelRow(cfg.name, cfg.platform, cfg, list(kept.listings), p.last_success, p.pushes, p.failures,
                      p.drift_repairs, kept.failures, _counts=Counter(kept.counts),
                      _counted=len(kept.listings))


def totals(rows: Collection[ChannelRow]) -> dict[str, int]:
    pushed = [r for r in rows if r.pushed]
    return {"listings": sum(len(r.listings) for r in pushed),
            **{s.value: sum(r.count(s) for r in pushed) for s in State},
            "pushes": sum(r.pushes for r in pushed), "drift": sum(r.drift_repairs for r in pushed)}


def failed(rows: Collection[ChannelRow], limit: int = 100) -> list[ListingRow]:
    """The failed listings of channels that push, newest failure first."""
    out = [li for r in rows if r.pushed
           for li in (r.failures[:limit] if r.failures is not None else _failed(r.listings))]
    out.sort(key=_failed_at, reverse=True)
    return out[:limit]


def _failed(listed: Iterable[ListingRow]) -> list[ListingRow]:
    out = [li for li in listed if li.state is State.FAILED]
    out.sort(key=_failed_at, reverse=True)
    return out


def _failed_at(li: ListingRow) -> datetime:
    return li.last.finished_at if li.last else datetime.min.replace(tzinfo=UTC)


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


__all__ = ["DRIFT_WINDOW", "FULL_EVERY_S", "NOT_PUSHED", "RATE_WINDOW", "ChannelFigures", "ChannelRow",
           "LastPush", "ListingRow", "State", "by_state", "channel_rows", "failed", "listing_state",
           "listings", "states_chart", "totals", "wanted_by_channel", "wanted_figures"]
