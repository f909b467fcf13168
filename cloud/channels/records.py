"""The record of every platform push (what, when, result, attempts), written in batches.

`platform_pushes` is created by migration 0003. The driver hands each finished push to a
`PushLog`, which writes them in one INSERT per flush interval so a burst of pushes costs one
transaction, not one each. Records older than the retention (SyncOptions.keep_records_days) are
deleted after each reconciliation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.models import UtcDateTime

log = logging.getLogger(__name__)
T = TypeVar("T")

metadata = MetaData()
PUSHES = Table(
    "platform_pushes", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("sku", String(14), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("sku_id", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("previous", Integer),
    Column("key", String(128), nullable=False),
    Column("reason", String(16), nullable=False),  # event | reconcile | retry | manual (the console)
    Column("result", String(16), nullable=False),  # ok | failed | rejected
    Column("attempts", Integer, nullable=False),
    Column("error", String(500)),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Index("ix_platform_pushes_listing", "channel", "sku_id", "id"),  # as migration 0003 makes them
    Index("ix_platform_pushes_started", "started_at"),
)


@dataclass(frozen=True, slots=True)
class Push:
    channel: str
    sku: str
    item_id: str
    sku_id: str
    qty: int
    previous: int | None
    key: str
    reason: str
    result: str
    attempts: int
    error: str | None
    started_at: datetime
    finished_at: datetime


class PushLog:
    """Buffers push records and writes them every `every` seconds (and at close)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], every: float = 0.5) -> None:
        self.maker, self.every = maker, every
        self._pending: list[Push] = []
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # a flush returns once every push added before it is written
        self.written = 0
        self.on_written: Callable[[list[Push]], None] | None = None  # after commit (the console's live view)

    def add(self, push: Push) -> None:
        self._pending.append(push)
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(self.every)  # gather a burst into one transaction
                await uncancelled(self.flush())
        except asyncio.CancelledError:
            await uncancelled(self.flush())  # what is buffered is written before we stop
            raise

    async def flush(self) -> None:
        """Write what is buffered. Serialised, so a flush called while the runner's batch is still
        in its transaction waits for that batch too: after it returns, every push added before the
        call can be read back."""
        async with self._writing:
            await self._write()

    async def _write(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with self.maker() as session, session.begin():
                await session.execute(insert(PUSHES), [_row(p) for p in batch])
            self.written += len(batch)
            if self.on_written is not None:
                self.on_written(batch)
        except SQLAlchemyError as e:  # the record is lost, the push itself stands; say so loudly
            log.error("platform sync: could not record %d pushes: %s", len(batch), e)


async def uncancelled(work: Awaitable[T]) -> T:
    """Await database work to its end even if the caller is cancelled meanwhile (then re-raise).
    A database call abandoned halfway leaves the driver's thread (aiosqlite) finishing it for an
    event loop that may be closed by then, and a transaction in an unknown state."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _row(p: Push) -> dict[str, object]:
    row = asdict(p)
    row["error"] = (p.error or "")[:500] or None
    return row


async def prune(maker: async_sessionmaker[AsyncSession], before: datetime) -> int:
    """Delete push records started before `before` (retention); returns how many went."""
    async with maker() as session, session.begin():
        result = await session.execute(delete(PUSHES).where(PUSHES.c.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def recent(maker: async_sessionmaker[AsyncSession], channel: str | None = None,
                 limit: int = 100) -> Sequence[dict[str, object]]:
    """The latest push records, newest first (for the API and tests)."""
    q = select(PUSHES).order_by(PUSHES.c.id.desc()).limit(limit)
    if channel:
        q = q.where(PUSHES.c.channel == channel)
    async with maker() as session:
        return [dict(r._mapping) for r in (await session.execute(q)).all()]
