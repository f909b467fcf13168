"""The replenishment run's three-level emergency as chain alerts, to the roles the issue names:

1. one store short → its regional manager: the store's `manager` book (STORE.manager: the store's
   `manager` URLs first, then hq), to move stock from a neighbour;
2. several stores short → the central warehouse ships now: the warehouse's own book (its staff);
3. the region short (the warehouse has less than its stores lack, or there is no warehouse) → an
   urgent supplier order: the region's hq book (WAREHOUSE.hq, or chain.hq without a warehouse).

Each alert's key is `replenish:LEVEL:SKU:REGION`; after every run the open ones are made exactly
the newest finished run's (cloud/alerts.py syncs the books), so a shortage the next run no longer
sees is resolved, and one it still sees is not raised twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.models import Product, ReplenishmentRun, ReplenishmentSuggestion
from shared.alerting.rules import Condition, Kind

SCOPE = "replenish:"


def emergency_alert(row: Mapping[str, Any], name: str) -> tuple[str, Condition]:
    """The book and condition for one emergency suggestion (`detail` parsed: stores, warehouse_units)."""
    level, sku, region, units = int(row["level"]), row["sku"], row["location"], int(row["units"])
    stores = list(row["detail"]["stores"])
    what = name or f"GTIN {sku}"
    key = f"{SCOPE}{level}:{sku}:{region}"
    if level == 1:
        store = stores[0]
        return f"{store}.manager", Condition(
            key, Kind.REORDER, "-",
            f"Store {store} is short of {what}: {units} units below its reorder point",
            f"门店 {store} 缺货 {what}：低于再订货点 {units} 件",
            action_en="Move stock from a neighbouring store (transfer suggestions)",
            action_zh="从邻近门店调拨（调拨建议）")
    if level == 2:
        return region, Condition(
            key, Kind.REORDER, "-",
            f"{len(stores)} stores short of {what} ({', '.join(stores)}): ship {units}",
            f"{len(stores)} 家门店缺货 {what}（{', '.join(stores)}）：请发货 {units} 件",
            urgent=True, action_en="Ship from the warehouse now", action_zh="请立即从仓库发货")
    have = int(row["detail"].get("warehouse_units", 0))
    return f"{region}.hq", Condition(
        key, Kind.REORDER, "-",
        f"Region {region} is short of {what}: stores lack {units}, the warehouse has {have}",
        f"区域 {region} 缺货 {what}：门店缺 {units} 件，仓库有 {have} 件",
        urgent=True, action_en="Place an urgent supplier order (purchase suggestions)",
        action_zh="请紧急向供应商下单（采购建议）")


def by_book(rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, list[Condition]]:
    out: dict[str, list[Condition]] = defaultdict(list)
    for row in rows:
        book, condition = emergency_alert(row, names.get(row["sku"], ""))
        out[book].append(condition)
    return dict(out)


async def newest(maker: async_sessionmaker[AsyncSession]
                 ) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """The newest finished run's emergencies and their products' names (None: no run finished)."""
    async with maker() as session:
        run = await session.scalar(select(ReplenishmentRun.id).where(ReplenishmentRun.status == "done")
                                   .order_by(ReplenishmentRun.finished_at.desc()).limit(1))
        if run is None:
            return None
        rows = (await session.scalars(select(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.run == run, ReplenishmentSuggestion.kind == "emergency"))).all()
        skus = sorted({r.sku for r in rows})
        names = dict((await session.execute(select(Product.sku, Product.name).where(Product.sku.in_(skus))))
                     .all()) if skus else {}
    return [{"sku": r.sku, "location": r.location, "units": r.units, "level": r.level,
             "detail": json.loads(r.detail or "{}")} for r in rows], names


__all__ = ["SCOPE", "by_book", "emergency_alert", "newest"]
