"""What a store token may not do, in the console and in the API with the same token, and the CSRF
check on every state change: a form post without its token is refused and changes nothing."""

from __future__ import annotations

import json
from typing import Any

from cloud.db import stocktakes
from cloud.keys import MAKER
from tests.console.conftest import OTHER, STORE, Tokens, announce, known, sign_in
from tests.integration.conftest import Cloud
from tests.support.services import Mosquitto


async def _csrf(page: Any) -> str:
    headers = await page.locator("body").get_attribute("hx-headers")
    return str(json.loads(headers or "{}")["X-CSRF-Token"])


async def test_a_store_token_cannot_open_another_store(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, console.url, tokens.store)
    answer = await page.goto(f"{console.url}/stores/{OTHER}")
    assert answer is not None and answer.status == 403
    assert "You may not see or change this." in await page.locator("h1").inner_text()
    assert OTHER in await page.locator(".error-page").inner_text()  # the reason names the store
    for part in ("shelves", "stock", "movements", "alerts", "stocktakes", "gateways"):  # nor its partials
        r = await page.request.get(f"{console.url}/stores/{OTHER}/{part}", headers={"HX-Request": "true"})
        assert r.status == 403, part
    r = await page.request.get(f"{console.url}/overview/rows/{OTHER}")
    assert r.status == 403
    r = await page.request.get(f"{console.url}/events?store={OTHER}")  # nor its live events
    assert r.status == 403
    # its own store opens
    answer = await page.goto(f"{console.url}/stores/{STORE}")
    assert answer is not None and answer.status == 200
    # and the API answers the same token the same way
    for path in (f"/v1/stores/{OTHER}/stock", f"/v1/stores/{OTHER}/movements?since=0",
                 f"/v1/stores/{OTHER}/stocktakes"):
        status, body = await console.get(path, token=tokens.store)
        assert status == 403 and OTHER in body["error"], path
    status, _ = await console.get(f"/v1/stores/{STORE}/stock", token=tokens.store)
    assert status == 200


async def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(
        console: Cloud, tokens: Tokens, new_page: Any, broker: Mosquitto) -> None:
    announce(broker, STORE)
    await known(console, STORE)
    page = await new_page()
    await sign_in(page, console.url, tokens.hq, then=f"/stores/{STORE}")
    form = {"gateway": "gw-1", "seconds": "30", "zone": ""}
    url = f"{console.url}/stores/{STORE}/stocktakes"
    refused = [
        await page.request.post(url, form=form),  # a plain form post with no token
        await page.request.post(url, form={**form, "csrf": "forged"}),  # a wrong one
        await page.request.post(url, form=form, headers={"X-CSRF-Token": "forged", "HX-Request": "true"}),
        await page.request.post(f"{console.url}/signout", form={}),  # signing out too
    ]
    for r in refused:
        assert r.status == 403
        assert "This form was stale" in await r.text()
    assert await stocktakes.find(console.app[MAKER], STORE) == []  # nothing was asked of the gateway
    # the session's own token passes (as the page's htmx header and its forms send it)
    r = await page.request.post(url, form={**form, "csrf": await _csrf(page)})
    assert r.ok
    assert len(await stocktakes.find(console.app[MAKER], STORE)) == 1
    # another session's token does not
    other = await new_page()
    await sign_in(other, console.url, tokens.hq)
    r = await page.request.post(url, form={**form, "csrf": await _csrf(other)})
    assert r.status == 403


async def test_the_sign_in_form_needs_its_own_token(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await page.goto(console.url + "/signin")
    r = await page.request.post(console.url + "/signin", form={"token": tokens.hq, "next": "/"})
    assert r.status == 403  # a page elsewhere cannot sign the browser in to a session it chose
    r = await page.request.post(console.url + "/signin", form={"token": tokens.hq, "csrf": "made-up"})
    assert r.status == 403


async def test_a_store_nobody_knows_is_a_404_page(console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page()
    await sign_in(page, console.url, tokens.hq)
    answer = await page.goto(f"{console.url}/stores/sh-9999")
    assert answer is not None and answer.status == 404
    assert await page.locator("h1").inner_text() == "There is no such page."
    answer = await page.goto(f"{console.url}/stores/Not_An-Id")
    assert answer is not None and answer.status == 404
    answer = await page.goto(f"{console.url}/products/12345")  # not a GTIN-14
    assert answer is not None and answer.status == 404
