"""Goods received into a location (a store or a warehouse) through the ledger's write path.

A receipt is booked as `receipt` movements into the backroom, one per line, by the cloud itself
(posting.write_movements: the same book update as a gateway's deltas, so balances, lots and the
sellable figure follow in the same transaction). Each movement's id is made from the location, the
receipt's reference and the line, so the same receipt sent twice is booked once. A warehouse has no
gateway, so this (and a purchase order's receipt, cloud/db/purchasing.py) is how stock reaches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import posting
from cloud.db.models import NO_LOT
from cloud.db.orders import Key, Orders

_NS = uuid.UUID("0b7a3c55-6f4e-4d8e-9a51-2f6c1d9e7b42")
RECEIVING_ZONE = "backroom"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    sku: str
    qty: int
    lot: str = NO_LOT
    expiry: date | None = None


def receipt_moves(store: str, ref: str, lines: Sequence[ReceiptLine], source: str = "receipt"
                  ) -> list[posting.CloudMove]:
    """The movements of one receipt (ids from store, ref and line: a repeat books nothing)."""
    return [posting.CloudMove(id=str(uuid.uuid5(_NS, f"{store}/{ref}/{i}")), store=store, sku=ln.sku,
                              kind="receipt", qty=ln.qty, ref=f"{ref}/{i + 1}", zone=RECEIVING_ZONE,
                              lot=ln.lot, expiry=ln.expiry, source=source)
            for i, ln in enumerate(lines)]


async def book(session: AsyncSession, store: str, ref: str, lines: Sequence[ReceiptLine],
               source: str = "receipt") -> set[Key]:
    """Book a receipt in the caller's transaction; the (store, sku) keys whose stock changed."""
    return await posting.write_movements(session, receipt_moves(store, ref, lines, source))


async def receive(orders: Orders, store: str, ref: str, lines: Sequence[ReceiptLine]) -> int:
    """Book a receipt in a transaction of its own on the orders' runner (retries, SQLite's writer
    lock, stock events announced after the commit, as transfers do); how many lines were new."""

    async def work(session: AsyncSession) -> tuple[int, set[Key]]:
        moves = receipt_moves(store, ref, lines)
        changed = await posting.write_movements(session, moves)
        return (len(moves) if changed else 0), changed

    booked: int = await orders._transaction(work)
    return booked


__all__ = ["RECEIVING_ZONE", "ReceiptLine", "book", "receipt_moves", "receive"]
