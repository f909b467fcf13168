"""The orders page in a real headless Chromium: filters by channel, store, state and number, a page at
a time, each order's held units with lot and expiry; an order placed through the API appears
without a reload; fulfil and cancel go through the ledger as the API's do and are audited; a store
token sees only orders held in its store alone; finance reads and its posts are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from cloud.api.orders import may_see_order
from cloud.auth import Principal, Role
from cloud.console import queries_orders
from cloud.console.pages.orders import filters
from cloud.console.queries_orders import PAGE_SIZE
from shared.contract import Zone
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, gtin, serve

A, B = gtin(31), gtin(32)
EAST, WEST = "sh-1", "sh-2"


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    """Two stores; channel tmall ships from EAST, jd from WEST, mini is pickup at either; A is in
    EAST in lot L7 (expiry 2027-02-01), B in WEST."""
    async with serve(f"sqlite:///{tmp_path / 'ledger.db'}") as c:
        await c.store(EAST)
        await c.store(WEST)
        await c.put(f"/v1/products/{A}", {"name": "Indoor Cat 2 kg"})
        await c.put(f"/v1/products/{B}", {"name": "Puppy Chews"})
        await c.channel("tmall", [EAST])
        await c.channel("jd", [WEST])
        await c.channel("mini", [], pickup=[EAST, WEST])
        await c.counted(EAST, A, 40, lot="L7", expiry=date(2027, 2, 1), zone=Zone.FLOOR)
        await c.counted(WEST, B, 40, zone=Zone.FLOOR)
        yield c


async def _place(chain: Chain, channel: str, number: str, sku: str, qty: int = 1, **fulfilment: Any) -> str:
    status, order = await chain.order(channel, number, [(sku, qty)], **fulfilment)
    assert status == 201, order
    return str(order["id"])


def _rows(page: Any) -> Any:
    return page.locator("#orders-table tr[data-order]")


async def _shown(page: Any, attribute: str) -> set[str]:
    return {str(await r.get_attribute(attribute)) for r in await _rows(page).all()}


async def test_the_filters_and_pages_show_the_orders_asked_for_with_their_holds(
        chain: Chain, new_page: Any) -> None:
    for n in range(PAGE_SIZE + 3):  # more than a page from tmall
        await _place(chain, "tmall", f"TM-{n:03d}", A)
    for n in range(3):
        await _place(chain, "jd", f"JD-{n}", B, 2)
    pickup = await _place(chain, "mini", "MINI-1", B, 1, type="pickup", store=WEST)
    status, _ = await chain.post(f"/v1/orders/{pickup}/cancel")
    assert status == 200
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-buyer", Role.HQ), then="/orders")
    await expect(page.locator("[data-figure=shown]")).to_contain_text(f"{PAGE_SIZE + 7} orders")
    await expect(_rows(page)).to_have_count(PAGE_SIZE)
    await expect(page.locator("[data-kpi=open]")).to_have_text(str(PAGE_SIZE + 6))
    await expect(page.locator("[data-kpi=held]")).to_have_text(str(PAGE_SIZE + 3 + 6))

    await page.locator("#orders-filters select[name=channel]").select_option("jd")
    await expect(_rows(page)).to_have_count(3)
    assert await _shown(page, "data-channel") == {"jd"}
    assert "channel=jd" in page.url  # the filter is in the address (a link can be shared)
    hold = page.locator("#orders-table tr[data-order] [data-store]").first
    await expect(hold).to_have_attribute("data-store", WEST)
    await expect(hold).to_contain_text("2 × Puppy Chews")

    await page.locator("#orders-filters select[name=channel]").select_option("")
    await page.locator("#orders-filters select[name=store]").select_option(WEST)
    await expect(_rows(page)).to_have_count(4)  # three jd orders and the cancelled pickup
    await page.locator("#orders-filters select[name=state]").select_option("cancelled")
    await expect(_rows(page)).to_have_count(1)
    assert await _shown(page, "data-order") == {pickup}
    await expect(page.locator(f"tr[data-order='{pickup}'] [data-action]")).to_have_count(0)  # closed

    await page.locator("#orders-filters select[name=store]").select_option(EAST)
    await page.locator("#orders-filters select[name=state]").select_option("reserved")
    await expect(_rows(page)).to_have_count(PAGE_SIZE)
    first = page.locator("#orders-table tr[data-order]").first
    await expect(first).to_contain_text("L7")  # the held lot, and its expiry
    await expect(first).to_contain_text("2027-02-01")
    await page.locator("#orders-table .pager [rel=next]").click()
    await expect(_rows(page)).to_have_count(3)
    assert await _shown(page, "data-channel") == {"tmall"}
    assert "page=2" in page.url

    await page.locator("#orders-filters input[name=q]").fill("TM-00")
    await expect(_rows(page)).to_have_count(10)  # TM-000 … TM-009, back on page 1


async def test_an_order_placed_elsewhere_appears_and_one_is_fulfilled_and_one_cancelled_from_the_page(
        chain: Chain, new_page: Any) -> None:
    keep = await _place(chain, "tmall", "TM-1", A, 3)
    drop = await _place(chain, "tmall", "TM-2", A, 2)
    assert await chain.stock(EAST, A) == (40, 5)
    page = await new_page(PHONE)
    await sign_in(page, chain.url, await chain.token("hq-buyer", Role.HQ), then="/orders")
    await expect(_rows(page)).to_have_count(2)
    await page.wait_for_selector("#live[data-state=open]")
    late = await _place(chain, "jd", "JD-9", B, 4)  # through the API, while the page is open
    await expect(page.locator(f"tr[data-order='{late}']")).to_have_count(1)  # no reload
    await expect(page.locator("[data-kpi=held]")).to_have_text("9")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(f"tr[data-order='{keep}'] [data-action=fulfil]").click()
    await expect(page.locator(f"tr[data-order='{keep}']")).to_have_attribute("data-status", "fulfilled")
    assert await chain.stock(EAST, A) == (37, 2)  # sold: off the shelf, no longer held
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(f"tr[data-order='{drop}'] [data-action=cancel]").click()
    await expect(page.locator(f"tr[data-order='{drop}']")).to_have_attribute("data-status", "cancelled")
    assert await chain.stock(EAST, A) == (37, 0)  # free again
    _, order = await chain.get(f"/v1/orders/{drop}")
    assert order["status"] == "cancelled"
    entries = await chain.audit("order")
    assert [(e.action, e.target, e.who) for e in entries] == [
        ("order.cancel", f"order:{drop}", "hq-buyer (hq)"), ("order.fulfil", f"order:{keep}", "hq-buyer (hq)")]
    assert entries[1].before is not None and entries[1].before["status"] == "reserved"
    assert entries[1].after == {"status": "fulfilled", "channel": "tmall", "order_id": "TM-1"}


async def test_a_store_sees_only_orders_held_in_it_alone_and_finance_changes_nothing(
        chain: Chain, new_page: Any) -> None:
    await chain.counted(WEST, A, 1, zone=Zone.FLOOR)
    east = await _place(chain, "tmall", "TM-1", A)
    west = await _place(chain, "jd", "JD-1", B)
    pickup = await _place(chain, "mini", "MINI-1", A, 1, type="pickup", store=WEST)
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("manager-2", Role.STORE, WEST), then="/orders")
    await expect(_rows(page)).to_have_count(2)
    assert await _shown(page, "data-order") == {west, pickup}
    await expect(page.locator("#orders-filters select[name=store]")).to_have_count(0)
    await page.goto(f"{chain.url}/orders?store={EAST}")  # asking for another store shows nothing of it
    await expect(_rows(page)).to_have_count(0)
    assert await csrf_post(page, f"/orders/{east}/cancel", {}) == 404  # another store's order
    await page.goto(f"{chain.url}/orders")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(f"tr[data-order='{pickup}'] [data-action=cancel]").click()
    await expect(page.locator(f"tr[data-order='{pickup}']")).to_have_attribute("data-status", "cancelled")

    finance = await new_page()
    await sign_in(finance, chain.url, await chain.token("finance", Role.FINANCE), then="/orders")
    await expect(_rows(finance)).to_have_count(3)
    await expect(finance.locator("[data-action]")).to_have_count(0)
    for action in ("fulfil", "cancel"):
        assert await csrf_post(finance, f"/orders/{east}/{action}", {}) == 403
    _, still = await chain.get(f"/v1/orders/{east}")
    assert still["status"] == "reserved"
    assert await chain.stock(EAST, A) == (40, 1)
    assert [(e.action, e.who) for e in await chain.audit("order")] == [("order.cancel", "manager-2 (store)")]


async def test_the_pages_store_scope_is_the_apis_on_both_databases(db_url: str) -> None:
    """queries_orders applies in SQL what the API's may_see_order applies to one order: a store
    token sees an order only when every store holding it is its own. Filters and pages too."""
    async with serve(db_url) as chain:
        for s in (EAST, WEST):
            await chain.store(s)
        await chain.channel("split", [EAST, WEST], split=True)
        await chain.channel("mini", [], pickup=[EAST, WEST])
        await chain.counted(EAST, A, 3, lot="L1", expiry=date(2027, 1, 1), zone=Zone.FLOOR)
        await chain.counted(WEST, A, 33, zone=Zone.FLOOR)
        await chain.counted(WEST, B, 30, zone=Zone.FLOOR)
        both = await _place(chain, "split", "S-1", A, 35)  # neither store has 35: both hold it
        ids = [both]
        for n in range(7):
            ids.append(await _place(chain, "mini", f"P-{n}", B, 1, type="pickup", store=WEST))
        status, _ = await chain.post(f"/v1/orders/{ids[1]}/cancel")
        assert status == 200
        _, placed = await chain.get(f"/v1/orders/{both}")
        assert set(placed["stores"]) == {EAST, WEST}, placed  # one order held in two stores
        orders = {oid: (await chain.get(f"/v1/orders/{oid}"))[1] for oid in ids}
        async with chain.maker() as session:
            for who in (Principal("m-e", Role.STORE, EAST), Principal("m-w", Role.STORE, WEST),
                        Principal("fin", Role.FINANCE), Principal("hq", Role.HQ)):
                f, _ = filters(who, {})
                rows, page = await queries_orders.orders(session, f, 1)
                assert {o.id for o in rows} == {oid for oid, o in orders.items() if may_see_order(who, o)}, who
                assert page.total == len(rows)
            hq = Principal("hq", Role.HQ)
            f, _ = filters(hq, {"store": EAST})
            assert {o.id for o in (await queries_orders.orders(session, f, 1))[0]} == {both}
            f, _ = filters(hq, {"state": "cancelled", "channel": "mini"})
            assert {o.id for o in (await queries_orders.orders(session, f, 1))[0]} == {ids[1]}
            f, _ = filters(hq, {"q": "p-"})  # in part, in any case, on both databases
            assert len((await queries_orders.orders(session, f, 1))[0]) == 7
            f, _ = filters(hq, {"q": "%"})  # a LIKE wildcard is a character like any other
            assert (await queries_orders.orders(session, f, 1))[0] == []
            f, _ = filters(hq, {"q": "P-", "state": "bogus", "channel": "Not An Id!"})  # bad filters filter nothing
            rows, page = await queries_orders.orders(session, f, 99)  # a page past the last: the last
            assert len(rows) == 7 and page.number == 1
            held = await queries_orders.open_holds(session, filters(hq, {})[0], datetime.now(UTC))
            assert (held.orders, held.units, held.expiring) == (7, 35 + 6, 0)
            east = filters(Principal("m-e", Role.STORE, EAST), {})[0]
            assert (await queries_orders.open_holds(session, east, datetime.now(UTC))).orders == 0
