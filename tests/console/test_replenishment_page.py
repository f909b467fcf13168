"""The replenishment pages in a real headless Chromium, against the cloud with sales
history in its ledger: a run started from the page finishes and its suggestions show; a supplier's
suggestions become a purchase order that is sent and received in part, and the stock rises in the
ledger by exactly the units received; finance reads everything and every post of its is refused; a
store token is refused the pages and the posts; a buying-terms CSV with one bad row imports nothing
and names the row and field, a good one is imported and audited; a post without the CSRF token is
refused; every purchase-order and transfer action, from the pages or the API, is on the audit page
with its before → after. Each on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from cloud.auth import Role
from cloud.db import reads
from cloud.db.models import Movement, ReplenishmentRun
from tests.console.conftest import PHONE, sign_in
from tests.console.steering import Chain, csrf_post, serve
from tests.replenish.ledger_history import A, B, chain_with_history

RUN_DONE_MS = 120_000  # the first run imports statsforecast and plans on a loaded 2-core machine


@pytest.fixture
async def chain(db_url: str) -> AsyncIterator[Chain]:
    """sh-1 and sh-2 with 56 days of sales, a warehouse `wh` holding 10 of A, acme selling A; on
    SQLite and on PostgreSQL."""
    async with serve(db_url) as c:
        await chain_with_history(c)
        await c.put(f"/v1/products/{A}", {"name": "Grain-free Cat 1.5 kg", "category": "cat food"})
        yield c


async def _run_done(chain: Chain) -> dict[str, Any]:
    """A finished run, made as the API's POST /v1/replenishment/runs {"wait": true} makes it."""
    status, run = await chain.post("/v1/replenishment/runs", {"wait": True})
    assert status == 201 and run["status"] == "done", run
    return dict(run)


async def _suggested(chain: Chain, run: str, supplier: str, location: str, sku: str) -> int:
    _, body = await chain.get(f"/v1/replenishment/suggestions?run={run}&kind=purchase&supplier={supplier}"
                              f"&location={location}&sku={sku}")
    return sum(s["units"] for s in body["suggestions"])


