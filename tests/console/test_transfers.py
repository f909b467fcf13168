"""The transfers page in a real headless Chromium: a suggestion becomes a transfer, it is received, and
another is cancelled back to its source, with the ledger read back after each step; a store token
sees its own store's transfers and may do only what the API lets it; finance reads and every post
of its is refused; every action is in the audit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from cloud.auth import Role
from cloud.console.pages.transfers import SUGGESTIONS_SHOWN
from cloud.db import reads
from shared.contract import Zone
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, gtin, serve, signed_in

A, B = gtin(21), gtin(22)
SOURCE, NEAR, FAR = "sh-1", "sh-2", "sh-3"


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    """Three stores; the source holds 20 of A in one lot and 9 of B, the others none: A is short
    in both (minimum 3: lift to 6), B too (minimum 2: lift to 4)."""
    async with serve(f"sqlite:///{tmp_path / 'ledger.db'}") as c:
        await c.store(SOURCE, 31.23, 121.47)
        await c.store(NEAR, 31.25, 121.50)
        await c.store(FAR, 31.10, 121.20)
        await c.put(f"/v1/products/{A}", {"name": "Indoor Cat 2 kg", "min_stock": 3})
        await c.put(f"/v1/products/{B}", {"name": "Puppy Chews", "min_stock": 2})
        await c.counted(SOURCE, A, 20, lot="L1", expiry=date(2027, 5, 1), zone=Zone.BACKROOM)
        await c.counted(SOURCE, B, 9, zone=Zone.FLOOR)
        yield c


def _suggestion(page: Any, sku: str, src: str, dst: str) -> Any:
    return page.locator(f"[data-suggestion='{sku}/{src}/{dst}']")


async def _lots(chain: Chain, store: str, sku: str) -> list[tuple[str | None, str | None, int]]:
    _, body = await chain.get(f"/v1/stores/{store}/stock?sku={sku}")
    return [(lot["lot"], lot["expiry"], lot["qty"]) for item in body["items"] for lot in item["lots"]]


async def test_a_suggestion_becomes_a_transfer_that_is_received_and_another_is_cancelled(
        chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, (await chain.token("hq-buyer", Role.HQ)), then="/transfers")
    # the suggestion as GET /v1/transfers/suggestions makes it, created with a smaller quantity
    near = _suggestion(page, A, SOURCE, NEAR)
    await expect(near.locator("input[name=qty]")).to_have_value("6")
    await near.locator("input[name=qty]").fill("4")
    await near.locator("[data-create]").click()
    await expect(page.locator("#transfers-body .notice.ok")).to_contain_text("4 × " + A)
    moving = page.locator("#transit [data-transfer]")
    await expect(moving).to_have_count(1)
    first = await moving.get_attribute("data-transfer")
    assert await chain.stock(SOURCE, A) == (16, 0)  # left the source at once
    assert await chain.stock(NEAR, A) == (0, 0)  # not there yet: in transit

    await page.locator(f"#transit [data-transfer='{first}'] [data-action=receive]").click()
    await expect(page.locator("#transfers-body .notice.ok")).to_contain_text(f"{first} received")
    await expect(page.locator(f"#history [data-transfer='{first}']")).to_have_attribute("data-status", "received")
    await expect(page.locator("#transit [data-transfer]")).to_have_count(0)
    assert await chain.stock(NEAR, A) == (4, 0)
    assert await _lots(chain, NEAR, A) == [("L1", "2027-05-01", 4)]  # the lot and its expiry travelled
    assert await chain.stock(SOURCE, A) == (16, 0)

    # another, as suggested (6 to the far store), then called back
    far = _suggestion(page, A, SOURCE, FAR)
    await far.locator("[data-create]").click()
    await expect(page.locator("#transit [data-transfer]")).to_have_count(1)
    second = await page.locator("#transit [data-transfer]").get_attribute("data-transfer")
    assert second != first
    assert await chain.stock(SOURCE, A) == (10, 0)
    page.once("dialog", lambda dialog: dialog.accept())  # "its units go back to the source?"
    await page.locator(f"#transit [data-transfer='{second}'] [data-action=cancel]").click()
    await expect(page.locator("#transfers-body .notice.ok")).to_contain_text(f"{second} cancelled")
    await expect(page.locator(f"#history [data-transfer='{second}']")).to_have_attribute("data-status", "cancelled")
    assert await chain.stock(SOURCE, A) == (16, 0)  # back at the source, in the lot they left
    assert await _lots(chain, SOURCE, A) == [("L1", "2027-05-01", 16)]
    assert await chain.stock(FAR, A) == (0, 0)
    assert await reads.rebuild_mismatches(chain.maker) == []

    entries = await chain.audit("transfer")  # newest first, each in the transaction that made it
    assert [(e.action, e.target, e.who) for e in entries] == [
        ("transfer.cancel", f"transfer:{second}", "hq-buyer (hq)"),
        ("transfer.create", f"transfer:{second}", "hq-buyer (hq)"),
        ("transfer.receive", f"transfer:{first}", "hq-buyer (hq)"),
        ("transfer.create", f"transfer:{first}", "hq-buyer (hq)")]
    assert entries[0].before == {"status": "in_transit"} and entries[0].after is not None
    assert entries[0].after["status"] == "cancelled"
    assert entries[3].before is None and entries[3].after is not None
    assert entries[3].after["lines"][0]["qty"] == 4


async def test_a_refused_transfer_says_why_and_moves_nothing(chain: Chain, new_page: Any) -> None:
    page = await new_page(PHONE)
    await sign_in(page, chain.url, await chain.token("hq-2", Role.HQ), then="/transfers")
    form = page.locator("#new-transfer form")
    await form.locator("select[name=from]").select_option(SOURCE)
    await form.locator("select[name=to]").select_option(NEAR)
    await form.locator("input[name=sku]").fill(B)
    await form.locator("input[name=qty]").fill("10")  # it has 9
    await form.locator("button[type=submit]").click()
    problem = page.locator("#transfers-body .notice.bad")
    await expect(problem).to_contain_text(f"{SOURCE} has not 10 free units of {B} (it has 9)")
    await expect(page.locator("#new-transfer input[name=qty]")).to_have_value("10")  # the form kept
    assert await chain.stock(SOURCE, B) == (9, 0)
    status = await csrf_post(page, "/transfers", {"from": SOURCE, "to": "nowhere-9", "sku": B, "qty": "1"})
    assert status == 422  # a plain form post gets the page again, saying why
    _, listed = await chain.get("/v1/transfers")
    assert listed["transfers"] == [] and await chain.audit("transfer") == []


async def test_a_store_sees_its_own_transfers_and_does_only_what_the_api_lets_it(
        chain: Chain, new_page: Any) -> None:
    _, to_near = await chain.post("/v1/transfers", {"from": SOURCE, "to": NEAR, "lines": [{"sku": A, "qty": 2}]})
    _, to_far = await chain.post("/v1/transfers", {"from": SOURCE, "to": FAR, "lines": [{"sku": B, "qty": 1}]})
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("manager-2", Role.STORE, NEAR), then="/transfers")
    await expect(page.locator("#transit [data-transfer]")).to_have_count(1)
    mine = page.locator(f"#transit [data-transfer='{to_near['id']}']")
    await expect(mine.locator("[data-action=receive]")).to_have_count(1)  # it receives what comes to it
    await expect(mine.locator("[data-action=cancel]")).to_have_count(0)  # the sender calls it back
    await expect(page.locator(f"[data-transfer='{to_far['id']}']")).to_have_count(0)  # not its business
    await expect(page.locator("[data-create]")).to_have_count(0)  # its suggestions come from another store
    assert {await r.get_attribute("data-suggestion") for r in await page.locator("[data-suggestion]").all()} \
        == {f"{A}/{SOURCE}/{NEAR}", f"{B}/{SOURCE}/{NEAR}"}  # only those for its own store, as the API

    assert await csrf_post(page, f"/transfers/{to_near['id']}/cancel", {}) == 403
    assert await csrf_post(page, f"/transfers/{to_far['id']}/receive", {}) == 404  # another store's
    assert await csrf_post(page, "/transfers", {"from": SOURCE, "to": NEAR, "sku": B, "qty": "1"}) == 403
    _, listed = await chain.get("/v1/transfers?status=in_transit")
    assert {t["id"] for t in listed["transfers"]} == {to_near["id"], to_far["id"]}
    assert await chain.stock(FAR, B) == (0, 0)

    await mine.locator("[data-action=receive]").click()
    await expect(page.locator(f"#history [data-transfer='{to_near['id']}']")).to_have_attribute(
        "data-status", "received")
    assert await chain.stock(NEAR, A) == (2, 0)
    assert [(e.action, e.who) for e in await chain.audit("transfer")] == [("transfer.receive", "manager-2 (store)")]


async def test_finance_sees_transfers_without_buttons_and_its_posts_change_nothing(
        chain: Chain, new_page: Any) -> None:
    _, moving = await chain.post("/v1/transfers", {"from": SOURCE, "to": NEAR, "lines": [{"sku": A, "qty": 2}]})
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("finance", Role.FINANCE), then="/transfers")
    await expect(page.locator(f"#transit [data-transfer='{moving['id']}']")).to_have_count(1)
    await expect(page.locator("[data-suggestion]").first).to_be_visible()  # it reads the suggestions
    for hidden in ("[data-action]", "[data-create]", "#new-transfer"):
        await expect(page.locator(hidden)).to_have_count(0)
    for path, form in ((f"/transfers/{moving['id']}/receive", {}), (f"/transfers/{moving['id']}/cancel", {}),
                       ("/transfers", {"from": SOURCE, "to": FAR, "sku": A, "qty": "1"})):
        assert await csrf_post(page, path, form) == 403, path
    # and head office's own post without the session's CSRF token is refused too
    hq = await new_page()
    await sign_in(hq, chain.url, await chain.token("hq-3", Role.HQ), then="/transfers")
    assert await csrf_post(hq, f"/transfers/{moving['id']}/cancel", {}, with_token=False) == 403
    _, still = await chain.get(f"/v1/transfers/{moving['id']}")
    assert still["status"] == "in_transit"
    assert (await chain.stock(SOURCE, A), await chain.stock(NEAR, A), await chain.stock(FAR, A)) == \
        ((18, 0), (0, 0), (0, 0))
    assert await chain.audit("transfer") == []


async def test_a_chain_with_many_suggestions_shows_those_for_the_emptiest_stores_and_one_stores_on_asking(
        tmp_path: Path) -> None:
    """Hundreds of stores short of thousands of SKUs make more suggestions than a page can hold (a
    50-store chain's page was 20 MB): the page shows the emptiest stores' first and says how many
    there are; `?for=` shows one short store's, as the API's `?store=` does."""
    async with serve(f"sqlite:///{tmp_path / 'ledger.db'}") as chain:
        shorts = [f"sh-{n}" for n in range(2, 7)]
        for store in [SOURCE, *shorts]:
            await chain.store(store)
        skus = [gtin(60 + n) for n in range(10)]
        for sku in skus:
            await chain.put(f"/v1/products/{sku}", {"min_stock": 3})
            await chain.counted(SOURCE, sku, 100, zone=Zone.FLOOR)
            await chain.counted(shorts[0], sku, 1, zone=Zone.FLOOR)  # short, but not empty
        _, body = await chain.get("/v1/transfers/suggestions")
        every = body["suggestions"]
        assert len(every) == 50 > SUGGESTIONS_SHOWN
        async with signed_in(chain, await chain.token("hq-4", Role.HQ)) as console:
            async with console.get(f"{chain.url}/transfers") as r:
                page = await r.text()
            shown = re.findall(r'data-suggestion="(\d{14})/([a-z0-9-]+)/([a-z0-9-]+)"', page)
            assert len(shown) == SUGGESTIONS_SHOWN and f"of {len(every)}" in page
            assert shorts[0] not in {to for _, _, to in shown}  # it has 1 of each: the others have none
            async with console.get(f"{chain.url}/transfers?for={shorts[0]}") as r:
                page = await r.text()
            _, mine = await chain.get(f"/v1/transfers/suggestions?store={shorts[0]}")
            assert {m.groups() for m in re.finditer(r'data-suggestion="(\d{14})/([a-z0-9-]+)/([a-z0-9-]+)"', page)} \
                == {(s["sku"], s["from"], s["to"]) for s in mine["suggestions"]} != set()
