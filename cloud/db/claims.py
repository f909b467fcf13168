"""Store events that close cloud documents: a pickup rung up at the POS, a transfer read at the dock.

A POS sale line whose ref is `order:<id>:…` is the pickup of that order; a receipt whose ref is
`transfer:<id>:…` at the destination store is that transfer arriving. Whichever closes the
document first — the store's event, or the API call (`/fulfil`, `/receive`) — wins a conditional
UPDATE on the document's status, so the stock moves exactly once:

- the store's event wins: it is applied as the sale (or receipt) it is, and the order's
  reservations are released in the same transaction;
- the API won earlier: the cloud already wrote the movement, so the store's line is a second
  account of the same units and is absorbed (logged, not applied).

A dock read of a transfer that was cancelled is absorbed too, and set aside for a person to review
(a dead letter saying so). The cancel booked the units back into the source; the read says they
reached the destination after all. Booking it as a receipt would put the same units in both
stores' books: the chain would count them twice, and sell them twice, which is the one thing the
ledger exists to prevent. Not booking it keeps every unit in one book (the source's, which is
now probably wrong about where they are) and says so; a count at either store then settles it,
since counts are absolute (ARCHITECTURE §6). A receipt of unknown origin would not be safer: it
is the same double count, only unexplained.

Runs inside the ingest transaction; it reads and writes only orders, reservations, transfers and
stock_levels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Order, Reservation, StockLevel, Transfer
from shared.contract import Kind, StockDelta

log = logging.getLogger(__name__)
ORDER_REF = "order:"
TRANSFER_REF = "transfer:"

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Absorbed:
    """A store line that is not booked: why, and whether a person must look at it (then it is
    dead-lettered with `reason`)."""

    reason: str
    review: bool = False


ALREADY_CLOSED = Absorbed("already closed through the API: the cloud booked these units then")


def document_of(ref: str | None, prefix: str) -> str | None:
    """`order:o-123:txn/1` → `o-123` (None when the ref names no such document)."""
    if not ref or not ref.startswith(prefix):
        return None
    doc = ref[len(prefix):].split(":", 1)[0]
    return doc or None


async def release_reservations(session: AsyncSession, order: str) -> set[Key]:
    """Give an order's held units back (its status has just left `reserved`)."""
    rows = (await session.execute(select(Reservation.store, Reservation.sku, Reservation.qty)
                                  .where(Reservation.order == order))).all()
    held: dict[Key, int] = {}
    for r in rows:
        held[(r.store, r.sku)] = held.get((r.store, r.sku), 0) + r.qty
    for (store, sku), qty in sorted(held.items()):
        await session.execute(update(StockLevel).where(StockLevel.store == store, StockLevel.sku == sku)
                              .values(reserved=StockLevel.reserved - qty)
                              .execution_options(synchronize_session=False))
    return set(held)


async def claim(session: AsyncSession, deltas: Sequence[tuple[str, StockDelta]],
                now: datetime) -> tuple[dict[str, Absorbed], set[Key]]:
    """Close the documents these store deltas name. Returns (the deltas not to book, by id, with
    why; stock keys whose reservations changed)."""
    absorbed: dict[str, Absorbed] = {}
    changed: set[Key] = set()
    decided: dict[str, Absorbed | None] = {}  # document → book its store lines (None), or why not
    for store, d in deltas:
        order = document_of(d.ref, ORDER_REF) if d.kind is Kind.SALE else None
        transfer = document_of(d.ref, TRANSFER_REF) if d.kind in (Kind.RECEIPT, Kind.TRANSFER_IN) else None
        if order is None and transfer is None:
            continue
        doc = order or transfer
        assert doc is not None
        if doc not in decided:
            if order is not None:
                decided[doc] = None if await _close_order(session, order, now, changed) else ALREADY_CLOSED
            else:
                decided[doc] = await _close_transfer(session, doc, store, now)
        why = decided[doc]
        if why is None:
            continue
        absorbed[d.id] = why
        if why.review:
            log.warning("not booked: %s %s of %s in %s (%s): %s", d.kind.value, d.qty, d.sku, store, d.ref,
                        why.reason)
        else:
            log.info("absorbed %s %s of %s in %s: %s was already closed through the API",
                     d.kind.value, d.qty, d.sku, store, d.ref)
    return absorbed, changed


async def _close_order(session: AsyncSession, order: str, now: datetime, changed: set[Key]) -> bool:
    won = await session.execute(update(Order).where(Order.id == order, Order.status == "reserved")
                                .values(status="fulfilled", closed_at=now, closed_by="pos")
                                .execution_options(synchronize_session=False))
    # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
    if won.rowcount == 1:  # type: ignore[attr-defined]
        changed |= await release_reservations(session, order)
        return True
    row = (await session.execute(select(Order.status, Order.closed_by).where(Order.id == order))).first()
    if row is not None and row.status == "fulfilled" and row.closed_by == "api":
        return False
    if row is None:
        log.warning("POS line names order %s, which the ledger does not know: applied as a sale", order)
    return True


async def _close_transfer(session: AsyncSession, transfer: str, store: str, now: datetime) -> Absorbed | None:
    """Receive the transfer by this dock read (None: book the read), or say why the read is not
    booked: received through the API already, or cancelled (see the module docstring)."""
    won = await session.execute(update(Transfer).where(Transfer.id == transfer, Transfer.to_store == store,
                                                       Transfer.status == "in_transit")
                                .values(status="received", received_at=now, received_by="rfid")
                                .execution_options(synchronize_session=False))
    # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
    if won.rowcount == 1:  # type: ignore[attr-defined]
        return None
    row = (await session.execute(select(Transfer.status, Transfer.received_by, Transfer.from_store,
                                        Transfer.to_store, Transfer.cancelled_at)
                                 .where(Transfer.id == transfer))).first()
    if row is None or row.to_store != store:
        return None  # no transfer of ours to this store: a plain receipt
    if row.status == "cancelled":
        when = f" at {row.cancelled_at:%Y-%m-%d %H:%M} UTC" if row.cancelled_at is not None else ""
        return Absorbed(
            f"transfer {transfer} to {store} was cancelled{when} and its units booked back into "
            f"{row.from_store}; this dock read says they reached {store}. Not booked, so no unit is in "
            f"both stores' books: count {store} and {row.from_store} (or transfer them again) to settle "
            f"where they are", review=True)
    return ALREADY_CLOSED if row.received_by == "api" else None
