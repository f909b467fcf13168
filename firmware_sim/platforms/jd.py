"""Simulated JD JOS router: POST /routerjson, form-posted, wrapped-MD5 signed, the business
parameters as JSON in `360buy_param_json`; answers as JOS documents.

System errors, in the order the router checks them (JOS error-code table, jos.jd.com, as
republished at blog.csdn.net/DianSan_ERP/article/details/142364242; the rows past 15 are cited from
captured answers in public SDK code, e.g. {"code":"21","zh_desc":"key=0 信息无效","en_desc":"Invalid
app_key"} and {"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}):

    2  App Call Limited (the app's call rate or quota)   4 / 5  Missing / Unsupported Version
    7  Missing Timestamp      8  Invalid Timestamp (more than 6 minutes from the router's clock)
    11 Missing Signature      12 Invalid Signature       14 / 15  Missing / Invalid Method
    19 Invalid access_token   21 Invalid app_key         67 an unknown error behind the router

67 has no published row we could read; it is the code the issue (and JOS users) give for an
unknown backend error, and the simulator answers it for the `backend` fault.

Methods (JD's official SDKs: com.jd.open.api.sdk.request.ware.StockWriteUpdateSkuStockRequest and
StockReadFindSkuStockRequest, and the .NET Jd.Api.Request twins):
- `jingdong.stock.write.updateSkuStock` {skuId, stockNum, storeId}: a store's absolute figure;
- `jingdong.stock.read.findSkuStock` {skuId, field}: `skuStocks`, one row {skuId, storeId,
  stockNum} per store that holds the SKU (domain class ...findSkuStock.SkuStock).
A parameter a method does not take is refused: JOS's table that we could read has no row for
invalid business parameters, so the simulator borrows TOP's "41 Invalid Arguments" for it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from firmware_sim.platforms import signatures
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import as_int, form, gmt8_age

# "京东API服务端允许客户端请求时间误差为6分钟" (JOS error table, row 8)
WINDOW_S = 360.0
CALL_LIMITED, MISSING_VERSION, UNSUPPORTED_VERSION, MISSING_TIMESTAMP = "2", "4", "5", "7"
BAD_TIMESTAMP, MISSING_SIGNATURE, BAD_SIGNATURE, MISSING_METHOD, BAD_METHOD = "8", "11", "12", "14", "15"
BAD_TOKEN, BAD_APP_KEY, BACKEND, BAD_ARGUMENTS = "19", "21", "67", "41"
MISSING = {"method": MISSING_METHOD, "v": MISSING_VERSION, "timestamp": MISSING_TIMESTAMP,
           "sign": MISSING_SIGNATURE, "app_key": BAD_APP_KEY, "access_token": BAD_TOKEN}
TAKES = {"jingdong.stock.write.updateSkuStock": {"skuId", "stockNum", "storeId"},
         "jingdong.stock.read.findSkuStock": {"skuId", "field"}}


def error(code: str, en: str, zh: str = "") -> web.Response:
    return web.json_response({"error_response": {"code": code, "zh_desc": zh or en, "en_desc": en}})


def routes(p: Platform) -> list[web.RouteDef]:
    p.extra |= {"backend"}

    async def router(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        params = await form(request)
        if gate == "ratelimit":
            return error(CALL_LIMITED, "App Call Limited", "限制时间内调用失败次数")
        if missing := [k for k in MISSING if not params.get(k)]:
            return error(MISSING[missing[0]], f"Missing {missing[0]}")
        if params["v"] != "2.0":
            return error(UNSUPPORTED_VERSION, "Unsupported Version", "不支持的版本号")
        if params["app_key"] != p.creds.app_key:
            return error(BAD_APP_KEY, "Invalid app_key", f"key={params['app_key']} 信息无效")
        if not signatures.matches(params["sign"], signatures.jos(params, p.creds.secret)):
            p.counts["bad_signature"] += 1
            return error(BAD_SIGNATURE, "Invalid Signature", "无效签名")
        age = gmt8_age(params["timestamp"], p.clock())
        if age is None or age > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return error(BAD_TIMESTAMP, "Invalid Timestamp", "非法的时间戳参数")
        if params["access_token"] != p.creds.session:
            return error(BAD_TOKEN, "Invalid access_token", "无效access_token")
        method = params["method"]
        if method not in TAKES:
            return error(BAD_METHOD, "Invalid Method", "不存在的方法名")
        if gate == "backend":
            return error(BACKEND, "Unknown error behind the router", "平台连接后端服务未知错误")
        try:
            biz: dict[str, Any] = json.loads(params.get("360buy_param_json") or "{}")
            if not isinstance(biz, dict):
                raise ValueError("not an object")
        except ValueError:
            return error(BAD_ARGUMENTS, "Invalid Arguments: 360buy_param_json is not a JSON object")
        if extra := sorted(set(biz) - TAKES[method]):
            return error(BAD_ARGUMENTS, f"Invalid Arguments: {method} takes no {', '.join(extra)}")
        sku_id = as_int(biz.get("skuId"))
        if sku_id is None:
            return error(BAD_ARGUMENTS, "Invalid Arguments: skuId is required")
        if method == "jingdong.stock.write.updateSkuStock":
            return _update(p, sku_id, biz)
        return _find(p, sku_id)

    return [web.post("/routerjson", router)]


def _update(p: Platform, sku_id: int, biz: dict[str, Any]) -> web.Response:
    qty = as_int(biz.get("stockNum"))
    store = biz.get("storeId")
    if qty is None or qty < 0:
        return error(BAD_ARGUMENTS, "Invalid Arguments: stockNum must be a whole number >= 0")
    if store is not None and as_int(store) is None:
        return error(BAD_ARGUMENTS, "Invalid Arguments: storeId must be a number")
    p.put("" if store is None else str(as_int(store)), str(sku_id), qty)
    return web.json_response({"jingdong_stock_write_updateSkuStock_responce": {"code": "0", "success": True}})


def _find(p: Platform, sku_id: int) -> web.Response:
    rows = []
    for (store, sku), qty in sorted(p.stock.items()):
        if sku == str(sku_id):
            row: dict[str, int] = {"skuId": sku_id, "stockNum": qty}
            if store:
                row["storeId"] = int(store)
            rows.append(row)
    if not rows:  # a simulator convenience (core.py): a SKU it was never told of holds 0
        rows.append({"skuId": sku_id, "stockNum": 0})
    return web.json_response({"jingdong_stock_read_findSkuStock_responce": {"code": "0", "skuStocks": rows}})
