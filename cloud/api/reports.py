"""Reports over HTTP (issue 17 §5): JSON, and the same rows as a CSV file for a spreadsheet.

GET /v1/reports/{report}[?days=|from=&to=][&store=&category=&by=&channel=]
    {"report", "by", "days", "from", "to", "rows": [...]}
GET /v1/reports/{report}/csv[?...]    the rows as CSV (UTF-8 with a BOM, for Excel)

report: turnover, days-of-cover, slow-movers, near-expiry, stock-age, stock-out, fill-rate, shrink,
sell-through; what each means is in cloud/db/reports.py. The period is the last `days` days
(default 30) or the whole UTC days `from`..`to` (`to` defaults to today); near-expiry's is the
window ahead (default 90 days, "< 3 months"), or lots expiring `from`..`to`. `by` is the level of
the drill-down: category → store (store × category) → sku (store × SKU); it defaults to `store`,
and to `sku` for the three reports that were lists before levels existed (days-of-cover,
slow-movers, near-expiry). `channel` narrows fill-rate and sell-through to one channel (`till` is
the stores' own tills). A store token sees its own store and no values; hq and finance see all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import Principal, Role, principal
from cloud.db import reports
from cloud.db.reports import LEVELS, Level, Period, ReportError
from cloud.keys import MAKER
from shared.openapi import (
    DAY,
    ID,
    Param,
    Reply,
    Routes,
    Schema,
    array,
    checked,
    error,
    error_response,
    integer,
    nullable,
    obj,
    text,
)

LISTS = ("days-of-cover", "slow-movers", "near-expiry")  # by=sku unless asked otherwise
CHANNELLED = ("fill-rate", "sell-through")
HEAD = {"category": ("category",), "store": ("store", "category"), "sku": ("store", "sku", "category")}
REPORT_PARAM = Param({"enum": list(reports.REPORTS)}, "which report")
QUERY = {
    "days": Param(integer(1, reports.MAX_DAYS),
                  "the period: the last `days` days up to now (near-expiry: the window ahead); default 30, "
                  "near-expiry 90. Not with from/to"),
    "from": Param(DAY, "the period's first UTC day (near-expiry: the earliest expiry)"),
    "to": Param(DAY, "the period's last UTC day, default today (near-expiry: the latest expiry)"),
    "store": Param(ID, "only this store or warehouse"),
    "category": Param(text(64), "only this category"),
    "by": Param({"enum": list(LEVELS)},
                "the level: a row per category, per store × category or per store × SKU; default store "
                "(days-of-cover, slow-movers, near-expiry: sku)"),
    "channel": Param(ID, "fill-rate and sell-through: only this channel (`till`: the stores' tills)"),
}
REPORT: Schema = obj({"report": {"enum": list(reports.REPORTS)}, "by": {"enum": list(LEVELS)},
                      "days": integer(lo=1), "from": nullable(DAY), "to": nullable(DAY),
                      "rows": array(obj({}, closed=False))},
                     ["report", "by", "days", "rows"], closed=False)


def _period(q: Mapping[str, Any], name: str, now: datetime) -> tuple[Period | None, date | None, date, int]:
    """(the period, or None for near-expiry; near-expiry's first and last expiry; days)."""
    first, last, days = q.get("from"), q.get("to"), q.get("days")
    if days is not None and (first is not None or last is not None):
        raise ReportError("days", "give days or from/to, not both")
    if last is not None and first is None:
        raise ReportError("from", "missing: to needs from")
    first_day = date.fromisoformat(first) if first else None
    last_day = date.fromisoformat(last) if last else None
    today = now.date()
    if name == "near-expiry":
        if first_day is None:
            n = days or 90
            return None, None, today + timedelta(days=n), n
        last_day = last_day or today + timedelta(days=90)
        if last_day < first_day:
            raise ReportError("to", f"{last_day} is before from ({first_day})")
        if (last_day - first_day).days + 1 > reports.MAX_DAYS:
            raise ReportError("from", f"at most {reports.MAX_DAYS} days")
        return None, first_day, last_day, (last_day - first_day).days + 1
    if first_day is None:
        period = Period.last(days or 30, now)
        return period, None, today, days or 30
    period = Period.between(first_day, last_day or today, now)
    return period, None, today, period.days


class Refused(Exception):
    """A store token asking for another store's report."""


async def compute(session: AsyncSession, name: str, q: Mapping[str, Any], caller: Principal,
                  now: datetime | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A report's head ({"report", "by", "days", "from", "to"}) and rows for `caller`, from query
    values already of their schema's types (the console parses its own). ReportError names a
    parameter at fault; Refused: a store token asked for another store."""
    store = q.get("store")
    if caller.role is Role.STORE:
        if store not in (None, caller.store):
            raise Refused(f"token {caller.name!r} may not read store {store!r}")
        store = caller.store
    channel = q.get("channel")
    if channel is not None and name not in CHANNELLED:
        raise ReportError("channel", f"only {' and '.join(CHANNELLED)} take a channel")
    now = now or datetime.now(UTC)
    period, since, until, days = _period(q, name, now)
    by: Level = q.get("by") or ("sku" if name in LISTS else "store")
    common: dict[str, Any] = {"store": store, "category": q.get("category"), "by": by}
    if period is None:
        rows = await reports.near_expiry(session, since=since, until=until, today=now.date(), **common)
    elif name in CHANNELLED:
        fn = reports.fill_rate if name == "fill-rate" else reports.sell_through
        rows = await fn(session, period=period, channel=channel, **common)
    else:
        rows = await {
            "turnover": reports.turnover, "days-of-cover": reports.days_of_cover,
            "slow-movers": reports.slow_movers, "stock-age": reports.stock_age,
            "stock-out": reports.stock_out, "shrink": reports.shrink,
        }[name](session, period=period, **common)
    if not caller.sees_cost:
        for r in rows:
            r.pop("value", None)
    if period is not None:
        shown = {"from": period.start.date().isoformat(),
                 "to": (period.end - timedelta(microseconds=1)).date().isoformat()}
    else:
        shown = {"from": (since or now.date()).isoformat(), "to": until.isoformat()}
    return {"report": name, "by": by, "days": days, **shown}, rows


def csv_file(head: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> web.Response:
    """The rows as a CSV download: the level's columns first, then each figure as the rows have it."""
    columns = list(HEAD[head["by"]])
    for r in rows:
        columns += [c for c in r if c not in columns]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    filename = f"{head['report']}-{head['by']}-{head['from']}-{head['to']}.csv"
    return web.Response(body=out.getvalue().encode("utf-8-sig"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _rows(request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]] | web.Response:
    try:
        async with request.app[MAKER]() as session:
            return await compute(session, checked(request).path["report"], checked(request).query,
                                 principal(request))
    except ReportError as e:
        return error_response(400, f"{e.field}: {e}", e.field)
    except Refused as e:
        return error_response(403, str(e), "store")


async def get_report(request: web.Request) -> web.Response:
    got = await _rows(request)
    if isinstance(got, web.Response):
        return got
    head, rows = got
    return web.json_response({**head, "rows": rows})


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dict):  # shrink's reasons: "theft:3; count:1"
        return "; ".join(f"{k}:{n}" for k, n in v.items())
    return v


async def get_report_csv(request: web.Request) -> web.Response:
    got = await _rows(request)
    if isinstance(got, web.Response):
        return got
    return csv_file(*got)


def add_routes(api: Routes) -> None:
    tag = ("reports",)
    params = {"report": REPORT_PARAM}
    refused = error("a store token asking for another store")
    api.add("GET", "/v1/reports/{report}", get_report, tags=tag, query=QUERY, path_params=params,
            summary="A report's rows per category, store × category or store × SKU over a period",
            description="Turnover, days of cover, slow movers, near-expiry lots, stock age, stock-out rate, "
                        "fill rate of online orders, shrink, sell-through per channel. What each figure "
                        "means is in the README's reports table.",
            responses={200: Reply("the report's rows", REPORT), 403: refused})
    api.add("GET", "/v1/reports/{report}/csv", get_report_csv, tags=tag, query=QUERY, path_params=params,
            summary="The same rows as a CSV file (UTF-8 with a byte-order mark, as Excel opens it)",
            responses={200: Reply("the CSV file", {"type": "string"}, media="text/csv"), 403: refused})
