"""A channel without an API gets its figures as a spreadsheet (CSV and .xlsx), downloaded from
Setup in a real Chromium or written on its schedule to the export directory: in every case the
same figures as the channel's availability (the platforms' pushes' own rules), the .xlsx read back
with openpyxl (an independent reader), and the last scheduled run shown on the page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl

from cloud.db import audit
from cloud.keys import MAKER
from shared.contract import Kind, Source, StockDelta, Zone
from tests.integration.conftest import ADMIN, Cloud, until
from tests.orders.chain import book
from tests.setup.conftest import PHONE, Tokens, sign_in

KIBBLE, TREATS, LITTER = "00950123456782", "06923450000106", "06923450000113"


async def _chain(cloud: Cloud) -> None:
    """Two stores, a community-group channel (safety 1 per store, shows 50 %, at most 7) filled by
    both, three listings; stock counted into the ledger through its own write path."""
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for path, body in (("/v1/stores/sh-1", {"name": "Jing'an"}), ("/v1/stores/sh-2", {"name": "Xuhui"}),
                       (f"/v1/products/{KIBBLE}", {"name": "皇家室内成猫粮 2kg"}),
                       (f"/v1/products/{TREATS}", {"name": "Chicken treats"}),
                       ("/v1/channels/community", {"platform": "none", "safety": 1, "share_pct": 50, "max_qty": 7,
                                                   "stores": [{"store": "sh-1"}, {"store": "sh-2"}]}),
                       ("/v1/channels/community/listings", {"listings": [
                           {"channel_sku": "GRP-KIB", "item_id": "wx-1", "sku": KIBBLE},
                           {"channel_sku": "GRP-TRT", "sku": TREATS},
                           {"channel_sku": "GRP-LIT", "sku": LITTER}]})):
        async with cloud.session.put(cloud.url + path, json=body, headers=auth) as r:
            assert r.status == 200, await r.text()
    for store, sku, qty in (("sh-1", KIBBLE, 9), ("sh-2", KIBBLE, 6), ("sh-1", TREATS, 40), ("sh-2", LITTER, 1)):
        await book(cloud.app[MAKER], store, StockDelta(
            id=str(uuid.uuid4()), seq=1, sku=sku, kind=Kind.COUNT, qty=qty, zone=Zone.FLOOR,
            occurred_at=datetime.now(UTC), source=Source.MANUAL))


async def _availability(cloud: Cloud) -> dict[str, tuple[str, str, int]]:
    status, body = await cloud.get("/v1/channels/community/availability")
    assert status == 200, body
    return {i["channel_sku"]: (i["sku"], i["item_id"], i["qty"]) for i in body["items"]}


def _from_csv(data: bytes) -> dict[str, tuple[str, str, int]]:
    assert data.startswith("\ufeff".encode())  # Excel shows the Chinese names right
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return {r["channel_sku"]: (r["sku"], r["item_id"], int(r["qty"])) for r in rows}


def _from_xlsx(data: bytes) -> tuple[dict[str, tuple[str, str, int]], dict[str, str]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    assert sheet is not None
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    found = [dict(zip(header, r, strict=True)) for r in rows]
    return ({str(r["channel_sku"]): (str(r["sku"]), str(r["item_id"] or ""), int(r["qty"])) for r in found},
            {str(r["sku"]): str(r["name"]) for r in found})


async def _download(page: Any, selector: str) -> bytes:
    async with page.expect_download() as download:
        await page.click(selector)
    return Path(await (await download.value).path()).read_bytes()


async def test_the_downloaded_spreadsheets_hold_the_channel_s_availability(
        cloud: Cloud, tokens: Tokens, new_page: Any) -> None:
    await _chain(cloud)
    expected = await _availability(cloud)
    # safety 1 per store, half of what is free, at most 7: kibble (8 + 5) // 2 → 6; treats 39 // 2 → 19;
    # litter: 0 free after the safety stock
    assert expected == {"GRP-KIB": (KIBBLE, "wx-1", 6), "GRP-TRT": (TREATS, "", 7), "GRP-LIT": (LITTER, "", 0)}
    page = await new_page(PHONE)
    await sign_in(page, cloud.url, tokens.hq, "/setup/channels")
    row = "tr[data-channel='community']"
    assert _from_csv(await _download(page, f"{row} a[href$='stock.csv']")) == expected
    figures, names = _from_xlsx(await _download(page, f"{row} a[href$='stock.xlsx']"))
    assert figures == expected
    assert names[KIBBLE] == "皇家室内成猫粮 2kg"  # a text cell: the GTIN keeps its leading zeros


async def test_a_scheduled_spreadsheet_is_written_to_the_export_directory_and_its_last_run_shown(
        cloud: Cloud, tokens: Tokens, new_page: Any, tmp_path: Path) -> None:
    await _chain(cloud)
    page = await new_page()
    await sign_in(page, cloud.url, tokens.hq, "/setup/channels?edit=community")
    form = page.locator("#channel-form form")
    await form.locator("input[name=every_min]").fill("60")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector(".notice.ok")
    written = tmp_path / "exports" / "community.csv"
    await until(lambda: written.exists() and (tmp_path / "exports" / "community.xlsx").exists(),
                what="the scheduled files")
    expected = await _availability(cloud)
    assert _from_csv(written.read_bytes()) == expected
    assert _from_xlsx((tmp_path / "exports" / "community.xlsx").read_bytes())[0] == expected

    async def shown() -> bool:
        await page.goto(f"{cloud.url}/setup/channels")
        return "3 rows" in await page.locator("tr[data-channel='community'] [data-last-run]").inner_text()

    await until(shown, what="the last run on the page")
    async with cloud.app[MAKER]() as session:  # the schedule is audited too
        assert [e.after for e in await audit.entries(session, action="export.put")] == [{"every_s": 3600}]
