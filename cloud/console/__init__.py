"""The console: head office and store managers see and steer the chain in a browser (issue 16).

Served by the cloud service itself, on the API's port, under `/` (the API keeps /v1, /healthz,
/readyz, /metrics and /openapi.json). Server-rendered pages, in English and Chinese, that work on a
phone and a desktop, updated live where figures change, and working offline: every file it needs
ships in this package (static/vendor/README.md lists versions and licences).

Parts, and why these:
- **aiohttp-jinja2 + Jinja2** (autoescape on): pages rendered where the data and the role checks
  are, in the aiohttp app the API already is; no second service, no build step, no client-side
  state to keep in step with the ledger.
- **htmx** (vendored): partial updates by HTML attributes — a table re-fetches its own partial,
  a form posts without a page load — so pages stay server-rendered; about 50 kB, no build.
- **Server-sent events** with the htmx SSE extension in the browser and aiohttp-sse on the server
  (keep-alive pings, send timeouts): one long-lived GET per page, through any proxy that passes
  HTTP; updates only flow one way, so WebSockets would add nothing. See live.py.
- **Apache ECharts** (vendored, the "common" build): charts that work on touch screens and render
  Chinese text; a well-kept Apache project.
- A **dict catalogue** for the two languages (i18n.py says why not Babel).

Layout: `web.py` (routes beside the API's, the navigation, rendering, error pages — read its
docstring to add a page), `session.py` (sign-in, sessions, CSRF), `live.py` (SSE), `queries.py`
(what each page reads; SQL stays in cloud/db/), `pages/` (one module per page), `templates/`,
`static/`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from cloud.console import live, session
from cloud.console.live import Live, Notice, Topic
from cloud.console.pages import PAGES
from cloud.console.pages.transfers import SUGGESTIONS_APART
from cloud.console.queries_orders import SuggestionsApart
from cloud.console.shared_reads import SharedReads
from cloud.console.web import (
    ConsoleOptions,
    ConsoleRoutes,
    html_errors,
    is_console_request,
    now,
    server_timing,
    split_middlewares,
)
from cloud.db import console_sessions
from cloud.keys import CONSOLE_OPTIONS, CONSOLE_PUBLIC, CONSOLE_READS, EVENTS, INGEST, LIVE, MAKER, SYNC
from shared.contract import ContractError, Stream, parse_instant

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
PURGE_EVERY_S = 600.0


def _csrf_field(token: str) -> Markup:
    return Markup('<input type="hidden" name="csrf" value="{}">').format(escape(token))


def _instant(text: str | None) -> datetime | None:
    """An RFC 3339 time from the API's JSON (stocktakes, orders) as an aware datetime, for t.clock."""
    try:
        return parse_instant(text, "time") if text else None
    except ContractError:
        return None


def install(app: web.Application, options: ConsoleOptions, worker: str) -> None:
    """Add the console to the cloud app: templates, static files, routes, the live hub.

    The app's middlewares must come from `split_middlewares(api=..., console=MIDDLEWARES)`."""
    app[CONSOLE_OPTIONS] = options
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False)
    env.globals["csrf_field"] = _csrf_field
    env.filters["instant"] = _instant
    app[LIVE] = Live(worker)
    app[CONSOLE_READS] = SharedReads()
    app[SUGGESTIONS_APART] = SuggestionsApart()
    routes = ConsoleRoutes(app)
    app.router.add_static("/static/", HERE / "static", name="console.static")
    app[CONSOLE_PUBLIC].add("console.static")
    session.add_routes(routes)
    live.add_routes(routes)
    for page in PAGES:
        page.add_routes(routes)
    app.cleanup_ctx.append(_running)
    app.on_shutdown.append(_close_streams)


MIDDLEWARES = (server_timing, html_errors, session.sessions)


async def _close_streams(app: web.Application) -> None:
    app[LIVE].close_streams()  # open /events streams would hold shutdown for its whole timeout
    app[CONSOLE_READS].forget()
    app[SUGGESTIONS_APART].close()


async def _running(app: web.Application) -> AsyncIterator[None]:
    """The live hub's sources (stock events; the other workers over NOTIFY) and the purge of
    sessions idle past their expiry."""
    hub = app[LIVE]
    maker = app[MAKER]
    _wire(app, hub)
    tasks = [asyncio.create_task(hub.follow_stock(app[EVENTS]), name="console-stock")]
    engine = maker.kw["bind"]
    if engine.dialect.name == "postgresql":
        tasks.append(asyncio.create_task(_restarting(lambda: hub.bridge(engine), "console relay"),
                                         name="console-relay"))
    tasks.append(asyncio.create_task(_purge(app), name="console-purge"))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


STREAM_TOPICS = {Stream.STATUS: Topic.GATEWAY, Stream.SHELVES: Topic.SHELVES, Stream.ALERTS: Topic.ALERTS,
                 Stream.STOCKTAKES: Topic.STOCKTAKES}


def _wire(app: web.Application, hub: Live) -> None:
    """Hear the ingest's records and the platform sync's pushes; let "push now" reach the driver.
    (The console's context starts after theirs, so what this worker runs is in the app by now.)"""
    ingest = app.get(INGEST)
    if ingest is not None:
        ingest.on_recorded = lambda stream, store: hub.recorded(STREAM_TOPICS[stream], store) \
            if stream in STREAM_TOPICS else None
    sync = app.get(SYNC)
    if sync is not None:
        sync.records.on_written = lambda pushes: hub.publish(Notice(Topic.PUSHES, "", p.sku) for p in pushes)
        hub.on_push = sync.push_now


async def _purge(app: web.Application) -> None:
    idle = timedelta(seconds=app[CONSOLE_OPTIONS].idle_s)
    while True:
        try:
            await console_sessions.purge_idle(app[MAKER], now(), idle)
        except Exception:  # the database is away: the next round purges
            log.exception("console: purging idle sessions failed")
        await asyncio.sleep(PURGE_EVERY_S)


async def _restarting(run: Callable[[], Awaitable[None]], what: str, pause_s: float = 5.0) -> None:
    """Run `run` again after a failure (the database restarted): live updates resume by themselves."""
    while True:
        try:
            await run()
        except Exception:
            log.exception("%s failed; restarting in %.0f s", what, pause_s)
        await asyncio.sleep(pause_s)


__all__ = ["MIDDLEWARES", "ConsoleOptions", "install", "is_console_request", "split_middlewares"]
