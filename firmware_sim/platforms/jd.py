"""Simulated JD JOS router: POST /routerjson, wrapped-MD5 signed, business parameters in
`360buy_param_json`. Error codes are this simulator's (see cloud/channels/jd.py): 67 rate limit,
19 invalid signature, 21 invalid timestamp, 17 invalid access token, 12 invalid parameters."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cloud.channels import signing
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import WINDOW_S, as_int, form, gmt8_age

COMMON = ("method", "app_key", "access_token", "timestamp", "v", "sign", "360buy_param_json")


def error(code: str, en: str) -> web.Response:
    return web.json_response({"error_response": {"code": code, "zh_desc": en, "en_desc": en}})


def routes(p: Platform) -> list[web.RouteDef]:
    async def router(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        params = await form(request)
        if gate == "ratelimit":
            return error("67", "call frequency limited")
        if missing := [k for k in COMMON if not params.get(k)]:
            return error("12", f"missing {missing[0]}")
        if params["app_key"] != p.creds.app_key:
            return error("18", "invalid app_key")
        if not signing.same(params["sign"], signing.wrapped_md5(params, p.creds.secret)):
            p.counts["bad_signature"] += 1
            return error("19", "invalid signature")
        age = gmt8_age(params["timestamp"], p.clock())
        if age is None or age > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return error("21", "invalid timestamp")
        if params["access_token"] != p.creds.session:
            return error("17", "invalid access_token")
        try:
            biz: dict[str, Any] = json.loads(params["360buy_param_json"])
        except ValueError:
            return error("12", "360buy_param_json is not JSON")
        method = params["method"]
        sku_id, store = str(biz.get("skuId", "")), str(biz.get("storeId", ""))
        if not sku_id:
            return error("12", "skuId is required")
        if method == "jingdong.stock.write.updateSkuStock":
            qty = as_int(biz.get("stockNum"))
            if qty is None or qty < 0:
                return error("12", "stockNum must be a whole number >= 0")
            p.put(store, sku_id, qty)
            return web.json_response({"jingdong_stock_write_updateSkuStock_responce": {
                "code": "0", "success": True}})
        if method == "jingdong.stock.read.findSkuStock":
            return web.json_response({"jingdong_stock_read_findSkuStock_responce": {
                "code": "0", "skuStocks": [{"skuId": sku_id, "stockNum": p.qty(store, sku_id)}]}})
        return error("12", f"unknown method {method}")

    return [web.post("/routerjson", router)]
