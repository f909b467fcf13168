"""The chain overview: every store with its gateway's state, last seen, outbox, devices, open
alerts, today's units sold, shrink and empty bins; sortable and filterable; each row refreshes
itself when its store's figures change (live.py `store-{store}`), the totals on any change.

Today's units sold and shrunk come from the worker's `TodayFigures` (queries_today.py), summed
again only for the stores the live hub's stock notices name; the rest is read at each refresh,
shared by the consoles asking at the same moment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from aiohttp import web

from cloud.auth import Principal, Role, require_read
from cloud.console import queries
from cloud.console.kept import follow_while_serving
from cloud.console.live import Notice, Topic
from cloud.console.queries import StoreRow
from cloud.console.queries_today import TodayFigures
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.keys import CHANNEL_FIGURES, CONSOLE_OPTIONS, CONSOLE_READS, LIVE, MAKER

SORT_KEYS = tuple(queries.SORTS)
STATES = ("all", "offline", "attention")
TODAY = web.AppKey("console-today-figures", TodayFigures)  # kept per worker


def scope(who: Principal) -> list[str] | None:
    """The stores a principal may see: its own for a store token, every store (None) otherwise."""
    return [who.store or ""] if who.role is Role.STORE else None


SHARED_FOR_S = 1.0  # rows are shared this long at most: the herd after one event comes within it, and
#                    what sends no notice (a store renamed, "last seen") is never older


async def _rows(request: web.Request, stores: list[str] | None) -> list[StoreRow]:
    """The stores' rows, read once for every console that asks at the same moment (each open
    overview re-fetches its figures on the same event; console/shared_reads.py). Shared rows are
    read, filtered and sorted into new lists, never changed."""
    since = queries.day_start(now(), request.app[CONSOLE_OPTIONS].tz)
    maker = request.app[MAKER]

    async def read() -> list[StoreRow]:
        today = await request.app[TODAY].figures(since, stores)
        async with maker() as session:
            return await queries.overview_rows(session, since, stores, today)

    key = ("overview", since, tuple(stores) if stores is not None else None)
    rows: list[StoreRow] = await request.app[CONSOLE_READS].get(
        key, read, generation=request.app[LIVE].generation, max_age=SHARED_FOR_S)
    return rows


def _query(request: web.Request) -> tuple[str, str, str, bool]:
    q = request.query.get("q", "")[:64]
    state = request.query.get("state", "all")
    sort = request.query.get("sort", "store")
    descending = request.query.get("dir", "desc" if sort in ("sold", "shrink", "alerts", "empty", "outbox")
                                   else "asc") == "desc"
    return q, state if state in STATES else "all", sort if sort in SORT_KEYS else "store", descending


def totals(rows: Sequence[StoreRow]) -> dict[str, int]:
    gateways = [g for r in rows for g in r.gateways]
    return {"gateways": len(gateways), "online": sum(1 for g in gateways if g.state == "online"),
            "sold": sum(r.sold_today for r in rows), "shrink": sum(r.shrink_today for r in rows),
            "alerts": sum(r.open_alerts for r in rows), "empty": sum(r.empty_bins for r in rows)}


def sales_chart(request: web.Request, rows: Sequence[StoreRow]) -> str:
    """ECharts option (JSON) for today's units sold, the ten stores that sold most."""
    top = sorted((r for r in rows if r.sold_today), key=lambda r: (-r.sold_today, r.store))[:10][::-1]
    t = words(request)
    return json.dumps({
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 40, "top": 8, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [r.store for r in top]},
        "series": [{"type": "bar", "name": t("col.sold"), "data": [r.sold_today for r in top],
                    "itemStyle": {"color": "#0f5c75"}, "label": {"show": True, "position": "right"}}],
    }, ensure_ascii=False).replace("<", "\\u003c")  # inside <script>: no "</script>" from any name


async def overview(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    if who.role is not Role.STORE and not is_htmx(request):  # where head office lands after signing in
        request.app[CHANNEL_FIGURES].warm()  # the channels pages' first read, ahead of the first visit
    all_rows = await _rows(request, scope(who))
    q, state, sort, descending = _query(request)
    t = now()
    rows = queries.sort_rows(queries.filter_rows(all_rows, q, state, t), sort, descending)
    context = {"rows": rows, "total": len(all_rows), "q": q, "state": state, "sort": sort, "desc": descending,
               "states": STATES, "sum": totals(all_rows), "chart": sales_chart(request, all_rows)}
    if is_htmx(request) and request.headers.get("HX-Target") == "stores-table":
        return render(request, "_overview_table.html", context, section="overview")
    return render(request, "overview.html", context, section="overview")


async def overview_row(request: web.Request) -> web.StreamResponse:
    store = request.match_info["store"]
    require_read(request, store)
    rows = await _rows(request, [store])
    if not rows:
        raise web.HTTPNotFound()
    return render(request, "_overview_row.html", {"r": rows[0]}, section="overview")


async def overview_totals(request: web.Request) -> web.StreamResponse:
    rows = await _rows(request, scope(principal(request)))
    return render(request, "_overview_totals.html", {"sum": totals(rows), "chart": sales_chart(request, rows),
                                                     "total": len(rows)}, section="overview")


def _stores_named(batch: set[Notice], stores: set[str]) -> None:
    """Add the stores whose stock `batch` says changed (a listing's or a channel's change names no
    store and moves no units)."""
    stores.update(n.store for n in batch if n.topic is Topic.STOCK and n.store)


def changed_stores(notices: asyncio.Queue[set[Notice]]) -> set[str]:
    """The stores named by the stock notices queued since the last call (a subscription to the
    live hub)."""
    stores: set[str] = set()
    while not notices.empty():
        _stores_named(notices.get_nowait(), stores)
    return stores


async def _follow(notices: asyncio.Queue[set[Notice]], figures: TodayFigures) -> None:
    """Note the stores of the notices as they come (a read also takes what is queued at its start)."""
    while True:
        stores: set[str] = set()
        _stores_named(await notices.get(), stores)
        figures.note(stores)


def add_routes(routes: ConsoleRoutes) -> None:
    app = routes.app
    notices = app[LIVE].subscribe()  # from now on: nothing changed before the first read is missed
    app[TODAY] = figures = TodayFigures(lambda: changed_stores(notices), lambda: app[MAKER])

    def stop() -> None:
        figures.close()
        app[LIVE].unsubscribe(notices)

    follow_while_serving(app, lambda: _follow(notices, figures), "console-today-figures", stop)
    routes.get("/", overview, "overview")
    routes.get("/overview/rows/{store}", overview_row, "overview-row")
    routes.get("/overview/totals", overview_totals, "overview-totals")
