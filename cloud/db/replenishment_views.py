"""Reads the console's replenishment pages need beyond what cloud/db/replenishment.py,
purchasing.py and buying.py answer: the pack sizes a run's purchases were rounded to, the orders
already made from a run's suggestions, and the suppliers' names. Read-only; no page writes SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import BuyingTerm, PurchaseOrder, Supplier

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


async def supplier_names(session: AsyncSession) -> dict[str, str]:
    return {s: n for s, n in (await session.execute(select(Supplier.supplier, Supplier.name))).all()}


__all__ = ["MadeOrder", "orders_from_run", "packs", "supplier_names"]
