"""The transfers page's suggestions are made in a process of their own (queries_orders.
SuggestionsApart), not on the worker's interpreter: in one of its threads, the second of arithmetic
on a large chain held the GIL, and every console request meanwhile waited for it at each return
from the database (the partials' p95 in `shelfsync bench console`). The answer is still exactly
the API's; the worker's own `suggest` is made to fail, so a read that ran here would show."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cloud.auth import Role
from cloud.console import queries_orders
from cloud.console.queries_orders import SuggestionsApart
from tests.console.steering import serve, signed_in
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


SUGGESTION = re.compile(r'data-suggestion="(\d{14})/([a-z0-9-]+)/([a-z0-9-]+)"')


async def test_a_transfer_made_on_the_page_is_answered_before_the_suggestions_it_outdated_are_read(
        db_url: str) -> None:
    """The htmx answer to a transfer action comes at once with its notice and the transfer in
    transit; the suggestions it outdated are not shown from before it, nor waited for: the part
    fetches itself when loaded (hx-trigger="load"), and that fetch gets the new read, the API's."""
    async with serve(db_url) as chain:
        for store, lat, lon in (("sh-1", 31.23, 121.47), ("sh-2", 31.25, 121.50)):
            await chain.store(store, lat, lon)
        short = gtin(82)
        await chain.put(f"/v1/products/{short}", {"name": short, "min_stock": 5})
        await chain.count("sh-1", short, 30)
        await chain.count("sh-2", short, 1)
        async with signed_in(chain, await chain.token("hq-t", Role.HQ)) as console:
            async with console.get(f"{chain.url}/transfers") as r:
                page = await r.text()
            assert (short, "sh-1", "sh-2") in {m.groups() for m in SUGGESTION.finditer(page)}
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "from": "sh-1", "to": "sh-2", "sku": short, "qty": "2",
                    "next": "/transfers"}
            htmx = {"HX-Request": "true", "HX-Target": "transfers-body"}
            async with console.post(f"{chain.url}/transfers", data=form, headers=htmx) as r:
                assert r.status == 200
                answer = await r.text()
            _, moving = await chain.get("/v1/transfers?status=in_transit")
            [made] = moving["transfers"]
            assert f'data-transfer="{made["id"]}"' in answer and "notice ok" in answer
            assert "data-suggestions-later" in answer and 'hx-get="/transfers"' in answer
            assert SUGGESTION.search(answer) is None  # nothing from the read the transfer outdated
            async with console.get(f"{chain.url}/transfers",
                                   headers={"HX-Request": "true", "HX-Target": "suggestions"}) as r:
                part = await r.text()
            _, after = await chain.get("/v1/transfers/suggestions")
            assert "data-suggestions-later" not in part
            assert {m.groups() for m in SUGGESTION.finditer(part)} == \
                {(s["sku"], s["from"], s["to"]) for s in after["suggestions"]}
