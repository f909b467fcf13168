"""The reports and replenishment pages as someone tries them who should not get far: a store token
is refused every replenishment page and post (403), and on the reports sees its own store only, as
the API's /v1/reports does with the same token; finance reads every replenishment page and each of
its posts is refused and changes nothing; a form post without its CSRF token (or with a forged
one) is refused on every form of these pages and changes nothing; a report's query the page cannot
read — days of -1 or "²", a period ending before it starts, `to` without `from`, a level or report
that does not exist, a store the chain does not have — is a 400 page naming the field, the CSV's
address too, never a 500; the replenishment pages' own filters never fail on nonsense either. And
the header with the two new sections fits a desktop and is a menu on a phone (real Chromium).

Against the real app (aiohttp's client signed in through the console's form, as a browser posts
it), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from cloud.auth import Role
from cloud.db import audit
from tests.console.conftest import DESKTOP, PHONE, sign_in
from tests.console.steering import Chain, serve, signed_in
from tests.orders.chain import gtin

A = gtin(71)
REFUSED_PAGE = "You may not see or change this."
STALE_FORM = "This form was stale"
BROKEN = "The console failed"


@pytest.fixture
async def chain(db_url: str) -> AsyncIterator[Chain]:
    """sh-1 and sh-2 (stock of A in both), the supplier acme selling A."""
    async with serve(db_url) as c:
        for store in ("sh-1", "sh-2"):
            await c.store(store)
        await c.put(f"/v1/products/{A}", {"name": "Grain-free Cat 1.5 kg", "category": "cat food",
                                          "unit_cost": 12.5})
        await c.put("/v1/suppliers", {"suppliers": [{"supplier": "acme", "name": "Acme"}]})
        await c.put("/v1/buying-terms", {"terms": [{"supplier": "acme", "sku": A, "lead_mean_days": 4,
                                                    "lead_sd_days": 1, "pack": 6, "minimum": 12,
                                                    "unit_cost": 10.0}]})
        await c.count("sh-1", A, 5)
        await c.count("sh-2", A, 9)
        yield c


@pytest.fixture
async def po(chain: Chain) -> str:
    """A draft purchase order of 12 A for sh-1: something for the order's posts to act on."""
    status, made = await chain.post("/v1/purchase-orders", {"supplier": "acme", "location": "sh-1",
                                                            "lines": [{"sku": A, "qty": 12}]})
    assert status == 201, made
    return str(made["id"])


