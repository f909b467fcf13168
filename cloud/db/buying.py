"""The master data buying runs on: suppliers, terms per supplier × SKU, shelf capacity per
location × SKU and shelf life per SKU. Upserts in the caller's transaction, each change audited
(cloud/db/audit.py, before → after), and the reads the replenishment run makes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import audit
from cloud.db.engines import upsert
from cloud.db.models import BuyingTerm, ShelfCapacity, ShelfLife, Supplier


@dataclass(frozen=True)
class MasterTable:
    """One table of master data as the API and its CSV import name it."""

    name: str              # suppliers | terms | capacities | shelf_lives
    model: Any
    key: tuple[str, ...]
    action: str            # the audit log's action and target prefix


TABLES: Mapping[str, MasterTable] = {t.name: t for t in (
    MasterTable("suppliers", Supplier, ("supplier",), "supplier"),
    MasterTable("terms", BuyingTerm, ("supplier", "sku"), "buying_term"),
    MasterTable("capacities", ShelfCapacity, ("store", "sku"), "shelf_capacity"),
    MasterTable("shelf_lives", ShelfLife, ("sku",), "shelf_life"),
)}

CHUNK = 500  # rows per statement (SQLite's bound parameters are limited)


def _columns(model: Any) -> list[str]:
    return [c.name for c in model.__table__.columns]


async def save(session: AsyncSession, table: MasterTable, rows: Sequence[Mapping[str, Any]], by: str) -> int:
    """Add or change rows (complete bodies, keys each once) in the caller's transaction, each
    change audited; how many changed."""
    cols = _columns(table.model)
    keycols = [getattr(table.model, k) for k in table.key]
    changed = 0
    for start in range(0, len(rows), CHUNK):
        part = [{c: r[c] for c in cols} for r in rows[start:start + CHUNK]]
        keys = [tuple(r[k] for k in table.key) for r in part]
        old = {tuple(getattr(o, k) for k in table.key): o for o in (await session.scalars(
            select(table.model).where(tuple_(*keycols).in_(keys)).with_for_update())).all()}
        stmt = upsert(session)(table.model)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=list(table.key),
            set_={c: getattr(stmt.excluded, c) for c in cols if c not in table.key}), part)
        for key, r in zip(keys, part, strict=True):
            was = old.get(key)
            values = {c: r[c] for c in cols if c not in table.key}
            before = {c: getattr(was, c) for c in values} if was is not None else None
            changed += await audit.record(session, by, f"{table.action}.put",
                                          f"{table.action}:{'/'.join(map(str, key))}", before, values)
    return changed


async def rows(session: AsyncSession, table: MasterTable, **where: Any) -> list[dict[str, Any]]:
    """A table's rows as the API writes them, in key order; `where` narrows by column value."""
    q = select(table.model).order_by(*(getattr(table.model, k) for k in table.key))
    for col, value in where.items():
        if value is not None:
            q = q.where(getattr(table.model, col) == value)
    cols = _columns(table.model)
    return [{c: getattr(o, c) for c in cols} for o in (await session.scalars(q)).all()]


async def suppliers_known(session: AsyncSession, names: Sequence[str]) -> set[str]:
    if not names:
        return set()
    return set((await session.scalars(select(Supplier.supplier).where(
        Supplier.supplier.in_(sorted(set(names)))))).all())


__all__ = ["TABLES", "MasterTable", "rows", "save", "suppliers_known"]
