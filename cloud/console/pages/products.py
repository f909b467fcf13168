"""Products: the list (search by GTIN, name or category) and a product's page — stock per store,
zone and lot with expiry; what each channel may sell (channels/availability.py); each platform
listing's last push (figure, result, error, time) with "push now" for head office."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cloud.auth import Role, require_hq
from cloud.console import queries
from cloud.console.i18n import Words
from cloud.console.pages.overview import scope
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.keys import LIVE, MAKER
from shared.contract import is_gtin14

EXPIRING_DAYS = 30  # a lot this close to its expiry is marked (the chain alerts' default for treats)


async def products_page(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    text = request.query.get("q", "")[:64]
    try:
        number = int(request.query.get("page", "1"))
    except ValueError:
        number = 1
    async with request.app[MAKER]() as session:
        rows, page = await queries.products(session, text, scope(who), number)
    context = {"rows": rows, "q": text, "page": page,
               "link": lambda n: f"/products?{urlencode({'q': text, 'page': n} if text else {'page': n})}"}
    if is_htmx(request) and request.headers.get("HX-Target") == "products-table":
        return render(request, "_products_table.html", context, section="products")
    return render(request, "products.html", context, section="products")


def _sku(request: web.Request) -> str:
    sku = request.match_info["sku"]
    if not is_gtin14(sku):
        raise web.HTTPNotFound()
    return sku


@dataclass(frozen=True, slots=True)
class LotLine:
    """A row of the product's stock table with its words and figures made before rendering: a
    chain's product has hundreds of lots, and the calls each row made in the template (the zone's
    name, the days to expiry, the store's available units) were most of the partial's time."""

    store: str
    zone: str
    zone_name: str
    lot: str
    qty: int
    expiry: date | None
    left: int | None  # days to expiry
    available: str | None  # on its store's first row: sellable − reserved ("—" unknown); else None


def lot_lines(lots: list[queries.LotRow], levels: dict[str, tuple[int, int]], today: date,
              t: Words) -> list[LotLine]:
    zone_names = {z: t.named("zone", z) for z in {lot.zone for lot in lots}}
    lines, previous = [], None
    for lot in lots:
        available = None
        if lot.store != previous:
            level = levels.get(lot.store)
            available = str(level[0] - level[1]) if level else "—"
            previous = lot.store
        lines.append(LotLine(lot.store, lot.zone, zone_names[lot.zone], lot.lot, lot.qty, lot.expiry,
                             (lot.expiry - today).days if lot.expiry is not None else None, available))
    return lines


async def _stock(request: web.Request, sku: str) -> dict[str, Any]:
    who = principal(request)
    stores = scope(who)
    async with request.app[MAKER]() as session:
        lots = await queries.product_lots(session, sku, stores)
        levels = await queries.product_levels(session, sku, stores)
    today = now().date()
    per_store: dict[str, int] = {}
    for lot in lots:
        per_store[lot.store] = per_store.get(lot.store, 0) + lot.qty
    t = words(request)
    return {"sku": sku, "lots": lot_lines(lots, levels, today, t), "per_store": per_store,
            "expiring_days": EXPIRING_DAYS, "chart": _chart(request, per_store),
            "available_title": t("stock.available")}


def _chart(request: web.Request, per_store: dict[str, int]) -> str:
    stores = sorted(per_store)
    return json.dumps({
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 16, "top": 16, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "category", "data": stores, "axisLabel": {"rotate": 30 if len(stores) > 6 else 0}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": words(request)("stock.on_hand"),
                    "data": [per_store[s] for s in stores], "itemStyle": {"color": "#0f5c75"},
                    "barMaxWidth": 36}],
    }, ensure_ascii=False).replace("<", "\\u003c")  # inside <script>: no "</script>" from any name


async def _channels(request: web.Request, sku: str, notice: str | None = None) -> dict[str, Any]:
    who = principal(request)
    if who.role is Role.STORE:  # channel figures are chain-wide: hq and finance (as the API says)
        return {"sku": sku, "channels": None, "listings": None, "notice": None, "may_push": False}
    async with request.app[MAKER]() as session:
        channels = await queries.channel_figures(session, sku)
        listings = await queries.listings_with_pushes(session, sku)
    return {"sku": sku, "channels": channels, "listings": listings, "notice": notice,
            "may_push": who.role is Role.HQ}


async def product_page(request: web.Request) -> web.StreamResponse:
    sku = _sku(request)
    async with request.app[MAKER]() as session:
        found = await queries.product(session, sku)
    context: dict[str, Any] = {"sku": sku, "product": found}
    context |= await _stock(request, sku)
    context |= await _channels(request, sku)
    return render(request, "product.html", context, section="products")


async def stock_partial(request: web.Request) -> web.StreamResponse:
    sku = _sku(request)
    return render(request, "_product_stock.html", await _stock(request, sku), section="products")


async def channels_partial(request: web.Request) -> web.StreamResponse:
    sku = _sku(request)
    return render(request, "_product_channels.html", await _channels(request, sku), section="products")


async def push_now(request: web.Request) -> web.StreamResponse:
    """POST /products/{sku}/push (form: channel, listing): wake the platform sync for one listing."""
    sku = _sku(request)
    require_hq(request)
    form = await request.post()
    channel, listing = str(form.get("channel", "")), str(form.get("listing", ""))
    async with request.app[MAKER]() as session:
        known = {(li.channel, li.channel_sku) for li in await queries.listings_with_pushes(session, sku)}
    if (channel, listing) not in known:
        raise web.HTTPNotFound()
    t = words(request)
    sent = request.app[LIVE].push_now(channel, sku, listing)
    notice = t("product.pushed", channel=channel, listing=listing) if sent else t("product.no_sync")
    if not is_htmx(request):
        raise web.HTTPSeeOther(f"/products/{sku}")
    context = await _channels(request, sku, notice)
    return render(request, "_product_channels.html", context, section="products")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/products", products_page, "products")
    routes.get("/products/{sku}", product_page, "product")
    routes.get("/products/{sku}/stock", stock_partial, "product-stock")
    routes.get("/products/{sku}/channels", channels_partial, "product-channels")
    routes.post("/products/{sku}/push", push_now, "product-push")
