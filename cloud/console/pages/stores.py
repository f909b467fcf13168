"""The stores list and a store's page: its gateways, the shelf map (every bin and camera lane from
the gateway's retained snapshot), stock by zone (backroom included), the movements feed with each
movement's evidence, the store's alerts with their history, and its stocktakes — start one, watch
it, read its report. Each section is a partial that re-fetches itself on its live event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web

from cloud.api.commands import StocktakeRefused, ask_stocktake
from cloud.auth import Role, require_read, require_write
from cloud.console import queries
from cloud.console.i18n import Words
from cloud.console.pages.overview import SHARED_FOR_S, scope
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.db import stocktakes
from cloud.db.gateway_snapshots import GatewayView, gateway_views
from cloud.db.store_alerts import AlertView, open_counts, store_alerts
from cloud.keys import CONSOLE_OPTIONS, CONSOLE_READS, LIVE, MAKER
from shared.contract import ContractError, Zone, check_id, parse_instant


def _store(request: web.Request) -> str:
    store = request.match_info["store"]
    try:
        check_id(store, "store")
    except ContractError:
        raise web.HTTPNotFound() from None
    require_read(request, store)
    return store


# --- the list ---------------------------------------------------------------------------------

# Units on hand and their value per store add up every balance row of the chain (800,000 for 200
# stores × 2,000 SKUs: most of a second). The list shows them as of a read at most this old, made
# in the background for the next visitor once it is older (console/shared_reads.py), and says when.
VALUES_FRESH_S, VALUES_STALE_S = 15.0, 600.0


async def _store_values(request: web.Request) -> tuple[datetime, dict[str, tuple[int, float | None]]]:
    maker = request.app[MAKER]

    async def read() -> tuple[datetime, dict[str, tuple[int, float | None]]]:
        at = now()
        async with maker() as session:
            return at, await queries.store_values(session, None)

    values: tuple[datetime, dict[str, tuple[int, float | None]]] = await request.app[CONSOLE_READS].get(
        "store-values", read, generation=0, max_age=VALUES_FRESH_S, stale_for=VALUES_STALE_S)
    return values


async def stores_page(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    if who.role is Role.STORE:
        raise web.HTTPSeeOther(f"/stores/{who.store}")
    values_at, values = await _store_values(request)  # hq and finance see every store
    async with request.app[MAKER]() as session:
        names = await queries.known_stores(session, scope(who))
        alerts = await open_counts(session, scope(who))
        gws = await gateway_views(session, scope(who), bins=False)
    by_store: dict[str, list[Any]] = {}
    for g in gws:
        by_store.setdefault(g.store, []).append(g)
    rows = [{"store": s, "name": n, "gateways": by_store.get(s, []), "on_hand": values.get(s, (0, None))[0],
             "value": values.get(s, (0, None))[1], "alerts": alerts.get(s, 0)} for s, n in names.items()]
    return render(request, "stores.html", {"rows": rows, "values_at": values_at}, section="stores")


# --- one store ----------------------------------------------------------------------------------

async def _gateways(request: web.Request, store: str) -> dict[str, Any]:
    async with request.app[MAKER]() as session:
        gws = await gateway_views(session, [store], bins=False)  # the table shows no bin
    return {"store": store, "gateways": gws}


async def _shelves(request: web.Request, store: str) -> dict[str, Any]:
    async with request.app[MAKER]() as session:
        gws = await gateway_views(session, [store])
        names = await queries.product_names(session, _bin_skus(gws))
    return _shelves_view(store, gws, names)


def _bin_skus(gws: list[GatewayView]) -> set[str]:
    return {b.sku for g in gws for b in g.bins}


def _shelves_view(store: str, gws: list[GatewayView], names: dict[str, str]) -> dict[str, Any]:
    shelves_at = max((g.shelves_at for g in gws if g.shelves_at), default=None)
    return {"store": store, "aisles": queries.shelf_map(gws), "names": names, "shelves_at": shelves_at,
            "bin_state": queries.bin_state}


STOCK_ROWS = 100  # a store carries thousands of SKUs: the page shows this many, the filter finds the rest


async def _stock(request: web.Request, store: str) -> dict[str, Any]:
    who = principal(request)
    text = request.query.get("q", "").strip().lower()[:64]
    maker, today = request.app[MAKER], now().date()

    async def read() -> queries.StockPage:
        async with maker() as session:
            return await queries.store_stock_page(session, store, text, today, with_cost=who.sees_cost,
                                                  limit=STOCK_ROWS)

    # every console open on the store re-fetches this on the same sale: read once for all of them
    page: queries.StockPage = await request.app[CONSOLE_READS].get(
        ("store-stock", store, text, today, who.sees_cost), read, generation=request.app[LIVE].generation,
        max_age=SHARED_FOR_S)
    return {"store": store, "items": page.items, "matched": page.matched, "total": page.total, "q": text,
            "names": page.names, "sees_cost": who.sees_cost}


@dataclass(frozen=True, slots=True)
class Evidence:
    label: str  # an i18n key
    text: str


def evidence_of(m: queries.MovementView, t: Words, tz: tzinfo, at: datetime) -> list[Evidence]:
    """What caused a movement, in words: the tag and door read of a unit that left unpaid, the
    weight event (bin, units, when) of a pick, the till's transaction. Other keys show as they are
    in the movement's details."""
    e = m.evidence
    out = []
    epc = e.get("exit_epc") or e.get("epc")
    if epc:
        out.append(Evidence("ev.epc", str(epc)))
    if e.get("exit_at"):
        out.append(Evidence("ev.door", _local(e["exit_at"], t, tz, at)))
    if e.get("pick_at") or (e.get("bin") and e.get("delta") is not None):
        bin_id = e.get("bin") or m.bin or "?"
        units = e.get("qty") or abs(int(e.get("delta", 0) or 0)) or abs(m.qty)
        when = _local(e["pick_at"], t, tz, at) if e.get("pick_at") else ""
        out.append(Evidence("ev.weight", f"{bin_id} −{units} {when}".strip()))
    if e.get("pos"):
        out.append(Evidence("source.pos", str(e["pos"])))
    return out


