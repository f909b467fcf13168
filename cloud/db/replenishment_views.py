"""Reads the console's replenishment pages need beyond what cloud/db/replenishment.py,
purchasing.py and buying.py answer: a run's purchases totalled per supplier and its suggestions a
page at a time, purchase orders as list rows, the pack sizes a run's purchases were rounded to, the
orders already made from a run's suggestions, the suppliers' names, one location × SKU's daily
sales (the history a suggestion was planned from), and the locations and categories the settings
page names. Read-only; no page writes SQL.

A chain's run holds 10,000s of suggestions and its buyers 100s of orders: the pages total them in
the database and read the rows they show, rather than every row (the API's `suggestions` and
`PurchaseOrders.find`, which read each order with its lines and receipts, took 1.2 and 1.6 s for
a page of a 20-store × 500-SKU chain on SQLite).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cloud.db.models import (
    BuyingTerm,
    Movement,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentSuggestion,
    Store,
    Supplier,
)
from cloud.db.replenishment import suggestion_json

S = ReplenishmentSuggestion

CHUNK = 400  # pairs per statement (SQLite's bound parameters are limited)


@dataclass(frozen=True, slots=True)
class MadeOrder:
    """A purchase order made from a run's suggestions for one supplier and location."""

    id: str
    supplier: str
    location: str
    status: str


@dataclass(frozen=True, slots=True)
class SupplierTotals:
    """A run's purchase suggestions from one supplier, totalled."""

    supplier: str
    lines: int
    locations: int
    units: int
    value: float


@dataclass(frozen=True, slots=True)
class OrderRow:
    """A purchase order as the list shows it: its lines summed."""

    id: str
    supplier: str
    location: str
    status: str
    created_at: datetime
    ordered: int
    received: int
    value: float


async def purchase_totals(session: AsyncSession, run: str) -> list[SupplierTotals]:
    """Per supplier, the run's purchase lines, locations, units and value, the largest value first."""
    value = func.sum(S.units * func.coalesce(S.unit_cost, 0.0))
    rows = await session.execute(
        select(S.supplier, func.count(), func.count(func.distinct(S.location)), func.sum(S.units), value)
        .where(S.run == run, S.kind == "purchase").group_by(S.supplier)
        .order_by(value.desc(), func.sum(S.units).desc(), S.supplier))
    return [SupplierTotals(supplier or "", n, locations, int(units or 0), float(v or 0.0))
            for supplier, n, locations, units, v in rows.all()]


async def suggestions(session: AsyncSession, run: str, kind: str, *, supplier: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
    """The first `limit` of a run's suggestions of one kind (as the API writes them): purchases and
    transfers in the run's order, emergencies the highest level and largest shortfall first."""
    q = select(S).where(S.run == run, S.kind == kind)
    if supplier is not None:
        q = q.where(S.supplier == supplier)
    order = (S.level.desc(), S.units.desc(), S.line) if kind == "emergency" else (S.line,)
    return [suggestion_json(s) for s in (await session.scalars(q.order_by(*order).limit(limit))).all()]


async def purchase_lines(session: AsyncSession, run: str, suppliers: Collection[str], per: int
                         ) -> dict[str, list[dict[str, Any]]]:
    """The first `per` purchase suggestions of each of `suppliers`, in the run's order: one
    statement, each supplier's first lines read from the index on (run, kind, supplier, line)
    (migration 0012), rather than numbering every purchase of the run per supplier (a window over
    10,000s of rows, the page's slowest read)."""
    if not suppliers:
        return {}
    firsts = [select(S).where(S.run == run, S.kind == "purchase", S.supplier == supplier)
              .order_by(S.line).limit(per).subquery() for supplier in sorted(set(suppliers))]
    each = union_all(*(select(first) for first in firsts)).subquery()
    line = aliased(S, each)
    rows = (await session.scalars(select(line).order_by(line.line))).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault(r.supplier or "", []).append(suggestion_json(r))
    return found


async def counts(session: AsyncSession, run: str, kind: str) -> tuple[int, int]:
    """How many of a run's suggestions of one kind there are, and how many are not acted on."""
    total, still = (await session.execute(
        select(func.count(), func.sum(case((S.acted.is_(None), 1), else_=0)))
        .where(S.run == run, S.kind == kind))).one()
    return int(total or 0), int(still or 0)


async def order_rows(session: AsyncSession, *, status: str | None = None, supplier: str | None = None,
                     location: str | None = None, offset: int = 0, limit: int = 50
                     ) -> tuple[list[OrderRow], int]:
    """A page of purchase orders, newest first, each with its lines summed; and how many match."""
    where = [getattr(PurchaseOrder, col) == value
             for col, value in (("status", status), ("supplier", supplier), ("location", location))
             if value is not None]
    total = await session.scalar(select(func.count()).select_from(PurchaseOrder).where(*where))
    ln = PurchaseOrderLine
    rows = await session.execute(
        select(PurchaseOrder.id, PurchaseOrder.supplier, PurchaseOrder.location, PurchaseOrder.status,
               PurchaseOrder.created_at, func.sum(ln.qty), func.sum(ln.received),
               func.sum(ln.qty * func.coalesce(ln.unit_cost, 0.0)))
        .join(ln, ln.po == PurchaseOrder.id, isouter=True).where(*where)
        .group_by(PurchaseOrder.id, PurchaseOrder.supplier, PurchaseOrder.location, PurchaseOrder.status,
                  PurchaseOrder.created_at)
        .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id).offset(offset).limit(limit))
    return [OrderRow(pid, sup, loc, st, at, int(q or 0), int(r or 0), round(float(v or 0.0), 2))
            for pid, sup, loc, st, at, q, r, v in rows.all()], int(total or 0)


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


@dataclass(frozen=True, slots=True)
class Location:
    store: str
    name: str
    kind: str  # store | warehouse


async def locations(session: AsyncSession) -> list[Location]:
    """Every store and warehouse, warehouses first."""
    rows = (await session.execute(select(Store.store, Store.name, Store.kind)
                                  .order_by(Store.kind.desc(), Store.store))).all()
    return [Location(store, name or "", kind) for store, name, kind in rows]


async def categories(session: AsyncSession) -> list[str]:
    """The catalogue's product categories (the fill-rate targets are per category)."""
    found = await session.scalars(select(Product.category).where(Product.category != "").distinct()
                                  .order_by(Product.category))
    return list(found.all())


__all__ = ["Location", "MadeOrder", "OrderRow", "SupplierTotals", "categories", "counts", "daily_sales",
           "locations", "order_rows", "orders_from_run", "packs", "purchase_lines", "purchase_totals",
           "suggestions", "supplier_names"]
