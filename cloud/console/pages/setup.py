"""Setup without code (head office only): the frame every Setup page shares, stores, and products
with CSV import and export.

Every write goes through the settings API's own functions (cloud/api/admin.py save_store,
save_product, …) after the API's own schema checked the form (shared.openapi.Checker), so a change
made here is exactly the change the API would make, audited the same way (cloud/db/audit.py).
A form that is wrong is shown again with what was typed and the field at fault; a CSV file with
one bad row imports nothing and says which row and field (catalog_csv.py).

The other Setup pages: setup_channels.py (channels, their rules and spreadsheet exports;
listings), setup_shelves.py (the gateways' refill thresholds and product names).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import func, or_, select

from cloud.api import admin
from cloud.auth import Principal, require_hq
from cloud.console.catalog_csv import PRODUCT_COLUMNS, CsvRefused, read_products, write
from cloud.console.web import ConsoleRoutes, now, render, words
from cloud.db import audit
from cloud.db.models import Product, Store
from cloud.keys import MAKER, ORDERS
from shared.contract import ContractError, check_id
from shared.gs1 import Gs1Error, read_item
from shared.openapi import Checker

TABS = ("stores", "products", "channels", "listings", "shelves", "buying", "replenishment")
# Setup's tabs are its pages, and the buying master data and replenishment settings, which the
# Replenishment section keeps (pages/replenishment_buying.py, replenishment_settings.py): linked here
# so whoever looks for them in Setup finds them.
TAB_PATHS = {**{name: f"/setup/{name}" for name in TABS[:5]}, "buying": "/replenishment/buying",
             "replenishment": "/replenishment/settings"}
STORE_FORM = Checker(admin.STORE)
PRODUCT_FORM = Checker(admin.PRODUCT)
MAX_LISTED = 500  # rows a Setup table shows; search narrows it


class FormProblem(ValueError):
    """A form field that is wrong: shown beside the form (`field` names it)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def hq(request: web.Request) -> Principal:
    """Setup is head office's: anyone else gets the 403 page, for pages and posts alike."""
    return require_hq(request)


def actor(who: Principal) -> str:
    return audit.actor(who.name, who.role.value)


def page(request: web.Request, template: str, tab: str, context: Mapping[str, Any], status: int = 200,
         ) -> web.Response:
    return render(request, template, {"tabs": TABS, "tab_paths": TAB_PATHS, "tab": tab,
                                      "done": request.query.get("done", ""),
                                      "n": request.query.get("n", ""), "problem": None, "refused": None,
                                      **context}, section="setup", status=status)


def field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def number(form: Mapping[str, Any], name: str, *, whole: bool = False, blank: Any = None) -> Any:
    """A form field as a number ("" → `blank`); FormProblem when it is no number."""
    text = field(form, name)
    if not text:
        return blank
    try:
        return int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise FormProblem(name, f"must be {kind}, got {text!r}") from None