def _local(text: object, t: Words, tz: tzinfo, at: datetime) -> str:
    try:
        return t.clock(parse_instant(text, "at"), tz, at)
    except ContractError:
        return str(text)


MOVEMENTS_SHOWN = ALERTS_SHOWN = 40
STOCKTAKES_SHOWN = 15


async def _movements(request: web.Request, store: str) -> dict[str, Any]:
    async with request.app[MAKER]() as session:
        moves = await queries.recent_movements(session, store, limit=MOVEMENTS_SHOWN)
        names = await queries.product_names(session, [m.sku for m in moves])
    return _movements_view(request, store, moves, names)


def _movements_view(request: web.Request, store: str, moves: list[queries.MovementView],
                    names: dict[str, str]) -> dict[str, Any]:
    t, tz = words(request), request.app[CONSOLE_OPTIONS].tz
    at = now()
    return {"store": store, "moves": [(m, evidence_of(m, t, tz, at)) for m in moves], "names": names}


async def _alerts(request: web.Request, store: str) -> dict[str, Any]:
    async with request.app[MAKER]() as session:
        alerts = await store_alerts(session, store, limit=ALERTS_SHOWN)
    return {"store": store, "alerts": alerts}


async def _stocktakes(request: web.Request, store: str, notice: str | None = None,
                      problem: str | None = None) -> dict[str, Any]:
    maker = request.app[MAKER]
    return _stocktakes_view(request, store, await stocktakes.find(maker, store, limit=STOCKTAKES_SHOWN),
                            await stocktakes.gateways_of(maker, store), notice, problem)


def _stocktakes_view(request: web.Request, store: str, takes: list[dict[str, Any]], gateways: list[str],
                     notice: str | None = None, problem: str | None = None) -> dict[str, Any]:
    return {"store": store, "takes": takes, "st_gateways": gateways,
            "may_start": principal(request).may_write(store), "notice": notice, "problem": problem,
            "zones": [z.value for z in Zone]}


@dataclass(frozen=True, slots=True)
class _StoreReads:
    name: str | None  # None: the cloud knows nothing of the store
    gateways: list[GatewayView]
    moves: list[queries.MovementView]
    alerts: list[AlertView]
    names: dict[str, str]  # the bins' and movements' products


async def _store_reads(request: web.Request, store: str) -> _StoreReads:
    """What the page shows besides its stock and stocktakes, in one session: the gateways are read
    once for their table, the shelf map and the stocktake form, the products once for the shelves
    and the movements."""
    async with request.app[MAKER]() as session:
        name = await queries.store_name(session, store)
        if name is None:
            return _StoreReads(None, [], [], [], {})
        gws = await gateway_views(session, [store])
        moves = await queries.recent_movements(session, store, limit=MOVEMENTS_SHOWN)
        alerts = await store_alerts(session, store, limit=ALERTS_SHOWN)
        names = await queries.product_names(session, _bin_skus(gws) | {m.sku for m in moves})
    return _StoreReads(name, gws, moves, alerts, names)


