"""Shopify through the GraphQL Admin API: `inventorySetQuantities` with `changeFromQuantity` (a
compare-and-set: the platform refuses when it holds another figure) under an `@idempotent` key.

Both exist from Admin API 2026-01 and are required from 2026-04
(shopify.dev/changelog/concurrency-protection-features and the changelogs it links); an older
version's schema has neither and would fail every push's validation, so the channel's url must
name 2026-01 or later (config.py refuses it otherwise). The listing's sku_id is the InventoryItem
id, the channel's location_id the Location (numbers or gids). Authentication is the
`X-Shopify-Access-Token` header (a bad token is HTTP 401).

userErrors (InventorySetQuantitiesUserErrorCode, shopify.dev/docs/api/admin-graphql/latest/enums/
InventorySetQuantitiesUserErrorCode; shopify.dev/docs/api/usage/implementing-idempotency):
- CHANGE_FROM_QUANTITY_STALE: Shopify holds another figure → `Stale` with it (read back);
- IDEMPOTENCY_CONCURRENT_REQUEST: "This request is currently in progress, please try again" — an
  earlier try with this key is still running → `Transient`, retried with the same key (which then
  answers the first try's result);
- anything else (IDEMPOTENCY_KEY_PARAMETER_MISMATCH, invalid item/location/quantity...) → Rejected.
The API is rate limited by query cost on a leaky bucket; a throttled request answers
`errors[].extensions.code == "THROTTLED"` with `extensions.cost.throttleStatus`, from which the
wait is (requested cost - currently available) / restore rate.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels.base import Listing, PushResult, RateLimited, Rejected, Stale, Transient
from cloud.channels.http import HttpAdapter, as_int

SET_QUANTITIES = """mutation SetStock($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""

READ_QUANTITY = """query Stock($item: ID!, $location: ID!) {
  inventoryItem(id: $item) {
    inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }
  }
}"""

STALE = "CHANGE_FROM_QUANTITY_STALE"
IN_PROGRESS = "IDEMPOTENCY_CONCURRENT_REQUEST"


def gid(kind: str, value: str) -> str:
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


class ShopifyAdapter(HttpAdapter):
    platform = "shopify"

    async def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.request(
            "POST", self.config.url, body=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json", "X-Shopify-Access-Token": self.config.session.value})
        if status in (401, 403):
            raise Rejected(f"{self.config.name}: Shopify HTTP {status} (access token)", code=str(status))
        if not isinstance(body, dict):
            raise Transient(f"{self.config.name}: Shopify answered {body!r}")
        errors = body.get("errors")
        if errors:
            codes = [e.get("extensions", {}).get("code") for e in errors if isinstance(e, dict)]
            if "THROTTLED" in codes:
                cost = body.get("extensions", {}).get("cost", {})
                bucket = cost.get("throttleStatus", {})
                short = float(cost.get("requestedQueryCost", 10)) - float(bucket.get("currentlyAvailable", 0))
                wait = short / max(1.0, float(bucket.get("restoreRate", 50)))
                raise RateLimited(f"{self.config.name}: Shopify THROTTLED", max(0.05, wait), code="THROTTLED")
            raise Rejected(f"{self.config.name}: Shopify errors {errors!r}")
        if status >= 400:
            raise Rejected(f"{self.config.name}: Shopify HTTP {status}", code=str(status))
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        quantity = {"inventoryItemId": gid("InventoryItem", listing.sku_id),
                    "locationId": gid("Location", self.config.location_id),
                    "quantity": qty, "changeFromQuantity": previous}
        data = await self.graphql(SET_QUANTITIES, {"key": key, "input": {
            "name": "available", "reason": "correction", "referenceDocumentUri": f"shelfsync://push/{key}",
            "quantities": [quantity]}})
        result = data.get("inventorySetQuantities") or {}
        errors = result.get("userErrors") or []
        if any(e.get("code") == STALE for e in errors):
            current = await self.get_stock(listing)
            raise Stale(f"{self.config.name}: Shopify holds {current}, not {previous}", current, code=STALE)
        if any(e.get("code") == IN_PROGRESS for e in errors):
            raise Transient(f"{self.config.name}: Shopify is still running an earlier try of push {key}",
                            code=IN_PROGRESS)
        if errors:
            raise Rejected(f"{self.config.name}: Shopify userErrors {errors!r}",
                           code=str(errors[0].get("code", "")))
        return PushResult(qty)

    async def get_stock(self, listing: Listing) -> int:
        data = await self.graphql(READ_QUANTITY, {"item": gid("InventoryItem", listing.sku_id),
                                                  "location": gid("Location", self.config.location_id)})
        level = (data.get("inventoryItem") or {}).get("inventoryLevel")
        if not level:
            raise Rejected(f"{self.config.name}: Shopify has no level for {listing.sku_id} at the location")
        for q in level.get("quantities", []):
            if q.get("name") == "available":
                return as_int(q.get("quantity"), self.config.name)
        raise Transient(f"{self.config.name}: Shopify answered no available quantity")
