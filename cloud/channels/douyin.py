"""Douyin shop (抖店, jinritemai open API): `sku.syncStock` and `sku.detail`.

`sku.syncStock` takes sku_id (or code / out_sku_id), product_id, stock_num and incremental
(bool); `idempotent_id` is required when incremental is true, and we always send it (a full set
repeated is harmless anyway). `out_warehouse_id` (the channel's store_id) sets a regional
warehouse's stock instead of the national figure ("如传入传值表示更新区域库存，不传默认更新普通库存";
hourly-delivery shops name their store the same way). Going below zero is an error.
`sku.detail` reads it back: sku_type 0 carries the figure in stock_num, sku_type 1 (区域库存) in
stock_map keyed by out_warehouse_id ("sku_type=1时，使用stock_map"). Sources: the official Go SDK
doudian-sdk-golang 1.1.0 (republished as github.com/zsmhub/doudian-sdk: api/sku_syncStock,
api/sku_detail, api/sku_list response StockMap) and op.jinritemai.com's API pages.

A request is `POST {base}/{method with / for .}` with app_key, method, access_token, param_json
(the business parameters, keys sorted, compact JSON), timestamp (GMT+8), v=2, sign_method and
sign (signing.douyin_sign) in the query, and param_json as the body; like the official SDK we send
`x-open-no-old-err-code: 1`, asking for the current error codes. Answers are
`{"code", "msg", "sub_code", "sub_msg", "data", "log_id"}`, code 10000 for success. The platform's
base error codes (平台基础错误码汇总, op.jinritemai.com/docs/guide-docs/212/1427, as carried in
public SDKs' tables) and what each means here:
  60000 traffic limit (isv.traffic-limited) → RateLimited
  40003 isv.timestamp-invalid → Transient (the next try is stamped and signed afresh)
  40003 isv.idempotent-id-existed → a replay: the push with this idempotent_id already happened
        (an earlier try landed though its answer was lost) → success, `PushResult(replayed=True)`
  20000 service unavailable, 20001 internal timeout, 90000 other (e.g. isv.env-suspected,
        "请稍后再试") → Transient
  anything else (40001/40002 missing, other 40003 invalid: signature, token, app_key; 40004,
  50001, 50002 business failures, 70000 API offline) → Rejected
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Replayed, Transient
from cloud.channels.http import HttpAdapter, as_int
from cloud.channels.taobao import timestamp

OK, RATE_LIMITED, INVALID = 10000, 60000, 40003
TIMESTAMP_INVALID, IDEMPOTENT_ID_EXISTED = "isv.timestamp-invalid", "isv.idempotent-id-existed"
_TRANSIENT = {20000, 20001, 90000}


def error(channel: str, method: str, answer: dict[str, Any]) -> Exception:
    """The seam's kind for a Douyin answer whose code is not 10000."""
    code, sub_code = answer.get("code"), str(answer.get("sub_code") or "")
    text = f"{channel}: {method}: Douyin error {code} {answer.get('msg', '')} {sub_code} " \
           f"{answer.get('sub_msg', '')}".rstrip()
    if code == RATE_LIMITED:
        return RateLimited(text, 1.0, code=str(code))
    if code == INVALID and sub_code == IDEMPOTENT_ID_EXISTED:
        return Replayed(text, code=str(code))
    if code in _TRANSIENT or (code == INVALID and sub_code == TIMESTAMP_INVALID):
        return Transient(text, code=str(code))
    return Rejected(text, code=str(code))


def param_json(biz: dict[str, Any]) -> str:
    return json.dumps(biz, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class DouyinAdapter(HttpAdapter):
    platform = "douyin"

    async def call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        body = param_json(biz)
        ts = timestamp(self.clock())
        query = {"app_key": self.config.app_key, "method": method, "access_token": self.config.session.value,
                 "param_json": body, "timestamp": ts, "v": "2", "sign_method": "md5",
                 "sign": signing.douyin_sign(self.config.app_key, method, body, ts, "2",
                                             self.config.secret.value)}
        url = self.config.url.rstrip("/") + "/" + method.replace(".", "/")
        _, answer = await self.request("POST", url, params=query, body=body.encode(),
                                       headers={"Content-Type": "application/json",
                                                "x-open-no-old-err-code": "1"})
        if not isinstance(answer, dict):
            raise Transient(f"{self.config.name}: {method} answered {answer!r}")
        if answer.get("code") == OK:
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        raise error(self.config.name, method, answer)

    def _sku(self, listing: Listing) -> dict[str, Any]:
        biz: dict[str, Any] = {"sku_id": int(listing.sku_id), "product_id": int(listing.item_id)}
        if self.config.store_id:
            biz["out_warehouse_id"] = self.config.store_id
        return biz

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        try:
            await self.call("sku.syncStock", {**self._sku(listing), "stock_num": qty, "incremental": False,
                                              "idempotent_id": key})
        except Replayed:
            return PushResult(qty, replayed=True)
        return PushResult(qty)

    async def adjust(self, listing: Listing, delta: int, key: str) -> PushResult:
        """Incremental mode: add `delta` once per `key` (a repeated key is a replay, not applied)."""
        try:
            await self.call("sku.syncStock", {**self._sku(listing), "stock_num": delta, "incremental": True,
                                              "idempotent_id": key})
        except Replayed:
            return PushResult(None, replayed=True)
        return PushResult(None)

    async def get_stock(self, listing: Listing) -> int:
        """The figure our pushes set: this warehouse's entry of stock_map when the channel names one
        (none there: the warehouse holds none), else stock_num of a national (sku_type 0) SKU."""
        data = await self.call("sku.detail", {"sku_id": int(listing.sku_id)})
        warehouse = self.config.store_id
        if warehouse:
            stock_map = data.get("stock_map") or {}
            return as_int(stock_map.get(warehouse, 0) if isinstance(stock_map, dict) else None,
                          self.config.name)
        if data.get("sku_type", 0) != 0:
            raise Rejected(f"{self.config.name}: Douyin SKU {listing.sku_id} keeps regional stock (sku_type "
                           f"{data.get('sku_type')}); set the channel's store_id to its out_warehouse_id")
        return as_int(data.get("stock_num"), self.config.name)
