"""Each location × SKU's book through a report's period, replayed from its movements by the
ledger's own arithmetic (`ledger.SkuBook`): what the stock-out, stock-age, shrink and sell-through
reports read.

No snapshot of a balance is kept per hour or per day, and a count is absolute, so there is no exact
way back from today's balance: a pair's book is replayed from its first movement up to the
period's end. Along the way this records, per pair:

- the seconds of the period it was ranged (from its first movement on) and the seconds of those
  with nothing sellable (`ledger.sellable` ≤ 0: on hand less lots expired that day, re-read at
  each midnight when a lot could expire);
- every rise of its units on hand (a receipt, a transfer in, a return, a count that found more)
  with its time: the layers the stock-age report ages first-in-first-out, and, inside the period,
  the arrivals the sell-through report adds to the opening stock;
- every fall by a shrink, a negative adjustment or a count that found less, inside the period, by
  reason (the movement's stated reason; `count` for a count; `unstated` otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import ledger
from cloud.db.models import Movement
from cloud.db.posting import move_of

PART = 500  # movements replayed between two turns of the event loop
LOSS_KINDS = frozenset({"shrink", "adjust"})
Key = tuple[str, str]


@dataclass(slots=True)
class PairHistory:
    """One location × SKU over [start, end)."""

    sellable_start: int = 0  # at the period's start (0: not ranged yet)
    sellable_end: int = 0
    on_hand_end: int = 0
    ranged_s: float = 0.0  # seconds of the period from the pair's first movement on
    empty_s: float = 0.0  # of those, seconds with nothing sellable
    arrived: int = 0  # on-hand rises inside the period
    losses: dict[str, int] = field(default_factory=dict)  # reason → units lost inside the period
    layers: list[tuple[datetime, int]] = field(default_factory=list)  # on-hand rises up to end, in time order


def _midnight_after(t: datetime) -> datetime:
    return datetime.combine(t.astimezone(UTC).date() + timedelta(days=1), time(), UTC)


class _Replay:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.book = ledger.SkuBook()
        self.out = PairHistory()
        self.cursor: datetime | None = None  # None: no movement yet
        self.level = 0

    def _advance(self, to: datetime) -> None:
        """Count the seconds from the cursor to `to` at the level the book had, a new level from
        each midnight (a lot may expire then; without any dated lot the level cannot change)."""
        cursor = self.cursor
        if cursor is None or to <= cursor:
            return
        if cursor < self.start:  # the stretch before the period counts nothing: jump over it
            cursor = min(to, self.start)
            self.level = ledger.sellable(self.book, cursor.date())
            if cursor == self.start:
                self.out.sellable_start = self.level
        dated = any(e is not None for e in self.book.expiry.values())
        while cursor < to:
            step_end = min(to, _midnight_after(cursor)) if dated else to
            seconds = (step_end - cursor).total_seconds()
            self.out.ranged_s += seconds
            if self.level <= 0:
                self.out.empty_s += seconds
            cursor = step_end
            if dated and cursor == _midnight_after(cursor - timedelta(microseconds=1)):
                self.level = ledger.sellable(self.book, cursor.date())
        self.cursor = cursor

    def apply(self, m: Movement) -> None:
        move = move_of(m)
        at = move.occurred_at.astimezone(UTC)
        if self.cursor is None:
            self.cursor = at
        self._advance(at)
        if at == self.start:
            self.out.sellable_start = ledger.sellable(self.book, at.date())
        before = self.book.on_hand
        self.book.apply(move)
        change = self.book.on_hand - before
        inside = at >= self.start
        if change > 0:
            self.out.layers.append((at, change))
            if inside:
                self.out.arrived += change
        elif change < 0 and inside and (move.kind in LOSS_KINDS or move.kind == "count"):
            reason = "count" if move.kind == "count" else (move.reason or "unstated")
            self.out.losses[reason] = self.out.losses.get(reason, 0) - change
        self.level = ledger.sellable(self.book, move.day)

    def finish(self) -> PairHistory:
        self._advance(self.end)
        self.out.sellable_end = ledger.sellable(self.book, (self.end - timedelta(microseconds=1)).date())
        self.out.on_hand_end = self.book.on_hand
        return self.out


async def histories(session: AsyncSession, start: datetime, end: datetime,
                    store: str | None = None) -> AsyncIterator[tuple[Key, PairHistory]]:
    """Per location × SKU with a movement before `end` (only `store`'s when given), its history
    over [start, end). Rows come in parts with the event loop free between them."""
    q = select(Movement).where(Movement.occurred_at < end)
    if store is not None:
        q = q.where(Movement.store == store)
    rows = await session.stream(q.order_by(Movement.store, Movement.sku, Movement.occurred_at, Movement.id))
    key: Key | None = None
    replay = _Replay(start, end)
    async for part in rows.partitions(PART):
        for (m,) in part:
            if (m.store, m.sku) != key:
                if key is not None:
                    yield key, replay.finish()
                key, replay = (m.store, m.sku), _Replay(start, end)
            replay.apply(m)
        await asyncio.sleep(0)
    if key is not None:
        yield key, replay.finish()


def fifo_ages(h: PairHistory, end: datetime) -> list[tuple[float, int]]:
    """The units on hand at `end` as (age in days, units), newest first: first in, first out, so
    what is left are the latest rises. Units the rises do not explain (the book went below zero
    on the way) take the oldest rise's age."""
    left = max(h.on_hand_end, 0)
    out: list[tuple[float, int]] = []
    for at, units in reversed(h.layers):
        if not left:
            break
        k = min(units, left)
        out.append(((end - at).total_seconds() / 86400, k))
        left -= k
    if left and h.layers:
        out.append(((end - h.layers[0][0]).total_seconds() / 86400, left))
    return out


__all__ = ["PairHistory", "fifo_ages", "histories"]
