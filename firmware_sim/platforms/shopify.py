"""Simulated Shopify GraphQL Admin API: POST /admin/api/{version}/graphql.json.

Understands the two operations the adapter sends (inventorySetQuantities under @idempotent, and
inventoryItem → inventoryLevel → quantities); it does not parse GraphQL in general (a simulator
for our own two documents, so a few patterns suffice). Enforces the access token header (401),
changeFromQuantity as a compare-and-set (userErrors CHANGE_FROM_QUANTITY_STALE), the idempotency
key (a repeated key answers the first result without applying twice) and a rate limit answered
as THROTTLED with extensions.cost.throttleStatus.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from firmware_sim.platforms.core import Platform

COST = 10
_IDEMPOTENT = re.compile(r"@idempotent\(\s*key:\s*(?:\$(\w+)|\"([^\"]+)\")\s*\)")


def routes(p: Platform) -> list[web.RouteDef]:
    async def graphql(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        if request.headers.get("X-Shopify-Access-Token") != p.creds.session:
            p.counts["bad_signature"] += 1
            return web.json_response({"errors": "[API] Invalid API key or access token"}, status=401)
        throttle = {"maximumAvailable": 20.0 * p.rate, "currentlyAvailable": 0.0,
                    "restoreRate": 10.0 * p.rate}
        if gate == "ratelimit":
            throttled = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
            return web.json_response({"errors": throttled,
                                      "extensions": {"cost": {"requestedQueryCost": COST,
                                                              "throttleStatus": throttle}}})
        try:
            body = await request.json()
            query, variables = str(body["query"]), dict(body.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return web.json_response({"errors": [{"message": "body must be {query, variables}"}]}, status=400)
        if "inventorySetQuantities" in query:
            return web.json_response({"data": {"inventorySetQuantities": _set(p, query, variables)}})
        if "inventoryItem" in query:
            item, location = str(variables.get("item", "")), str(variables.get("location", ""))
            qty = p.qty(location, item)
            return web.json_response({"data": {"inventoryItem": {"inventoryLevel": {
                "quantities": [{"name": "available", "quantity": qty}]}}}})
        return web.json_response({"errors": [{"message": "this simulator knows two operations"}]})

    return [web.post("/admin/api/{version}/graphql.json", graphql)]


def _user_error(code: str, message: str, *field: str) -> dict[str, Any]:
    return {"inventoryAdjustmentGroup": None, "userErrors": [{"code": code, "field": list(field),
                                                              "message": message}]}


def _set(p: Platform, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    found = _IDEMPOTENT.search(query)
    key = (variables.get(found.group(1)) if found.group(1) else found.group(2)) if found else None
    if not key:
        return _user_error("IDEMPOTENCY_KEY_MISSING", "inventorySetQuantities requires @idempotent(key:)")
    if f"shopify:{key}" in p.replies:
        p.counts["replays"] += 1
        reply: dict[str, Any] = p.replies[f"shopify:{key}"]
        return reply
    data = variables.get("input") or {}
    rows = data.get("quantities") or []
    if data.get("name") != "available" or not data.get("reason") or not rows:
        return _user_error("INVALID_INPUT", "name 'available', a reason and quantities are required", "input")
    changes = []
    for i, row in enumerate(rows):
        if "changeFromQuantity" not in row:
            return _user_error("INVALID_INPUT", "changeFromQuantity is required (null to skip the check)",
                               "input", "quantities", str(i), "changeFromQuantity")
        item, location, qty = str(row.get("inventoryItemId")), str(row.get("locationId")), row.get("quantity")
        if not isinstance(qty, int):
            return _user_error("INVALID_INPUT", "quantity must be an integer", "input", "quantities", str(i))
        if p.take_fault("stale"):
            p.stock[(location, item)] = p.qty(location, item) - 1  # a buyer got there first
        expected = row["changeFromQuantity"]
        if expected is not None and expected != p.qty(location, item):
            p.counts["stale"] += 1
            return _user_error("CHANGE_FROM_QUANTITY_STALE", "The changeFromQuantity is stale",
                               "input", "quantities", str(i), "changeFromQuantity")
        changes.append({"name": "available", "delta": qty - p.qty(location, item),
                        "quantityAfterChange": qty})
        p.put(location, item, qty)
    reply = {"inventoryAdjustmentGroup": {"changes": changes}, "userErrors": []}
    p.replies[f"shopify:{key}"] = reply
    return reply
