"""Orders, channel availability and transfers over HTTP (issue 8). Parse → ledger → respond.

POST /v1/orders                       reserve (idempotent on channel + order_id): 201, 200 on a retry,
                                      409 with what is short
GET  /v1/orders/{id}
POST /v1/orders/{id}/cancel | /fulfil
GET  /v1/channels/{channel}/availability[?sku=]
POST /v1/transfers, GET /v1/transfers[?store=&status=], GET /v1/transfers/{id},
POST /v1/transfers/{id}/receive | /cancel, GET /v1/transfers/suggestions[?store=]

The bodies are checked against the schemas below before a handler runs (shared/openapi.py); what a
schema cannot say (the stores a transfer names exist) the handlers check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cloud.auth import Principal, Role, principal, require_read, require_write
from cloud.channels import availability
from cloud.db import holds, posting, stocktakes
from cloud.db.orders import Line, OrderError, OrderRequest, channel_configs
from cloud.db.transfers import TransferRequest
from cloud.keys import MAKER, ORDERS, TRANSFERS
from shared.openapi import (
    DAY,
    GTIN14,
    ID,
    TIME,
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
    number,
    obj,
    text,
)

log = logging.getLogger(__name__)
MAX_LINES = 200
SWEEP_S = 5.0

QTY: Schema = integer(1, 100_000)
ORDER_LINE: Schema = {
    **obj({"sku": GTIN14, "channel_sku": text(64, description="the platform's SKU id (a listing)"),
           "qty": QTY}, ["qty"], oneOf=[{"required": ["sku"]}, {"required": ["channel_sku"]}]),
    "x-error": "must be an object with qty and exactly one of sku (GTIN-14) or channel_sku"}
ORDER_REQUEST: Schema = obj({
    "channel": ID,
    "order_id": text(64, pattern=r"\S", description="the platform's order id (idempotency key with channel)"),
    "lines": array(ORDER_LINE, 1, MAX_LINES),
    "fulfilment": obj({
        "type": {"enum": ["ship", "pickup"], "default": "ship"},
        "store": nullable({**ID, "description": "the store that fills it (a pickup must name one)"}),
        "address": nullable(obj({"lat": number(-90, 90), "lon": number(-180, 180)}, ["lat", "lon"],
                                description="the buyer, for the nearest store")),
    }, default={"type": "ship"}),
}, ["channel", "order_id", "lines"])
ORDER: Schema = obj({
    "id": text(64), "channel": ID, "order_id": {"type": "string"},
    "status": {"enum": ["reserved", "fulfilled", "cancelled", "expired", holds.RELEASED],
               "description": "expired: unpaid past hold_s; released: the stock under it fell (holds.py)"},
    "fulfilment": {"enum": ["ship", "pickup"]}, "stores": array(ID),
    "created_at": TIME, "expires_at": TIME, "closed_at": nullable(TIME),
    "closed_by": nullable({"type": "string"}),
    "reservations": array(obj({"line": integer(lo=0), "store": ID, "sku": GTIN14, "lot": {"type": "string"},
                               "qty": integer(lo=1)}, ["line", "store", "sku", "lot", "qty"], closed=False)),
}, ["id", "channel", "order_id", "status", "fulfilment", "stores", "created_at", "expires_at",
    "reservations"], closed=False)
AVAILABILITY: Schema = obj({"channel": ID, "at": TIME, "items": array(obj({
    "sku": GTIN14, "channel_sku": nullable({"type": "string"}), "item_id": nullable({"type": "string"}),
    "qty": integer(lo=0)}, ["sku", "channel_sku", "item_id", "qty"], closed=False))},
    ["channel", "at", "items"], closed=False)
TRANSFER_REQUEST: Schema = obj({
    "from": {**ID, "description": "the sending store (registered, or heard from)"},
    "to": {**ID, "description": "the receiving store (registered, or heard from)"},
    "lines": array(obj({"sku": GTIN14, "qty": QTY}, ["sku", "qty"]), 1, MAX_LINES),
}, ["from", "to", "lines"])
TRANSFER_STATUSES = ["in_transit", "received", "cancelled"]
TRANSFER: Schema = obj({
    "id": text(64), "from": ID, "to": ID, "status": {"enum": TRANSFER_STATUSES}, "created_at": TIME,
    "received_at": nullable(TIME), "received_by": nullable({"enum": ["api", "rfid"]}),
    "cancelled_at": nullable(TIME),
    "lines": array(obj({"line": integer(lo=0), "sku": GTIN14, "qty": integer(lo=1),
                        "lot": nullable(text(128)), "expiry": nullable(DAY)},
                       ["line", "sku", "qty", "lot", "expiry"], closed=False)),
}, ["id", "from", "to", "status", "created_at", "received_at", "received_by", "cancelled_at", "lines"],
    closed=False)
SUGGESTIONS: Schema = obj({"suggestions": array(obj({
    "sku": GTIN14, "from": ID, "to": ID, "qty": integer(lo=1), "distance_km": nullable(number(lo=0)),
    "estimated_cost": nullable(number()), "from_free": integer(), "to_free": integer()},
    ["sku", "from", "to", "qty"], closed=False))}, ["suggestions"], closed=False)


def parse_order(body: Mapping[str, Any]) -> OrderRequest:
    """An order from a body its schema (ORDER_REQUEST) has passed, defaults filled in."""
    f = body["fulfilment"]
    address = (f["address"]["lat"], f["address"]["lon"]) if f.get("address") else None
    lines = tuple(Line(ln["qty"], ln.get("sku"), ln.get("channel_sku")) for ln in body["lines"])
    return OrderRequest(body["channel"], body["order_id"], lines, f["type"], f.get("store"), address)


def _fail(e: OrderError) -> web.Response:
    return error_response(e.status, str(e), **e.detail)


def may_see_order(who: Principal, order: Mapping[str, Any]) -> bool:
    """hq and finance see every order; a store token only those held in its store alone (the
    console's orders page applies the same rule in SQL, console/queries_orders.py)."""
    return who.role is not Role.STORE or (bool(order["stores"]) and set(order["stores"]) <= {who.store})


async def place_order(request: web.Request) -> web.Response:
    who = principal(request)
    req = parse_order(checked(request).body)
    if who.role is Role.FINANCE:
        return error_response(403, "finance tokens are read-only")
    if who.role is Role.STORE and req.store != who.store:  # a store places orders it fills itself
        return error_response(403, f"a store token may only place orders fulfilled by {who.store}"
                           " (set fulfilment.store)")
    try:
        order, created = await request.app[ORDERS].place(req)
    except OrderError as e:
        return _fail(e)
    return web.json_response(order, status=201 if created else 200)


async def _order_for(request: web.Request) -> tuple[Principal, str, dict[str, Any] | web.Response]:
    who = principal(request)
    oid = checked(request).path["id"]
    order = await request.app[ORDERS].get(oid)
    if order is None or not may_see_order(who, order):
        # another store's order does not exist for you
        return who, oid, error_response(404, f"no order {oid!r}")
    return who, oid, order


async def get_order(request: web.Request) -> web.Response:
    _, _, order = await _order_for(request)
    return order if isinstance(order, web.Response) else web.json_response(order)


async def _close_order(request: web.Request, action: str) -> web.Response:
    _, oid, order = await _order_for(request)
    if isinstance(order, web.Response):
        return order
    for store in order["stores"] or [None]:
        require_write(request, store)
    orders = request.app[ORDERS]
    try:
        done = await (orders.fulfil(oid) if action == "fulfil" else orders.cancel(oid))
    except OrderError as e:
        return _fail(e)
    return web.json_response(done)


async def fulfil_order(request: web.Request) -> web.Response:
    return await _close_order(request, "fulfil")


async def cancel_order(request: web.Request) -> web.Response:
    return await _close_order(request, "cancel")


async def channel_availability(request: web.Request) -> web.Response:
    who = principal(request)
    if who.role is Role.STORE:
        return error_response(403, "channel figures are chain-wide: hq and finance only")
    channel = checked(request).path["channel"]
    sku = checked(request).query.get("sku")
    async with request.app[MAKER]() as session:
        if channel not in await channel_configs(session, channel):
            return error_response(404, f"unknown channel {channel!r}")
        figures = await availability.figures_in(session, channel=channel, skus=[sku] if sku else None)
        items = [{"sku": f.sku, "channel_sku": f.sku_id, "item_id": f.item_id, "qty": f.qty} for f in figures]
        if sku is not None and not items:  # not listed: the figure it would have
            qty = (await availability.sku_figures(session, channel, [sku]))[sku]
            items = [{"sku": sku, "channel_sku": None, "item_id": None, "qty": qty}]
    return web.json_response({"channel": channel, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                              "items": items})


# --- transfers -------------------------------------------------------------------------------

def parse_transfer(body: Mapping[str, Any]) -> TransferRequest:
    """A transfer from a body its schema (TRANSFER_REQUEST) has passed."""
    return TransferRequest(body["from"], body["to"], tuple((ln["sku"], ln["qty"]) for ln in body["lines"]))


async def create_transfer(request: web.Request) -> web.Response:
    req = parse_transfer(checked(request).body)
    require_write(request, req.from_store)  # the sending store (or hq) ships it
    known = await stocktakes.known_stores(request.app[MAKER], (req.from_store, req.to_store))
    for name, store in (("from", req.from_store), ("to", req.to_store)):
        if store not in known:  # units sent there would stay in transit for ever
            return error_response(422, f"{name}: the chain has no store {store!r} (PUT /v1/stores/{store} "
                               "registers one)", name)
    try:
        return web.json_response(await request.app[TRANSFERS].create(req), status=201)
    except OrderError as e:
        return _fail(e)


async def _transfer_for(request: web.Request) -> dict[str, Any] | web.Response:
    who = principal(request)
    tid = checked(request).path["id"]
    t = await request.app[TRANSFERS].get(tid)
    if t is None or not (who.may_read(t["from"]) or who.may_read(t["to"])):
        return error_response(404, f"no transfer {tid!r}")
    return t


async def get_transfer(request: web.Request) -> web.Response:
    t = await _transfer_for(request)
    return t if isinstance(t, web.Response) else web.json_response(t)


async def receive_transfer(request: web.Request) -> web.Response:
    t = await _transfer_for(request)
    if isinstance(t, web.Response):
        return t
    require_write(request, t["to"])  # the receiving store (or hq) books it in
    try:
        return web.json_response(await request.app[TRANSFERS].receive(t["id"]))
    except OrderError as e:
        return _fail(e)


async def cancel_transfer(request: web.Request) -> web.Response:
    t = await _transfer_for(request)
    if isinstance(t, web.Response):
        return t
    require_write(request, t["from"])  # the sending store (or hq) calls it back
    try:
        return web.json_response(await request.app[TRANSFERS].cancel(t["id"]))
    except OrderError as e:
        return _fail(e)


async def list_transfers(request: web.Request) -> web.Response:
    who = principal(request)
    query = checked(request).query
    store = query.get("store")
    if who.role is Role.STORE:
        if store not in (None, who.store):
            return error_response(403, f"token {who.name!r} may not read store {store!r}")
        store = who.store
    return web.json_response({"transfers": await request.app[TRANSFERS].find(store, query.get("status"))})


async def transfer_suggestions(request: web.Request) -> web.Response:
    who = principal(request)
    query = checked(request).query
    store = query.get("store")
    if who.role is Role.STORE:
        store = who.store
    elif store is not None:
        require_read(request, store)
    return web.json_response({"suggestions": await request.app[TRANSFERS].suggestions(
        base_cost=query["base_cost"], per_km=query["per_km"], only_store=store)})


# --- the sweep: unpaid orders expire, expired lots leave `sellable` ---------------------------

async def sweeper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_sweep(app), name="order-sweep")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sweep(app: web.Application) -> None:
    last_day = None
    while True:
        try:
            expired = await app[ORDERS].expire_due()
            if expired:
                log.info("released %d unpaid orders past their hold", len(expired))
            today = datetime.now(UTC).date()
            if today != last_day:
                await refresh_sellable(app)
                last_day = today
        except Exception:  # a database hiccup must not end the sweep
            log.exception("order sweep failed; retrying")
        await asyncio.sleep(SWEEP_S)


