"""Simulated Douyin shop open API: POST /sku/syncStock and /sku/detail with the common
parameters in the query and param_json as the body. Error codes are this simulator's (see
cloud/channels/douyin.py): 90000 rate limit, 30007 invalid signature, 30008 timestamp expired,
30001 invalid app/token, 30002 invalid parameters, 50002 stock would go below zero."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cloud.channels import signing
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import WINDOW_S, gmt8_age

COMMON = ("app_key", "method", "access_token", "timestamp", "v", "sign")


def answer(code: int, msg: str, data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "sub_code": "", "sub_msg": "", "data": data or {},
                              "log_id": "sim"})


def routes(p: Platform) -> list[web.RouteDef]:
    async def api(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        q = request.query
        body = (await request.read()).decode() or q.get("param_json", "")
        if gate == "ratelimit":
            return answer(90000, "too many requests")
        if missing := [k for k in COMMON if not q.get(k)]:
            return answer(30002, f"missing {missing[0]}")
        method = request.match_info["path"].replace("/", ".")
        if q["method"] != method or q["app_key"] != p.creds.app_key:
            return answer(30001, "app_key or method does not match")
        try:
            expected = signing.douyin_sign(q["app_key"], method, body, q["timestamp"], q["v"], p.creds.secret,
                                           q.get("sign_method", "md5"))
        except ValueError:
            return answer(30007, "unknown sign_method")
        if not signing.same(q["sign"], expected):
            p.counts["bad_signature"] += 1
            return answer(30007, "invalid sign")
        age = gmt8_age(q["timestamp"], p.clock())
        if age is None or age > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return answer(30008, "timestamp expired")
        if q["access_token"] != p.creds.session:
            return answer(30001, "invalid access_token")
        try:
            biz: dict[str, Any] = json.loads(body)
            sku_id = str(int(biz["sku_id"]))
        except (ValueError, KeyError, TypeError):
            return answer(30002, "param_json needs sku_id")
        if method == "sku.detail":
            held = [q for (_, s), q in p.stock.items() if s == sku_id]
            return answer(10000, "success", {"sku_id": int(sku_id), "stock_num": held[0] if held else 0})
        if method != "sku.syncStock":
            return answer(30002, f"unknown method {method}")
        product, qty = str(biz.get("product_id", "")), biz.get("stock_num")
        incremental = biz.get("incremental")
        key = biz.get("idempotent_id")
        if not isinstance(qty, int) or not isinstance(incremental, bool) or not product:
            return answer(30002, "product_id, stock_num (int) and incremental (bool) are required")
        if incremental and not key:
            return answer(30002, "idempotent_id is required when incremental is true")
        if key and f"dy:{key}" in p.replies:
            p.counts["replays"] += 1
            return answer(10000, "success", p.replies[f"dy:{key}"])
        new = qty + p.qty(product, sku_id) if incremental else qty
        if new < 0:
            return answer(50002, "stock would go below zero")
        p.put(product, sku_id, new)
        if key:
            p.replies[f"dy:{key}"] = {}
        return answer(10000, "success", {})

    return [web.post("/{path:sku/[A-Za-z]+}", api)]
