"""The reports page: one report at a time (cloud/db/reports.py defines each), for a period, a store
and a category, as a chart and a table that drills down category → store → SKU, and the same rows
as a CSV file.

The figures are the API's own (`cloud.api.reports.compute`, GET /v1/reports/{report}), read with
the signed-in token: a store token sees its own store only and no values; hq and finance see the
chain and the values. The query string is the API's (report, days or from/to, store, category,
by), so a page's address is also the report it shows; a value the page cannot read is said on the
page (400) with the field at fault, as the API names it — the CSV's address too, so a link that
cannot make a file opens the page that says why. The page also refuses what the API would answer
with no rows: a store or warehouse the chain does not have (a store token asking for another store
is refused first, 403, as the API refuses it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cloud.api.reports import QUERY, Refused, compute, csv_file
from cloud.console.i18n import Words
from cloud.console.queries import product_names
from cloud.console.web import ConsoleRoutes, principal, render, words
from cloud.db import reports
from cloud.db.reports import ReportError
from cloud.keys import MAKER
from shared.contract import ContractError
from shared.openapi import QueryChecker

DAYS = (7, 30, 90, 365)
QUERY_CHECK = QueryChecker(QUERY)
CHART_ROWS = 20  # bars a chart shows; the table has every row
BAR_PX, CHART_FRAME_PX, CHART_MIN_PX = 26, 70, 240  # a chart as tall as its bars need (20 bars: 590 px)
RATES = frozenset({"turnover_rate", "stock_out_rate", "line_fill_rate", "unit_fill_rate", "sell_through",
                   "slow_share"})
# Per report: the figure its chart shows, and the table's figure columns in order (those a row
# lacks at a level, or a token may not see, are left out).
FIGURES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "turnover": ("turnover", ("sold", "on_hand", "turnover", "days_of_cover")),
    "days-of-cover": ("days_of_cover", ("on_hand", "sold", "days_of_cover")),
    "slow-movers": ("on_hand", ("stocked", "slow", "slow_share", "on_hand", "last_sale")),
    "near-expiry": ("units", ("lot", "expiry", "days_left", "lots", "first_expiry", "units", "value")),
    "stock-age": ("units", ("units", "age_0_30", "age_31_90", "age_91_180", "age_over_180", "mean_age_days",
                            "value")),
    "stock-out": ("stock_out_rate", ("pairs", "hours", "empty_hours", "stock_out_rate")),
    "fill-rate": ("unit_fill_rate", ("lines_asked", "lines_filled", "line_fill_rate", "units_asked",
                                     "units_filled", "unit_fill_rate")),
    "shrink": ("units", ("units", "value", "reasons")),
    "sell-through": ("sell_through", ("channel", "sold", "available", "sell_through")),
}
STACKED = {"stock-age": ("age_0_30", "age_31_90", "age_91_180", "age_over_180")}
COLORS = ("#0f5c75", "#e0a100", "#5b8c3a", "#b5462f", "#6b5ca5", "#2f8f9d", "#8a6d3b")


def _query(raw: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The report and its parameters from the page's query string, checked by the API's own query
    check (`QUERY`: the same types, limits and words); ReportError names the field at fault. What
    is the page's own: an empty field of the filter form is no value, a first day given overrides
    the form's days, and the level defaults to category (the top of the drill-down)."""
    name = raw.get("report") or "turnover"
    if name not in reports.REPORTS:
        raise ReportError("report", f"no report {name!r}")
    given = {k: v for k, v in raw.items() if k in QUERY and v != ""}
    if "from" in given:
        given.pop("days", None)
    try:
        q = QUERY_CHECK(given)
    except ContractError as e:
        raise ReportError(e.field or "report", e.problem) from None
    q.setdefault("by", "category")
    return name, q