async def test_a_run_from_the_page_becomes_a_purchase_order_sent_and_received_in_part(
        chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-buyer", Role.HQ), then="/replenishment")
    await expect(page.locator("#no-run")).to_be_visible()
    await page.locator("#run-now").click()
    newest = page.locator("#newest-run")
    await expect(newest).to_have_attribute("data-run-status", "running")
    await expect(page.locator("#run-now")).to_be_disabled()  # one run at a time from the page
    # the body asks for itself again until the run is done, then shows the suggestions
    await expect(newest).to_have_attribute("data-run-status", "done", timeout=RUN_DONE_MS)
    run_id = await newest.get_attribute("data-run")
    assert run_id is not None
    _, run = await chain.get(f"/v1/replenishment/runs/{run_id}")
    assert (run["status"], run["trigger"], run["requested_by"]) == ("done", "api", "hq-buyer (hq)")
    await expect(page.locator("#shown-run")).to_have_attribute("data-run", run_id)
    wanted = await _suggested(chain, run_id, "acme", "wh", A)
    assert wanted >= 12 and wanted % 6 == 0  # whole packs of 6, at least the minimum of 12
    line = page.locator(f"[data-purchase='acme/wh/{A}']")
    await expect(line.locator("[data-units]")).to_have_text(f"{wanted:,}")
    await expect(line).to_contain_text(f"{wanted // 6} × 6")  # packs
    await expect(line).to_contain_text("Grain-free Cat 1.5 kg")
    await expect(page.locator("#rp-chart canvas")).to_have_count(1)  # ECharts drew the chart

    await page.locator("[data-make-orders=acme]").click()
    await expect(page.locator("#plan-body .notice.ok")).to_contain_text("Draft purchase orders from acme (1)")
    made = page.locator("[data-supplier=acme] [data-made-order]")
    await expect(made).to_have_count(1)
    await expect(page.locator("[data-make-orders=acme]")).to_have_count(0)  # made once
    po_id = await made.get_attribute("data-made-order")
    _, po = await chain.get(f"/v1/purchase-orders/{po_id}")
    assert (po["status"], po["location"], po["lines"][0]["qty"], po["created_by"]) == (
        "draft", "wh", wanted, "hq-buyer (hq)")

    await made.click()
    await page.wait_for_url(f"{chain.url}/replenishment/orders/{po_id}")
    facts = page.locator("#po-facts")
    await expect(facts).to_have_attribute("data-status", "draft")
    await page.locator("[data-action=send]").click()
    await expect(facts).to_have_attribute("data-status", "sent")
    before = await chain.on_hand("wh", A)
    half = wanted // 2
    await page.fill("#receive input[name=ref]", "DN-1")
    await expect(page.locator("#receive input[name=qty-0]")).to_have_value(str(wanted))  # in full by default
    await page.fill("#receive input[name=qty-0]", str(half))
    await page.fill("#receive input[name=lot-0]", "L7")
    await page.locator("[data-action=receive]").click()
    await expect(facts).to_have_attribute("data-status", "partial")
    await expect(page.locator("#po-lines [data-line='0'] [data-received]")).to_have_text(str(half))
    await expect(page.locator("[data-action=cancel]")).to_have_count(0)  # something arrived: no cancel
    assert await chain.on_hand("wh", A) == before + half  # exactly the units received
    _, moves = await chain.get("/v1/stores/wh/movements")
    booked = [m for m in moves["movements"] if m["kind"] == "receipt" and m["qty"] == half]
    assert len(booked) == 1
    _, stock = await chain.get(f"/v1/stores/wh/stock?sku={A}")
    assert {lot["lot"]: lot["qty"] for lot in stock["items"][0]["lots"]}.get("L7") == half

    # the same delivery note again books nothing; more than is due is refused, nothing booked
    await page.fill("#receive input[name=ref]", "DN-2")
    await page.fill("#receive input[name=qty-0]", str(wanted))  # only wanted - half are due
    await page.locator("[data-action=receive]").evaluate("b => b.closest('form').noValidate = true")
    await page.locator("[data-action=receive]").click()
    await expect(page.locator(".notice.bad")).to_contain_text(f"the {wanted - half} still due")
    assert await chain.on_hand("wh", A) == before + half
    assert await reads.rebuild_mismatches(chain.maker) == []

    await page.goto(f"{chain.url}/replenishment/orders?status=partial")
    await expect(page.locator(f"[data-po='{po_id}']")).to_have_attribute("data-status", "partial")
    await page.goto(f"{chain.url}/replenishment/orders?status=draft")
    await expect(page.locator(f"[data-po='{po_id}']")).to_have_count(0)


async def test_transfer_suggestions_become_transfers_and_emergencies_are_listed(
        chain: Chain, new_page: Any) -> None:
    run = await _run_done(chain)
    _, body = await chain.get(f"/v1/replenishment/suggestions?run={run['id']}")
    moves = [s for s in body["suggestions"] if s["kind"] == "transfer"]
    alarms = [s for s in body["suggestions"] if s["kind"] == "emergency"]
    assert moves, body  # sh-1 is short of A, sh-2 and the warehouse have some
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-2", Role.HQ), then="/replenishment")
    await expect(page.locator("[data-transfer-suggestion]")).to_have_count(len(moves))
    await expect(page.locator("[data-emergency]")).to_have_count(len(alarms))
    for e in alarms:
        await expect(page.locator(f"[data-emergency='{e['level']}/{e['sku']}/{e['location']}']")).to_have_count(1)
    # a suggestion's drill-down: the location × SKU's daily sales before the run, as the ledger has them
    to_short = page.locator("[data-transfer-suggestion] a.rp-drill[href*='at=sh-1']").first
    await to_short.click()
    await expect(page.locator("#history")).to_have_attribute("data-at", "sh-1")
    async with chain.maker() as session:
        sold = -(await session.scalar(select(func.sum(Movement.qty)).where(
            Movement.store == "sh-1", Movement.sku == A, Movement.kind == "sale")) or 0)
    assert sold > 100  # ~5 a day for 56 days
    await expect(page.locator("#history")).to_contain_text(f"{sold} sold in 56 days before the run")
    await expect(page.locator("#history canvas")).to_have_count(1)
    await page.locator("#make-transfers").click()
    await expect(page.locator("#plan-body .notice.ok")).to_contain_text("Transfers made")
    _, listed = await chain.get("/v1/transfers?status=in_transit")
    pairs = {(s["source"], s["location"]) for s in moves}
    assert {(t["from"], t["to"]) for t in listed["transfers"]} == pairs
    await expect(page.locator("#make-transfers")).to_have_count(0)  # each suggestion made once
    await expect(page.locator("[data-transfer-suggestion] .badge.ok")).to_have_count(len(moves))


async def test_finance_sees_the_plan_and_orders_with_their_values_and_changes_nothing(
        chain: Chain, new_page: Any) -> None:
    run = await _run_done(chain)
    _, made = await chain.post("/v1/purchase-orders/from-suggestions", {"supplier": "acme"})
    po = made["purchase_orders"][0]
    await chain.post(f"/v1/purchase-orders/{po['id']}/send")
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("finance", Role.FINANCE), then="/replenishment")
    await expect(page.locator("#shown-run")).to_have_attribute("data-run", run["id"])
    await expect(page.locator(f"[data-purchase='acme/wh/{A}']")).to_contain_text(
        f"{po['lines'][0]['qty'] * 10.0:,.2f}")  # the value: units × acme's unit cost
    for hidden in ("#run-now", "[data-make-orders]", "#make-transfers"):
        await expect(page.locator(hidden)).to_have_count(0)
    await page.goto(f"{chain.url}/replenishment/orders/{po['id']}")
    await expect(page.locator("#po-facts")).to_contain_text(f"{po['value']:,.2f}")
    await expect(page.locator("[data-action]")).to_have_count(0)
    await page.goto(f"{chain.url}/replenishment/buying")
    await expect(page.locator("[data-term='acme/" + A + "']")).to_have_count(1)
    await expect(page.locator("#buying-import")).to_have_count(0)
    csv = {"table": "suppliers", "csv": "supplier,name\nzeta,Zeta\n"}
    for path, form in (("/replenishment/runs", {}), ("/replenishment/purchase-orders", {"run": run["id"],
                                                                                          "supplier": "acme"}),
                       ("/replenishment/transfers", {"run": run["id"]}),
                       (f"/replenishment/orders/{po['id']}/receive", {"ref": "DN-9", "qty-0": "1"}),
                       (f"/replenishment/orders/{po['id']}/cancel", {}),
                       (f"/replenishment/orders/{po['id']}/send", {}), ("/replenishment/buying/import", csv)):
        assert await csrf_post(page, path, form) == 403, path
    _, runs = await chain.get("/v1/replenishment/runs")
    assert [r["id"] for r in runs["runs"]] == [run["id"]]
    _, still = await chain.get(f"/v1/purchase-orders/{po['id']}")
    assert (still["status"], still["receipts"]) == ("sent", [])
    _, listed = await chain.get("/v1/transfers")
    assert listed["transfers"] == []
    _, suppliers = await chain.get("/v1/suppliers")
    assert [s["supplier"] for s in suppliers["suppliers"]] == ["acme"]


