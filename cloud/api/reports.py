"""Reports over HTTP (issue 17 §5): JSON, and the same rows as a CSV file for a spreadsheet.

GET /v1/reports/{report}[?days=&store=&category=&by=]       {"report", "days", "rows": [...]}
GET /v1/reports/{report}/csv[?...]                          the rows as CSV (UTF-8 with a BOM, for Excel)

report: turnover (by=category per store × category, by=sku to drill down), days-of-cover,
slow-movers, near-expiry; what each means is in cloud/db/reports.py. `days` is the period (default
30; near-expiry: the window ahead, default 90, "< 3 months"). A store token sees its own store.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from cloud.auth import Role, principal
from cloud.db import reports
from cloud.keys import MAKER
from shared.openapi import (
    ID,
    Param,
    Reply,
    Routes,
    Schema,
    array,
    checked,
    error_response,
    integer,
    obj,
    text,
)

COLUMNS = {
    "turnover": ("store", "category", "sku", "sold", "on_hand", "turnover", "days_of_cover"),
    "days-of-cover": ("store", "sku", "category", "on_hand", "sold", "days_of_cover"),
    "slow-movers": ("store", "sku", "category", "on_hand", "last_sale"),
    "near-expiry": ("store", "sku", "category", "lot", "expiry", "days_left", "units"),
}
REPORT_PARAM = Param({"enum": list(reports.REPORTS)}, "which report")
QUERY = {
    "days": Param(integer(1, 730), "the period in days (near-expiry: the window ahead); "
                                   "default 30, near-expiry 90"),
    "store": Param(ID, "only this store or warehouse"),
    "category": Param(text(64), "only this category"),
    "by": Param({"enum": ["category", "sku"], "default": "category"}, "turnover: per category or per SKU"),
}
REPORT: Schema = obj({"report": {"enum": list(reports.REPORTS)}, "days": integer(lo=1),
                      "rows": array(obj({}, closed=False))}, ["report", "days", "rows"], closed=False)


async def _rows(request: web.Request) -> tuple[str, int, list[dict[str, Any]]] | web.Response:
    caller = principal(request)
    name = checked(request).path["report"]
    q = checked(request).query
    store = q.get("store")
    if caller.role is Role.STORE:
        if store not in (None, caller.store):
            return error_response(403, f"token {caller.name!r} may not read store {store!r}", "store")
        store = caller.store
    days = q.get("days") or (90 if name == "near-expiry" else 30)
    category = q.get("category")
    async with request.app[MAKER]() as session:
        if name == "turnover":
            rows = await reports.turnover(session, days=days, store=store, category=category, by=q["by"])
        elif name == "days-of-cover":
            rows = await reports.days_of_cover(session, days=days, store=store, category=category)
        elif name == "slow-movers":
            rows = await reports.slow_movers(session, days=days, store=store, category=category)
        else:
            rows = await reports.near_expiry(session, days=days, store=store, category=category)
    return name, days, rows


async def get_report(request: web.Request) -> web.Response:
    got = await _rows(request)
    if isinstance(got, web.Response):
        return got
    name, days, rows = got
    return web.json_response({"report": name, "days": days, "rows": rows})


async def get_report_csv(request: web.Request) -> web.Response:
    got = await _rows(request)
    if isinstance(got, web.Response):
        return got
    name, days, rows = got
    columns = [c for c in COLUMNS[name] if not rows or c in rows[0]]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r[c] for c in columns])
    return web.Response(body=out.getvalue().encode("utf-8-sig"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}-{days}d.csv"'})


def add_routes(api: Routes) -> None:
    tag = ("reports",)
    params = {"report": REPORT_PARAM}
    api.add("GET", "/v1/reports/{report}", get_report, tags=tag, query=QUERY, path_params=params,
            summary="Turnover, days of cover, slow movers or near-expiry lots, per store and category",
            responses={200: Reply("the report's rows", REPORT)})
    api.add("GET", "/v1/reports/{report}/csv", get_report_csv, tags=tag, query=QUERY, path_params=params,
            summary="The same rows as a CSV file (UTF-8 with a byte-order mark, as Excel opens it)",
            responses={200: Reply("the CSV file", {"type": "string"}, media="text/csv")})