def checked(check: Checker, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(check(body))
    except ContractError as e:
        raise FormProblem(e.field, e.problem) from None


def gtin(text: str, name: str = "sku") -> str:
    """A GTIN as typed or scanned (EAN-13, UPC-A, EAN-8, GTIN-14) → GTIN-14, as the tills read it."""
    if not text:
        raise FormProblem(name, "is required")
    try:
        item = read_item(text)
    except Gs1Error as e:
        raise FormProblem(name, str(e)) from None
    return item.gtin


def done(path: str, what: str) -> web.HTTPSeeOther:
    """Post/redirect/get: the page again, saying what was done."""
    return web.HTTPSeeOther(f"{path}{'&' if '?' in path else '?'}done={what}")


async def setup_home(request: web.Request) -> web.StreamResponse:
    hq(request)
    raise web.HTTPSeeOther("/setup/stores")


# --- stores -------------------------------------------------------------------------------------

async def _stores_page(request: web.Request, form: Mapping[str, Any] | None = None,
                       problem: FormProblem | None = None) -> web.Response:
    async with request.app[MAKER]() as session:
        stores = (await session.scalars(select(Store).order_by(Store.store))).all()
    editing = request.query.get("edit", "")
    current = next((s for s in stores if s.store == editing), None)
    values = form if form is not None else (
        {"store": current.store, "name": current.name, "lat": current.lat, "lon": current.lon}
        if current is not None else {})
    return page(request, "setup_stores.html", "stores",
                {"stores": stores, "form": values, "problem": problem},
                status=422 if problem else 200)


async def stores_page(request: web.Request) -> web.StreamResponse:
    hq(request)
    return await _stores_page(request)


async def save_store(request: web.Request) -> web.StreamResponse:
    who = hq(request)
    form = await request.post()
    try:
        store = field(form, "store")
        try:
            check_id(store, "store")
        except ContractError as e:
            raise FormProblem("store", e.problem) from None
        body = checked(STORE_FORM, {"name": field(form, "name"), "lat": number(form, "lat"),
                                    "lon": number(form, "lon")})
    except FormProblem as e:
        return await _stores_page(request, _plain(form), e)
    async with request.app[MAKER]() as session, session.begin():
        changed = await admin.save_store(session, store, body, actor(who))
    request.app[ORDERS].settings_changed()
    raise done("/setup/stores", "saved" if changed else "unchanged")


def _plain(form: MultiDictProxy[Any]) -> dict[str, Any]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- products -----------------------------------------------------------------------------------

async def _products_page(request: web.Request, form: Mapping[str, Any] | None = None,
                         problem: FormProblem | None = None,
                         refused: CsvRefused | None = None) -> web.Response:
    text = request.query.get("q", "")[:64]
    async with request.app[MAKER]() as session:
        q = select(Product).order_by(Product.sku).limit(MAX_LISTED)
        if text:
            like = f"%{text.lower()}%"
            q = q.where(or_(Product.sku.contains(text), func.lower(Product.name).like(like),
                            func.lower(Product.category).like(like)))
        products = (await session.scalars(q)).all()
        total = (await session.execute(select(func.count()).select_from(Product))).scalar_one()
        editing = request.query.get("edit", "")
        current = await session.get(Product, editing) if editing else None
    values = form if form is not None else (
        {"sku": current.sku, "name": current.name, "category": current.category,
         "unit_cost": current.unit_cost, "min_stock": current.min_stock} if current is not None else {})
    status = 422 if problem or refused else 200
    return page(request, "setup_products.html", "products",
                {"products": products, "total": total, "q": text, "form": values, "problem": problem,
                 "refused": refused, "shown": MAX_LISTED}, status)


async def products_page(request: web.Request) -> web.StreamResponse:
    hq(request)
    return await _products_page(request)


async def save_product(request: web.Request) -> web.StreamResponse:
    who = hq(request)
    form = await request.post()
    try:
        sku = gtin(field(form, "sku"))
        body = {"name": field(form, "name"), "category": field(form, "category"),
                "unit_cost": number(form, "unit_cost")}
        min_stock = number(form, "min_stock", whole=True)
        if min_stock is not None:
            body["min_stock"] = min_stock
        body = checked(PRODUCT_FORM, body)
    except FormProblem as e:
        return await _products_page(request, _plain(form), e)
    async with request.app[MAKER]() as session, session.begin():
        changed = await admin.save_product(session, sku, body, actor(who))
    raise done("/setup/products", "saved" if changed else "unchanged")


async def import_products(request: web.Request) -> web.StreamResponse:
    """POST /setup/products/import (multipart, `file`): every row or none, in one transaction."""
    who = hq(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _products_page(request, refused=CsvRefused(words(request)("setup.no_file")))
    try:
        rows = read_products(await asyncio.to_thread(upload.file.read))  # aiohttp spools it to a file
    except CsvRefused as e:
        return await _products_page(request, refused=e)
    by = actor(who)
    async with request.app[MAKER]() as session, session.begin():  # all rows or none
        for r in rows:
            await admin.save_product(session, r.sku, r.body, by, "product.import")
    raise web.HTTPSeeOther(f"/setup/products?done=imported&n={len(rows)}")


async def export_products(request: web.Request) -> web.StreamResponse:
    hq(request)
    async with request.app[MAKER]() as session:
        products = (await session.scalars(select(Product).order_by(Product.sku))).all()
    data = write(PRODUCT_COLUMNS, ({"sku": p.sku, "name": p.name, "category": p.category,
                                    "unit_cost": p.unit_cost, "min_stock": p.min_stock} for p in products))
    return attachment(data, f"products-{now().strftime('%Y%m%d')}.csv", "text/csv; charset=utf-8")


def attachment(data: bytes, name: str, media: str) -> web.Response:
    return web.Response(body=data, headers={"Content-Type": media, "Cache-Control": "no-store",
                                            "Content-Disposition": f'attachment; filename="{name}"'})


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/setup", setup_home, "setup")
    routes.get("/setup/stores", stores_page, "setup-stores")
    routes.post("/setup/stores", save_store, "setup-stores-save")
    routes.get("/setup/products", products_page, "setup-products")
    routes.post("/setup/products", save_product, "setup-products-save")
    routes.post("/setup/products/import", import_products, "setup-products-import")
    routes.get("/setup/products.csv", export_products, "setup-products-export")


__all__ = ["TABS", "TAB_PATHS", "FormProblem", "add_routes", "attachment", "checked", "done", "field", "gtin",
           "hq", "number", "page"]
