"""Our WeChat mini-program's stock endpoint (ours, so its contract is ours):

    PUT  {url}/v1/stock/{sku_id}  {"qty": n, "previous": n|null, "key": "..."}
         200 {"qty": n} | 409 {"error": "stale", "current": n} | 401 {"error": ...} | 429 (Retry-After)
    GET  {url}/v1/stock/{sku_id}  200 {"qty": n}

Every request carries X-Shelfsync-App, X-Shelfsync-Timestamp (Unix seconds, within 5 minutes),
X-Shelfsync-Nonce and X-Shelfsync-Signature: hex HMAC-SHA256 keyed by the channel secret over
timestamp, nonce, method, path and body (signing.body_hmac). A key seen before is answered from
the first result (idempotent); `previous` makes the write a compare-and-set.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from cloud.channels import signing
from cloud.channels.base import Listing, PushResult, Rejected, Stale, Transient
from cloud.channels.http import HttpAdapter, as_int

WINDOW_S = 300


class WechatAdapter(HttpAdapter):
    platform = "wechat"

    async def _send(self, method: str, sku_id: str, payload: dict[str, Any] | None) -> tuple[int, Any]:
        path = urlsplit(self.config.url).path.rstrip("/") + "/v1/stock/" + quote(sku_id, safe="")
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        ts, nonce = str(int(self.clock().timestamp())), uuid.uuid4().hex
        headers = {"Content-Type": "application/json", "X-Shelfsync-App": self.config.app_key,
                   "X-Shelfsync-Timestamp": ts, "X-Shelfsync-Nonce": nonce,
                   "X-Shelfsync-Signature": signing.body_hmac(self.config.secret.value, ts, nonce, method,
                                                              path, body)}
        url = self.config.url.rstrip("/") + "/v1/stock/" + quote(sku_id, safe="")
        status, answer = await self.request(method, url, body=body or None, headers=headers)
        if status == 401 and isinstance(answer, dict) and answer.get("error") == "timestamp expired":
            raise Transient(f"{self.config.name}: mini-program refused our timestamp (clock?)", code="401")
        if status == 409 and isinstance(answer, dict) and "current" in answer:
            raise Stale(f"{self.config.name}: mini-program holds {answer['current']}",
                        as_int(answer["current"], self.config.name), code="409")
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise Rejected(f"{self.config.name}: mini-program HTTP {status}: {error}", code=str(status))
        return status, answer

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        _, answer = await self._send("PUT", listing.sku_id or listing.sku,
                                     {"qty": qty, "previous": previous, "key": key})
        return PushResult(as_int(answer.get("qty") if isinstance(answer, dict) else None, self.config.name))

    async def get_stock(self, listing: Listing) -> int:
        _, answer = await self._send("GET", listing.sku_id or listing.sku, None)
        return as_int(answer.get("qty") if isinstance(answer, dict) else None, self.config.name)
