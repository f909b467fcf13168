"""The transfers page's suggestions are made in a process of their own (queries_orders.
SuggestionsApart), not on the worker's interpreter: in one of its threads, the second of arithmetic
on a large chain held the GIL, and every console request meanwhile waited for it at each return
from the database (the partials' p95 in `shelfsync bench console`). The answer is still exactly
the API's; the worker's own `suggest` is made to fail, so a read that ran here would show."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.console import queries_orders
from cloud.console.queries_orders import SuggestionsApart
from tests.console.steering import serve
from tests.orders.chain import gtin


async def test_the_suggestions_are_made_in_a_process_of_their_own_and_are_the_apis(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(db_url) as chain:
        for store, lat, lon in (("sh-1", 31.23, 121.47), ("sh-2", 31.25, 121.50), ("sh-3", 30.27, 120.15)):
            await chain.store(store, lat, lon)
        short, missing = gtin(80), gtin(81)
        for sku in (short, missing):
            await chain.put(f"/v1/products/{sku}", {"name": sku, "min_stock": 3})
        for store, qty in (("sh-1", 30), ("sh-2", 1), ("sh-3", 0)):
            await chain.count(store, short, qty)
        await chain.count("sh-1", missing, 20)  # sh-2 and sh-3 have no row: none

        def not_here(*_: Any) -> Any:
            raise AssertionError("the suggestions were arranged in the worker's process")

        monkeypatch.setattr(queries_orders, "suggest", not_here)
        apart = SuggestionsApart()
        engine = chain.maker.kw["bind"]
        try:
            _, every = await chain.get("/v1/transfers/suggestions")
            assert await apart.suggestions(engine, None) == every["suggestions"]
            assert {s["sku"] for s in every["suggestions"]} == {short, missing}
            _, sh2 = await chain.get("/v1/transfers/suggestions?store=sh-2")
            assert await apart.suggestions(engine, "sh-2") == sh2["suggestions"] != []
            assert apart.apart == 2
        finally:
            apart.close()
