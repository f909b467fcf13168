"""Channels and platforms: per channel, its listings in sync, pending or failed (with the platform's
error), its last successful push, push rate and drift repairs; a channel's listings one by one;
"retry" for a failed listing (head office).

Head office and finance see these pages (channel figures are chain-wide, as the API says:
GET /v1/channels is theirs); a store token gets 403. A retry wakes the platform sync driver for
one listing, as the product page's "push now" does (live.py `push_now`: the worker that drives
sync pushes it, another worker relays the request over NOTIFY), and is recorded in the audit.
Figures come from queries_channels.py; the sync driver's own counters (/healthz `sync`) are shown
when this worker runs it.

Every open channels page re-fetches its figures on the same push or stock event: the rows are read
once for the consoles that ask at the same moment, and never across a notice
(console/shared_reads.py, as the overview). The listings, what each channel may sell and the push
figures come from the worker's `ChannelFigures` (queries_channels.py), brought up to date from
the SKUs the live hub's notices name (stock and holds, listings and channel rules, pushes) and
the push records written since a push notice, instead of summing the stock of every store the
channels sell from and aggregating every push record on each read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cloud.auth import Principal, Role, require_hq
from cloud.console import queries_channels as q
from cloud.console.kept import follow_while_serving
from cloud.console.live import Notice, Topic
from cloud.console.pages.overview import SHARED_FOR_S
from cloud.console.queries import product_names
from cloud.console.queries_orders import page_of
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.db import audit
from cloud.keys import CHANNEL_FIGURES, CONSOLE_READS, LIVE, MAKER, SYNC
from shared.contract import ContractError, check_id

LISTINGS_PAGE = 50
STATES = ("all", *(s.value for s in q.State))
CHANGES = frozenset({Topic.STOCK, Topic.PUSHES})  # what changes a channel's figures or a listing's push


def changed_skus(notices: asyncio.Queue[set[Notice]]) -> q.Noticed:
    """The SKUs named by the notices queued since the last call (a subscription to the live hub),
    None when one of them names no SKU (then everything is read again); and whether one was a
    push record's."""
    skus: set[str] = set()
    unknown = pushes = False
    while not notices.empty():
        batch = notices.get_nowait()
        unknown |= _named(batch, skus)
        pushes |= _pushes(batch)
    return q.Noticed(None if unknown else skus, pushes)


def _named(batch: set[Notice], skus: set[str]) -> bool:
    """Add the SKUs `batch` names to `skus`; True when one of its changes names none."""
    unknown = False
    for n in batch:
        if n.topic in CHANGES:
            unknown |= not n.sku
            skus.add(n.sku)
    return unknown


def _pushes(batch: set[Notice]) -> bool:
    return any(n.topic is Topic.PUSHES for n in batch)


async def _follow(notices: asyncio.Queue[set[Notice]], figures: q.ChannelFigures) -> None:
    """Note the SKUs of the notices as they come, so that what waits for the next read is a set of
    SKUs, not every notice of the chain since (a read also takes what is queued at its start)."""
    while True:
        skus: set[str] = set()
        batch = await notices.get()
        figures.note(None if _named(batch, skus) else skus, _pushes(batch))


def _reader(request: web.Request) -> Principal:
    who = principal(request)
    if who.role is Role.STORE:  # channel figures are chain-wide (GET /v1/channels is hq's and finance's)
        raise web.HTTPForbidden(text='{"error": "channel figures are chain-wide: hq and finance only"}',
                                content_type="application/json")
    return who


def driver(app: web.Application) -> dict[str, Any]:
    """The platform sync driver as this worker knows it: running here, leading, its counters."""
    sync = app.get(SYNC)
    if sync is None:
        return {"running": False, "leader": False, "channels": [], "health": {}}
    return {"running": True, "leader": sync.stats.leader, "channels": sorted(sync.adapters),
            "health": sync.health()}


async def _rows(request: web.Request, channel: str | None = None) -> list[q.ChannelRow]:
    """Every channel's row (or the one named), shared by the consoles asking at the same moment;
    shared rows are read, filtered and sorted into new lists, never changed."""
    maker = request.app[MAKER]

    async def read() -> list[q.ChannelRow]:
        async with maker() as session:
            return await q.channel_rows(session, now(), channel, request.app[CHANNEL_FIGURES])

    rows: list[q.ChannelRow] = await request.app[CONSOLE_READS].get(
        ("channel-rows", channel), read, generation=request.app[LIVE].generation, max_age=SHARED_FOR_S)
    return rows


@dataclass(frozen=True, slots=True)
class Overview:
    """What the channels page shows under its heading, read once for the consoles asking at the
    same moment (as `_rows`) and never changed."""
    rows: list[q.ChannelRow]
    sum: dict[str, int]
    failed: list[q.ListingRow]  # newest failure first
    names: dict[str, str]  # the failed listings' products


