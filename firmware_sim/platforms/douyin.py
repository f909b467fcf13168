"""Simulated Douyin shop (抖店) open API: POST /sku/syncStock and /sku/detail, the common parameters
in the query and param_json as the body, answered as the open platform documents.

Sources: the API guide (op.jinritemai.com "API调用指南": common parameters, timestamp GMT+8
`yyyy-MM-dd HH:mm:ss` and at most 10 minutes from the server's clock); the official Go SDK
doudian-sdk-golang 1.1.0 (republished as github.com/zsmhub/doudian-sdk: core/doudian_op_api_client.go
sends a Unix-seconds timestamp and sign_method hmac-sha256; api/sku_syncStock and api/sku_detail
give the parameters and fields); the platform's base error codes (平台基础错误码汇总,
op.jinritemai.com/docs/guide-docs/212/1427, as carried in public SDKs' error tables):

    10000 success     20000 service unavailable (dop.service-error)
    40001 a required parameter is missing (isv.parameter-missing, isv.signature-missing, ...)
    40002 a required business parameter is missing      40004 an invalid business parameter
    40003 an invalid parameter, by sub_code: isv.signature-invalid, isv.timestamp-invalid,
          isv.timestamp-format-error, isv.access-token-no-existed, isv.app-id-invalid,
          isv.parameter-format-invalid, isv.idempotent-id-existed (幂等ID重复)
    50002 business processing failed (here: stock would go below zero)
    60000 traffic limit (isv.traffic-limited, 触发限流，请稍后重试)

`sku.syncStock`: sku_id, product_id, stock_num, incremental (idempotent_id required when it is
true), out_warehouse_id (regional stock: "如传入传值表示更新区域库存，不传默认更新普通库存").
An idempotent_id seen before is answered 40003 isv.idempotent-id-existed and changes nothing.
`sku.detail`: sku_type 0 (普通) carries the figure in stock_num; sku_type 1 (区域库存) in stock_map,
keyed by out_warehouse_id ("sku_type=1时，使用stock_map").
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from firmware_sim.platforms import signatures
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import gmt8_age

WINDOW_S = 600.0  # "和服务器时间相差超过10分钟会报错"
OK, SERVICE_ERROR, MISSING, INVALID, MISSING_BIZ, BIZ_FAILED, LIMITED = \
    10000, 20000, 40001, 40003, 40002, 50002, 60000
COMMON = ("app_key", "method", "access_token", "timestamp", "v", "sign")


def answer(code: int, msg: str, sub_code: str = "", sub_msg: str = "",
           data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg,
                              "data": data or {}, "log_id": "sim"})


def invalid(sub_code: str, sub_msg: str) -> web.Response:
    return answer(INVALID, "非法的参数", sub_code, sub_msg)


def seconds_off(text: str, now: float) -> float | None:
    """How far a timestamp is from now, in either form the platform takes (the guide's GMT+8
    `yyyy-MM-dd HH:mm:ss`, the official SDK's Unix seconds); None: neither."""
    return abs(now - int(text)) if text.isdigit() else gmt8_age(text, now)


def routes(p: Platform) -> list[web.RouteDef]:
    p.extra |= {"slow", "backend"}

    async def api(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        q = request.query
        body = (await request.read()).decode() or q.get("param_json", "")
        if gate == "ratelimit":
            return answer(LIMITED, "触发限流，请稍后重试", "isv.traffic-limited", "请求太频繁，请稍后重试")
        if missing := [k for k in COMMON if not q.get(k)]:
            sub = {"sign": "isv.signature-missing", "app_key": "isv.app-id-missing",
                   "access_token": "isv.access-token-missing"}.get(missing[0], "isv.parameter-missing")
            return answer(MISSING, "缺少必选参数", sub, f"missing {missing[0]}")
        method = request.match_info["path"].replace("/", ".")
        if q["app_key"] != p.creds.app_key:
            return invalid("isv.app-id-invalid", "认证失败，app_key不正确")
        if q["method"] != method:
            return invalid("isv.parameter-invalid", f"method {q['method']} is not {method}")
        try:
            expected = signatures.douyin(q["app_key"], method, body, q["timestamp"], q["v"], p.creds.secret,
                                         q.get("sign_method", "md5"))
        except ValueError:
            expected = ""
        if not expected or not signatures.matches(q["sign"], expected):
            p.counts["bad_signature"] += 1
            return invalid("isv.signature-invalid", "签名校验失败")
        off = seconds_off(q["timestamp"], p.clock())
        if off is None:
            return invalid("isv.timestamp-format-error", "时间戳格式错误")
        if off > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return invalid("isv.timestamp-invalid", "时间戳不合法")
        if q["access_token"] != p.creds.session:
            return invalid("isv.access-token-no-existed", "access_token不存在，请使用最新的access_token访问")
        try:
            biz: dict[str, Any] = json.loads(body)
            sku_id = str(int(biz["sku_id"]))
        except (ValueError, KeyError, TypeError):
            return invalid("isv.parameter-format-invalid", "业务参数json解析失败 (sku_id)")
        if gate == "backend":
            return answer(SERVICE_ERROR, "服务不可用", "dop.service-error", "服务调用失败，请稍后重试")
        if method == "sku.detail":
            return answer(OK, "success", data=_detail(p, sku_id))
        if method != "sku.syncStock":
            return answer(70000, "接口服务已下线", "isp.api-service-off", f"API不存在: {method}")
        return await _sync_stock(p, sku_id, biz, slow=gate == "slow")

    return [web.post("/{path:sku/[A-Za-z]+}", api)]


def _where(product: str, warehouse: str) -> str:
    """The simulator's stock key for a product's national (no warehouse) or regional stock."""
    return f"{product}@{warehouse}" if warehouse else product


def _detail(p: Platform, sku_id: str) -> dict[str, Any]:
    held = {item: qty for (item, sku), qty in p.stock.items() if sku == sku_id}
    regional = {item.split("@", 1)[1]: qty for item, qty in held.items() if "@" in item}
    national = [qty for item, qty in held.items() if "@" not in item]
    product = next(iter(held), "0").split("@")[0]
    return {"id": int(sku_id), "product_id": int(product), "sku_type": 1 if regional else 0,
            "stock_num": 0 if regional else sum(national), "stock_map": regional, "prehold_stock_num": 0}


async def _sync_stock(p: Platform, sku_id: str, biz: dict[str, Any], *, slow: bool) -> web.Response:
    product, qty = str(biz.get("product_id", "")), biz.get("stock_num")
    incremental, key = biz.get("incremental", False), biz.get("idempotent_id")
    warehouse = str(biz.get("out_warehouse_id") or "")
    if not isinstance(qty, int) or not isinstance(incremental, bool) or not product.isdigit():
        return answer(MISSING_BIZ, "缺少必选参数", "isv.parameter-missing",
                      "product_id, stock_num (int) and incremental (bool) are required")
    if incremental and not key:
        return answer(MISSING_BIZ, "缺少必选参数", "isv.parameter-missing",
                      "idempotent_id is required when incremental is true")
    if key and f"dy:{key}" in p.replies:
        p.counts["replays"] += 1
        return invalid("isv.idempotent-id-existed", "幂等ID重复")
    where = _where(product, warehouse)
    if (qty + p.qty(where, sku_id) if incremental else qty) < 0:
        return answer(BIZ_FAILED, "业务处理失败", "isv.business-failed", "库存不能小于0")
    if key:
        p.replies[f"dy:{key}"] = True  # taken on receipt: a repeat while this one runs is a repeat
    if slow:
        await p.slow_write()  # done, but after the caller has given up on the answer
    p.put(where, sku_id, qty + p.qty(where, sku_id) if incremental else qty)
    return answer(OK, "success")
