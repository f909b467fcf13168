"""Every console response says how long the worker spent on it, in a W3C Server-Timing header
(`app;dur=12.3, cpu;dur=8.1`, milliseconds: the time and the worker's CPU time): the browser's developer tools show it beside the network time,
and `shelfsync bench console` reads each page's server time from it."""

from __future__ import annotations

import re

import aiohttp

from tests.console.conftest import STORE, Tokens
from tests.integration.conftest import Cloud

TIMING = re.compile(r"app;dur=(\d+\.\d), cpu;dur=(\d+\.\d)")


async def _signed_in(http: aiohttp.ClientSession, url: str, token: str) -> str:
    async with http.get(url + "/signin") as r:
        form_cookie = r.cookies["shelfsync_signin"].value
        assert TIMING.fullmatch(r.headers.get("Server-Timing", "")), r.headers  # a public page too
    async with http.post(url + "/signin", allow_redirects=False,
                         data={"csrf": form_cookie, "token": token, "next": "/"},
                         headers={"Cookie": f"shelfsync_signin={form_cookie}"}) as r:
        assert r.status == 303, await r.text()
        return r.cookies["shelfsync_session"].value


async def test_pages_partials_and_error_pages_carry_the_time_the_worker_spent(console: Cloud, tokens: Tokens) -> None:
    async with aiohttp.ClientSession() as http:
        cookie = {"Cookie": f"shelfsync_session={await _signed_in(http, console.url, tokens.hq)}"}
        for path, headers in (("/", {}), ("/overview/totals", {"HX-Request": "true"}),
                              (f"/stores/{STORE}", {}), (f"/stores/{STORE}/movements", {"HX-Request": "true"}),
                              ("/no-such-page", {})):
            async with http.get(console.url + path, headers={**cookie, **headers}) as r:
                await r.read()
                found = TIMING.fullmatch(r.headers.get("Server-Timing", ""))
                assert found, (path, r.status, r.headers)
                assert 0 < float(found.group(1)) < 60_000 and 0 <= float(found.group(2)) < 60_000, path
        async with http.get(console.url + "/healthz") as r:  # the API is not the console's to time
            assert "Server-Timing" not in r.headers
