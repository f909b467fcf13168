"""The reports page in a real headless Chromium, against the cloud with a hand-made ledger: the
stock-out rates it shows are the API's and the ones worked out by hand here; a category drills
down to its stores and a store to its products, and the path leads back; the CSV it downloads is
the table's; a store token sees its own store only and another's is refused; a parameter the page
cannot read is a 400 naming it; the page fits a phone's width in English and Chinese. Each on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from cloud.auth import Role
from shared.contract import Kind, Source, StockDelta, Zone
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, serve
from tests.orders.chain import book, gtin

A, B, C = gtin(61), gtin(62), gtin(63)
D = datetime.now(UTC).date() - timedelta(days=5)
DAY = f"from={D}&to={D}"


def at(hour: float, day: date = D) -> datetime:
    return datetime.combine(day, time(), UTC) + timedelta(hours=hour)


def delta(sku: str, kind: Kind, qty: int, when: datetime) -> StockDelta:
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=kind, qty=qty, zone=Zone.FLOOR,
                      occurred_at=when, source=Source.MANUAL)


@pytest.fixture
async def chain(db_url: str) -> AsyncIterator[Chain]:
    """On day D: sh-1 sells out of A at 12:00 and gets 3 back at 18:00 (empty 6 of 24 hours) and
    holds B all day; sh-2 has none of A until 20:00 (empty 20 of 24); C (toys) is held in sh-2."""
    async with serve(db_url) as c:
        for store in ("sh-1", "sh-2"):
            await c.store(store)
        for sku, name, cat in ((A, "Grain-free Cat 1.5 kg", "cat food"), (B, "Salmon Pouches", "cat food"),
                               (C, "Feather Wand", "toys")):
            await c.put(f"/v1/products/{sku}", {"name": name, "category": cat})
        await book(c.maker, "sh-1", delta(A, Kind.COUNT, 5, at(0)), delta(A, Kind.SALE, -5, at(12)),
                   delta(A, Kind.RECEIPT, 3, at(18)), delta(B, Kind.COUNT, 4, at(0)))
        await book(c.maker, "sh-2", delta(A, Kind.COUNT, 0, at(-12)), delta(A, Kind.RECEIPT, 2, at(20)),
                   delta(C, Kind.COUNT, 7, at(0)))
        yield c


async def _shown(page: Any, column: str) -> dict[str, str]:
    """The table's rows as {row's key: the column's value as the page holds it}."""
    out = {}
    for row in await page.locator("#report-rows tbody tr").all():
        key = await row.get_attribute("data-sku") or await row.get_attribute("data-store") \
            or await row.get_attribute("data-category")
        out[key] = await row.locator(f"td[data-col={column}]").get_attribute("data-value")
    return out


async def test_the_page_shows_the_apis_figures_and_drills_down_category_store_product(
        chain: Chain, new_page: Any, tmp_path: Path) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-analyst", Role.HQ), then="/reports")
    await page.goto(f"{chain.url}/reports?report=stock-out&{DAY}&by=category")
    await expect(page.locator("#report")).to_have_attribute("data-by", "category")
    await expect(page.locator("#report .report-chart canvas")).to_have_count(1)
    _, api = await chain.get(f"/v1/reports/stock-out?{DAY}&by=category")
    by_api = {r["category"]: str(r["stock_out_rate"]) for r in api["rows"]}
    assert await _shown(page, "stock_out_rate") == by_api
    # by hand: cat food is sh-1's A (6 of 24 h) and B (0 of 24) and sh-2's A (20 of 24): 26 of 72
    assert float(by_api["cat food"]) == round(26 / 72, 4)
    await expect(page.locator("#report-rows tr[data-category='cat food'] td[data-col=stock_out_rate]")
                 ).to_have_text("36.1 %")
    await page.locator("#report-rows tr[data-category='cat food'] a.drill").click()
    await expect(page.locator("#report")).to_have_attribute("data-by", "store")
    assert await _shown(page, "stock_out_rate") == {"sh-1": "0.125", "sh-2": str(round(20 / 24, 4))}
    await page.locator("#report-rows tr[data-store='sh-1'] a.drill").click()
    await expect(page.locator("#report")).to_have_attribute("data-by", "sku")
    assert await _shown(page, "stock_out_rate") == {A: "0.25", B: "0.0"}
    await expect(page.locator(f"#report-rows tr[data-sku='{A}'] td.title")).to_contain_text("Grain-free Cat")
    # the path leads back up
    crumbs = page.locator("#report-crumbs a")
    await expect(crumbs).to_have_count(2)
    await crumbs.nth(0).click()
    await expect(page.locator("#report")).to_have_attribute("data-by", "category")
    await expect(page.locator("#report-rows tbody tr")).to_have_count(2)  # cat food, toys

    # the CSV is the table's rows
    async with page.expect_download() as got:
        await page.locator("#report-csv").click()
    file = tmp_path / "report.csv"
    await (await got.value).save_as(file)
    rows = list(csv.DictReader(io.StringIO(file.read_bytes().decode("utf-8-sig"))))
    assert {r["category"]: r["stock_out_rate"] for r in rows} == by_api


