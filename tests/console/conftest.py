"""The console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; never
`playwright install`), against the real cloud app on SQLite or PostgreSQL with a real Mosquitto."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.auth import Role, create_token
from cloud.keys import MAKER
from shared import contract
from shared.contract import GatewayState, GatewayStatus, Stream
from tests.integration.conftest import ADMIN, Cloud, running_cloud, until
from tests.support.mqtt_clients import release
from tests.support.services import Mosquitto, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian chromium not installed (apt-get install -y chromium)")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@dataclass
class Tokens:
    hq: str
    store: str  # a store token for STORE
    other: str  # a store token for OTHER
    finance: str


STORE, OTHER = "sh-0042", "sh-0043"


async def make_tokens(cloud: Cloud) -> Tokens:
    maker = cloud.app[MAKER]
    return Tokens(hq=ADMIN,
                  store=await create_token(maker, "manager-0042", Role.STORE, STORE),
                  other=await create_token(maker, "manager-0043", Role.STORE, OTHER),
                  finance=await create_token(maker, "finance", Role.FINANCE, None))


@pytest.fixture
async def console(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[Cloud]:
    """The cloud (ingest on, SQLite) with the console, and the two stores registered."""
    async with running_cloud(f"sqlite:///{tmp_path / 'ledger.db'}", broker) as cloud:
        for store, name in ((STORE, "Jing'an"), (OTHER, "Xuhui")):
            async with cloud.session.put(f"{cloud.url}/v1/stores/{store}", json={"name": name},
                                         headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                assert r.status in (200, 201), await r.text()
        yield cloud


@pytest.fixture
async def tokens(console: Cloud) -> Tokens:
    return await make_tokens(console)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    async with playwright.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def new_page(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """A page in a fresh context (its own cookies): phone or desktop, English or Chinese."""
    contexts: list[Any] = []

    async def make(viewport: dict[str, int] = DESKTOP, locale: str = "en-US") -> Any:
        context = await browser.new_context(viewport=viewport, locale=locale, is_mobile=viewport == PHONE,
                                            extra_http_headers={"Accept-Language": locale})
        contexts.append(context)
        return await context.new_page()

    yield make
    for c in contexts:
        with contextlib.suppress(Exception):
            await c.close()


def announce(broker: Mosquitto, store: str, gateway: str = "gw-1", **details: Any) -> None:
    """Publish a gateway's retained online status, as a gateway would (paho, QoS 1)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{free_port()}", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        status = GatewayStatus(store, gateway, GatewayState.ONLINE, datetime.now(UTC), **details)
        client.publish(contract.gateway_topic(store, gateway, Stream.STATUS), contract.encode(status),
                       qos=1, retain=True).wait_for_publish(5)
    finally:
        release(client)


async def known(cloud: Cloud, store: str) -> None:
    """Until the cloud has recorded a status of one of the store's gateways."""
    async def heard() -> bool:
        _, body = await cloud.get("/v1/gateways")
        return any(g["store"] == store and g["state"] for g in body["gateways"])

    await until(heard, what=f"a status from {store}")


async def sign_in(page: Any, url: str, token: str, then: str = "/") -> None:
    await page.goto(f"{url}/signin?next={then}")
    await page.fill("input[name=token]", token)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_url(f"{url}{then}")


async def live(page: Any) -> None:
    """Wait until the page's event stream is open (the header's light)."""
    await page.wait_for_selector("#live[data-state=open]", timeout=10_000)


__all__ = ["DESKTOP", "OTHER", "PHONE", "STORE", "Tokens", "announce", "known", "live", "make_tokens",
           "needs_chromium", "sign_in"]
