"""Simulated Pinduoduo router: POST /api/router, wrapped-MD5 signed, Unix-second timestamps.
Error codes are this simulator's (see cloud/channels/pdd.py): 70031 rate limit, 10016 invalid
signature, 10017 timestamp out of range, 10019 invalid access token, 10000 invalid parameters."""

from __future__ import annotations

from aiohttp import web

from firmware_sim.platforms import signatures
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import WINDOW_S, as_int, form

COMMON = ("type", "client_id", "access_token", "timestamp", "sign")


def error(code: int, msg: str) -> web.Response:
    return web.json_response({"error_response": {"error_code": code, "error_msg": msg, "request_id": "sim"}})


def routes(p: Platform) -> list[web.RouteDef]:
    async def router(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        params = await form(request)
        if gate == "ratelimit":
            return error(70031, "call frequency limited")
        if missing := [k for k in COMMON if not params.get(k)]:
            return error(10000, f"missing {missing[0]}")
        if params["client_id"] != p.creds.app_key:
            return error(10001, "invalid client_id")
        if not signatures.matches(params["sign"], signatures.pdd(params, p.creds.secret)):
            p.counts["bad_signature"] += 1
            return error(10016, "invalid sign")
        ts = as_int(params["timestamp"])
        if ts is None or abs(p.clock() - ts) > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return error(10017, "timestamp out of range")
        if params["access_token"] != p.creds.session:
            return error(10019, "invalid access_token")
        goods_id, method = params.get("goods_id", ""), params["type"]
        if not goods_id:
            return error(10000, "goods_id is required")
        if method == "pdd.goods.quantity.update":
            sku_id, qty = params.get("sku_id", ""), as_int(params.get("quantity"))
            kind = params.get("update_type")
            if not sku_id or qty is None or kind not in ("1", "2"):
                return error(10000, "sku_id, quantity and update_type 1|2 are required")
            new = qty if kind == "1" else p.qty(goods_id, sku_id) + qty
            if new < 0:
                return error(10000, "quantity may not go below 0")
            p.put(goods_id, sku_id, new)
            return web.json_response({"goods_quantity_update_response": {"is_success": True}})
        if method == "pdd.goods.detail.get":
            skus = [{"sku_id": s, "quantity": q} for (g, s), q in sorted(p.stock.items()) if g == goods_id]
            return web.json_response({"goods_detail_get_response": {"goods_id": goods_id, "sku_list": skus}})
        return error(10000, f"unknown type {method}")

    return [web.post("/api/router", router)]
