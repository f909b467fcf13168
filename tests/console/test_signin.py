"""Signing in to the console with an API token, per role, in a real Chromium: what each role sees,
a wrong token, the lockout after repeated failures, sign-out and idle expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import update

from cloud.db.models import ConsoleSession
from cloud.keys import MAKER
from tests.console.conftest import OTHER, PHONE, STORE, Tokens, announce, known, sign_in
from tests.integration.conftest import Cloud
from tests.support.services import Mosquitto


async def _cookie(page: Any, name: str) -> dict[str, Any]:
    [cookie] = [c for c in await page.context.cookies() if c["name"] == name]
    return cookie


async def test_head_office_signs_in_and_sees_every_store(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await page.goto(console.url + "/")
    assert page.url.startswith(console.url + "/signin")  # nobody gets in without signing in
    await sign_in(page, console.url, tokens.hq)
    assert await page.locator("h1").inner_text() == "Chain overview"
    assert await page.locator(f"tr[data-store={STORE}]").count() == 1
    assert await page.locator(f"tr[data-store={OTHER}]").count() == 1
    assert "Head office" in await page.locator(".me .who").inner_text()
    session = await _cookie(page, "shelfsync_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]  # plain HTTP here
    # the session's id is not stored, only its digest; the token is nowhere in the table
    async with console.app[MAKER]() as db:
        rows = (await db.execute(ConsoleSession.__table__.select())).mappings().all()
    assert len(rows) == 1 and rows[0]["digest"] != session["value"]
    assert tokens.hq not in repr(dict(rows[0]))


async def test_a_store_token_sees_its_store_only(console: Cloud, tokens: Tokens, new_page: Any,
                                                broker: Mosquitto) -> None:
    announce(broker, STORE)
    await known(console, STORE)
    page = await new_page(PHONE)
    await sign_in(page, console.url, tokens.store)
    assert await page.locator(f"tr[data-store={STORE}]").count() == 1
    assert await page.locator(f"tr[data-store={OTHER}]").count() == 0
    await page.goto(console.url + "/stores")
    assert page.url == f"{console.url}/stores/{STORE}"  # the list is its own store
    assert await page.locator("#start-stocktake").count() == 1  # it may count its own shelves
    nav = await page.locator("nav.nav").inner_text()
    assert "Setup" not in nav and "Channels" not in nav


async def test_finance_sees_stock_value_and_changes_nothing(console: Cloud, tokens: Tokens, new_page: Any,
                                                            broker: Mosquitto) -> None:
    announce(broker, STORE)
    await known(console, STORE)
    page = await new_page()
    await sign_in(page, console.url, tokens.finance, then="/stores")
    assert await page.locator("th", has_text="Stock value").count() == 1
    await page.goto(f"{console.url}/stores/{STORE}")
    assert await page.locator("#start-stocktake").count() == 0
    assert "Only head office or this store's staff" in await page.locator("#stocktakes").inner_text()
    answer = await page.request.post(f"{console.url}/stores/{STORE}/stocktakes",
                                     form={"gateway": "gw-1", "seconds": "30"},
                                     headers={"X-CSRF-Token": await _csrf(page)})
    assert answer.status == 403  # refused on the server, not only hidden
    nav = await page.locator("nav.nav").inner_text()
    assert "Setup" not in nav


async def _csrf(page: Any) -> str:
    headers = await page.locator("body").get_attribute("hx-headers")
    assert headers is not None
    import json
    return str(json.loads(headers)["X-CSRF-Token"])


async def test_a_wrong_token_is_refused_and_repeated_failures_lock_the_address_out(
        console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await page.goto(console.url + "/signin")
    for attempt in range(1, 4):
        await page.fill("input[name=token]", f"wrong-{attempt}")
        await page.click("form[action='/signin'] button[type=submit]")
        problem = await page.locator("#problem").inner_text()
        if attempt < 3:
            assert problem == "That token is not valid."
    assert "Too many failed sign-ins" in problem  # the third failure locks the address out
    # while locked, even the right token is not tried
    await page.fill("input[name=token]", tokens.hq)
    await page.click("form[action='/signin'] button[type=submit]")
    assert "Too many failed sign-ins" in await page.locator("#problem").inner_text()
    assert page.url.startswith(console.url + "/signin")


async def test_signing_out_ends_the_session_everywhere(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, console.url, tokens.hq)
    session = (await _cookie(page, "shelfsync_session"))["value"]
    await page.click("form[action='/signout'] button")
    await page.wait_for_url(console.url + "/signin?out=1")
    assert "You are signed out." in await page.locator(".notice").inner_text()
    # the old cookie, replayed, opens nothing
    async with console.session.get(console.url + "/", cookies={"shelfsync_session": session},
                                   allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/signin")


async def test_an_idle_session_expires(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, console.url, tokens.hq)
    async with console.app[MAKER]() as db, db.begin():  # 31 minutes without a request
        await db.execute(update(ConsoleSession).values(seen_at=datetime.now(UTC) - timedelta(minutes=31)))
    await page.goto(console.url + "/stores")
    assert page.url.startswith(console.url + "/signin")
    assert "Your session ended" in await page.locator(".notice").inner_text()


async def test_a_revoked_token_ends_its_sessions(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, console.url, tokens.store)
    async with console.session.delete(f"{console.url}/v1/tokens/manager-0042",
                                      headers={"Authorization": f"Bearer {tokens.hq}"}) as r:
        assert r.status in (200, 204)
    await page.goto(f"{console.url}/stores/{STORE}")
    assert page.url.startswith(console.url + "/signin")


async def test_behind_a_tls_proxy_the_cookies_are_secure(console: Cloud, tokens: Tokens) -> None:
    proxy = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy in front says
    async with aiohttp.ClientSession() as http:
        async with http.get(console.url + "/signin", headers=proxy) as r:
            form_cookie = r.cookies["shelfsync_signin"]
            assert form_cookie["secure"] and form_cookie["httponly"]
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert csrf is not None
        async with http.post(console.url + "/signin", allow_redirects=False,
                             data={"csrf": csrf.group(1), "token": tokens.hq, "next": "/"},
                             headers={**proxy, "Cookie": f"shelfsync_signin={form_cookie.value}"}) as r:
            assert r.status == 303
            session = r.cookies["shelfsync_session"]
            assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
            assert session["path"] == "/"
