"""A stocktake started from the store page: the real gateway process counts the LLRP simulator's
tags, the counts land in the ledger, the page follows the count live and shows the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim import procs
from tests.console.conftest import STORE, Tokens, known, live, sign_in
from tests.integration.conftest import POS, Cloud, until
from tests.integration.test_devices import Sim
from tests.support.services import Mosquitto, free_port

TAGS = 300


@pytest.fixture
def reader() -> Iterator[int]:
    """The LLRP reader simulator with 300 tags; yields its port."""
    sim = Sim("sim", "llrp", "--port", "0", "--tags", str(TAGS), "--seed", "5", "--rate", "2000")
    try:
        sim.wait_for(lambda lines: any("listening on" in x for x in lines))
        line = next(x for x in sim.lines if "listening on" in x)
        yield int(line.split(":")[1].split()[0].rstrip(":"))
    finally:
        sim.stop()


@pytest.fixture
def gateway(tmp_path: Path, broker: Mosquitto, reader: int) -> Iterator[None]:
    port = free_port()
    config = procs.gateway_config(tmp_path, STORE, broker.url, POS, port, status_interval=1.0)
    config.write_text(config.read_text() + '\n[rfid]\nquiet_s = 2.0\npresence = false\n'
                      f'[[rfid.reader]]\nname = "door"\nhost = "127.0.0.1"\nport = {reader}\n'
                      'zones = {1 = "floor", 2 = "floor", 3 = "floor", 4 = "backroom"}\n')
    proc = procs.gateway(config, port, f"gateway-{STORE}")
    try:
        yield
    finally:
        proc.stop()


async def _has(value: Any, expected: int) -> bool:
    return await value == expected


async def _on_hand(cloud: Cloud) -> int:
    _, body = await cloud.get(f"/v1/stores/{STORE}/stock")
    return sum(i["on_hand"] for i in body["items"])


async def test_a_stocktake_started_from_the_page_lands_in_the_ledger_and_its_report_shows(
        console: Cloud, tokens: Tokens, new_page: Any, gateway: None) -> None:
    await known(console, STORE)
    page = await new_page()
    await sign_in(page, console.url, tokens.store, then=f"/stores/{STORE}")
    await live(page)
    await page.evaluate("window.__not_reloaded = true")
    await page.fill("#stocktakes input[name=seconds]", "60")
    await page.click("#start-stocktake")
    notice = page.locator("#stocktakes .notice.ok")
    await notice.wait_for()
    assert "sent to gw-1" in await notice.inner_text()
    take = page.locator("#stocktakes li[data-stocktake]").first
    assert await take.get_attribute("data-state") == "requested"
    assert "Counting" in await take.inner_text()
    sid = await take.get_attribute("data-stocktake")

    # watched live: the gateway's report turns it done without a reload
    await page.wait_for_selector(f"#stocktakes li[data-stocktake='{sid}'][data-state=done]", timeout=90_000)
    assert await page.evaluate("window.__not_reloaded === true")
    # every tag in the reader's field, now in the ledger (the counts arrive as deltas, in their own batches)
    await until(lambda: _has(_on_hand(console), TAGS), 60, "the counts in the ledger")
    # the store page's stock follows (its own live event)
    await page.wait_for_function(
        "[...document.querySelectorAll('#stock td[data-zone]')].reduce((n, td) => n + Number(td.textContent), 0)"
        f" === {TAGS}", timeout=10_000)

    await page.click(f"#stocktakes a[href$='/stocktakes/{sid}']")
    await page.wait_for_url(f"{console.url}/stores/{STORE}/stocktakes/{sid}")
    assert await page.locator("#report [data-state]").get_attribute("data-state") == "done"
    assert await page.locator("#report [data-figure=unique_tags]").inner_text() == str(TAGS)
    counted = [int(x) for x in await page.locator("#report td[data-figure=counted]").all_inner_texts()]
    assert sum(counted) == TAGS