async def test_a_store_token_is_refused_the_pages_and_the_posts(chain: Chain, new_page: Any) -> None:
    run = await _run_done(chain)
    _, made = await chain.post("/v1/purchase-orders", {"supplier": "acme", "location": "sh-1",
                                                       "lines": [{"sku": A, "qty": 6}]})
    await chain.post(f"/v1/purchase-orders/{made['id']}/send")
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("manager-1", Role.STORE, "sh-1"), then="/")
    await expect(page.locator("nav.nav a[href='/replenishment']")).to_have_count(0)
    for path in ("/replenishment", "/replenishment/orders", f"/replenishment/orders/{made['id']}",
                 "/replenishment/buying"):
        answer = await page.goto(chain.url + path)
        assert answer is not None and answer.status == 403, path
    # even the receipt of its own store's order: the console's replenishment is chain-wide
    for path, form in (("/replenishment/runs", {}), (f"/replenishment/orders/{made['id']}/receive",
                                                     {"ref": "DN-1", "qty-0": "6"}),
                       ("/replenishment/purchase-orders", {"run": run["id"], "supplier": "acme"})):
        assert await csrf_post(page, path, form) == 403, path
    assert await chain.on_hand("sh-1", A) == 2
    _, runs = await chain.get("/v1/replenishment/runs")
    assert len(runs["runs"]) == 1


