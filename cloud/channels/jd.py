"""JD (京东) through the JOS router: `jingdong.stock.write.updateSkuStock` sets a SKU's stock in a
store to an absolute figure (skuId, stockNum, storeId); `jingdong.stock.read.findSkuStock` (skuId
and field, nothing else) reads it back as `skuStocks`, one row {skuId, storeId, stockNum} per
store. Parameters and types as JD's official SDKs define them: com.jd.open.api.sdk.request.ware.
StockWriteUpdateSkuStockRequest / StockReadFindSkuStockRequest (Long skuId, stockNum, storeId;
String field) and the response domain class ...StockReadService.response.findSkuStock.SkuStock.

JOS signs like TOP (the wrapped uppercase MD5 of signing.py, as JD's SDK DefaultJdClient.sign does)
over method, app_key, access_token, timestamp (GMT+8, `yyyy-MM-dd HH:mm:ss`, within 6 minutes of
the router's clock), v=2.0 and `360buy_param_json` (the business parameters as JSON). Success
answers under `<method with _>_responce` (JOS's own spelling); errors under
`error_response {code, zh_desc, en_desc}`. JOS system errors (jos.jd.com error-code table, as
republished at blog.csdn.net/DianSan_ERP/article/details/142364242, and answers captured in public
SDK code for 19 and 21):
  2  App Call Limited: the app's call rate or quota → RateLimited
  8  Invalid Timestamp: the next try is signed afresh → Transient
  12 Invalid Signature, 19 Invalid access_token, 21 Invalid app_key → Rejected (no retry can help)
  67 an unknown error behind the router → Transient (no published row found for it; the code is
     the one JOS users report for it)
Any other code (invalid method or arguments, business errors) is Rejected.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Transient
from cloud.channels.http import HttpAdapter, as_int
from cloud.channels.taobao import timestamp

RATE_LIMITED, BAD_TIMESTAMP, BAD_SIGNATURE, BAD_TOKEN, BAD_APP_KEY, BACKEND = "2", "8", "12", "19", "21", "67"
_TRANSIENT = {BAD_TIMESTAMP, BACKEND}


def error(channel: str, method: str, answer: dict[str, Any]) -> Exception:
    """The seam's kind for a JOS `error_response`."""
    code = str(answer.get("code", ""))
    text = f"{channel}: {method}: JOS error {code} {answer.get('en_desc', '')}".rstrip()
    if code == RATE_LIMITED:
        return RateLimited(text, 1.0, code=code)
    if code in _TRANSIENT:
        return Transient(text, code=code)
    return Rejected(text, code=code)


def number(value: str) -> int | str:
    """JOS's Long parameters as numbers (a value that is not one is sent as is, for JOS to refuse)."""
    return int(value) if value.isdigit() else value


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
        failure = body.get("error_response")
        if isinstance(failure, dict):
            raise error(self.config.name, method, failure)
        response = body.get(method.replace(".", "_") + "_responce")
        if not isinstance(response, dict) or str(response.get("code", "0")) != "0":
            raise Transient(f"{self.config.name}: {method} answered {body!r}")
        return response

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        biz: dict[str, Any] = {"skuId": number(listing.sku_id), "stockNum": qty}
        if self.config.store_id:
            biz["storeId"] = number(self.config.store_id)
        response = await self.call("jingdong.stock.write.updateSkuStock", biz)
        if response.get("success") is not True:
            raise Rejected(f"{self.config.name}: updateSkuStock did not succeed: {response!r}")
        return PushResult(qty)

    async def get_stock(self, listing: Listing) -> int:
        """This channel's store's row of the SKU (the row without a store when none is configured);
        a SKU JD lists with no row for our store holds none there."""
        response = await self.call("jingdong.stock.read.findSkuStock", {"skuId": number(listing.sku_id)})
        rows = [r for r in response.get("skuStocks") or [] if isinstance(r, dict)
                and str(r.get("skuId")) == listing.sku_id]
        if not rows:
            raise Rejected(f"{self.config.name}: JD does not know SKU {listing.sku_id}")
        store = self.config.store_id
        ours = [r for r in rows if str(r.get("storeId") or "") == store]
        return as_int(ours[0].get("stockNum"), self.config.name) if ours else 0
