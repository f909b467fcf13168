"""Pinduoduo: `pdd.goods.quantity.update` (goods_id, sku_id, quantity, update_type 1 = full,
2 = incremental) and `pdd.goods.detail.get` to read SKU stock back.

Common parameters: type (the API name), client_id, access_token, timestamp (Unix seconds),
data_type=JSON, version=V1, sign (the wrapped uppercase MD5 of signing.py). Errors arrive as
`error_response {error_code, error_msg, sub_code, sub_msg}`. Goods in a promotion slot cannot have
stock reduced (a business error: Rejected). Our research holds no checked code table, so the
classification below goes by our simulator's codes (firmware_sim/platforms/pdd.py), to be checked
against the open platform before production: 70031 rate limit, 10016 invalid signature,
10017 timestamp out of range, 50000 system busy.
"""

from __future__ import annotations

from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Transient
from cloud.channels.http import HttpAdapter, as_int

RATE_LIMITED, BAD_SIGNATURE, BAD_TIMESTAMP, BUSY = 70031, 10016, 10017, 50000


class PddAdapter(HttpAdapter):
    platform = "pdd"

    def signed(self, method: str, biz: dict[str, str]) -> dict[str, str]:
        params = {"type": method, "client_id": self.config.app_key, "access_token": self.config.session.value,
                  "timestamp": str(int(self.clock().timestamp())), "data_type": "JSON", "version": "V1",
                  **biz}
        params["sign"] = signing.wrapped_md5(params, self.config.secret.value)
        return params

    async def call(self, method: str, biz: dict[str, str]) -> dict[str, Any]:
        _, body = await self.request("POST", self.config.url, data=self.signed(method, biz))
        if not isinstance(body, dict):
            raise Transient(f"{self.config.name}: {method} answered {body!r}")
        error = body.get("error_response")
        if isinstance(error, dict):
            code = error.get("error_code")
            text = f"{self.config.name}: {method}: PDD error {code} {error.get('error_msg', '')}".rstrip()
            if code == RATE_LIMITED:
                raise RateLimited(text, 1.0, code=str(code))
            if code in (BAD_TIMESTAMP, BUSY):
                raise Transient(text, code=str(code))
            raise Rejected(text, code=str(code))
        response = body.get(method.removeprefix("pdd.").replace(".", "_") + "_response")
        if not isinstance(response, dict):
            raise Transient(f"{self.config.name}: {method} answered without its response")
        return response

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        response = await self.call("pdd.goods.quantity.update", {
            "goods_id": listing.item_id, "sku_id": listing.sku_id, "quantity": str(qty), "update_type": "1"})
        if response.get("is_success") is not True:
            raise Rejected(f"{self.config.name}: pdd.goods.quantity.update did not succeed: {response!r}")
        return PushResult(qty)

    async def get_stock(self, listing: Listing) -> int:
        response = await self.call("pdd.goods.detail.get", {"goods_id": listing.item_id})
        for sku in response.get("sku_list", []):
            if str(sku.get("sku_id")) == listing.sku_id:
                return as_int(sku.get("quantity"), self.config.name)
        raise Rejected(f"{self.config.name}: PDD goods {listing.item_id} has no SKU {listing.sku_id}")