async def refresh_sellable(app: web.Application) -> None:
    """Once a day (UTC): lots that expired since yesterday leave every store's sellable figure,
    and the holds on them move to good lots or their orders are released (cloud/db/holds.py)."""
    changed = await posting.refresh_sellable(app[MAKER], datetime.now(UTC).date())
    announce = app[ORDERS].on_changed
    if changed and announce is not None:
        announce(changed)


def add_routes(api: Routes) -> None:
    tag = ("orders",)
    api.add("POST", "/v1/orders", place_order, tags=tag, body=ORDER_REQUEST,
            summary="Reserve stock for a channel's order (idempotent on channel + order_id)",
            responses={201: Reply("reserved", ORDER), 200: Reply("the same order, reserved before", ORDER),
                       404: error("unknown channel"),
                       409: error("not enough stock; `short` lists each SKU wanted and available"),
                       422: error("the channel cannot fill it (no such listing, store or pickup)"),
                       503: error("the ledger is too contended right now; retry")})
    api.add("GET", "/v1/orders/{id}", get_order, tags=tag, summary="One order and its holds",
            responses={200: Reply("the order", ORDER), 404: error("no such order (for this token)")})
    for action, handler, says in (("fulfil", fulfil_order, "Book the sale of the held units, once"),
                                  ("cancel", cancel_order, "Release the held units")):
        api.add("POST", f"/v1/orders/{{id}}/{action}", handler, tags=tag, summary=says,
                responses={200: Reply("the closed order (the same on a repeated call)", ORDER),
                           404: error("no such order (for this token)"),
                           409: error("the order is closed otherwise already"),
                           503: error("the ledger is too contended right now; retry")})
    api.add("GET", "/v1/channels/{channel}/availability", channel_availability, tags=tag,
            summary="What a channel may sell now, per listing (hq and finance)",
            query={"sku": Param(GTIN14, "only this SKU (listed or not)")},
            responses={200: Reply("per listing", AVAILABILITY), 404: error("unknown channel")})
    tag = ("transfers",)
    moved = {200: Reply("the transfer", TRANSFER), 404: error("no such transfer (for this token)"),
             409: error("the transfer's status does not allow it"),
             503: error("the ledger is too contended right now; retry")}
    api.add("POST", "/v1/transfers", create_transfer, tags=tag, body=TRANSFER_REQUEST,
            summary="Send free units from one store to another (they leave the source at once)",
            responses={201: Reply("in transit", TRANSFER), 400: error("the request breaks its schema, or"
                                                                    " names the same store twice"),
                       409: error("the source has not that many free units; `short` says what it has"),
                       422: error("a store the chain does not know; `field` says which"),
                       503: error("the ledger is too contended right now; retry")})
    api.add("GET", "/v1/transfers", list_transfers, tags=tag, summary="Transfers, newest first (500 at most)",
            query={"store": Param(ID, "from or to this store"),
                   "status": Param({"enum": TRANSFER_STATUSES}, "only this status")},
            responses={200: Reply("the transfers", obj({"transfers": array(TRANSFER)}, ["transfers"],
                                                       closed=False))})
    api.add("GET", "/v1/transfers/suggestions", transfer_suggestions, tags=tag,
            summary="Moves from surplus stores to short ones, nearest first",
            query={"store": Param(ID, "only for this short store"),
                   "base_cost": Param(number(0, 1e6, default=20.0), "fixed cost of one move"),
                   "per_km": Param(number(0, 1e4, default=1.5), "cost per km")},
            responses={200: Reply("the suggestions", SUGGESTIONS)})
    api.add("GET", "/v1/transfers/{id}", get_transfer, tags=tag, summary="One transfer",
            responses={200: Reply("the transfer", TRANSFER), 404: error("no such transfer (for this token)")})
    api.add("POST", "/v1/transfers/{id}/receive", receive_transfer, tags=tag, responses=moved,
            summary="Book the units in at the destination, once (a dock RFID read does the same)")
    api.add("POST", "/v1/transfers/{id}/cancel", cancel_transfer, tags=tag, responses=moved,
            summary="Call a transfer back: its units return to the source, once; not after receipt")
