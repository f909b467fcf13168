"""The replenishment settings page in a real headless Chromium, on SQLite and PostgreSQL: head office
changes every kind of setting from the form and the API then answers exactly those values, each
changed setting recorded on the audit page with its before → after (and a save that changes nothing
recording nothing); a wrong value is refused with the API's own words, shown beside the field it
names, nothing saved and what was typed kept; finance reads the form and cannot save; a store token
is refused the page and the post; a post without its CSRF token is refused; Setup's tabs lead to the
suppliers and terms and to these settings; on a Chinese phone the page fits the screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from cloud.auth import Role
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, serve
from tests.orders.chain import ADMIN
from tests.replenish.ledger_history import A

DEFAULTS = {"promotions": [], "fill_rate": 0.98, "fill_rates": {}, "pooled": True, "least_fill_rate": 0.9,
            "store_sizes": {}, "transfer_km": 50.0,
            "served_by": {}, "opening_hours": {"opens": "09:00", "closes": "21:00"}, "nightly_at": "02:00",
            "keep_runs": 90}


@pytest.fixture
async def chain(db_url: str) -> AsyncIterator[Chain]:
    """Two stores and a warehouse, a product in the category "cat food"."""
    async with serve(db_url) as c:
        await c.put("/v1/stores/wh", {"name": "DC", "lat": 31.0, "lon": 121.0, "kind": "warehouse"})
        await c.store("sh-1", 31.23, 121.47)
        await c.store("sh-2", 31.25, 121.50)
        await c.put(f"/v1/products/{A}", {"name": "Grain-free Cat 1.5 kg", "category": "cat food"})
        yield c


async def _settings(chain: Chain) -> dict[str, Any]:
    status, body = await chain.get("/v1/replenishment/settings")
    assert status == 200, body
    return dict(body)


async def test_head_office_changes_every_setting_and_each_change_is_audited(chain: Chain, new_page: Any) -> None:
    assert await _settings(chain) == DEFAULTS
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-set", Role.HQ), then="/replenishment/settings")
    form = page.locator("#rp-settings")
    await expect(form.locator("input[name=fill_rate]")).to_have_value("0.98")
    await expect(form.locator("input[name=nightly_at]")).to_have_value("02:00")
    await expect(page.locator(".rp-tabs a[aria-current]")).to_have_attribute("href", "/replenishment/settings")
    await expect(form.locator("#pooled")).to_be_checked()
    await form.locator("#pooled").uncheck()
    typed = {"fill_rate": "0.97", "least_fill_rate": "0.85", "transfer_km": "30", "opens": "08:00", "closes": "22:00", "nightly_at": "03:30",
             "keep_runs": "30", "promo-0-name": "Pet Day", "promo-0-month": "8", "promo-0-day": "26",
             "promo-0-before": "3", "promo-0-after": "1", "promo-0-uplift": "2.5", "promo-1-name": "Launch",
             "promo-1-on": "2027-03-01", "promo-1-uplift": "1.8", "rate-0-category": "cat food",
             "rate-0-target": "0.99", "size-sh-1": "120", "size-sh-2": "80"}
    for name, value in typed.items():
        await form.locator(f"[name='{name}']").fill(value)
    await form.locator("select[name='served-sh-1']").select_option("wh")
    await expect(form.locator("select[name='served-wh']")).to_have_count(0)  # a warehouse serves, is not served
    await page.locator("#save-settings").click()
    await expect(page.locator("#saved")).to_contain_text("Settings saved")
    wanted = {
        "promotions": [{"name": "Pet Day", "month": 8, "day": 26, "before": 3, "after": 1, "uplift": 2.5},
                       {"name": "Launch", "on": "2027-03-01", "before": 0, "after": 0, "uplift": 1.8}],
        "fill_rate": 0.97, "fill_rates": {"cat food": 0.99}, "pooled": False, "least_fill_rate": 0.85,
        "store_sizes": {"sh-1": 120.0, "sh-2": 80.0},
        "transfer_km": 30.0, "served_by": {"sh-1": "wh"}, "opening_hours": {"opens": "08:00", "closes": "22:00"},
        "nightly_at": "03:30", "keep_runs": 30}
    assert await _settings(chain) == wanted
    for name, value in typed.items():  # the page shows what is stored
        await expect(form.locator(f"[name='{name}']")).to_have_value(value)
    await expect(form.locator("select[name='served-sh-1']")).to_have_value("wh")
    await expect(form.locator("#pooled")).not_to_be_checked()

    entries = await chain.audit("replenishment_settings")
    assert sorted(e.target for e in entries) == sorted(f"replenishment_setting:{k}" for k in DEFAULTS)
    assert {e.who for e in entries} == {"hq-set (hq)"}
    night = next(e for e in entries if e.target == "replenishment_setting:nightly_at")
    assert (night.before, night.after) == ({"nightly_at": "02:00"}, {"nightly_at": "03:30"})
    await page.goto(f"{chain.url}/audit?target=replenishment_setting:nightly_at")
    row = page.locator("#audit tr[data-action='replenishment_settings.put']")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Replenishment setting changed")
    await expect(row.locator("[data-field=nightly_at] .old")).to_have_text("02:00")
    await expect(row.locator("[data-field=nightly_at] .new")).to_have_text("03:30")
    await expect(row).to_contain_text("hq-set (hq)")

    # removing a promotion and a category target: clear the row; a save that changes nothing records nothing
    await page.goto(f"{chain.url}/replenishment/settings")
    for name in ("promo-1-name", "promo-1-on", "promo-1-uplift", "rate-0-category", "rate-0-target"):
        await form.locator(f"[name='{name}']").fill("")
    await page.locator("#save-settings").click()
    await expect(page.locator("#saved")).to_contain_text("Settings saved")
    now = await _settings(chain)
    assert ([p["name"] for p in now["promotions"]], now["fill_rates"]) == (["Pet Day"], {})
    audited = len(await chain.audit("replenishment_settings"))
    assert audited == len(entries) + 2
    await page.locator("#save-settings").click()
    await expect(page.locator("#saved")).to_have_text("Nothing changed.")
    assert len(await chain.audit("replenishment_settings")) == audited


async def test_a_wrong_value_is_refused_in_the_apis_words_beside_its_field(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-bad", Role.HQ), then="/replenishment/settings")
    form = page.locator("#rp-settings")
    cases = [  # (the form's field and text, the API body with the same value, the API's field)
        ("fill_rate", "0.4", {"fill_rate": 0.4}, "fill_rate"),
        ("fill_rate", "lots", {"fill_rate": "lots"}, "fill_rate"),
        ("keep_runs", "0", {"keep_runs": 0}, "keep_runs"),
        ("rate-0-target", "1.5", {"fill_rates": {"cat food": 1.5}}, "fill_rates.cat food"),
        ("promo-0-uplift", "0", {"promotions": [{"name": "Pet Day", "month": 8, "day": 26, "uplift": 0}]},
         "promotions[0].uplift"),
        ("promo-0-day", "31", {"promotions": [{"name": "Pet Day", "month": 2, "day": 31}]}, "promotions[0].day"),
        ("promo-0-name", "double-11", {"promotions": [{"name": "double-11", "month": 8, "day": 26}]},
         "promotions[0].name"),
        ("size-sh-2", "-5", {"store_sizes": {"sh-2": -5}}, "store_sizes.sh-2"),
    ]
    for name, text, body, field in cases:
        await page.goto(f"{chain.url}/replenishment/settings")
        if name.startswith("rate-"):
            await form.locator("[name='rate-0-category']").fill("cat food")
        if name.startswith("promo-"):
            month = "2" if name == "promo-0-day" else "8"
            for f, v in (("name", "Pet Day"), ("month", month), ("day", "26")):
                await form.locator(f"[name='promo-0-{f}']").fill(v)
        await form.locator(f"[name='{name}']").fill(text)
        await page.locator("#save-settings").click()
        status, refused = await chain.call("PUT", "/v1/replenishment/settings", body, ADMIN)
        assert status in (400, 422) and refused["field"] == field, (name, refused)
        beside = page.locator(f"[data-error-for='{name}']")
        await expect(beside).to_have_count(1)
        await expect(beside).to_have_text(refused["error"].split(": ", 1)[1])  # the API's words
        await expect(page.locator("#problem")).to_contain_text(refused["error"])
        await expect(page.locator("#problem")).to_contain_text("Nothing was saved")
        await expect(form.locator(f"[name='{name}']")).to_have_value(text)  # what was typed is kept
        await expect(form.locator(f"[name='{name}']")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator(".field-error")).to_have_count(1)
    assert await _settings(chain) == DEFAULTS
    assert await chain.audit("replenishment_settings") == []


async def test_finance_reads_a_store_token_is_refused_and_a_post_needs_its_csrf_token(
        chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("finance", Role.FINANCE), then="/replenishment/settings")
    await expect(page.locator("#rp-settings input[name=keep_runs]")).to_have_value("90")
    await expect(page.locator("#rp-settings input[name=keep_runs]")).to_be_disabled()  # its fieldset is
    await expect(page.locator("#rp-settings [name='promo-0-name']")).to_be_disabled()
    await expect(page.locator("#save-settings")).to_have_count(0)
    assert await csrf_post(page, "/replenishment/settings", {"keep_runs": "5"}) == 403

    store = await new_page()
    await sign_in(store, chain.url, await chain.token("manager-1", Role.STORE, "sh-1"), then="/")
    answer = await store.goto(f"{chain.url}/replenishment/settings")
    assert answer is not None and answer.status == 403
    assert await csrf_post(store, "/replenishment/settings", {"keep_runs": "5"}) == 403

    boss = await new_page()
    await sign_in(boss, chain.url, await chain.token("hq-csrf", Role.HQ), then="/replenishment/settings")
    assert await csrf_post(boss, "/replenishment/settings", {"keep_runs": "5"}, with_token=False) == 403
    assert await _settings(chain) == DEFAULTS
    assert await chain.audit("replenishment_settings") == []


async def test_setup_leads_to_the_suppliers_and_the_replenishment_settings(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-setup", Role.HQ), then="/setup/stores")
    tabs = page.locator("nav.setup-tabs")
    await tabs.get_by_role("link", name="Suppliers and terms").click()
    await page.wait_for_url(f"{chain.url}/replenishment/buying")
    await expect(page.locator("#suppliers")).to_be_visible()
    await page.goto(f"{chain.url}/setup/shelves")
    await tabs.get_by_role("link", name="Replenishment settings").click()
    await page.wait_for_url(f"{chain.url}/replenishment/settings")
    await expect(page.locator("#rp-settings")).to_be_visible()


async def test_on_a_chinese_phone_the_page_fits_the_screen(chain: Chain, new_page: Any) -> None:
    await chain.put("/v1/replenishment/settings", {
        "promotions": [{"name": "宠物节", "month": 8, "day": 26, "uplift": 2.0}], "fill_rates": {"cat food": 0.99}})
    page = await new_page(PHONE, locale="zh-CN")
    await sign_in(page, chain.url, await chain.token("hq-zh", Role.HQ), then="/replenishment/settings")
    await expect(page.locator("#set-promotions h2")).to_have_text("本连锁的促销")
    await expect(page.locator("#rp-settings [name='promo-0-name']")).to_have_value("宠物节")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.locator("#rp-settings [name=fill_rate]").fill("2")
    await page.locator("#save-settings").click()
    await expect(page.locator("[data-error-for=fill_rate]")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
