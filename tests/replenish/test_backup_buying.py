"""A backup carries the buying master data and the purchase orders with their receipts: SQLite →
file → PostgreSQL gives the same suppliers, terms, capacities, shelf lives and orders."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.db import backup, buying, engines
from cloud.db.migrate import upgrade
from cloud.db.models import PurchaseOrder
from cloud.db.purchasing import _po
from tests.orders.chain import serve
from tests.replenish.ledger_history import A


async def _state(maker: Any) -> tuple[Any, ...]:
    async with maker() as session:
        tables = [await buying.rows(session, t) for t in buying.TABLES.values()]
        ids = (await session.scalars(select(PurchaseOrder.id).order_by(PurchaseOrder.id))).all()
        return (*tables, [await _po(session, i) for i in ids])


@pytest.mark.postgres
async def test_buying_data_and_purchase_orders_survive_backup_and_restore(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    async with serve(source) as api:
        await api.put("/v1/stores/wh", {"name": "DC", "kind": "warehouse"})
        await api.put("/v1/suppliers", {"suppliers": [{"supplier": "acme", "name": "Acme"}]})
        await api.put("/v1/buying-terms", {
            "terms": [{"supplier": "acme", "sku": A, "lead_mean_days": 4, "pack": 6, "unit_cost": 3.5}],
            "capacities": [{"store": "wh", "sku": A, "capacity": 900}], "shelf_lives": [{"sku": A, "days": 120}]})
        _, po = await api.post("/v1/purchase-orders", {"supplier": "acme", "location": "wh",
                                                       "lines": [{"sku": A, "qty": 12}]})
        await api.post(f"/v1/purchase-orders/{po['id']}/send")
        status, _ = await api.post(f"/v1/purchase-orders/{po['id']}/receive",
                                   {"ref": "DN-1", "lines": [{"line": 0, "qty": 6}]})
        assert status == 200
        before = await _state(api.maker)
        file = tmp_path / "ledger.jsonl.gz"
        await backup.backup(api.maker, file)
    await asyncio.get_running_loop().run_in_executor(None, upgrade, pg_url)
    target = engines.make_engine(pg_url)
    try:
        restored = await backup.restore(engines.sessionmaker(target), file)
        assert restored["purchase_orders"] == 1 and restored["purchase_receipts"] == 1
        after = await _state(engines.sessionmaker(target))
        assert after == before and after[-1][0]["status"] == "partial"
    finally:
        await target.dispose()
