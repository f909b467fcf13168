"""Replenishment, the plan (head office acts, finance reads; a store token is refused): the runs —
the newest one's state, *Run now*, the runs before — and a finished run's suggestions: purchases
grouped by supplier (made into draft purchase orders, one per location, as
POST /v1/purchase-orders/from-suggestions makes them), transfers (made into transfers, as
POST /v1/replenishment/transfers), the three-level emergencies, and a chart of what the run would
buy from each supplier.

A run started here is the API's run (cloud/db/replenishment.py `start` and `run_behind`): the
worker plans it on its planning thread while the page answers at once; the page then asks for its
body every POLL_S seconds (htmx) until the run is done or failed, and shows its suggestions. A run
keeps no forecast series, only each suggestion's figures (reorder point, order-up-to level,
position, method, what limited it), so the chart shows the suggested units and their value per
supplier rather than a forecast against history.

Each change made here is recorded in the audit log in its own transaction (who, when, before →
after): purchase orders as `purchase_order.from_suggestions` (cloud/db/purchasing.audited, as the
API records them), transfers as `transfer.create`, the Transfers page's entry, with the run they
came from.

The purchase orders are on replenishment_orders.py, the buying master data on
replenishment_buying.py, the chain's replenishment settings on replenishment_settings.py;
`add_routes` here adds theirs too (the console lists one module per section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.console import queries
from cloud.console.i18n import Words
from cloud.console.pages import replenishment_buying, replenishment_orders, replenishment_settings
from cloud.console.pages.replenishment_frame import (
    actor,
    bad_query,
    chart_json,
    hq,
    page,
    query_id,
    query_sku,
    reader,
)
from cloud.console.web import ConsoleRoutes, is_htmx, now, words
from cloud.db import audit
from cloud.db import replenishment_views as views
from cloud.db.orders import OrderError
from cloud.db.purchasing import PurchaseOrders, audited
from cloud.db.replenishment import Replenishment
from cloud.keys import CONSOLE_READS, MAKER, ORDERS, REPLENISHMENT, TRANSFERS
from shared.contract import ContractError, check_id, is_gtin14

RUNS_SHOWN = 10
LINES_SHOWN = 20  # purchase lines per supplier; the totals count them all
SUPPLIERS_OPEN = 10  # suppliers whose lines show (the largest by value); ?supplier= opens another
TRANSFERS_SHOWN = 50
EMERGENCIES_SHOWN = 50
HISTORY_DAYS_SHOWN = 56  # the drill-down's daily sales (a run reads up to 182 days)
POLL_S = 2
# A run still `running` after this long has lost its worker (killed before it could say so: a
# worker that stops marks its runs failed): the page stops waiting for it and lets a new one start.
RUN_LOST_S = 3600
TRANSFERS_OUTDATED = "transfers"  # the transfers page's shared reads' topic (pages/transfers.py)


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    location: str
    units: int
    pack: int | None
    unit_cost: float | None
    detail: Mapping[str, Any]

    @property
    def packs(self) -> int | None:
        return self.units // self.pack if self.pack else None

    @property
    def value(self) -> float | None:
        return self.units * self.unit_cost if self.unit_cost is not None else None


@dataclass(frozen=True, slots=True)
class SupplierGroup:
    """One supplier's purchase suggestions: their totals, and the lines shown (none for a supplier
    past the first SUPPLIERS_OPEN, unless asked for with ?supplier=)."""

    totals: views.SupplierTotals
    name: str
    shown: list[PurchaseLine]
    orders: list[views.MadeOrder]

    @property
    def supplier(self) -> str:
        return self.totals.supplier

    @property
    def all_made(self) -> bool:
        """An order is made once per run, supplier and location: as many as locations is all."""
        return len({o.location for o in self.orders}) >= self.totals.locations


async def _groups(session: AsyncSession, run: str, asked: str) -> list[SupplierGroup]:
    totals = await views.purchase_totals(session, run)
    names = await views.supplier_names(session)
    made = await views.orders_from_run(session, run)
    opened = {g.supplier for g in totals[:SUPPLIERS_OPEN]} | ({asked} if asked else set())
    lines = await views.purchase_lines(session, run, opened, LINES_SHOWN)
    packs = await views.packs(session, {(s, r["sku"]) for s, rows in lines.items() for r in rows})
    groups = []
    for g in totals:
        shown = [PurchaseLine(r["sku"], r["location"], r["units"], packs.get((g.supplier, r["sku"])),
                              r["unit_cost"], r["detail"] or {}) for r in lines.get(g.supplier, [])]
        groups.append(SupplierGroup(g, names.get(g.supplier, ""), shown,
                                    [o for o in made if o.supplier == g.supplier]))
    return groups


def _chart(groups: Sequence[SupplierGroup], t: Words) -> str:
    """Units (bars) and their value (line, right axis) per supplier, the largest first."""
    names = [g.supplier for g in groups]
    units = [g.totals.units for g in groups]
    value = [round(g.totals.value, 2) for g in groups]
    return chart_json({
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 8, "top": 36, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"rotate": 30 if len(names) > 5 else 0}},
        "yAxis": [{"type": "value", "minInterval": 1, "name": t("rp.units")},
                  {"type": "value", "name": t("rp.value"), "splitLine": {"show": False}}],
        "series": [{"type": "bar", "name": t("rp.units"), "data": units,
                    "itemStyle": {"color": "#0f5c75"}, "barMaxWidth": 40},
                   {"type": "line", "name": t("rp.value"), "yAxisIndex": 1, "symbolSize": 8,
                    "data": value, "itemStyle": {"color": "#e0a100"}}],
    })


def under_way(run: Mapping[str, Any], at: datetime) -> bool:
    """Running, and not for so long that its worker must have gone."""
    return run["status"] == "running" and (
        at - datetime.fromisoformat(run["started_at"]) < timedelta(seconds=RUN_LOST_S))


def _history_chart(days: Sequence[tuple[date, int]], t: Words) -> str:
    """Daily units sold (bars) and their trailing 7-day mean (line) — the history, not a forecast:
    a run keeps no forecast series."""
    units = [n for _, n in days]
    mean = [round(sum(units[max(0, i - 6):i + 1]) / len(units[max(0, i - 6):i + 1]), 2)
            for i in range(len(units))]
    return chart_json({
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [d.isoformat()[5:] for d, _ in days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": t("rp.sold"), "data": units, "itemStyle": {"color": "#0f5c75"},
                    "barMaxWidth": 14},
                   {"type": "line", "name": t("rp.mean7"), "data": mean, "showSymbol": False,
                    "itemStyle": {"color": "#e0a100"}}],
    })


async def _drill(request: web.Request, run: Mapping[str, Any]) -> dict[str, Any]:
    """`?sku=&at=`: one SKU × location's daily sales before the run, with the figures the run kept
    for it (a purchase or a transfer to it)."""
    sku, at = request.query.get("sku", ""), request.query.get("at", "")
    if not is_gtin14(sku) or not _is_id(at):
        return {"drill": None}
    found = await request.app[REPLENISHMENT].suggestions(run["id"], location=at, sku=sku)
    kept = next((s["detail"] for s in found if s["kind"] in ("purchase", "transfer") and s["detail"]), None)
    today = date.fromisoformat(run["started_at"][:10])
    async with request.app[MAKER]() as session:
        days = await views.daily_sales(session, at, sku, today, HISTORY_DAYS_SHOWN)
        names = await queries.product_names(session, [sku])
    return {"drill": {"sku": sku, "at": at, "name": names.get(sku, ""), "figures": kept,
                      "sold": sum(n for _, n in days), "days": len(days),
                      "chart": _history_chart(days, words(request))}}


def _is_id(text: str) -> bool:
    try:
        check_id(text, "location")
    except ContractError:
        return False
    return True


async def _run(rep: Replenishment, runs: Sequence[Mapping[str, Any]], run_id: str) -> dict[str, Any] | None:
    """A run, from the runs the page lists when it is one of them (read in the same moment), else
    read."""
    listed = next((r for r in runs if r["id"] == run_id), None)
    return dict(listed) if listed is not None else await rep.get(run_id)


async def _plan(request: web.Request, notice: str | None = None, problem: str | None = None
                ) -> dict[str, Any]:
    """The page's body: the runs, and the chosen (`?run=`) or newest finished run's suggestions."""
    rep = request.app[REPLENISHMENT]
    runs = await rep.runs(RUNS_SHOWN)
    running = [r for r in runs if under_way(r, now())]
    asked = request.query.get("run", "")[:64]
    run = await _run(rep, runs, asked) if asked else None
    if run is None or run["status"] != "done":
        latest = await rep.latest_done()
        run = await _run(rep, runs, latest) if latest else None
    context: dict[str, Any] = {
        "runs": runs, "running": running[0] if running else None, "run": run, "groups": [], "transfers": [],
        "transfers_total": 0, "transfers_open": 0, "emergencies": [], "emergencies_total": 0, "names": {},
        "chart": None, "drill": None, "poll_s": POLL_S, "notice": notice, "problem": problem,
        "here": request.path_qs if request.method == "GET" else "/replenishment"}
    if run is None:
        return context
    async with request.app[MAKER]() as session:
        groups = await _groups(session, run["id"], request.query.get("supplier", ""))
        transfers = await views.suggestions(session, run["id"], "transfer", limit=TRANSFERS_SHOWN)
        emergencies = await views.suggestions(session, run["id"], "emergency", limit=EMERGENCIES_SHOWN)
        transfers_total, transfers_open = await views.counts(session, run["id"], "transfer")
        emergencies_total, _ = await views.counts(session, run["id"], "emergency")
        names = await queries.product_names(session, {ln.sku for g in groups for ln in g.shown} | {
            s["sku"] for s in [*transfers, *emergencies]})
    return context | {
        "groups": groups, "transfers": transfers, "transfers_total": transfers_total,
        "transfers_open": transfers_open, "emergencies": emergencies, "emergencies_total": emergencies_total,
        "names": names, "chart": _chart(groups, words(request)) if groups else None,
        **await _drill(request, run)}


async def plan_page(request: web.Request) -> web.StreamResponse:
    """GET /replenishment[?run=]: the page, or (htmx, HX-Target plan-body) its body — what the
    poll of a running run asks for."""
    reader(request)
    try:  # what the address asks for: ids and a SKU, or nothing (the newest run)
        query_id(request, "run"), query_id(request, "supplier"), query_id(request, "at"), query_sku(request)
    except ContractError as e:
        return bad_query(request, e)
    context = await _plan(request)
    if is_htmx(request) and request.headers.get("HX-Target") == "plan-body":
        return page(request, "_replenishment_body.html", "plan", context)
    return page(request, "replenishment.html", "plan", context)


async def _answer(request: web.Request, notice: str | None, problem: str | None, status: int = 422
                  ) -> web.StreamResponse:
    """A post's answer: htmx gets the body with the notice or problem; a plain form the page again
    (303) or, refused, the page saying why."""
    if not is_htmx(request) and problem is None:
        raise web.HTTPSeeOther("/replenishment")
    context = await _plan(request, notice, problem)
    if is_htmx(request):
        return page(request, "_replenishment_body.html", "plan", context)
    return page(request, "replenishment.html", "plan", context, status=status)


async def start_run(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/runs: forecast and plan now, behind the page (one run at a time from
    here: a second while one is running would plan from the same facts)."""
    who = hq(request)
    rep = request.app[REPLENISHMENT]
    t = words(request)
    if any(under_way(r, now()) for r in await rep.runs(RUNS_SHOWN)):
        return await _answer(request, None, t("rp.run_busy"), 409)
    started = await rep.start("api", actor(who))
    assert started is not None  # only a nightly run can find its night taken
    rep.run_behind(started["id"])
    return await _answer(request, t("rp.run_started", id=started["id"]), None)


