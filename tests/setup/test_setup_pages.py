"""Setup and the audit page in a real Chromium against the real cloud: a products CSV with one bad
row imports nothing and says which row and field; a good one imports and shows in the audit; a
store, a channel with its rules and a listing set from forms; a non-hq token can neither open
Setup nor post to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.db.models import Listing, Product
from cloud.keys import MAKER
from tests.integration.conftest import Cloud
from tests.setup.conftest import PHONE, Tokens, sign_in

KIBBLE = "00950123456782"
TREATS = "06923450000106"


async def _products(cloud: Cloud) -> int:
    async with cloud.app[MAKER]() as session:
        return int((await session.execute(select(func.count()).select_from(Product))).scalar_one())


async def test_a_csv_with_a_bad_row_imports_nothing_and_says_which_row_and_field_then_a_good_one_is_audited(
        cloud: Cloud, tokens: Tokens, new_page: Any, tmp_path: Path) -> None:
    page = await new_page()
    await sign_in(page, cloud.url, tokens.hq, "/setup/products")
    bad = tmp_path / "products-bad.csv"
    bad.write_bytes("sku,name,category,unit_cost,min_stock\r\n"
                    "950123456782,皇家室内成猫粮 2kg,dry-food,88.5,3\r\n"
                    "6923450000106,Chicken treats,treats,cheap,2\r\n".encode("utf-8-sig"))
    await page.set_input_files("#products-io input[type=file]", str(bad))
    await page.click("#import-products")
    refused = page.locator("#refused")
    await refused.wait_for()
    text = await refused.inner_text()
    assert "Row 3, field unit_cost" in text and "must be a number, got 'cheap'" in text, text
    assert "Nothing was imported" in text
    assert await _products(cloud) == 0  # the good first row was not imported either

    good = tmp_path / "products.csv"
    good.write_bytes("sku,name,category,unit_cost,min_stock\r\n"
                     "950123456782,皇家室内成猫粮 2kg,dry-food,88.5,3\r\n"
                     "6923450000106,Chicken treats,treats,12,2\r\n".encode("utf-8-sig"))
    await page.set_input_files("#products-io input[type=file]", str(good))
    await page.click("#import-products")
    await page.locator("#imported").wait_for()
    assert "Imported 2 rows" in await page.locator("#imported").inner_text()
    assert await page.locator(f"#setup-products tr[data-sku='{KIBBLE}']").count() == 1
    assert await _products(cloud) == 2

    await page.goto(f"{cloud.url}/audit?action=product.import")
    rows = page.locator("#audit tbody tr")
    assert await rows.count() == 2
    kibble = page.locator(f"#audit tr[data-target='product:{KIBBLE}']")
    assert "admin (hq)" in await kibble.inner_text()
    assert await kibble.locator("li[data-field=name] .new").inner_text() == "皇家室内成猫粮 2kg"
    assert await kibble.locator("li[data-field=unit_cost] .new").inner_text() == "88.5"

    # exported again, the file reads back the same (through the same reader)
    async with page.expect_download() as download:
        await page.goto(f"{cloud.url}/setup/products")
        await page.click("#export-products")
    exported = Path(await (await download.value).path()).read_bytes()
    assert exported.startswith("\ufeff".encode())
    assert f"{KIBBLE},皇家室内成猫粮 2kg,dry-food,88.5,3" in exported.decode("utf-8-sig")


async def test_a_channel_its_rules_and_a_listing_set_in_forms_are_stored_and_audited(
        cloud: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page(PHONE)
    await sign_in(page, cloud.url, tokens.hq, "/setup/stores")
    await page.fill("#store-form input[name=store]", "sh-0042")
    await page.fill("#store-form input[name=name]", "静安店")
    await page.click("#store-form button[type=submit]")
    await page.wait_for_selector("tr[data-store='sh-0042']")

    await page.goto(f"{cloud.url}/setup/channels")
    form = page.locator("#channel-form form")
    await form.locator("input[name=name]").fill("community")
    await form.locator("input[name=share_pct]").fill("150")  # the API refuses it: so does the form
    await form.locator("input[name=ship][value='sh-0042']").check()
    await form.locator("button[type=submit]").click()
    problem = page.locator("#problem")
    await problem.wait_for()
    assert "share_pct" in await problem.inner_text() and "from 0 to 100" in await problem.inner_text()
    form = page.locator("#channel-form form")
    assert await form.locator("input[name=ship][value='sh-0042']").is_checked()  # what was typed stays
    await form.locator("input[name=share_pct]").fill("50")
    await form.locator("input[name=safety]").fill("1")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("tr[data-channel='community']")
    status, channel = await cloud.get("/v1/channels/community")
    assert status == 200
    assert (channel["share_pct"], channel["safety"], channel["ship_stores"]) == (50, 1, ["sh-0042"])

    await page.goto(f"{cloud.url}/setup/listings?channel=community")
    form = page.locator("#listing-form form")
    await form.locator("input[name=channel_sku]").fill("GRP-1")
    await form.locator("input[name=sku]").fill("950123456782")  # as printed: a UPC-A
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("tr[data-listing='GRP-1']")
    async with cloud.app[MAKER]() as session:
        listing = (await session.scalars(select(Listing))).one()
    assert (listing.channel, listing.channel_sku, listing.sku) == ("community", "GRP-1", KIBBLE)

    await page.goto(f"{cloud.url}/audit")
    actions = [await r.get_attribute("data-action") for r in await page.locator("#audit tbody tr").all()]
    assert actions == ["listing.put", "channel.put", "store.put"]


async def test_a_csv_over_the_upload_limit_is_refused_with_a_page_and_imports_nothing(
        cloud: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, cloud.url, tokens.hq, "/setup/products")
    csrf = await page.locator("form[action='/signout'] input[name=csrf]").get_attribute("value")
    rows = "".join(f"0{6923450000000 + i:013d}x,{'n' * 60}\n" for i in range(20_000))  # > 1 MiB
    big = {"name": "big.csv", "mimeType": "text/csv", "buffer": ("sku,name\n" + rows).encode()}
    answer = await page.request.post(cloud.url + "/setup/products/import", multipart={"csrf": csrf, "file": big})
    assert answer.status == 413
    assert "text/html" in answer.headers["content-type"]
    assert "The file is too large: at most 1 MiB" in await answer.text()
    assert await _products(cloud) == 0


@pytest.mark.parametrize("who", ["store", "finance"])
async def test_a_token_other_than_hq_can_neither_open_setup_nor_post_to_it(
        cloud: Cloud, tokens: Tokens, new_page: Any, who: str) -> None:
    page = await new_page()
    await sign_in(page, cloud.url, getattr(tokens, who), "/stores/sh-0042" if who == "store" else "/")
    assert await page.locator("nav.nav a[href='/setup']").count() == 0
    for path in ("/setup", "/setup/stores", "/setup/products", "/setup/channels", "/setup/listings",
                 "/setup/shelves", "/setup/products.csv"):
        response = await page.goto(cloud.url + path)
        assert response is not None and response.status == 403, path
    # a post with the session's own CSRF token (taken from the page) is refused all the same
    await page.goto(cloud.url + ("/stores/sh-0042" if who == "store" else "/"))
    csrf = await page.locator("form[action='/signout'] input[name=csrf]").get_attribute("value")
    for path, form in (("/setup/stores", {"store": "sh-9999", "name": "x"}),
                       ("/setup/products", {"sku": KIBBLE, "name": "x"}),
                       ("/setup/shelves", {"store": "sh-0042", "kind": "bin", "key": "A1-1", "refill_at": "9"})):
        answer = await page.request.post(cloud.url + path, form={"csrf": csrf, **form})
        assert answer.status == 403, path
    answer = await page.request.post(cloud.url + "/setup/channels", form={"csrf": csrf, "name": "x", "ship": "sh-0042"})
    assert answer.status == 403
    csv_file = {"name": "p.csv", "mimeType": "text/csv", "buffer": b"sku,name\n950123456782,x\n"}
    for path in ("/setup/products/import", "/setup/listings/import"):
        answer = await page.request.post(cloud.url + path, multipart={"csrf": csrf, "channel": "x", "file": csv_file})
        assert answer.status == 403, path
    assert await _products(cloud) == 0
    response = await page.goto(cloud.url + "/audit")
    assert response is not None and response.status == (403 if who == "store" else 200)
