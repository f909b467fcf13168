"""Simulated Taobao TOP router: POST /router/rest, signed as TOP doc 101617 describes.

Checks, in the router's order: common parameters present (40), app_key (29), sign_method and
signature (25), timestamp within 10 minutes of GMT+8 now (31), session (27); then the method's
parameters (41). Rate limit: code 7 "App Call Limited" with the ban's length in sub_msg.
Methods: taobao.item.quantity.update, taobao.skus.quantity.update, taobao.item.sku.get,
taobao.item.seller.get.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from firmware_sim.platforms import signatures
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import WINDOW_S, as_int, form, gmt8_age

COMMON = ("method", "app_key", "timestamp", "v", "sign_method", "sign", "session")


def error(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg, "request_id": "sim"}
    if sub_code:
        body.update(sub_code=sub_code, sub_msg=sub_msg)
    return web.json_response({"error_response": body})


def routes(p: Platform) -> list[web.RouteDef]:
    async def rest(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        params = await form(request)
        if gate == "ratelimit":
            return error(7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
                         "This ban will last for 1 more seconds")
        missing = [k for k in COMMON if not params.get(k)]
        if missing:
            return error(40, "Missing required arguments", f"missing-{missing[0]}")
        if params["app_key"] != p.creds.app_key:
            return error(29, "Invalid app Key")
        try:
            expected = signatures.top(params, p.creds.secret)
        except ValueError:
            return error(25, "Invalid signature", "invalid-sign-method")
        if not signatures.matches(params["sign"], expected):
            p.counts["bad_signature"] += 1
            return error(25, "Invalid signature")
        age = gmt8_age(params["timestamp"], p.clock())
        if age is None or age > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return error(31, "Invalid timestamp")
        if params["session"] != p.creds.session:
            return error(27, "Invalid session")
        handler = METHODS.get(params["method"])
        if handler is None:
            return error(22, "Invalid method")
        return handler(p, params)

    return [web.post("/router/rest", rest), web.get("/router/rest", rest)]


def _item(p: Platform, num_iid: str) -> dict[str, Any]:
    held = [(s, q) for (i, s), q in sorted(p.stock.items()) if i == num_iid and s]
    num = sum(q for _, q in held) if held else p.qty(num_iid, "")
    skus = [{"sku_id": s, "quantity": q} for s, q in held]
    return {"num_iid": num_iid, "num": num, "skus": {"sku": skus}}


def _quantity_update(p: Platform, params: dict[str, str]) -> web.Response:
    num_iid, sku_id = params.get("num_iid", ""), params.get("sku_id", "")
    qty, kind = as_int(params.get("quantity")), params.get("type", "1")
    if not num_iid or qty is None or kind not in ("1", "2"):
        return error(41, "Invalid arguments", "isv.invalid-parameter", "num_iid, quantity, type")
    if kind == "1":
        if qty < 0:
            return error(41, "Invalid arguments", "isv.invalid-parameter:quantity", "quantity >= 0")
        p.put(num_iid, sku_id, qty)
    else:
        # apiId=38973: in incremental mode a negative value may not take stock below 0
        if p.qty(num_iid, sku_id) + qty < 0:
            return error(41, "Invalid arguments", "isv.invalid-parameter:quantity", "stock would go below 0")
        p.put(num_iid, sku_id, p.qty(num_iid, sku_id) + qty)
    p.qty(num_iid, sku_id)
    return web.json_response({"item_quantity_update_response": {"item": _item(p, num_iid)}})


def _skus_quantity_update(p: Platform, params: dict[str, str]) -> web.Response:
    num_iid, kind = params.get("num_iid", ""), params.get("type", "1")
    try:
        pairs = [(s, int(q)) for s, q in (part.split(":") for part in params["skuid_quantities"].split(";"))]
    except (KeyError, ValueError):
        return error(41, "Invalid arguments", "isv.invalid-parameter:skuid_quantities", "id:qty;id:qty")
    if not num_iid or not 0 < len(pairs) <= 20 or kind not in ("1", "2"):
        return error(41, "Invalid arguments", "isv.invalid-parameter", "num_iid, 1-20 SKUs, type")
    for sku_id, qty in pairs:
        # apiId=38499: in incremental mode an over-large negative sets the SKU to 0
        p.put(num_iid, sku_id, max(0, qty) if kind == "1" else max(0, p.qty(num_iid, sku_id) + qty))
    return web.json_response({"skus_quantity_update_response": {"item": _item(p, num_iid)}})


def _sku_get(p: Platform, params: dict[str, str]) -> web.Response:
    num_iid, sku_id = params.get("num_iid", ""), params.get("sku_id", "")
    if not sku_id:
        return error(41, "Invalid arguments", "isv.missing-parameter:sku_id")
    return web.json_response({"item_sku_get_response": {
        "sku": {"sku_id": sku_id, "num_iid": num_iid, "quantity": p.qty(num_iid, sku_id)}}})


def _seller_get(p: Platform, params: dict[str, str]) -> web.Response:
    num_iid = params.get("num_iid", "")
    if not num_iid:
        return error(41, "Invalid arguments", "isv.missing-parameter:num_iid")
    return web.json_response({"item_seller_get_response": {"item": _item(p, num_iid)}})


METHODS = {"taobao.item.quantity.update": _quantity_update,
           "taobao.skus.quantity.update": _skus_quantity_update,
           "taobao.item.sku.get": _sku_get, "taobao.item.seller.get": _seller_get}
