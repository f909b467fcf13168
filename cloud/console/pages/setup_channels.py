"""Setup: channels and their rules (platform, safety stock, share, min, max, split, hold, which
stores ship or offer pickup), each channel's spreadsheet (download now, or on a schedule), and a
channel's listings with CSV import and export. Head office only; see setup.py for how writes go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select

from cloud.api import admin
from cloud.channels import export
from cloud.console.catalog_csv import LISTING_COLUMNS, CsvRefused, read_listings, write
from cloud.console.pages.setup import (
    FormProblem,
    attachment,
    checked,
    done,
    field,
    gtin,
    hq,
    number,
    page,
)
from cloud.console.pages.setup import actor as actor_of
from cloud.console.web import ConsoleRoutes, now, words
from cloud.db.models import Listing, Store
from cloud.db.orders import channel_configs
from cloud.keys import EVENTS, EXPORT_DIR, MAKER, ORDERS
from shared.contract import ContractError, check_id
from shared.openapi import Checker

CHANNEL_FORM = Checker(admin.CHANNEL)
LISTING_FORM = Checker(admin.LISTINGS["properties"]["listings"]["items"])


def _channel(request: web.Request, name: str) -> str:
    try:
        return check_id(name, "channel")
    except ContractError:
        raise web.HTTPNotFound() from None


# --- channels -----------------------------------------------------------------------------------

async def _channels_page(request: web.Request, form: Mapping[str, Any] | None = None,
                         problem: FormProblem | None = None) -> web.Response:
    async with request.app[MAKER]() as session:
        configs = await channel_configs(session)
        stores = (await session.scalars(select(Store.store).order_by(Store.store))).all()
        exports = await export.states(session)
    editing = request.query.get("edit", "")
    current = configs.get(editing)
    if form is None and current is not None:
        r = current.rules
        form = {"name": current.name, "platform": current.platform, "safety": r.safety,
                "share_pct": r.share_pct, "min_qty": r.min_qty, "max_qty": r.max_qty, "split": current.split,
                "hold_s": current.hold_s, "ship": list(current.ship), "pickup": list(current.pickup),
                "every_min": (exports[current.name].every_s or 0) // 60
                if current.name in exports and exports[current.name].every_s else ""}
    known = sorted(set(stores) | {s for c in configs.values() for s in c.stores})
    return page(request, "setup_channels.html", "channels", {
        "channels": sorted(configs.values(), key=lambda c: c.name), "stores": known, "exports": exports,
        "form": form or {"ship": [], "pickup": []}, "problem": problem, "platforms": admin.PLATFORMS,
        "export_dir": request.app.get(EXPORT_DIR)}, status=422 if problem else 200)


async def channels_page(request: web.Request) -> web.StreamResponse:
    hq(request)
    return await _channels_page(request)


async def save_channel(request: web.Request) -> web.StreamResponse:
    who = hq(request)
    form = await request.post()
    ship, pickup = form.getall("ship", []), form.getall("pickup", [])
    plain: dict[str, Any] = {k: v for k, v in form.items()
                             if isinstance(v, str) and k not in ("ship", "pickup")}
    plain |= {"ship": [s for s in ship if isinstance(s, str)],
              "pickup": [s for s in pickup if isinstance(s, str)], "split": "split" in form}
    try:
        name = field(form, "name")
        try:
            check_id(name, "name")
        except ContractError as e:
            raise FormProblem("name", e.problem) from None
        stores = sorted(set(plain["ship"]) | set(plain["pickup"]))
        body: dict[str, Any] = {"platform": field(form, "platform") or "none", "split": "split" in form,
                                "stores": [{"store": s, "ship": s in plain["ship"],
                                            "pickup": s in plain["pickup"]} for s in stores]}
        for key in ("safety", "share_pct", "min_qty", "hold_s"):
            value = number(form, key, whole=True)
            if value is not None:
                body[key] = value
        body["max_qty"] = number(form, "max_qty", whole=True)
        body = checked(CHANNEL_FORM, body)
        every_min = number(form, "every_min", whole=True)
        every_s = every_min * 60 if every_min else None
        if every_s is not None and not export.MIN_EVERY_S <= every_s <= export.MAX_EVERY_S:
            raise FormProblem("every_min", f"must be from {export.MIN_EVERY_S // 60} to "
                                           f"{export.MAX_EVERY_S // 60} minutes, or empty")
    except FormProblem as e:
        return await _channels_page(request, plain, e)
    by = actor_of(who)
    async with request.app[MAKER]() as session, session.begin():
        listed = await admin.save_channel(session, name, body, by)
        await export.set_every(session, name, every_s, by)
    request.app[ORDERS].settings_changed()
    request.app[EVENTS].publish(("", sku) for sku in listed)  # platform sync re-reads the figures
    raise done(f"/setup/channels?edit={name}", "saved")


async def download(request: web.Request) -> web.StreamResponse:
    """GET /setup/channels/{channel}/stock.{csv|xlsx}: the channel's figures now."""
    hq(request)
    channel = _channel(request, request.match_info["channel"])
    kind = request.match_info["kind"]
    async with request.app[MAKER]() as session:
        if channel not in await channel_configs(session, channel):
            raise web.HTTPNotFound()
    at = now()
    found = await export.rows(request.app[MAKER], channel)
    data = await asyncio.to_thread(export.render, found, at, kind)
    media = "text/csv; charset=utf-8" if kind == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return attachment(data, f"{channel}-{at.strftime('%Y%m%d-%H%M')}.{kind}", media)


