"""A small chain with sales history in the ledger, for the replenishment run's tests: booked through
the ledger's own write path as a gateway delivers them, then counted to today's stock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np

from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin

A, B = gtin(31), gtin(32)
DAYS = 56


async def chain_with_history(api: Api, *, warehouse: bool = True, seed: int = 7) -> None:
    """sh-1 sells ~5 A and ~1 B a day, sh-2 ~3 A a day, for DAYS days; A is bought from acme (lead
    4 days, packs of 6, at least 12), B has no terms. Now: sh-1 holds 2 A, sh-2 40 A, the
    warehouse (if any) 10 A."""
    if warehouse:
        await api.put("/v1/stores/wh", {"name": "DC", "lat": 31.0, "lon": 121.0, "kind": "warehouse"})
    await api.store("sh-1", 31.23, 121.47)
    await api.store("sh-2", 31.25, 121.50)
    await api.put("/v1/suppliers", {"suppliers": [{"supplier": "acme", "name": "Acme"}]})
    await api.put("/v1/buying-terms", {"terms": [{"supplier": "acme", "sku": A, "lead_mean_days": 4,
                                                  "lead_sd_days": 1, "pack": 6, "minimum": 12,
                                                  "unit_cost": 10.0}]})
    rng = np.random.default_rng(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for store, rates in (("sh-1", {A: 5.0, B: 1.0}), ("sh-2", {A: 3.0})):
        deltas = []
        for back in range(DAYS, 0, -1):
            at = today - timedelta(days=back) + timedelta(hours=12)
            for sku, rate in rates.items():
                n = int(rng.poisson(rate))
                if n:
                    deltas.append(StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.SALE, qty=-n,
                                             zone=Zone.FLOOR, occurred_at=at, source=Source.POS))
        await book(api.maker, store, *deltas)
    await api.count("sh-1", A, 2)
    await api.count("sh-2", A, 40)
    if warehouse:
        await api.post("/v1/stores/wh/receipts", {"ref": "opening", "lines": [{"sku": A, "qty": 10}]})
