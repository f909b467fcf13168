"""Reads the console's replenishment pages need beyond what cloud/db/replenishment.py,
purchasing.py and buying.py answer: the pack sizes a run's purchases were rounded to, the orders
already made from a run's suggestions, the suppliers' names, and one location × SKU's daily sales
(the history a suggestion was planned from). Read-only; no page writes SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import BuyingTerm, Movement, PurchaseOrder, Supplier

CHUNK = 400  # pairs per statement (SQLite's bound parameters are limited)


@dataclass(frozen=True, slots=True)
class MadeOrder:
    """A purchase order made from a run's suggestions for one supplier and location."""

    id: str
    supplier: str
    location: str
    status: str


async def packs(session: AsyncSession, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(supplier, sku) → units per pack, for the pairs that have terms."""
    wanted = sorted(set(pairs))
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start:start + CHUNK]
        rows = await session.execute(select(BuyingTerm.supplier, BuyingTerm.sku, BuyingTerm.pack).where(
            tuple_(BuyingTerm.supplier, BuyingTerm.sku).in_(part)))
        found.update({(supplier, sku): pack for supplier, sku, pack in rows.all()})
    return found


async def orders_from_run(session: AsyncSession, run: str) -> list[MadeOrder]:
    """The purchase orders made from `run`'s suggestions (their `suggested` key is
    "run/supplier/location", cloud/db/purchasing.py), by supplier and location."""
    rows = await session.execute(
        select(PurchaseOrder.id, PurchaseOrder.supplier, PurchaseOrder.location, PurchaseOrder.status)
        .where(PurchaseOrder.suggested.startswith(f"{run}/", autoescape=True))
        .order_by(PurchaseOrder.supplier, PurchaseOrder.location))
    return [MadeOrder(*r) for r in rows.all()]


async def daily_sales(session: AsyncSession, store: str, sku: str, today: date, days: int
                      ) -> list[tuple[date, int]]:
    """Units of `sku` sold at `store` on each of the `days` UTC days before `today`, oldest first
    (a day without a sale: 0), from the ledger's `sale` movements as a replenishment run reads them
    (cloud/db/replenishment.py read_facts: till sales and fulfilled online orders alike)."""
    start = today - timedelta(days=days)
    day = func.date(Movement.occurred_at)
    rows = await session.execute(
        select(day, func.sum(Movement.qty)).where(
            Movement.store == store, Movement.sku == sku, Movement.kind == "sale",
            Movement.occurred_at >= datetime.combine(start, time(), UTC),
            Movement.occurred_at < datetime.combine(today, time(), UTC)).group_by(day))
    sold = {date.fromisoformat(str(d)[:10]): max(-int(q or 0), 0) for d, q in rows.all()}
    return [(start + timedelta(days=i), sold.get(start + timedelta(days=i), 0)) for i in range(days)]


async def supplier_names(session: AsyncSession) -> dict[str, str]:
    return {s: n for s, n in (await session.execute(select(Supplier.supplier, Supplier.name))).all()}


__all__ = ["MadeOrder", "daily_sales", "orders_from_run", "packs", "supplier_names"]