async def _posted_run(request: web.Request) -> tuple[dict[str, str], dict[str, Any] | None]:
    posted = await request.post()
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
    run_id = form.get("run", "")
    # a run id that cannot be one is no run (and never reaches PostgreSQL, which refuses a NUL)
    run = await request.app[REPLENISHMENT].get(run_id) if _is_id(run_id) else None
    return form, run if run is not None and run["status"] == "done" else None


async def make_orders(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/purchase-orders (form: run, supplier): the run's purchases from that
    supplier as draft orders, one per location, made once (the API's from-suggestions)."""
    who = hq(request)
    t = words(request)
    form, run = await _posted_run(request)
    if run is None:
        return await _answer(request, None, t("rp.no_such_run"), 404)
    supplier = form.get("supplier", "")
    try:
        check_id(supplier, "supplier")
    except ContractError as e:
        return await _answer(request, None, f"supplier: {e.problem}")
    try:
        made = await PurchaseOrders(request.app[ORDERS]).from_suggestions(
            run["id"], supplier, actor(who), also=audited(actor(who), "from_suggestions"))
    except OrderError as e:
        return await _answer(request, None, str(e), e.status)
    if not made:
        return await _answer(request, None, t("rp.nothing_to_order", supplier=supplier), 404)
    return await _answer(request, t("rp.orders_made", n=len(made), supplier=supplier,
                                    ids=", ".join(p["id"] for p in made)), None)


async def make_transfers(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/transfers (form: run): the run's open transfer suggestions as
    transfers, one per source and destination, once (the API's /v1/replenishment/transfers)."""
    who = actor(hq(request))
    t = words(request)
    _, run = await _posted_run(request)
    if run is None:
        return await _answer(request, None, t("rp.no_such_run"), 404)
    run_id = run["id"]

    async def record(session: AsyncSession, made: dict[str, Any]) -> None:
        """The Transfers page's entry for a transfer it creates, with the run it came from."""
        await audit.record(session, who, "transfer.create", f"transfer:{made['id']}", None, {
            "status": made["status"], "from": made["from"], "to": made["to"], "lines": made["lines"],
            "run": run_id})

    made, refused = await request.app[REPLENISHMENT].make_transfers(request.app[TRANSFERS], run_id,
                                                                     also=record)
    if made:
        request.app[CONSOLE_READS].changed(TRANSFERS_OUTDATED)
    notice = t("rp.transfers_made", n=len(made)) if made else None
    problem = "; ".join(t("rp.transfer_refused", src=r["from"], dst=r["to"], error=r["error"])
                        for r in refused) or None
    if notice is None and problem is None:
        problem = t("rp.transfers_none")
    return await _answer(request, notice, problem, 409)


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/replenishment", plan_page, "replenishment")
    routes.post("/replenishment/runs", start_run, "replenishment-run")
    routes.post("/replenishment/purchase-orders", make_orders, "replenishment-orders-make")
    routes.post("/replenishment/transfers", make_transfers, "replenishment-transfers-make")
    replenishment_orders.add_routes(routes)
    replenishment_buying.add_routes(routes)
    replenishment_settings.add_routes(routes)


__all__ = ["add_routes"]

