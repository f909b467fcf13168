"""JD (京东) through the JOS router: `jingdong.stock.write.updateSkuStock` sets a SKU's stock in a
store/warehouse to an absolute figure (skuId, stockNum, storeId); `jingdong.stock.read.findSkuStock`
reads it back.

JOS signs like TOP (the wrapped MD5 of signing.py) over method, app_key, access_token, timestamp
(GMT+8, `yyyy-MM-dd HH:mm:ss`), v=2.0 and `360buy_param_json` (the business parameters as JSON).
Success answers under `<method with _>_responce` (JOS's own spelling); errors under
`error_response {code, zh_desc, en_desc}`. Our research holds no checked table of JOS error codes,
so the classification below goes by the codes our simulator uses (firmware_sim/platforms/jd.py)
and must be checked against JOS before production: 67 rate limit, 19 invalid signature,
21 invalid timestamp, 66 platform busy.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Transient
from cloud.channels.http import HttpAdapter, as_int
from cloud.channels.taobao import timestamp

RATE_LIMITED, BAD_SIGNATURE, BAD_TIMESTAMP, BUSY = "67", "19", "21", "66"


class JdAdapter(HttpAdapter):
    platform = "jd"

    def signed(self, method: str, biz: dict[str, Any]) -> dict[str, str]:
        params = {"method": method, "app_key": self.config.app_key, "access_token": self.config.session.value,
                  "timestamp": timestamp(self.clock()), "v": "2.0", "format": "json", "sign_method": "md5",
                  "360buy_param_json": json.dumps(biz, separators=(",", ":"), sort_keys=True)}
        params["sign"] = signing.wrapped_md5(params, self.config.secret.value)
        return params

    async def call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        _, body = await self.request("POST", self.config.url, data=self.signed(method, biz))
        if not isinstance(body, dict):
            raise Transient(f"{self.config.name}: {method} answered {body!r}")
        error = body.get("error_response")
        if isinstance(error, dict):
            code = str(error.get("code", ""))
            text = f"{self.config.name}: {method}: JOS error {code} {error.get('en_desc', '')}".rstrip()
            if code == RATE_LIMITED:
                raise RateLimited(text, 1.0, code=code)
            if code in (BAD_TIMESTAMP, BUSY):
                raise Transient(text, code=code)
            raise Rejected(text, code=code)
        response = body.get(method.replace(".", "_") + "_responce")
        if not isinstance(response, dict) or str(response.get("code", "0")) != "0":
            raise Transient(f"{self.config.name}: {method} answered {body!r}")
        return response

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        response = await self.call("jingdong.stock.write.updateSkuStock",
                                   {"skuId": listing.sku_id, "stockNum": qty,
                                    "storeId": self.config.store_id})
        if response.get("success") is not True:
            raise Rejected(f"{self.config.name}: updateSkuStock did not succeed: {response!r}")
        return PushResult(qty)

    async def get_stock(self, listing: Listing) -> int:
        response = await self.call("jingdong.stock.read.findSkuStock",
                                   {"skuId": listing.sku_id, "storeId": self.config.store_id})
        for row in response.get("skuStocks", []):
            if str(row.get("skuId")) == listing.sku_id:
                return as_int(row.get("stockNum"), self.config.name)
        raise Rejected(f"{self.config.name}: JD does not know SKU {listing.sku_id}")