async def store_page(request: web.Request) -> web.StreamResponse:
    """The store's page: every section its partials show. Three reads at once rather than one per
    section in turn: the sections' own (one session), the stock (shared with the consoles asking at
    the same moment) and the stocktakes."""
    store = _store(request)
    reads, stock, takes = await asyncio.gather(
        _store_reads(request, store), _stock(request, store),
        stocktakes.find(request.app[MAKER], store, limit=STOCKTAKES_SHOWN))
    if reads.name is None:
        raise web.HTTPNotFound()
    context: dict[str, Any] = {
        "store": store, "name": reads.name, "gateways": reads.gateways, "alerts": reads.alerts,
        **_shelves_view(store, reads.gateways, reads.names),
        **_movements_view(request, store, reads.moves, reads.names),
        **_stocktakes_view(request, store, takes, [g.gateway for g in reads.gateways]),
        **stock}
    # each part names its own products: the page shows them all
    return render(request, "store.html", {**context, "names": reads.names | stock["names"]}, section="stores")


def _partial(template: str, build: Any) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        store = _store(request)
        return render(request, template, await build(request, store), section="stores")

    return handler


async def start_stocktake(request: web.Request) -> web.StreamResponse:
    """POST /stores/{store}/stocktakes (form: gateway, seconds, zone): hq or the store's own token."""
    store = _store(request)
    who = require_write(request, store)
    form = await request.post()
    t = words(request)
    gateway = str(form.get("gateway", ""))
    zone_text = str(form.get("zone", ""))
    try:
        seconds = float(str(form.get("seconds", "180")))
    except ValueError:
        seconds = -1.0
    notice = problem = None
    if not 1 <= seconds <= 3600:
        problem = f"{t('st.seconds')}: 1–3600"
    elif zone_text and zone_text not in {z.value for z in Zone}:
        problem = f"{t('zone')}: {zone_text!r}"
    else:
        try:
            zone = Zone(zone_text) if zone_text else None
            made = await ask_stocktake(request.app, store, gateway, seconds, zone, who.name)
            notice = t("st.started", id=made["id"], gateway=gateway)
        except StocktakeRefused as e:
            problem = e.message
    if not is_htmx(request):
        raise web.HTTPSeeOther(f"/stores/{store}#stocktakes")
    context = await _stocktakes(request, store, notice, problem)
    return render(request, "_stocktakes.html", context, section="stores")


async def stocktake_page(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    sid = request.match_info["id"]
    take = await stocktakes.get(request.app[MAKER], store, sid)
    if take is None:
        raise web.HTTPNotFound()
    counts = [{"expected": None, **c} for c in (take.get("report") or {}).get("counts", [])]
    async with request.app[MAKER]() as session:
        names = await queries.product_names(session, [c["sku"] for c in counts])
    # the largest differences first: what the stocktake found wrong
    lines = sorted(counts, key=lambda c: (-abs(c["qty"] - (c.get("expected") or c["qty"])), c["sku"],
                                          c["zone"]))
    context = {"store": store, "take": take, "lines": lines, "names": names,
               "started": _parsed(take["report"].get("started_at")) if take.get("report") else None}
    template = "_stocktake_report.html" if is_htmx(request) else "stocktake.html"
    return render(request, template, context, section="stores")


def _parsed(text: str | None) -> datetime | None:
    try:
        return parse_instant(text, "at") if text else None
    except ContractError:
        return None


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/stores", stores_page, "stores")
    routes.get("/stores/{store}", store_page, "store")
    routes.get("/stores/{store}/gateways", _partial("_store_gateways.html", _gateways), "store-gateways")
    routes.get("/stores/{store}/shelves", _partial("_shelves.html", _shelves), "store-shelves")
    routes.get("/stores/{store}/stock", _partial("_store_stock.html", _stock), "store-stock")
    routes.get("/stores/{store}/movements", _partial("_movements.html", _movements), "store-movements")
    routes.get("/stores/{store}/alerts", _partial("_alerts.html", _alerts), "store-alerts")
    routes.get("/stores/{store}/stocktakes", _partial("_stocktakes.html", _stocktakes), "store-stocktakes")
    routes.post("/stores/{store}/stocktakes", start_stocktake, "store-stocktake-start")
    routes.get("/stores/{store}/stocktakes/{id}", stocktake_page, "store-stocktake")
