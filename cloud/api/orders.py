"""Orders, channel availability and transfers over HTTP (issue 8). Parse → ledger → respond.

POST /v1/orders                       reserve (idempotent on channel + order_id): 201, 200 on a retry,
                                      409 with what is short
GET  /v1/orders/{id}
POST /v1/orders/{id}/cancel | /fulfil
GET  /v1/channels/{channel}/availability[?sku=]
POST /v1/transfers, GET /v1/transfers[?store=&status=], GET /v1/transfers/{id},
POST /v1/transfers/{id}/receive, GET /v1/transfers/suggestions[?store=]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cloud.api.handlers import MAKER, _error
from cloud.auth import Principal, Role, principal, require_read, require_write
from cloud.channels import availability
from cloud.db import repo
from cloud.db.orders import Line, OrderError, OrderRequest, Orders, channel_configs
from cloud.db.transfers import TransferRequest, Transfers
from edge.contract import ContractError, check_id, is_gtin14

log = logging.getLogger(__name__)
ORDERS = web.AppKey("orders", Orders)
TRANSFERS = web.AppKey("transfers", Transfers)
MAX_LINES = 200
SWEEP_S = 5.0


async def _body(request: web.Request) -> Mapping[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ContractError("body", f"not valid JSON: {e}") from None
    if not isinstance(body, Mapping):
        raise ContractError("body", "must be a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str, max_len: int = 64) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ContractError(name, f"must be a non-empty string of at most {max_len} characters")
    return value


def _qty(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 100_000:
        raise ContractError(where, f"must be an integer from 1 to 100000, got {value!r}")
    return value


def parse_order(body: Mapping[str, Any]) -> OrderRequest:
    channel = check_id(body.get("channel"), "channel")
    order_id = _text(body, "order_id")
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES:
        raise ContractError("lines", f"must be an array of 1 to {MAX_LINES} lines")
    parsed = []
    for i, ln in enumerate(lines):
        where = f"lines[{i}]"
        if not isinstance(ln, Mapping):
            raise ContractError(where, "must be an object")
        sku, channel_sku = ln.get("sku"), ln.get("channel_sku")
        if (sku is None) == (channel_sku is None):
            raise ContractError(where, "needs exactly one of sku (GTIN-14) or channel_sku")
        if sku is not None and not is_gtin14(sku):
            raise ContractError(f"{where}.sku", f"must be a GTIN-14 with a valid check digit, got {sku!r}")
        if channel_sku is not None and (not isinstance(channel_sku, str) or not channel_sku
                                        or len(channel_sku) > 64):
            raise ContractError(f"{where}.channel_sku", "must be a non-empty string")
        parsed.append(Line(_qty(ln.get("qty"), f"{where}.qty"), sku, channel_sku))
    f = body.get("fulfilment", {"type": "ship"})
    if not isinstance(f, Mapping):
        raise ContractError("fulfilment", "must be an object")
    kind = f.get("type", "ship")
    if kind not in ("ship", "pickup"):
        raise ContractError("fulfilment.type", f"must be ship or pickup, got {kind!r}")
    store = check_id(f["store"], "fulfilment.store") if f.get("store") is not None else None
    address = None
    if f.get("address") is not None:
        a = f["address"]
        try:
            lat, lon = float(a["lat"]), float(a["lon"])
        except (TypeError, KeyError, ValueError):
            raise ContractError("fulfilment.address", "must be {\"lat\": number, \"lon\": number}") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ContractError("fulfilment.address", "lat/lon out of range")
        address = (lat, lon)
    return OrderRequest(channel, order_id, tuple(parsed), kind, store, address)


def _fail(e: OrderError) -> web.Response:
    return web.json_response({"error": str(e), **e.detail}, status=e.status)


def _may_see_order(who: Principal, order: Mapping[str, Any]) -> bool:
    return who.role is not Role.STORE or (bool(order["stores"]) and set(order["stores"]) <= {who.store})


async def place_order(request: web.Request) -> web.Response:
    who = principal(request)
    try:
        req = parse_order(await _body(request))
    except ContractError as e:
        return _error(400, str(e))
    if who.role is Role.FINANCE:
        return _error(403, "finance tokens are read-only")
    if who.role is Role.STORE and req.store != who.store:  # a store places orders it fills itself
        return _error(403, f"a store token may only place orders fulfilled by {who.store}"
                           " (set fulfilment.store)")
    try:
        order, created = await request.app[ORDERS].place(req)
    except OrderError as e:
        return _fail(e)
    return web.json_response(order, status=201 if created else 200)


async def _order_for(request: web.Request) -> tuple[Principal, str, dict[str, Any] | web.Response]:
    who = principal(request)
    oid = request.match_info["id"]
    order = await request.app[ORDERS].get(oid)
    if order is None or not _may_see_order(who, order):
        return who, oid, _error(404, f"no order {oid!r}")  # another store's order does not exist for you
    return who, oid, order


async def get_order(request: web.Request) -> web.Response:
    _, _, order = await _order_for(request)
    return order if isinstance(order, web.Response) else web.json_response(order)


async def close_order(request: web.Request) -> web.Response:
    _, oid, order = await _order_for(request)
    if isinstance(order, web.Response):
        return order
    for store in order["stores"] or [None]:
        require_write(request, store)
    action = request.match_info["action"]
    orders = request.app[ORDERS]
    try:
        done = await (orders.fulfil(oid) if action == "fulfil" else orders.cancel(oid))
    except OrderError as e:
        return _fail(e)
    return web.json_response(done)


async def channel_availability(request: web.Request) -> web.Response:
    who = principal(request)
    if who.role is Role.STORE:
        return _error(403, "channel figures are chain-wide: hq and finance only")
    channel = request.match_info["channel"]
    sku = request.query.get("sku")
    if sku is not None and not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    async with request.app[MAKER]() as session:
        if channel not in await channel_configs(session, channel):
            return _error(404, f"unknown channel {channel!r}")
        figures = await availability.figures_in(session, channel=channel, skus=[sku] if sku else None)
        items = [{"sku": f.sku, "channel_sku": f.sku_id, "item_id": f.item_id, "qty": f.qty} for f in figures]
        if sku is not None and not items:  # not listed: the figure it would have
            qty = (await availability.sku_figures(session, channel, [sku]))[sku]
            items = [{"sku": sku, "channel_sku": None, "item_id": None, "qty": qty}]
    return web.json_response({"channel": channel, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                              "items": items})


# --- transfers -------------------------------------------------------------------------------

def parse_transfer(body: Mapping[str, Any]) -> TransferRequest:
    src = check_id(body.get("from"), "from")
    dst = check_id(body.get("to"), "to")
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES:
        raise ContractError("lines", f"must be an array of 1 to {MAX_LINES} lines")
    out = []
    for i, ln in enumerate(lines):
        if not isinstance(ln, Mapping) or not is_gtin14(ln.get("sku")):
            raise ContractError(f"lines[{i}].sku", "must be a GTIN-14 with a valid check digit")
        out.append((str(ln["sku"]), _qty(ln.get("qty"), f"lines[{i}].qty")))
    return TransferRequest(src, dst, tuple(out))


async def create_transfer(request: web.Request) -> web.Response:
    try:
        req = parse_transfer(await _body(request))
    except ContractError as e:
        return _error(400, str(e))
    require_write(request, req.from_store)  # the sending store (or hq) ships it
    try:
        return web.json_response(await request.app[TRANSFERS].create(req), status=201)
    except OrderError as e:
        return _fail(e)


async def get_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    t = await request.app[TRANSFERS].get(request.match_info["id"])
    if t is None or not (who.may_read(t["from"]) or who.may_read(t["to"])):
        return _error(404, f"no transfer {request.match_info['id']!r}")
    return web.json_response(t)


async def receive_transfer(request: web.Request) -> web.Response:
    transfers = request.app[TRANSFERS]
    t = await transfers.get(request.match_info["id"])
    who = principal(request)
    if t is None or not (who.may_read(t["from"]) or who.may_read(t["to"])):
        return _error(404, f"no transfer {request.match_info['id']!r}")
    require_write(request, t["to"])  # the receiving store (or hq) books it in
    try:
        return web.json_response(await transfers.receive(t["id"]))
    except OrderError as e:
        return _fail(e)


async def list_transfers(request: web.Request) -> web.Response:
    who = principal(request)
    store = request.query.get("store")
    if who.role is Role.STORE:
        if store not in (None, who.store):
            return _error(403, f"token {who.name!r} may not read store {store!r}")
        store = who.store
    status = request.query.get("status")
    if status not in (None, "in_transit", "received"):
        return _error(400, "status must be in_transit or received")
    return web.json_response({"transfers": await request.app[TRANSFERS].find(store, status)})


async def transfer_suggestions(request: web.Request) -> web.Response:
    who = principal(request)
    store = request.query.get("store")
    if who.role is Role.STORE:
        store = who.store
    elif store is not None:
        require_read(request, store)
    try:
        base = float(request.query.get("base_cost", "20"))
        per_km = float(request.query.get("per_km", "1.5"))
    except ValueError:
        return _error(400, "base_cost and per_km must be numbers")
    return web.json_response({"suggestions": await request.app[TRANSFERS].suggestions(
        base_cost=base, per_km=per_km, only_store=store)})


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
    """Once a day: lots that expired since yesterday leave every store's sellable figure."""
    changed = await repo.refresh_sellable(app[MAKER], datetime.now(UTC).date())
    announce = app[ORDERS].on_changed
    if changed and announce is not None:
        announce(changed)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/orders", place_order)
    app.router.add_get("/v1/orders/{id}", get_order)
    app.router.add_post("/v1/orders/{id}/{action:cancel|fulfil}", close_order)
    app.router.add_get("/v1/channels/{channel}/availability", channel_availability)
    app.router.add_post("/v1/transfers", create_transfer)
    app.router.add_get("/v1/transfers", list_transfers)
    app.router.add_get("/v1/transfers/suggestions", transfer_suggestions)
    app.router.add_get("/v1/transfers/{id}", get_transfer)
    app.router.add_post("/v1/transfers/{id}/receive", receive_transfer)
