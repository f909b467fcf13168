"""A gateway's seqs: which the ledger has received, and the first one it lacks (ARCHITECTURE §10).

A seq is received when its delta is booked (a movement) or set aside: received and not booked.
A delta is set aside when it is dead-lettered on its own (dated beyond the cloud's clock, a dock
read of a cancelled transfer), absorbed by a document already closed through the API, or one of a
batch rejected whole whose seqs could be read. Asking the gateway to resend a set-aside seq would
only bring the same refusal back: before these were counted, the gap detector asked for them
about every second heartbeat, for ever, and the gateway re-sent everything after them each time.

A set-aside delta stays set aside: its id is never booked later (posting.py treats a redelivery
as a duplicate), so whether a delta counts does not depend on when it happens to arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import dialect, upsert
from cloud.db.models import Gateway, Movement, SetAsideDelta
from shared.contract import GatewayStatus


@dataclass(frozen=True, slots=True)
class SetAside:
    """One seq of a gateway received and not booked, and why."""

    store: str
    gateway: str
    seq: int
    delta_id: str | None  # None: the payload was too broken to read it
    reason: str


async def set_aside(session: AsyncSession, rows: Sequence[SetAside], now: datetime) -> None:
    """Record seqs as received without booking them, in the caller's transaction, and move each
    gateway's highest seq past them (a set-aside seq at the end is no gap either). A seq already
    recorded keeps its first reason (a resend of it changes nothing)."""
    rows = await _not_booked(session, rows)
    if not rows:
        return
    stmt = upsert(session)(SetAsideDelta).on_conflict_do_nothing(index_elements=["store", "gateway", "seq"])
    await session.execute(stmt, [{"store": r.store, "gateway": r.gateway, "seq": r.seq,
                                  "delta_id": r.delta_id, "reason": _text(r.reason[:2000]),
                                  "received_at": now}
                                 for r in rows])
    highest: dict[tuple[str, str], int] = {}
    for r in rows:
        highest[(r.store, r.gateway)] = max(r.seq, highest.get((r.store, r.gateway), 0))
    up = upsert(session)(Gateway)
    greatest = func.max if dialect(session) == "sqlite" else func.greatest
    up = up.on_conflict_do_update(index_elements=["store", "gateway"],
                                  set_={"max_seq": greatest(Gateway.max_seq, up.excluded.max_seq)})
    await session.execute(up, [{"store": s, "gateway": g, "max_seq": seq, "deltas": 0}
                               for (s, g), seq in sorted(highest.items())])


def _text(reason: str) -> str:
    """The reason as text either engine stores (no NUL for PostgreSQL, no lone surrogate)."""
    return reason.replace("\x00", "?").encode("utf-8", "replace").decode("utf-8")


async def _not_booked(session: AsyncSession, rows: Sequence[SetAside]) -> list[SetAside]:
    """Rows whose seq is not booked already (a broken copy of a batch that was booked must not
    count its seqs twice: the gap detector compares counts first)."""
    by_gateway: dict[tuple[str, str], list[SetAside]] = {}
    for r in rows:
        by_gateway.setdefault((r.store, r.gateway), []).append(r)
    out = []
    for (store, gateway), mine in sorted(by_gateway.items()):
        booked = set((await session.scalars(select(Movement.seq).where(
            Movement.store == store, Movement.gateway == gateway,
            Movement.seq.in_(sorted({r.seq for r in mine}))))).all())
        out += [r for r in mine if r.seq not in booked]
    return out


async def record_status(maker: async_sessionmaker[AsyncSession], status: GatewayStatus) -> int | None:
    """Store a gateway's status; return the first seq the ledger is missing from it, if any.

    None also when the first missing seq is beyond the last one the broker acknowledged to the
    gateway (`last_seq`): that one is still on its way, and a resend could bring nothing more."""
    async with maker() as session, session.begin():
        stmt = upsert(session)(Gateway).values(
            store=status.store, gateway=status.gateway, state=status.state.value,
            status_at=status.at or datetime.now(UTC), max_seq=0, deltas=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=["store", "gateway"],
            set_={"state": status.state.value, "status_at": status.at or datetime.now(UTC)})
        await session.execute(stmt)
        row = (await session.execute(select(Gateway.max_seq, Gateway.deltas).where(
            Gateway.store == status.store, Gateway.gateway == status.gateway))).one()
        max_seq = int(row.max_seq)
        received = int(row.deltas) + await set_aside_count(session, status.store, status.gateway)
        missing = None
        if max_seq > received:
            missing = await first_missing_seq(session, status.store, status.gateway, max_seq)
        elif status.last_seq is not None and status.last_seq > max_seq:
            missing = max_seq + 1
        if missing is not None and status.last_seq is not None and missing > status.last_seq:
            return None
        return missing


async def set_aside_count(session: AsyncSession, store: str, gateway: str) -> int:
    return int(await session.scalar(select(func.count()).where(
        SetAsideDelta.store == store, SetAsideDelta.gateway == gateway)) or 0)


async def first_missing_seq(session: AsyncSession, store: str, gateway: str, max_seq: int) -> int:
    """The lowest seq below max_seq that the ledger has not received from this gateway.

    A hole starts right after a received seq whose successor is neither booked nor set aside.
    Each table is searched on its own index ((store, gateway, seq) on both) rather than through
    a union of the two, which neither engine could search by index."""
    booked = (Movement.store == store, Movement.gateway == gateway)
    aside = (SetAsideDelta.store == store, SetAsideDelta.gateway == gateway)

    def received(seq: Any) -> Any:
        return (select(Movement.seq).where(*booked, Movement.seq == seq).exists()
                | select(SetAsideDelta.seq).where(*aside, SetAsideDelta.seq == seq).exists())

    if not await session.scalar(select(received(1))):
        return 1
    moved, kept = Movement.__table__.alias("moved"), SetAsideDelta.__table__.alias("kept")
    holes = []
    for table in (moved, kept):
        holes.append(await session.scalar(
            select(func.min(table.c.seq) + 1).where(
                table.c.store == store, table.c.gateway == gateway, table.c.seq < max_seq,
                ~received(table.c.seq + 1))))
    found = [int(h) for h in holes if h is not None]
    return min(found) if found else max_seq + 1


__all__ = ["SetAside", "first_missing_seq", "record_status", "set_aside", "set_aside_count"]