# --- listings -----------------------------------------------------------------------------------

async def _listings_page(request: web.Request, channel: str | None = None,
                         form: Mapping[str, Any] | None = None, problem: FormProblem | None = None,
                         refused: CsvRefused | None = None) -> web.Response:
    async with request.app[MAKER]() as session:
        names = sorted(await channel_configs(session))
        chosen = channel or request.query.get("channel") or (names[0] if names else "")
        listings = (await session.scalars(select(Listing).where(Listing.channel == chosen)
                                          .order_by(Listing.channel_sku))).all() if chosen in names else []
    return page(request, "setup_listings.html", "listings", {
        "channels": names, "channel": chosen if chosen in names else "", "listings": listings,
        "form": form or {}, "problem": problem, "refused": refused},
        status=422 if problem or refused else 200)


async def listings_page(request: web.Request) -> web.StreamResponse:
    hq(request)
    return await _listings_page(request)


async def _known_channel(request: web.Request, form: Mapping[str, Any]) -> str:
    channel = field(form, "channel")
    async with request.app[MAKER]() as session:
        if not channel or channel not in await channel_configs(session, channel):
            raise web.HTTPNotFound()
    return channel


async def save_listing(request: web.Request) -> web.StreamResponse:
    who = hq(request)
    form = await request.post()
    channel = await _known_channel(request, form)
    plain = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = checked(LISTING_FORM, {"channel_sku": field(form, "channel_sku"),
                                      "item_id": field(form, "item_id"), "sku": gtin(field(form, "sku"))})
    except FormProblem as e:
        return await _listings_page(request, channel, plain, e)
    async with request.app[MAKER]() as session, session.begin():
        await admin.upsert_listings(session, channel, [{"channel": channel, **body}], actor_of(who),
                                    "listing.put")
    request.app[EVENTS].publish([("", body["sku"])])  # a new listing gets its figure pushed
    raise done(f"/setup/listings?channel={channel}", "saved")


async def import_listings(request: web.Request) -> web.StreamResponse:
    """POST /setup/listings/import (multipart: channel, file): every row or none."""
    who = hq(request)
    form = await request.post()
    channel = await _known_channel(request, form)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _listings_page(request, channel, refused=CsvRefused(words(request)("setup.no_file")))
    try:
        found = read_listings(await asyncio.to_thread(upload.file.read))
    except CsvRefused as e:
        return await _listings_page(request, channel, refused=e)
    rows = [{"channel": channel, "channel_sku": r.channel_sku, "item_id": r.item_id, "sku": r.sku}
            for r in found]
    async with request.app[MAKER]() as session, session.begin():
        await admin.upsert_listings(session, channel, rows, actor_of(who), "listing.import")
    request.app[EVENTS].publish(("", r["sku"]) for r in rows)
    raise web.HTTPSeeOther(f"/setup/listings?channel={channel}&done=imported&n={len(rows)}")


async def export_listings(request: web.Request) -> web.StreamResponse:
    hq(request)
    channel = _channel(request, request.query.get("channel", ""))
    async with request.app[MAKER]() as session:
        listings = (await session.scalars(select(Listing).where(Listing.channel == channel)
                                          .order_by(Listing.channel_sku))).all()
    data = write(LISTING_COLUMNS, ({"channel_sku": li.channel_sku, "item_id": li.item_id, "sku": li.sku}
                                   for li in listings))
    return attachment(data, f"listings-{channel}.csv", "text/csv; charset=utf-8")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/setup/channels", channels_page, "setup-channels")
    routes.post("/setup/channels", save_channel, "setup-channels-save")
    routes.get("/setup/channels/{channel}/stock.{kind:csv|xlsx}", download, "setup-channel-download")
    routes.get("/setup/listings", listings_page, "setup-listings")
    routes.post("/setup/listings", save_listing, "setup-listings-save")
    routes.post("/setup/listings/import", import_listings, "setup-listings-import")
    routes.get("/setup/listings.csv", export_listings, "setup-listings-export")


__all__ = ["add_routes"]