async def test_the_filters_choose_the_report_and_the_period(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-analyst", Role.HQ), then="/reports")
    form = page.locator("#report-filters")
    await form.locator("select[name=report]").select_option("turnover")
    await form.locator("input[name=from]").fill(D.isoformat())
    await form.locator("input[name=to]").fill(D.isoformat())
    await form.locator("select[name=category]").select_option("cat food")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#report")).to_have_attribute("data-report", "turnover")
    # sold on D: sh-1's 5 of A; sellable at the day's end: 3 + 4 in sh-1, 2 in sh-2
    assert await _shown(page, "sold") == {"cat food": "5"}
    assert await _shown(page, "on_hand") == {"cat food": "9"}
    await expect(form.locator("select[name=days]")).to_have_value("")  # the dates are the period
    # choosing a number of days clears the dates: the last 7 days up to now, whose end holds 9 too
    await form.locator("select[name=days]").select_option("7")
    await expect(form.locator("input[name=from]")).to_have_value("")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#report .period")).to_contain_text(
        f"{(datetime.now(UTC) - timedelta(days=7)).date()} to {datetime.now(UTC).date()}")
    assert await _shown(page, "sold") == {"cat food": "5"}


async def test_a_store_token_sees_its_own_store_only(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("manager-1", Role.STORE, "sh-1"), then="/reports")
    await page.goto(f"{chain.url}/reports?report=stock-out&{DAY}&by=store")
    assert set(await _shown(page, "stock_out_rate")) == {"sh-1"}
    await expect(page.locator("#report-filters select[name=store] option")).to_have_count(1)
    await page.goto(f"{chain.url}/reports?report=stock-out&{DAY}&by=sku")
    assert await _shown(page, "stock_out_rate") == {A: "0.25", B: "0.0"}
    refused = await page.goto(f"{chain.url}/reports?report=stock-out&{DAY}&store=sh-2")
    assert refused is not None and refused.status == 403
    refused = await page.goto(f"{chain.url}/reports/csv?report=stock-out&{DAY}&store=sh-2")
    assert refused is not None and refused.status == 403


async def test_a_parameter_the_page_cannot_read_is_a_400_naming_it(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-analyst", Role.HQ), then="/reports")
    for query, field in (("days=0", "days"), (f"from={D}&to={D - timedelta(days=2)}", "to"),
                         ("report=margins", "report"), ("by=region", "by")):
        answer = await page.goto(f"{chain.url}/reports?{query}")
        assert answer is not None and answer.status == 400, query
        await expect(page.locator("#report-error")).to_have_attribute("data-field", field)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_the_page_fits_a_phone(chain: Chain, new_page: Any, locale: str) -> None:
    page = await new_page(PHONE, locale=locale)
    await sign_in(page, chain.url, await chain.token("hq-analyst", Role.HQ), then="/reports")
    await page.goto(f"{chain.url}/reports?report=stock-age&by=sku")
    await expect(page.locator("#report .report-chart canvas")).to_have_count(1)
    title = "库龄" if locale == "zh-CN" else "Stock age"
    await expect(page.locator("#report h2")).to_contain_text(title)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
