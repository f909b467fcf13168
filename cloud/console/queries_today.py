"""Today's units sold and shrunk per store, kept by each worker for the chain overview.

The overview's figures are summed from the day's sale and shrink movements of every store. The
index that holds them (movements: kind, occurred_at, store, qty; migration 0008) answers from the
index alone only where the table's visibility map says so, and the day's rows are always the
newest: never vacuumed yet, each one is checked in the table too. On the bench's chain (15,600
till lines today over 200 stores) the sum took 20-90 ms of the overview totals' 50-60, and it
grows with the day's sales.

So each worker keeps the sums (`TodayFigures`) and, at each read, sums again only the stores whose
stock the live hub's notices named since the last read (every ledger change is one: this worker's
through its stock events, the others' over NOTIFY), in a session begun after it took them: a sale
shows in the next read, as before. A store's sum reads only its own rows of the day (the same
index, its store column tested in the index). What no notice names (another process writing the
ledger without the relay) is bounded by a full sum every `FULL_EVERY_S`, made behind the pages:
they keep the partial sums meanwhile, and the stores changed while it ran are summed again after
it. A new day (the chain's time zone) starts with a full sum.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.console.kept import ReadBehind
from cloud.db.models import Movement

FULL_EVERY_S = 60.0  # the day's sums are read whole again this often, behind the pages
STORES_PER_READ = 500  # a partial read names at most this many stores per statement
Figures = dict[str, dict[str, int]]  # store → {"sale": units, "shrink": units}, positive


async def todays_figures(session: AsyncSession, since: datetime,
                         stores: Collection[str] | None = None) -> Figures:
    """Per store: units sold and units shrunk since `since` (sales net of nothing: returns are
    their own kind). A store with neither is left out."""
    q = (select(Movement.store, Movement.kind, func.sum(Movement.qty))
         .where(Movement.kind.in_(("sale", "shrink")), Movement.occurred_at >= since)
         .group_by(Movement.store, Movement.kind))
    chunks: list[list[str] | None] = [None]
    if stores is not None:
        ordered = sorted(stores)
        chunks = [ordered[i:i + STORES_PER_READ] for i in range(0, len(ordered), STORES_PER_READ)]
    out: Figures = defaultdict(dict)
    for chunk in chunks:
        where = q if chunk is None else q.where(Movement.store.in_(chunk))
        for store, kind, total in (await session.execute(where)).all():
            out[store][kind] = -int(total or 0)
    return dict(out)


class TodayFigures:
    """The day's units sold and shrunk per store, kept by a worker and brought up to date at each
    read (module docstring).

    `changed()` gives the stores whose stock changed since it was last called (None: unknown, read
    everything); it is called under the lock before the reads it causes, so a change noticed
    during a read is read again next time. `note()` takes the same between reads. `maker()` gives
    a session maker for the reads."""

    def __init__(self, changed: Callable[[], set[str] | None],
                 maker: Callable[[], async_sessionmaker[AsyncSession]], *, full_every_s: float = FULL_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.changed, self.maker, self.full_every_s, self.clock = changed, maker, full_every_s, clock
        self.full_reads = 0  # sums of every store, here or behind the pages
        self.partial_reads = 0  # sums of the changed stores only
        self._lock = asyncio.Lock()
        self._day: datetime | None = None  # the start of the day the sums are for
        self._figures: Figures = {}
        self._read_at: float | None = None  # when the full read the figures come from began
        self._dirty: set[str] = set()  # changed, not summed again yet
        self._behind: ReadBehind[Figures] = ReadBehind("today-figures", "overview")
        self._unknown = False  # a change was noted that names no store

    def note(self, stores: set[str] | None) -> None:
        """Stores whose stock changed (None: unknown), heard between reads: summed again at the next."""
        if stores is None:
            self._unknown = True
            return
        self._dirty |= stores
        self._behind.note(stores)

    async def figures(self, since: datetime, stores: Collection[str] | None = None) -> Figures:
        """Per store (of `stores`, or every one): units sold and shrunk since `since`, as
        `todays_figures` reads them now. The result is the caller's (a copy)."""
        async with self._lock:
            self.note(self.changed())
            began = self.clock()
            if self._unknown or self._read_at is None or self._day != since:
                self.close()
                self._unknown, self._dirty = False, set()
                async with self.maker()() as session:
                    self._figures = await todays_figures(session, since)
                self._day, self._read_at = since, began
                self.full_reads += 1
            else:
                if self._dirty:
                    dirty, self._dirty = self._dirty, set()
                    try:
                        async with self.maker()() as session:
                            fresh = await todays_figures(session, since, dirty)
                    except BaseException:
                        self._dirty |= dirty
                        raise
                    for store in dirty:
                        self._figures.pop(store, None)
                    self._figures.update(fresh)
                    self.partial_reads += 1
                if began - self._read_at > self.full_every_s and self._behind.task is None:
                    self._read_behind(since)
            kept = self._figures
            chosen = kept if stores is None else {s: kept[s] for s in stores if s in kept}
            return {s: dict(f) for s, f in chosen.items()}

    def _read_behind(self, since: datetime) -> None:
        """Sum every store again in a task of its own; reads keep the partial sums until it is
        done, then the stores changed meanwhile are summed again."""
        began = self.clock()

        async def read() -> Figures:
            async with self.maker()() as session:
                return await todays_figures(session, since)

        def take(fresh: Figures, changed: set[str]) -> None:
            if self._day != since:  # a new day began meanwhile (summed whole under the lock)
                return
            self._figures, self._read_at = fresh, began
            self._dirty |= changed
            self.full_reads += 1

        self._behind.start(read, self._lock, take)

    @property
    def behind(self) -> asyncio.Task[None] | None:
        """The full read running behind the pages, if one is."""
        return self._behind.task

    def close(self) -> None:
        """Stop a full read running behind the pages (at shutdown, or when one is made here)."""
        self._behind.cancel()


__all__ = ["FULL_EVERY_S", "Figures", "TodayFigures", "todays_figures"]
