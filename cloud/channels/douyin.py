"""Douyin shop (抖店, jinritemai open API): `sku.syncStock` and `sku.detail`.

`sku.syncStock` takes sku_id (or code / out_sku_id), product_id, stock_num and incremental
(bool); `idempotent_id` is required when incremental is true, and we always send it (a full set
repeated is harmless anyway). out_warehouse_id selects regional or store stock. Going below zero
is an error.

A request is `POST {base}/{method with / for .}` with app_key, method, access_token, param_json
(the business parameters, keys sorted, compact JSON), timestamp (GMT+8), v=2, sign_method and
sign (signing.douyin_sign) in the query, and param_json as the body. Answers are
`{"code", "msg", "sub_code", "sub_msg", "data", "log_id"}` with code 10000 for success. Our
research holds no checked code table; the classification below goes by our simulator's codes
(firmware_sim/platforms/douyin.py), to be checked against the open platform: 90000 rate limit,
30007 invalid signature, 30008 timestamp expired, 20000 service unavailable.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Transient
from cloud.channels.http import HttpAdapter, as_int
from cloud.channels.taobao import timestamp

OK, RATE_LIMITED, BAD_SIGNATURE, BAD_TIMESTAMP, UNAVAILABLE = 10000, 90000, 30007, 30008, 20000


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
                                       headers={"Content-Type": "application/json"})
        if not isinstance(answer, dict):
            raise Transient(f"{self.config.name}: {method} answered {answer!r}")
        code = answer.get("code")
        if code == OK:
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        text = f"{self.config.name}: {method}: Douyin error {code} {answer.get('msg', '')} " \
               f"{answer.get('sub_code', '')} {answer.get('sub_msg', '')}".rstrip()
        if code == RATE_LIMITED:
            raise RateLimited(text, 1.0, code=str(code))
        if code in (BAD_TIMESTAMP, UNAVAILABLE):
            raise Transient(text, code=str(code))
        raise Rejected(text, code=str(code))

    def _sku(self, listing: Listing) -> dict[str, Any]:
        biz: dict[str, Any] = {"sku_id": int(listing.sku_id), "product_id": int(listing.item_id)}
        if self.config.store_id:
            biz["out_warehouse_id"] = self.config.store_id
        return biz

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        await self.call("sku.syncStock", {**self._sku(listing), "stock_num": qty, "incremental": False,
                                          "idempotent_id": key})
        return PushResult(qty)

    async def adjust(self, listing: Listing, delta: int, key: str) -> None:
        """Incremental mode: add `delta` once per `key` (the platform replays a repeated key)."""
        await self.call("sku.syncStock", {**self._sku(listing), "stock_num": delta, "incremental": True,
                                          "idempotent_id": key})

    async def get_stock(self, listing: Listing) -> int:
        data = await self.call("sku.detail", {"sku_id": int(listing.sku_id)})
        return as_int(data.get("stock_num"), self.config.name)