def _known(q: Mapping[str, Any], stores: Sequence[str], who_store: str | None) -> None:
    """A store or warehouse the chain has (a store token's own is its only choice, and another is
    refused as the API refuses it, by `compute`)."""
    store = q.get("store")
    if store is not None and who_store is None and store not in stores:
        raise ReportError("store", f"the chain has no store or warehouse {store!r}")


def _link(name: str, q: Mapping[str, Any], **change: Any) -> str:
    merged = {"report": name, **q, **change}
    return "/reports?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _label(row: Mapping[str, Any], by: str, names: Mapping[str, str], t: Words, one_store: bool) -> str:
    if by == "category":
        return str(row["category"] or t("rep.no_category"))
    if by == "store":
        return str(row["store"])
    name = names.get(row["sku"], row["sku"])
    return str(name) if one_store else f"{name} · {row['store']}"


def _chart_height(chart: str | None) -> int:
    """Pixels for the chart: each bar its room, so twenty bars' names do not crowd into the space
    of six (the labels are the option's yAxis data)."""
    bars = len(json.loads(chart)["yAxis"]["data"]) if chart else 0
    return max(CHART_MIN_PX, CHART_FRAME_PX + BAR_PX * bars)


def _chart(name: str, rows: Sequence[Mapping[str, Any]], t: Words) -> str | None:
    """Horizontal bars of the report's figure per row (`_bar`: names stay readable on a phone),
    the largest first; stock age stacked by age, sell-through stacked by channel (they add up)."""
    figure = FIGURES[name][0]
    series: list[dict[str, Any]]
    if name == "sell-through":
        groups: dict[str, dict[str, float]] = {}
        for r in rows:
            bars = groups.setdefault(r["_bar"], {})
            if r["channel"] is not None:  # None: the row sold through no channel
                bars[r["channel"]] = (r["sell_through"] or 0) * 100
        labels = sorted(groups, key=lambda k: -sum(groups[k].values()))[:CHART_ROWS]
        channels = sorted({c for g in groups.values() for c in g})
        series = [{"type": "bar", "stack": "all", "name": t("rep.channel.till") if c == "till" else c,
                   "data": [round(groups[k].get(c, 0), 1) for k in labels],
                   "itemStyle": {"color": COLORS[i % len(COLORS)]}} for i, c in enumerate(channels)]
        unit = "%"
    elif name in STACKED:
        top = sorted(rows, key=lambda r: -(r.get(figure) or 0))[:CHART_ROWS]
        labels = [r["_bar"] for r in top]
        series = [{"type": "bar", "stack": "all", "name": t("rep.col." + part),
                   "data": [r.get(part, 0) for r in top], "itemStyle": {"color": COLORS[i]}}
                  for i, part in enumerate(STACKED[name])]
        unit = ""
    else:
        known = (r for r in rows if r.get(figure) is not None)
        top = sorted(known, key=lambda r: -float(r[figure]))[:CHART_ROWS]
        labels = [r["_bar"] for r in top]
        pct = figure in RATES
        series = [{"type": "bar", "name": t("rep.col." + figure),
                   "data": [round(float(r[figure]) * 100, 1) if pct else r[figure] for r in top],
                   "itemStyle": {"color": COLORS[0]}, "barMaxWidth": 28}]
        unit = "%" if pct else ""
    if not labels:
        return None
    labels.reverse()  # ECharts draws the first category at the bottom: the largest goes on top
    for s in series:
        s["data"].reverse()
    return json.dumps({
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 24, "top": 30, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "type": "scroll"},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "value", "axisLabel": {"formatter": "{value}" + unit}},
        "yAxis": {"type": "category", "data": labels,
                  "axisLabel": {"width": 150, "overflow": "truncate"}},
        "series": series,
    }, ensure_ascii=False).replace("<", "\\u003c")


