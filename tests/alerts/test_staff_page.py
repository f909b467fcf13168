"""The staff page in a real headless Chromium at a phone viewport (Debian's chromium + Playwright)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from edge.alerts.staff_page import staff_app
from shared.alerting.config import parse_alerts_config
from shared.alerting.rules import Condition, Kind, Status
from shared.alerting.service import AlertService
from shared.alerting.store import AlertStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium not installed (apt-get install -y chromium)"
)

REFILL = Condition(
    "refill:A1-2",
    Kind.REFILL,
    "A1",
    "Refill A1-2: Royal Canin Indoor 2 kg — 1 left on shelf, 14 in backroom",
    "补货 A1-2：Royal Canin Indoor 2 kg — 货架剩 1 件，仓库有 14 件",
)


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[AlertService, str]]:
    cfg = parse_alerts_config({"db": str(tmp_path / "a.db"), "tick_s": 0.1})
    svc = AlertService(cfg, AlertStore(cfg.db))
    stop = asyncio.Event()
    loop = asyncio.create_task(svc.run(stop))
    app = web.Application()
    app.add_subapp("/staff/", staff_app(svc))
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield svc, f"http://127.0.0.1:{port}/staff/"
    finally:
        stop.set()
        await loop
        await runner.cleanup()
        svc.store.close()


async def test_phone_page_shows_live_task_by_aisle_and_acknowledges(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (svc, url), playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            await page.goto(url)
            await page.wait_for_selector("#live:text('●')")
            svc.raise_(REFILL)  # arrives over SSE, no reload
            task = page.locator("[data-key='refill:A1-2']")
            await task.wait_for()
            assert "货架剩 1 件" in await task.inner_text()
            assert await page.locator("h2").inner_text() == "通道 Aisle A1"
            await task.locator("button.ack").click()
            await page.wait_for_selector("[data-key='refill:A1-2'].acked")
            assert svc.book.alerts[REFILL.key].status is Status.ACKED
            svc.resolve(REFILL.key)  # the shelf saw the refill
            await task.wait_for(state="detached")
            assert await page.locator("#empty").is_visible()
        finally:
            await browser.close()
