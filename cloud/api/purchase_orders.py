"""Purchase orders over HTTP (issue 17): by hand or from a replenishment run's suggestions,
draft → sent → partial → received; a delivery books receipt movements into the location.

POST /v1/purchase-orders                       {"supplier", "location",
                                                "lines": [{"sku", "qty", "unit_cost"?}]}
POST /v1/purchase-orders/from-suggestions      {"supplier", "run"?}: one draft per location, once
GET  /v1/purchase-orders[?status=&supplier=&location=], GET /v1/purchase-orders/{id}
POST /v1/purchase-orders/{id}/send | /cancel   (hq)
POST /v1/purchase-orders/{id}/receive          {"ref", "lines": [{"line", "qty", "lot"?, "expiry"?}]}
                                               (hq, or the receiving store's token); once per ref

hq writes; finance reads every order; a store token reads and receives its own location's.

Every change is recorded in the audit log (who, when, `purchase_order.<action>`, before → after) in
its own transaction, as the console records the same actions: a purchase order commits the chain's
money, and the audit page is where the chain looks for who did that — whichever door it came
through. A repeated request that changes nothing records nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from cloud.api.admin import who
from cloud.auth import Role, principal, require_hq, require_write
from cloud.db.models import NO_LOT
from cloud.db.orders import OrderError
from cloud.db.purchasing import STATUSES, DeliveredLine, PurchaseOrders, audited
from cloud.keys import ORDERS, REPLENISHMENT
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

MAX_LINES = 2_000
PO_REQUEST: Schema = obj({
    "supplier": ID, "location": {**ID, "description": "the store or warehouse it is delivered to"},
    "lines": array(obj({"sku": GTIN14, "qty": integer(1, 10_000_000),
                        "unit_cost": nullable(number(0, 1e9, default=None,
                                                     description="left out: the supplier's terms"))},
                       ["sku", "qty"]), 1, MAX_LINES)}, ["supplier", "location", "lines"])
FROM_SUGGESTIONS: Schema = obj({
    "supplier": ID, "run": text(64, description="default: the newest finished run")}, ["supplier"])
DELIVERY: Schema = obj({
    "ref": text(64, pattern=r"^\S+$", description="the delivery note: the same note books once"),
    "lines": array(obj({"line": integer(0, MAX_LINES), "qty": integer(1, 10_000_000),
                        "lot": nullable(text(128, default=None)),
                        "expiry": nullable({**DAY, "default": None})}, ["line", "qty"]), 1, MAX_LINES)},
    ["ref", "lines"])
PO: Schema = obj({
    "id": text(64), "supplier": ID, "location": ID, "status": {"enum": list(STATUSES)}, "created_at": TIME,
    "created_by": nullable({"type": "string"}), "sent_at": nullable(TIME), "closed_at": nullable(TIME),
    "suggested": nullable({"type": "string"}), "receipts": array({"type": "string"}), "value": number(lo=0),
    "lines": array(obj({"line": integer(lo=0), "sku": GTIN14, "qty": integer(lo=1),
                        "unit_cost": nullable(number()), "received": integer(lo=0)},
                       ["line", "sku", "qty", "unit_cost", "received"], closed=False))},
    ["id", "supplier", "location", "status", "created_at", "sent_at", "closed_at", "receipts", "lines"],
    closed=False)
POS: Schema = obj({"purchase_orders": array(PO)}, ["purchase_orders"], closed=False)


def _fail(e: OrderError) -> web.Response:
    return error_response(e.status, str(e), **e.detail)


def _pos(request: web.Request) -> PurchaseOrders:
    return PurchaseOrders(request.app[ORDERS])


async def create_po(request: web.Request) -> web.Response:
    require_hq(request)
    body = checked(request).body
    try:
        po = await _pos(request).create(body["supplier"], body["location"],
                                        [(ln["sku"], ln["qty"], ln["unit_cost"]) for ln in body["lines"]],
                                        who(request), also=audited(who(request), "create"))
    except OrderError as e:
        return _fail(e)
    return web.json_response(po, status=201)


async def from_suggestions(request: web.Request) -> web.Response:
    require_hq(request)
    body = checked(request).body
    rep = request.app[REPLENISHMENT]
    run = body.get("run") or await rep.latest_done()
    if run is None or await rep.get(run) is None:
        return error_response(404, "no such run" if body.get("run") else "no replenishment run has finished",
                              "run")
    try:
        made = await _pos(request).from_suggestions(run, body["supplier"], who(request),
                                                   also=audited(who(request), "from_suggestions"))
    except OrderError as e:
        return _fail(e)
    return web.json_response({"purchase_orders": made}, status=201)


async def _po_for(request: web.Request) -> dict[str, Any] | web.Response:
    caller = principal(request)
    pid = checked(request).path["id"]
    po = await _pos(request).get(pid)
    if po is None or not caller.may_read(po["location"]):
        return error_response(404, f"no purchase order {pid!r}")
    return po


async def get_po(request: web.Request) -> web.Response:
    po = await _po_for(request)
    return po if isinstance(po, web.Response) else web.json_response(po)


async def list_pos(request: web.Request) -> web.Response:
    caller = principal(request)
    q = checked(request).query
    location = q.get("location")
    if caller.role is Role.STORE:
        if location not in (None, caller.store):
            return error_response(403, f"token {caller.name!r} may not read store {location!r}")
        location = caller.store
    return web.json_response({"purchase_orders": await _pos(request).find(
        status=q.get("status"), supplier=q.get("supplier"), location=location)})


async def _act(request: web.Request, action: str) -> web.Response:
    po = await _po_for(request)
    if isinstance(po, web.Response):
        return po
    try:
        if action == "receive":
            require_write(request, po["location"])
            body = checked(request).body
            lines = [DeliveredLine(ln["line"], ln["qty"], ln["lot"] or NO_LOT,
                                   date.fromisoformat(ln["expiry"]) if ln["expiry"] else None)
                     for ln in body["lines"]]
            return web.json_response(await _pos(request).receive(po["id"], body["ref"], lines,
                                                                 also=audited(who(request), "receive")))
        require_hq(request)
        pos = _pos(request)
        record = audited(who(request), action)
        return web.json_response(await (pos.send(po["id"], record) if action == "send"
                                        else pos.cancel(po["id"], record)))
    except OrderError as e:
        return _fail(e)


async def send_po(request: web.Request) -> web.Response:
    return await _act(request, "send")


async def cancel_po(request: web.Request) -> web.Response:
    return await _act(request, "cancel")


async def receive_po(request: web.Request) -> web.Response:
    return await _act(request, "receive")


def add_routes(api: Routes) -> None:
    tag = ("purchase orders",)
    api.add("POST", "/v1/purchase-orders", create_po, tags=tag, body=PO_REQUEST,
            summary="A draft purchase order for one location (hq)",
            responses={201: Reply("the draft", PO), 422: error("no such supplier or location")})
    api.add("POST", "/v1/purchase-orders/from-suggestions", from_suggestions, tags=tag, body=FROM_SUGGESTIONS,
            summary="Drafts from a run's purchase suggestions for one supplier, one per location, "
                    "made once (hq)",
            responses={201: Reply("the drafts", POS), 404: error("no such run"),
                       422: error("no such supplier or location")})
    api.add("GET", "/v1/purchase-orders", list_pos, tags=tag,
            summary="Purchase orders, newest first (500 at most)",
            query={"status": Param({"enum": list(STATUSES)}, "only this status"),
                   "supplier": Param(ID, "only this supplier's"),
                   "location": Param(ID, "only this location's")},
            responses={200: Reply("the orders", POS)})
    api.add("GET", "/v1/purchase-orders/{id}", get_po, tags=tag, summary="One purchase order",
            responses={200: Reply("the order", PO), 404: error("no such purchase order (for this token)")})
    moved = {200: Reply("the order", PO), 404: error("no such purchase order (for this token)"),
             409: error("its status does not allow it")}
    api.add("POST", "/v1/purchase-orders/{id}/send", send_po, tags=tag, responses=moved,
            summary="draft → sent: its units count as on order (hq)")
    api.add("POST", "/v1/purchase-orders/{id}/cancel", cancel_po, tags=tag, responses=moved,
            summary="Cancel a draft, or a sent order nothing of which has arrived (hq)")
    api.add("POST", "/v1/purchase-orders/{id}/receive", receive_po, tags=tag, body=DELIVERY,
            summary="Book a delivery into the location's stock, once per delivery note",
            responses={**moved,
                       409: error("not sent, no such line, or more than is still due: nothing booked"),
                       503: error("the ledger is too contended right now; retry")})
