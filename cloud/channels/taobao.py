"""Taobao / Tmall through the TOP router (gw.api.taobao.com/router/rest).

- `taobao.item.quantity.update` (num_iid, sku_id, quantity, type 1 = full, 2 = incremental; in
  incremental mode stock may not go below 0) sets one listing;
- `taobao.skus.quantity.update` (num_iid, skuid_quantities "id:q;id:q", up to 20) sets several
  SKUs of one item in one call;
- `taobao.item.sku.get` reads one SKU back.

The driver pushes full figures (type 1): TOP's incremental mode has no idempotency key (only
Tmall's tmall.item.quantity.update has outer_biz_key), so a retried increment after a timeout
could be applied twice; a full figure retried is harmless. `adjust()` exposes incremental mode.

Common parameters (TOP doc 101617): method, app_key, session, timestamp (GMT+8, within 10
minutes of the router's clock), v=2.0, format, sign_method, sign. Errors come back as
`{"error_response": {"code", "msg", "sub_code", "sub_msg"}}`: code 7 is "App Call Limited"
(the sub_msg says how long the ban lasts), 25 an invalid signature, 31 an invalid timestamp.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from typing import Any

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Transient
from cloud.channels.http import HttpAdapter, as_int

GMT8 = timezone(timedelta(hours=8))
RATE_LIMITED, BAD_SIGNATURE, BAD_TIMESTAMP = "7", "25", "31"
# Platform-side failures ("isp." sub-codes; 15 remote service error): worth retrying.
_TRANSIENT = {"15", BAD_TIMESTAMP}  # a timestamp is re-taken and re-signed on the next try
_BAN = re.compile(r"(\d+)\s*more seconds")
MAX_SKUS_PER_CALL = 20


def timestamp(moment: Any) -> str:
    return str(moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S"))


class TaobaoAdapter(HttpAdapter):
    platform = "taobao"
    sign_method = "md5"

    def signed(self, method: str, biz: dict[str, str]) -> dict[str, str]:
        params = {"method": method, "app_key": self.config.app_key, "session": self.config.session.value,
                  "timestamp": timestamp(self.clock()), "v": "2.0", "format": "json",
                  "sign_method": self.sign_method, **biz}
        params["sign"] = signing.top_sign(params, self.config.secret.value)
        return params

    async def call(self, method: str, biz: dict[str, str]) -> dict[str, Any]:
        _, body = await self.request("POST", self.config.url, data=self.signed(method, biz))
        if not isinstance(body, dict):
            raise Transient(f"{self.config.name}: {method} answered {body!r}")
        error = body.get("error_response")
        if isinstance(error, dict):
            raise _error(self.config.name, method, error)
        response = body.get(method.removeprefix("taobao.").replace(".", "_") + "_response")
        if not isinstance(response, dict):
            raise Transient(f"{self.config.name}: {method} answered without its response")
        return response

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        return await self._update(listing, qty, full=True)

    async def adjust(self, listing: Listing, delta: int) -> PushResult:
        """Incremental mode (type 2): add `delta` (negative: subtract, not below 0)."""
        return await self._update(listing, delta, full=False)

    async def _update(self, listing: Listing, quantity: int, *, full: bool) -> PushResult:
        biz = {"num_iid": listing.item_id, "quantity": str(quantity), "type": "1" if full else "2"}
        if listing.sku_id:
            biz["sku_id"] = listing.sku_id
        response = await self.call("taobao.item.quantity.update", biz)
        item = response.get("item", {})
        if listing.sku_id:
            for sku in item.get("skus", {}).get("sku", []):
                if str(sku.get("sku_id")) == listing.sku_id:
                    return PushResult(as_int(sku.get("quantity"), self.config.name))
            return PushResult(None)
        return PushResult(as_int(item.get("num"), self.config.name))

    async def set_many(self, item_id: str, figures: dict[str, int], *, full: bool = True) -> dict[str, int]:
        """taobao.skus.quantity.update: several SKUs of one item, at most 20 per call."""
        if not 0 < len(figures) <= MAX_SKUS_PER_CALL:
            raise ValueError(f"taobao.skus.quantity.update takes 1 to {MAX_SKUS_PER_CALL} SKUs")
        pairs = ";".join(f"{sku_id}:{qty}" for sku_id, qty in figures.items())
        response = await self.call("taobao.skus.quantity.update",
                                   {"num_iid": item_id, "skuid_quantities": pairs,
                                    "type": "1" if full else "2"})
        skus = response.get("item", {}).get("skus", {}).get("sku", [])
        return {str(s["sku_id"]): as_int(s.get("quantity"), self.config.name) for s in skus}

    async def get_stock(self, listing: Listing) -> int:
        if listing.sku_id:
            response = await self.call("taobao.item.sku.get", {
                "num_iid": listing.item_id, "sku_id": listing.sku_id, "fields": "sku_id,quantity"})
            return as_int(response.get("sku", {}).get("quantity"), self.config.name)
        response = await self.call("taobao.item.seller.get",
                                   {"num_iid": listing.item_id, "fields": "num_iid,num"})
        return as_int(response.get("item", {}).get("num"), self.config.name)


def _error(channel: str, method: str, error: dict[str, Any]) -> Exception:
    code, msg = str(error.get("code", "")), str(error.get("msg", ""))
    sub_code, sub_msg = str(error.get("sub_code", "")), str(error.get("sub_msg", ""))
    text = f"{channel}: {method}: TOP error {code} {msg} {sub_code} {sub_msg}".rstrip()
    if code == RATE_LIMITED:
        ban = _BAN.search(sub_msg)
        return RateLimited(text, float(ban.group(1)) if ban else 1.0, code=code)
    if code in _TRANSIENT or sub_code.startswith("isp."):
        return Transient(text, code=code)
    return Rejected(text, code=code)
