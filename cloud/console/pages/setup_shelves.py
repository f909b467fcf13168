"""Setup: the refill threshold and product name of each bin, or of a product in every bin, of one
store — what the gateway's TOML sets in [alerts.bins.BIN], overridden from here. Head office only.

A change is kept in the cloud (cloud/db/shelf_settings.py, a new version of the store's settings,
audited) and sent to the store's gateways over the command channel (cloud/shelf_settings.py); a
gateway that is offline gets it when it comes back, and the page shows which version each gateway
runs. The bins listed are those of the gateways' shelves snapshots (with their count and the
threshold in force), plus any bin a setting names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select

from cloud import shelf_settings
from cloud.console import queries
from cloud.console.pages.setup import FormProblem, done, field, gtin, hq, number, page
from cloud.console.pages.setup import actor as actor_of
from cloud.console.web import ConsoleRoutes, now, render
from cloud.db import shelf_settings as settings_db
from cloud.db.gateway_snapshots import gateway_views
from cloud.db.models import Gateway, Store
from cloud.keys import INGEST, MAKER
from shared.contract import MAX_REFILL_AT, MAX_TEXT, ContractError, check_id

MAX_PRODUCT = MAX_TEXT  # the contract's text limit: what the command can carry


async def _stores(request: web.Request) -> list[str]:
    async with request.app[MAKER]() as session:
        named = set((await session.scalars(select(Store.store))).all())
        heard = set((await session.scalars(select(Gateway.store))).all())
    return sorted(named | heard)


async def _page(request: web.Request, store: str | None = None, form: Mapping[str, Any] | None = None,
                problem: FormProblem | None = None) -> web.Response:
    stores = await _stores(request)
    chosen = store or request.query.get("store") or (stores[0] if stores else "")
    if form is None and request.query.get("kind") in settings_db.KINDS:  # "Edit" on a bin: its setting
        form = {"kind": request.query["kind"], "key": request.query.get("key", "")[:128]}
    context: dict[str, Any] = {"stores": stores, "store": chosen if chosen in stores else "",
                               "form": form or {},
                               "problem": problem, "bins": [], "products": [], "gateways": [], "version": 0}
    if context["store"]:
        async with request.app[MAKER]() as session:
            rows = await settings_db.rows_of(session, chosen)
            context["version"] = await settings_db.version_of(session, chosen)
            context["gateways"] = await settings_db.gateways(session, chosen)
            views = await gateway_views(session, [chosen])
            seen = {b.bin: b for g in views for b in g.bins}
            set_bins = {r.key: r for r in rows if r.kind == "bin"}
            skus = {b.sku for b in seen.values()} | {r.key for r in rows if r.kind == "sku"}
            names = await queries.product_names(session, skus)
        context["bins"] = [{"bin": b, "view": seen.get(b), "setting": set_bins.get(b)}
                           for b in sorted(set(seen) | set(set_bins))]
        context["products"] = [r for r in rows if r.kind == "sku"]
        context["names"] = names
        current = next((r for r in rows if (r.kind, r.key) == (context["form"].get("kind"),
                                                                context["form"].get("key"))), None)
        if current is not None and form is not None and "product" not in form:
            context["form"] = {**context["form"], "product": current.product, "refill_at": current.refill_at}
    return page(request, "setup_shelves.html", "shelves", context, status=422 if problem else 200)


async def shelves_page(request: web.Request) -> web.StreamResponse:
    hq(request)
    return await _page(request)


async def sync_partial(request: web.Request) -> web.StreamResponse:
    """GET /setup/shelves/sync?store=S: which settings version each gateway runs; the page re-fetches
    it whenever one of the store's gateways reports a status (live.py `gateway-{store}`), so a
    gateway applying a change turns "Waiting" into "Applied" without a reload."""
    hq(request)
    store = request.query.get("store", "")
    try:
        check_id(store, "store")
    except ContractError:
        raise web.HTTPNotFound() from None
    async with request.app[MAKER]() as session:
        context = {"store": store, "version": await settings_db.version_of(session, store),
                   "gateways": await settings_db.gateways(session, store)}
    return render(request, "_shelf_sync.html", context, section="setup")


async def save_setting(request: web.Request) -> web.StreamResponse:
    """POST /setup/shelves (store, kind bin|sku, key, product, refill_at): set one bin's or product's
    setting; both fields empty removes it (the TOML's values apply again)."""
    who = hq(request)
    form = await request.post()
    store = field(form, "store")
    try:
        check_id(store, "store")
    except ContractError:
        raise web.HTTPNotFound() from None
    plain = {k: v for k, v in form.items() if isinstance(v, str)}
    kind = field(form, "kind")
    try:
        if kind not in settings_db.KINDS:
            raise FormProblem("kind", "must be bin or sku")
        key = field(form, "key")
        if kind == "sku":
            key = gtin(key, "key")
        elif not key or len(key) > MAX_TEXT or not key.isprintable():
            raise FormProblem("key", f"must be a bin id of at most {MAX_TEXT} characters")
        product = field(form, "product") or None
        if product is not None and (len(product) > MAX_PRODUCT or not product.isprintable()):
            raise FormProblem("product", f"must be one line of at most {MAX_PRODUCT} characters")
        refill_at = number(form, "refill_at", whole=True)
        if refill_at is not None and not 0 <= refill_at <= MAX_REFILL_AT:
            raise FormProblem("refill_at", f"must be a whole number from 0 to {MAX_REFILL_AT:,}")
    except FormProblem as e:
        return await _page(request, store, plain, e)
    async with request.app[MAKER]() as session, session.begin():
        version = await settings_db.put(session, store, kind, key, product, refill_at, actor_of(who), now())
    if version is None:
        raise done(f"/setup/shelves?store={store}", "unchanged")

    ingest = request.app.get(INGEST)
    sender = ingest.command if ingest is not None else None
    reached = await shelf_settings.send(request.app[MAKER], sender, store)
    raise web.HTTPSeeOther(f"/setup/shelves?store={store}&done=sent&n={len(reached)}")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/setup/shelves", shelves_page, "setup-shelves")
    routes.get("/setup/shelves/sync", sync_partial, "setup-shelves-sync")
    routes.post("/setup/shelves", save_setting, "setup-shelves-save")


__all__ = ["add_routes"]