async def test_a_post_without_its_csrf_token_is_refused(chain: Chain, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-3", Role.HQ), then="/replenishment")
    assert await csrf_post(page, "/replenishment/runs", {}, with_token=False) == 403
    assert await csrf_post(page, "/replenishment/buying/import", {"table": "suppliers"}, with_token=False) == 403
    _, runs = await chain.get("/v1/replenishment/runs")
    assert runs["runs"] == []


async def test_a_terms_file_with_one_bad_row_imports_nothing_and_says_where(
        chain: Chain, new_page: Any) -> None:
    page = await new_page(PHONE)
    await sign_in(page, chain.url, await chain.token("hq-4", Role.HQ), then="/replenishment/buying")
    _, before = await chain.get("/v1/buying-terms")
    audited = await chain.audit("buying_term")  # the chain's own setup, through the API

    async def upload(table: str, text: str) -> None:
        await page.select_option("#buying-import select[name=table]", table)
        await page.set_input_files("#buying-import input[name=file]", files=[
            {"name": f"{table}.csv", "mimeType": "text/csv", "buffer": text.encode()}])
        await page.locator("#import-buying").click()

    header = "supplier,sku,lead_mean_days,lead_sd_days,pack,minimum,unit_cost\n"
    await upload("terms", header + f"acme,{A},3,1,12,24,9.5\nacme,{B},2,0,six,0,4\n")
    refused = page.locator("#refused")
    await expect(refused).to_contain_text("Row 3, field pack")
    await expect(refused).to_contain_text("Nothing was imported")
    await upload("terms", header + f"acme,{A},3,1,12,24,9.5\nnobody,{B},2,0,6,0,4\n")
    await expect(refused).to_contain_text("Row 3, field supplier")
    await expect(refused).to_contain_text("'nobody'")
    _, after = await chain.get("/v1/buying-terms")
    assert after == before  # A's terms still pack 6, and no B
    assert await chain.audit("buying_term") == audited

    await upload("terms", header + f"acme,{A},3,1,12,24,9.5\nacme,{B},2,0,6,0,4\n")
    await expect(page.locator("#imported")).to_contain_text("Imported 2 rows of Buying terms (2 changed)")
    await expect(page.locator(f"[data-term='acme/{B}']")).to_contain_text("4.00")
    _, now = await chain.get("/v1/buying-terms?supplier=acme")
    assert {(t["sku"], t["pack"], t["minimum"]) for t in now["terms"]} == {(A, 12, 24), (B, 6, 0)}
    entries = (await chain.audit("buying_term"))[:-len(audited)]  # newest first
    assert sorted((e.target, e.who) for e in entries) == [
        (f"buying_term:acme/{A}", "hq-4 (hq)"), (f"buying_term:acme/{B}", "hq-4 (hq)")]
    changed = next(e for e in entries if e.target.endswith(A))
    assert changed.before is not None and changed.before["pack"] == 6
    assert changed.after is not None and changed.after["pack"] == 12
    # a phone: nothing wider than the screen
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_a_run_under_way_holds_a_second_back_and_one_whose_worker_vanished_does_not(
        chain: Chain, new_page: Any) -> None:
    """A run `running` for over an hour lost its worker (killed before it could mark the run
    failed): the page stops waiting for it and lets another start."""
    started = datetime.now(UTC)
    async with chain.maker() as session, session.begin():
        session.add(ReplenishmentRun(id="r-busy", trigger="nightly", night=started.date(), status="running",
                                     started_at=started - timedelta(minutes=5)))
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-5", Role.HQ), then="/replenishment")
    await expect(page.locator("#newest-run")).to_have_attribute("data-run", "r-busy")
    await expect(page.locator("#run-now")).to_be_disabled()
    await expect(page.locator("#plan-body")).to_have_attribute("hx-trigger", "every 2s")
    assert await csrf_post(page, "/replenishment/runs", {}) == 409
    _, runs = await chain.get("/v1/replenishment/runs")
    assert [r["id"] for r in runs["runs"]] == ["r-busy"]

    async with chain.maker() as session, session.begin():
        busy = await session.get(ReplenishmentRun, "r-busy")
        assert busy is not None
        busy.started_at = started - timedelta(minutes=61)
    await page.reload()
    await expect(page.locator("#newest-run")).to_contain_text("its worker has stopped")
    await expect(page.locator("#plan-body")).not_to_have_attribute("hx-trigger", "every 2s")
    await page.locator("#run-now").click()
    await expect(page.locator("#newest-run")).to_have_attribute("data-run-status", "done", timeout=RUN_DONE_MS)


async def test_on_a_chinese_phone_every_page_fits_the_screen(chain: Chain, new_page: Any) -> None:
    await _run_done(chain)
    _, made = await chain.post("/v1/purchase-orders/from-suggestions", {"supplier": "acme"})
    po = made["purchase_orders"][0]
    await chain.post(f"/v1/purchase-orders/{po['id']}/send")
    page = await new_page(PHONE, locale="zh-CN")
    await sign_in(page, chain.url, await chain.token("hq-6", Role.HQ), then="/replenishment")
    await expect(page.locator("h1")).to_have_text("补货")
    await expect(page.locator("#purchases h2")).to_have_text("按供应商的采购建议")
    for path in ("/replenishment", f"/replenishment?sku={A}&at=sh-1", "/replenishment/orders",
                 f"/replenishment/orders/{po['id']}", "/replenishment/buying"):
        await page.goto(chain.url + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path


async def test_every_purchase_order_and_transfer_made_here_or_by_the_api_is_on_the_audit_page(
        chain: Chain, new_page: Any) -> None:
    """Who, what and before → after of each action, written in the action's own transaction; a
    repeated request (the same delivery note, the same send) records nothing more."""
    run = await _run_done(chain)
    page = await new_page()
    await sign_in(page, chain.url, await chain.token("hq-audit", Role.HQ), then="/replenishment")
    await page.locator("[data-make-orders=acme]").click()
    made = page.locator("[data-supplier=acme] [data-made-order]")
    await expect(made).to_have_count(1)
    po_id = await made.get_attribute("data-made-order")
    await made.click()
    await page.wait_for_url(f"{chain.url}/replenishment/orders/{po_id}")
    await page.locator("[data-action=send]").click()
    await expect(page.locator("#po-facts")).to_have_attribute("data-status", "sent")
    _, po = await chain.get(f"/v1/purchase-orders/{po_id}")
    wanted = po["lines"][0]["qty"]
    await page.fill("#receive input[name=ref]", "DN-A1")
    await page.fill("#receive input[name=qty-0]", "6")
    await page.locator("[data-action=receive]").click()
    await expect(page.locator("#po-facts")).to_have_attribute("data-status", "partial")
    assert await csrf_post(page, f"/replenishment/orders/{po_id}/send", {}) == 409  # not a draft: nothing
    # the API's actions are recorded too, under the API token's name
    status, other = await chain.post("/v1/purchase-orders", {"supplier": "acme", "location": "sh-2",
                                                             "lines": [{"sku": A, "qty": 12}]})
    assert status == 201, other
    await page.goto(f"{chain.url}/replenishment/orders/{other['id']}")
    page.on("dialog", lambda d: d.accept())
    await page.locator("[data-action=cancel]").click()
    await expect(page.locator("#po-facts")).to_have_attribute("data-status", "cancelled")
    await page.goto(f"{chain.url}/replenishment?run={run['id']}")
    await page.locator("#make-transfers").click()
    await expect(page.locator("#plan-body .notice.ok")).to_contain_text("Transfers made")

    entries = await chain.audit("purchase_order")
    assert [(e.action, e.target, e.who) for e in reversed(entries)] == [
        ("purchase_order.from_suggestions", f"purchase_order:{po_id}", "hq-audit (hq)"),
        ("purchase_order.send", f"purchase_order:{po_id}", "hq-audit (hq)"),
        ("purchase_order.receive", f"purchase_order:{po_id}", "hq-audit (hq)"),
        ("purchase_order.create", f"purchase_order:{other['id']}", entries[1].who),
        ("purchase_order.cancel", f"purchase_order:{other['id']}", "hq-audit (hq)")]
    assert entries[1].who.endswith("(hq)") and entries[1].who != "hq-audit (hq)"
    received = entries[2]
    assert received.before is not None and received.after is not None
    assert (received.before["status"], received.after["status"]) == ("sent", "partial")
    assert (received.before["lines"], received.after["lines"]) == ([f"{A}: 0/{wanted}"], [f"{A}: 6/{wanted}"])
    assert (received.before["receipts"], received.after["receipts"]) == ([], ["DN-A1"])
    transfers = await chain.audit("transfer")
    _, listed = await chain.get("/v1/transfers?status=in_transit")
    assert sorted(e.target for e in transfers) == sorted(f"transfer:{t['id']}" for t in listed["transfers"])
    assert {(e.action, e.who, (e.after or {}).get("run")) for e in transfers} == {
        ("transfer.create", "hq-audit (hq)", run["id"])}

    # the audit page shows them: the action in words, and each changed field before → after
    await page.goto(f"{chain.url}/audit?target={po_id}")
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(3)
    sent = page.locator("tr[data-action='purchase_order.send']")
    await expect(sent).to_contain_text("Purchase order sent")
    await expect(sent.locator("[data-field=status] .old")).to_have_text("draft")
    await expect(sent.locator("[data-field=status] .new")).to_have_text("sent")
    got = page.locator("tr[data-action='purchase_order.receive']")
    await expect(got.locator("[data-field=receipts] .new")).to_contain_text("DN-A1")
    await expect(got.locator("[data-field=lines] .old")).to_contain_text(f"0/{wanted}")
    await expect(got.locator("[data-field=lines] .new")).to_contain_text(f"6/{wanted}")
    await expect(got.locator("[data-field=supplier]")).to_have_count(0)  # unchanged fields are not listed
    await expect(page.locator("tr[data-action='purchase_order.from_suggestions'] .badge.ok")).to_have_count(1)
