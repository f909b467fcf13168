"""The transfers page's suggestions (queries_orders.transfer_suggestions) read only the SKUs some
store is short of, and are exactly what GET /v1/transfers/suggestions answers (every stock row
read, then cloud/db/transfers.py `suggest`): the same list in the same order, for the chain and for
each store, on SQLite and PostgreSQL. The cases that make a SKU a candidate are all here: a row
under the SKU's minimum, a hold that takes a row under it, a registered store with no row (it has
none), a SKU outside the catalogue (minimum 2); and the ones that do not: a SKU every store holds
enough of, a minimum of 0, a store heard from but not registered with no row."""

from __future__ import annotations

from typing import Any

from cloud.console.queries_orders import transfer_suggestions
from tests.console.steering import serve
from tests.orders.chain import gtin

STORES = {"sh-1": (31.23, 121.47), "sh-2": (31.25, 121.50), "sh-3": (31.10, 121.20),
          "sh-4": (30.27, 120.15), "sh-5": (None, None)}  # sh-5: no position (distance unknown)
UNREGISTERED = "gw-only-9"  # books stock, never registered with PUT /v1/stores


async def test_the_pages_suggestions_are_the_apis_for_the_chain_and_each_store(db_url: str) -> None:
    async with serve(db_url) as chain:
        for store, (lat, lon) in STORES.items():
            await chain.store(store, lat, lon)
        short, held, missing, stranger, enough, zero_min = (gtin(70 + n) for n in range(6))
        for sku, minimum in ((short, 3), (held, 2), (missing, 4), (enough, 2), (zero_min, 0)):
            await chain.put(f"/v1/products/{sku}", {"name": sku, "min_stock": minimum})
        # short: sh-2 has 1 and sh-3 0 of minimum 3; sh-1 and sh-4 have surplus (above 6)
        for store, qty in (("sh-1", 30), ("sh-2", 1), ("sh-3", 0), ("sh-4", 9), ("sh-5", 4),
                           (UNREGISTERED, 12)):
            await chain.count(store, short, qty)
        # held: every store has 3 of minimum 2, one has a surplus; an order holds 2 in sh-3 (1 free)
        for store in STORES:
            await chain.count(store, held, 20 if store == "sh-1" else 3)
        await chain.channel("web", ["sh-3"])
        status, order = await chain.order("web", "o-1", [(held, 2)])
        assert status == 201, order
        # missing: only sh-1 and sh-4 have rows; sh-2, sh-3 and sh-5 are registered with none
        await chain.count("sh-1", missing, 25)
        await chain.count("sh-4", missing, 5)  # at its minimum: neither short nor spare
        # stranger: not in the catalogue (minimum 2); sh-2 has 1
        for store, qty in (("sh-1", 8), ("sh-2", 1), ("sh-3", 2), ("sh-4", 2), ("sh-5", 2)):
            await chain.count(store, stranger, qty)
        # enough: every registered store at or above its minimum, the unregistered store has none
        for store in STORES:
            await chain.count(store, enough, 2 if store == "sh-3" else 11)
        # minimum 0: nobody is ever short, whatever they hold or lack
        await chain.count("sh-1", zero_min, 40)

        _, every = await chain.get("/v1/transfers/suggestions")
        async with chain.maker() as session:
            mine = await transfer_suggestions(session)
        assert mine == every["suggestions"]
        assert {s["sku"] for s in mine} == {short, held, missing, stranger}
        assert ("sh-3", held) in {(s["to"], s["sku"]) for s in mine}  # short only through the hold
        assert {s["to"] for s in mine if s["sku"] == missing} == {"sh-2", "sh-3", "sh-5"}
        assert any(s["distance_km"] is None for s in mine) and any(s["distance_km"] for s in mine)

        for store in [*STORES, UNREGISTERED, "sh-404"]:
            _, theirs = await chain.get(f"/v1/transfers/suggestions?store={store}")
            async with chain.maker() as session:
                ours: list[dict[str, Any]] = await transfer_suggestions(session, store)
            assert ours == theirs["suggestions"], store
        _, sh3 = await chain.get("/v1/transfers/suggestions?store=sh-3")
        assert {s["sku"] for s in sh3["suggestions"]} == {short, held, missing}