async def reports_page(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    t = words(request)
    raw = dict(request.query)
    async with request.app[MAKER]() as session:
        stores, categories = await reports.choices(session, who.store)
        frame = {"stores": stores, "categories": categories, "days_choices": DAYS, "own_store": who.store,
                 "error": None, "field": None, "hint": None}
        try:
            name, q = _query(raw)
            _known(q, stores, who.store)
            head, rows = await compute(session, name, q, who)
        except ReportError as e:
            return _refused(request, frame, raw, e)
        except Refused as e:
            raise _forbidden(e) from None
        names = await product_names(session, {r["sku"] for r in rows if "sku" in r})
    by = head["by"]
    one_store = who.store is not None or q.get("store") is not None
    period: dict[str, Any] = {k: q[k] for k in ("days", "from", "to") if k in q}
    keep = {**period, "store": q.get("store"), "category": q.get("category")}
    shown = [c for c in FIGURES[name][1] if any(c in r for r in rows)] or [
        c for c in FIGURES[name][1] if c not in ("lot", "expiry", "days_left", "last_sale", "value")]
    for r in rows:
        if not r["category"]:  # the API cannot narrow to "no category": no way further down
            pass
        elif by == "category":
            r["_drill"] = _link(name, keep, by="store", category=r["category"])
        elif by == "store":
            r["_drill"] = _link(name, keep, by="sku", store=r["store"], category=r["category"])
        r["_label"] = _label(r, by, names, t, one_store)
        # a bar per row: by store a row is a store × category, and the table's store alone would
        # name several bars alike (sell-through's stacks even merged them, the last category winning)
        r["_bar"] = (f"{r['_label']} · {r['category'] or t('rep.no_category')}"
                     if by == "store" and q.get("category") is None else r["_label"])
    # The path up the drill-down: every category, then the category's stores, then the store's
    # products in it (a store chosen in the filters is the drill's store).
    crumbs = [(t("rep.all_categories"), _link(name, period, by="category"))]
    if q.get("category") is not None and by != "category":
        crumbs.append((q["category"], _link(name, {**period, "category": q["category"]}, by="store")))
    if by == "sku" and q.get("store"):
        crumbs.append((q["store"], _link(name, keep, by="sku")))
    chart = _chart(name, rows, t)
    return render(request, "reports.html", {
        **frame, "name": name, "head": head, "rows": rows, "by": by, "columns": shown, "rates": RATES,
        "chart": chart, "chart_height": _chart_height(chart), "choice": {"report": name, **q},
        "crumbs": crumbs,
        "csv": _link(name, q).replace("/reports?", "/reports/csv?", 1),
    }, section="reports")


def _forbidden(e: Refused) -> web.HTTPForbidden:
    """The 403 page, naming the store (html_errors shows a JSON refusal's reason, as the API's)."""
    return web.HTTPForbidden(text=json.dumps({"error": str(e)}), content_type="application/json")


def _refused(request: web.Request, frame: Mapping[str, Any], raw: Mapping[str, str], e: ReportError
             ) -> web.Response:
    """The page saying why the report cannot be made (400): in the person's words for the field,
    then the API's own."""
    t = words(request)
    key = f"rep.bad_field.{e.field}"
    return render(request, "reports.html", {
        **frame, "error": f"{e.field}: {e}", "field": e.field, "hint": t(key) if t.has(key) else None,
        "choice": {"report": raw["report"] if raw.get("report") in reports.REPORTS else "turnover"}},
        section="reports", status=400)


async def reports_csv(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    raw = dict(request.query)
    async with request.app[MAKER]() as session:
        stores, categories = await reports.choices(session, who.store)
        try:
            name, q = _query(raw)
            _known(q, stores, who.store)
            head, rows = await compute(session, name, q, who)
        except ReportError as e:  # the page, with the filters to put it right, rather than a bare 400
            return _refused(request, {"stores": stores, "categories": categories, "days_choices": DAYS,
                                      "own_store": who.store}, raw, e)
        except Refused as e:
            raise _forbidden(e) from None
    return csv_file(head, rows)


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/reports", reports_page, "reports")
    routes.get("/reports/csv", reports_csv, "reports-csv")


__all__ = ["add_routes"]