@contextlib.asynccontextmanager
async def as_role(chain: Chain, name: str, role: Role, store: str | None = None
                  ) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A console session for a new token of `role`, and its CSRF token (from <body hx-headers>)."""
    async with signed_in(chain, await chain.token(name, role, store)) as session:
        async with session.get(f"{chain.url}/") as r:
            found = re.search(r"hx-headers='([^']+)'", await r.text())
        assert found is not None
        yield session, str(json.loads(found.group(1))["X-CSRF-Token"])


def pages(po: str) -> list[str]:
    return ["/replenishment", f"/replenishment?run=x&sku={A}&at=sh-1", "/replenishment/orders",
            f"/replenishment/orders/{po}", "/replenishment/buying", "/replenishment/settings"]


def posts(po: str) -> list[tuple[str, dict[str, str]]]:
    """Every form the replenishment pages post, each filled in as head office would fill it."""
    return [("/replenishment/runs", {}),
            ("/replenishment/purchase-orders", {"run": "r-any", "supplier": "acme"}),
            ("/replenishment/transfers", {"run": "r-any"}),
            (f"/replenishment/orders/{po}/send", {}),
            (f"/replenishment/orders/{po}/cancel", {}),
            (f"/replenishment/orders/{po}/receive", {"ref": "DN-1", "qty-1": "6"}),
            ("/replenishment/buying/import", {"table": "suppliers"}),
            ("/replenishment/settings", {"fill_rate": "0.9", "transfer_km": "20", "nightly_at": "02:00",
                                         "keep_runs": "30", "opens": "09:00", "closes": "21:00"})]


async def _unchanged(chain: Chain, po: str) -> None:
    """Nothing the refused posts asked for happened: no run, the order still a draft of 12 with
    nothing received, the settings and the suppliers as they were, nobody in the audit log but
    the admin who set the chain up."""
    _, runs = await chain.get("/v1/replenishment/runs")
    assert runs["runs"] == []
    _, order = await chain.get(f"/v1/purchase-orders/{po}")
    assert order["status"] == "draft" and [ln["received"] for ln in order["lines"]] == [0]
    _, settings = await chain.get("/v1/replenishment/settings")
    assert settings["fill_rate"] != 0.9 and settings["transfer_km"] != 20
    _, suppliers = await chain.get("/v1/suppliers")
    assert [s["supplier"] for s in suppliers["suppliers"]] == ["acme"]
    assert await chain.stock("sh-1", A) == (5, 0)
    async with chain.maker() as session:
        assert {e.who for e in await audit.entries(session)} == {"admin (hq)"}


async def test_a_store_token_is_refused_every_replenishment_page_and_post(chain: Chain, po: str) -> None:
    async with as_role(chain, "manager-1", Role.STORE, "sh-1") as (session, csrf):
        for path in pages(po):
            async with session.get(chain.url + path) as r:
                assert r.status == 403, path
                assert REFUSED_PAGE in await r.text(), path
            async with session.get(chain.url + path, headers={"HX-Request": "true", "HX-Target": "plan-body"}) as r:
                assert r.status == 403, path  # nor its partials
        for path, form in posts(po):
            async with session.post(chain.url + path, data={**form, "csrf": csrf}, allow_redirects=False) as r:
                assert r.status == 403, path
                assert REFUSED_PAGE in await r.text(), path
        async with session.get(chain.url + "/") as r:
            assert 'href="/replenishment"' not in await r.text()  # and the navigation does not offer it
    # the API refuses the same token the chain-wide data (runs, settings, suppliers); its own
    # location's purchase orders it may read (and receive) there, another's not — the console
    # keeps the whole section from store tokens (pages/replenishment_frame.py)
    token = await chain.token("manager-1b", Role.STORE, "sh-1")
    for path in ("/v1/replenishment/runs", "/v1/replenishment/settings", "/v1/suppliers",
                 "/v1/purchase-orders?location=sh-2"):
        status, _ = await chain.get(path, token=token)
        assert status == 403, path
    status, body = await chain.get("/v1/purchase-orders", token=token)
    assert status == 200 and {o["location"] for o in body["purchase_orders"]} == {"sh-1"}
    await _unchanged(chain, po)


async def test_finance_reads_every_replenishment_page_and_each_post_is_refused(chain: Chain, po: str
                                                                                ) -> None:
    async with as_role(chain, "finance", Role.FINANCE) as (session, csrf):
        for path in pages(po):
            async with session.get(chain.url + path) as r:
                assert r.status == 200, path

        async with session.get(f"{chain.url}/replenishment/orders/{po}") as r:
            order = await r.text()
        assert "/send" not in order and "/receive" not in order  # no buttons it may not press
        for path, form in posts(po):
            async with session.post(chain.url + path, data={**form, "csrf": csrf}, allow_redirects=False) as r:
                assert r.status == 403, path  # refused on the server, not only hidden
            async with session.post(chain.url + path, data=form, allow_redirects=False,
                                    headers={"X-CSRF-Token": csrf, "HX-Request": "true"}) as r:
                assert r.status == 403, path  # as htmx would send it too
    await _unchanged(chain, po)


async def test_every_replenishment_form_needs_its_csrf_token(chain: Chain, po: str) -> None:
    async with as_role(chain, "hq-buyer", Role.HQ) as (session, csrf):
        async with as_role(chain, "hq-other", Role.HQ) as (_, someone_elses):
            for path, form in posts(po):
                attempts: list[tuple[dict[str, str], dict[str, str]]] = [
                    (form, {}), ({**form, "csrf": "forged"}, {}), ({**form, "csrf": someone_elses}, {}),
                    (form, {"X-CSRF-Token": "forged", "HX-Request": "true"})]
                for data, headers in attempts:
                    async with session.post(chain.url + path, data=data, headers=headers,
                                            allow_redirects=False) as r:
                        assert r.status == 403, (path, data, headers)
                        assert STALE_FORM in await r.text(), path
        await _unchanged(chain, po)
        # the session's own token passes: the same order is sent
        async with session.post(f"{chain.url}/replenishment/orders/{po}/send",
                                data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 303
    _, order = await chain.get(f"/v1/purchase-orders/{po}")
    assert order["status"] == "sent"


async def test_a_store_token_reads_its_own_stores_reports_only_as_the_api_allows(chain: Chain) -> None:
    token = await chain.token("manager-1", Role.STORE, "sh-1")
    async with signed_in(chain, token) as session:
        async with session.get(f"{chain.url}/reports?report=stock-age&by=store") as r:
            assert r.status == 200
            page = await r.text()
        assert set(re.findall(r'data-store="([^"]+)"', page)) == {"sh-1"}
        assert 'data-col="value"' not in page  # no stock value for a store token
        for path in ("/reports?report=stock-age&store=sh-2", "/reports/csv?report=stock-age&store=sh-2",
                     "/reports?store=sh-9", "/reports?report=shrink&by=sku&store=sh-2"):
            async with session.get(chain.url + path) as r:
                assert r.status == 403, path
                assert "sh-" in await r.text()  # the reason names the store asked for
        async with session.get(f"{chain.url}/reports/csv?report=stock-age&by=store") as r:
            assert r.status == 200
            rows = (await r.text()).splitlines()
        assert [line.split(",")[0].lstrip("\ufeff") for line in rows[1:]] == ["sh-1"]
        assert "value" not in rows[0].split(",")
    # the API, same token: its own store only, no values, another store refused
    status, body = await chain.get("/v1/reports/stock-age?by=store", token=token)
    assert status == 200 and {r["store"] for r in body["rows"]} == {"sh-1"}
    assert all("value" not in r for r in body["rows"])
    status, _ = await chain.get("/v1/reports/stock-age?store=sh-2", token=token)
    assert status == 403
    # finance sees the chain and its values
    async with as_role(chain, "finance", Role.FINANCE) as (session, _):
        async with session.get(f"{chain.url}/reports?report=stock-age&by=store") as r:
            page = await r.text()
        assert set(re.findall(r'data-store="([^"]+)"', page)) == {"sh-1", "sh-2"}
        assert 'data-col="value"' in page


# (query, the field the 400 names, whether the API refuses it too)
MALFORMED = [
    ("days=-1", "days", True), ("days=0", "days", True), ("days=99999999999999999999", "days", True),
    ("days=%C2%B2", "days", True), ("days=1.5", "days", True), ("days=abc", "days", True),
    ("from=2026-02-10&to=2026-02-01", "to", True), ("to=2026-02-01", "from", True),
    ("from=2026-13-01", "from", True), ("from=9999-12-31&to=9999-12-31", "from", True),
    ("from=2020-01-01&to=2026-01-01", "from", True), ("by=nonsense", "by", True),
    ("report=margins", "report", True), ("store=Not%20An%20Id", "store", True),
    ("category=" + "x" * 65, "category", True), ("channel=taobao", "channel", True),
    ("store=sh-9", "store", False),  # the API answers no rows; the page says there is no such store
]


@pytest.mark.parametrize(("query", "field", "api_too"), MALFORMED, ids=[q for q, _, _ in MALFORMED])
async def test_a_report_query_the_page_cannot_read_is_a_400_page_naming_the_field(
        chain: Chain, query: str, field: str, api_too: bool) -> None:
    async with as_role(chain, "hq-analyst", Role.HQ) as (session, _):
        for path in ("/reports", "/reports/csv"):  # the CSV's address opens the page saying why
            async with session.get(f"{chain.url}{path}?{query}") as r:
                assert r.status == 400, (path, query)
                page = await r.text()
            assert BROKEN not in page and "Traceback" not in page
            found = re.search(r'id="report-error" data-field="([^"]*)"', page)
            assert found is not None and found.group(1) == field, (path, query)
            assert 'id="report-filters"' in page  # with the filters to put it right
    if field == "report":
        status, _ = await chain.get("/v1/reports/margins")
        assert status in (400, 404)  # the API's path parameter
        return
    status, body = await chain.get(f"/v1/reports/turnover?{query}")
    if api_too:
        assert status == 400 and body["error"].startswith(f"{field}:"), body
    else:
        assert status == 200 and body["rows"] == []


async def test_the_400_page_says_what_to_put_right_in_the_persons_language(chain: Chain) -> None:
    async with (as_role(chain, "hq-analyst", Role.HQ) as (session, _),
                session.get(f"{chain.url}/reports?days=-1", headers={"Accept-Language": "zh-CN"}) as r):
        assert r.status == 400
        page = await r.text()
    assert "期间须为 1 到 730 之间的整数天数。" in page


async def test_the_replenishment_pages_answer_nonsense_in_the_address_with_a_400_never_a_500(
        chain: Chain, po: str) -> None:
    """An id or SKU that cannot be one is a 400 naming it — a NUL among them, which PostgreSQL
    refuses in text (a 500 before); an unknown order, or an id that cannot be one, a 404, and so
    is a posted run that is none; a page number out of range is the nearest page."""
    async with as_role(chain, "hq-buyer", Role.HQ) as (session, csrf):
        for path, field in (("/replenishment?run=" + "r" * 500, "run"),
                            ("/replenishment?supplier=" + "z" * 5000, "supplier"),
                            ("/replenishment?sku=123&at=sh-1", "sku"), ("/replenishment?at=..%2F", "at"),
                            ("/replenishment?run=%00", "run"),
                            ("/replenishment/orders?status=nonsense", "status"),
                            ("/replenishment/orders?supplier=%00", "supplier"),
                            ("/replenishment/orders?location=Not%20An%20Id", "location"),
                            ("/replenishment/buying?supplier=%00", "supplier"),
                            ("/replenishment/buying?sku=%27%22%3Cq-x%3E", "sku")):
            async with session.get(chain.url + path) as r:
                assert r.status == 400, path[:60]
                page = await r.text()
            assert BROKEN not in page and f"{field}: " in page, path[:60]
            assert "<q-x>" not in page  # said back as text, never as markup
        async with session.get(f"{chain.url}/replenishment/buying?sku=%00") as r:
            assert r.status == 400  # the buying page keeps its search boxes, with nothing matching
            assert 'id="bad-query"' in await r.text()
        for path in ("/replenishment/orders?page=-5", "/replenishment/orders?page=" + "9" * 5000,
                     "/replenishment/orders?page=99999999999999999999999",
                     "/replenishment/buying?imported=terms&n=x&changed=y",
                     "/replenishment/settings?done=%3Cscript%3E", "/replenishment/orders?supplier=acme&location=sh-1"):
            async with session.get(chain.url + path) as r:
                assert r.status == 200, path[:60]
                page = await r.text()
            assert BROKEN not in page and "<script>" not in page, path[:60]
        assert po in page  # the order is listed under its supplier and location
        for path in ("/replenishment/orders/nope", "/replenishment/orders/%00", "/replenishment/orders/Po-1"):
            async with session.get(chain.url + path) as r:
                assert r.status == 404, path
        for path in ("/replenishment/purchase-orders", "/replenishment/transfers"):  # a run posted that is none
            for run in ("\x00", "r-" + "9" * 80, "nope"):
                async with session.post(chain.url + path, data={"run": run, "supplier": "acme", "csrf": csrf}) as r:
                    assert r.status == 404, (path, run)
                    assert "There is no such finished run." in await r.text()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_the_header_fits_a_desktop_in_one_row_and_is_a_menu_on_a_phone(
        chain: Chain, new_page: Any, locale: str) -> None:
    """Head office's ten sections, the language, who is signed in and sign-out fit 1440 px in one
    row (English cut off 'Audit' and wrapped '中文' once Replenishment and Reports came); on a
    phone the sections are behind the Menu button, and each can be reached from it."""
    token = await chain.token("hq-analyst", Role.HQ)
    desktop = await new_page(DESKTOP, locale=locale)
    await sign_in(desktop, chain.url, token, then="/reports")
    nav = desktop.locator("nav.nav")
    assert await nav.evaluate("n => n.scrollWidth <= n.clientWidth")  # nothing scrolled out of sight
    links = nav.locator("a")
    assert await links.count() == 10
    for i in range(await links.count()):
        box = await links.nth(i).bounding_box()
        assert box is not None and box["x"] + box["width"] <= DESKTOP["width"]
    top = await desktop.locator("header.top").bounding_box()
    assert top is not None and top["height"] < 60  # one row: nothing wrapped
    lang = await desktop.locator(".me .lang").bounding_box()
    assert lang is not None and lang["height"] < 30  # "中文" on one line
    await expect(desktop.locator(".menu-button")).to_be_hidden()

    phone = await new_page(PHONE, locale=locale)
    await sign_in(phone, chain.url, token, then="/reports")
    await expect(phone.locator("nav.nav")).to_be_hidden()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.locator(".menu-button").click()
    await expect(phone.locator("nav.nav")).to_be_visible()
    audit_link = phone.locator("nav.nav a[href='/audit']")
    await expect(audit_link).to_be_in_viewport()
    await audit_link.click()
    await phone.wait_for_url(f"{chain.url}/audit")
    await expect(phone.locator("nav.nav a[aria-current=page]")).to_have_attribute("href", "/audit")


async def test_a_buying_csv_with_a_nul_is_refused_by_its_row_and_imports_nothing(chain: Chain) -> None:
    """PostgreSQL refuses a NUL in text: the import was a 500 there; now the page names the row."""
    async with as_role(chain, "hq-buyer", Role.HQ) as (session, csrf):
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("table", "suppliers")
        form.add_field("file", b"supplier,name\nzeta,Zeta\nnova,No\x00va\n", filename="suppliers.csv",
                       content_type="text/csv")
        async with session.post(f"{chain.url}/replenishment/buying/import", data=form, allow_redirects=False) as r:
            assert r.status == 422
            page = await r.text()
    assert 'id="refused"' in page and "Row 3" in page and BROKEN not in page
    _, suppliers = await chain.get("/v1/suppliers")
    assert [s["supplier"] for s in suppliers["suppliers"]] == ["acme"]