async def _overview_read(request: web.Request) -> Overview:
    """The rows, their sums, the failed list and its products' names in one session (one
    transaction: each costs a wait for the database, and on a busy machine for a core too)."""
    maker, figures = request.app[MAKER], request.app[CHANNEL_FIGURES]

    async def read() -> Overview:
        async with maker() as session:
            rows = await q.channel_rows(session, now(), None, figures)
            failed = q.failed(rows)
            names = await product_names(session, {li.sku for li in failed})
        return Overview(rows, q.totals(rows), failed, names)

    shown: Overview = await request.app[CONSOLE_READS].get(
        ("channels-overview", None), read, generation=request.app[LIVE].generation, max_age=SHARED_FOR_S)
    return shown


async def _overview(request: web.Request, notice: str | None = None,
                    problem: str | None = None) -> dict[str, Any]:
    who = _reader(request)
    t = words(request)
    shown = await _overview_read(request)
    labels = {s.value: t(f"ch.state.{s.value}") for s in q.State}
    chart = json.dumps(q.states_chart(shown.rows, labels), ensure_ascii=False)
    return {"rows": shown.rows, "sum": shown.sum, "failed": shown.failed, "names": shown.names,
            "driver": driver(request.app), "chart": chart, "may_retry": who.role is Role.HQ,
            "notice": notice, "problem": problem}


async def channels_page(request: web.Request) -> web.StreamResponse:
    """GET /channels: the page, or (its live refresh, htmx) the part under the heading."""
    template = "_channels.html" if is_htmx(request) and request.headers.get("HX-Target") == "channels-live" \
        else "channels.html"
    return render(request, template, await _overview(request), section="channels")


def _channel(request: web.Request) -> str:
    name = request.match_info["channel"]
    try:
        check_id(name, "channel")
    except ContractError:
        raise web.HTTPNotFound() from None
    return name


def _state(request: web.Request) -> str:
    state = request.query.get("state", "all")
    return state if state in STATES else "all"


def _page_number(request: web.Request) -> int:
    try:
        return int(request.query.get("page", "1"))
    except ValueError:
        return 1


async def _detail(request: web.Request, name: str, state: str, page: int, notice: str | None = None,
                  problem: str | None = None) -> dict[str, Any]:
    who = _reader(request)
    rows = await _rows(request, name)
    if not rows:
        raise web.HTTPNotFound()
    async with request.app[MAKER]() as session:
        row = rows[0]
        shown = [li for li in row.listings if state == "all" or li.state.value == state]
        p = page_of(page, len(shown), LISTINGS_PAGE)
        shown = shown[p.offset:p.offset + p.size]
        names = await product_names(session, {li.sku for li in shown})
    return {"ch": row, "listings": shown, "names": names, "state": state, "states": STATES, "page": p,
            "link": lambda n: f"/channels/{name}?{urlencode({'state': state, 'page': n})}",
            "driver": driver(request.app), "may_retry": who.role is Role.HQ, "notice": notice,
            "problem": problem}


async def channel_page(request: web.Request) -> web.StreamResponse:
    name = _channel(request)
    context = await _detail(request, name, _state(request), _page_number(request))
    if is_htmx(request) and request.headers.get("HX-Target") == "listings":
        return render(request, "_channel_listings.html", context, section="channels")
    return render(request, "channel.html", context, section="channels")


async def retry(request: web.Request) -> web.StreamResponse:
    """POST /channels/{channel}/retry (form: listing, and the list it came from): push one listing
    again now (head office)."""
    name = _channel(request)
    who = require_hq(request)
    form = await request.post()
    listing = str(form.get("listing", ""))
    async with request.app[MAKER]() as session:
        found = [li for li in await q.listings(session, name) if li.channel_sku == listing]
    if not found:
        raise web.HTTPNotFound()
    li = found[0]
    t = words(request)
    sent = request.app[LIVE].push_now(name, li.sku, li.channel_sku)
    notice = problem = None
    if sent:
        notice = t("ch.retried", channel=name, listing=listing)
        async with request.app[MAKER]() as session, session.begin():
            await audit.record(session, audit.actor(who.name, who.role), "push.retry",
                               f"listing:{name}/{listing}",
                               {"sku": li.sku, "result": li.last.result if li.last else None,
                                "error": li.last.error if li.last else None},
                               {"sku": li.sku, "result": "asked again"})
    else:
        problem = t("product.no_sync")
    back = str(form.get("from", ""))
    if back == "listings":
        if not is_htmx(request):
            raise web.HTTPSeeOther(f"/channels/{name}")
        state = str(form.get("state", "all"))
        context = await _detail(request, name, state if state in STATES else "all", 1, notice, problem)
        return render(request, "_channel_listings.html", context, section="channels")
    if not is_htmx(request):
        raise web.HTTPSeeOther("/channels")
    return render(request, "_channels.html", await _overview(request, notice, problem), section="channels")


def add_routes(routes: ConsoleRoutes) -> None:
    app = routes.app
    notices = app[LIVE].subscribe()  # from now on: nothing changed before the first read is missed
    app[CHANNEL_FIGURES] = figures = q.ChannelFigures(lambda: changed_skus(notices), lambda: app[MAKER])

    def stop() -> None:
        figures.stop()
        app[LIVE].unsubscribe(notices)

    follow_while_serving(app, lambda: _follow(notices, figures), "console-channel-figures", stop)
    routes.get("/channels", channels_page, "channels")
    routes.get("/channels/{channel}", channel_page, "channel")
    routes.post("/channels/{channel}/retry", retry, "channel-retry")
