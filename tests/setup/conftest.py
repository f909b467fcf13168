"""Setup and audit in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright;
never `playwright install`) against the real cloud app — SQLite, a real Mosquitto, the ingest on."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cloud.app import create_app
from cloud.auth import Role, create_token
from cloud.keys import INGEST, MAKER
from cloud.settings import Settings
from shared.mqtt import BrokerUrl
from tests.integration.conftest import ADMIN, Cloud
from tests.support.services import Mosquitto, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@contextlib.asynccontextmanager
async def running(db_url: str, broker: Mosquitto | None, **options: Any) -> AsyncIterator[Cloud]:
    port = free_port()
    settings = Settings(db_url=db_url, mqtt=BrokerUrl.parse(broker.url) if broker else None, port=port,
                        admin_token=ADMIN, worker_id=f"setup-{port}", **options)
    app = create_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        if broker is not None:
            await asyncio.wait_for(app[INGEST].ready.wait(), 10)
        async with aiohttp.ClientSession() as session:
            yield Cloud(f"http://127.0.0.1:{port}", app, session)
    finally:
        await runner.cleanup()


@dataclass
class Tokens:
    hq: str
    store: str
    finance: str


@pytest.fixture
async def cloud(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[Cloud]:
    async with running(f"sqlite:///{tmp_path / 'ledger.db'}", broker, export_dir=tmp_path / "exports",
                       export_tick_s=0.2) as c:
        yield c


@pytest.fixture
async def tokens(cloud: Cloud) -> Tokens:
    maker = cloud.app[MAKER]
    return Tokens(ADMIN, await create_token(maker, "manager-0042", Role.STORE, "sh-0042"),
                  await create_token(maker, "finance", Role.FINANCE, None))


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
    async with playwright.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def new_page(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """A page in its own context (its own cookies): phone or desktop, English or Chinese."""
    contexts: list[Any] = []

    async def make(viewport: dict[str, int] = DESKTOP, locale: str = "en-US") -> Any:
        context = await browser.new_context(viewport=viewport, locale=locale, is_mobile=viewport == PHONE,
                                            accept_downloads=True, extra_http_headers={"Accept-Language": locale})
        contexts.append(context)
        return await context.new_page()

    yield make
    for c in contexts:
        with contextlib.suppress(Exception):
            await c.close()


async def sign_in(page: Any, url: str, token: str, then: str = "/") -> None:
    await page.goto(f"{url}/signin?next={then}")
    await page.fill("input[name=token]", token)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_url(f"{url}{then}")
