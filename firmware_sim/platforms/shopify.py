"""Simulated Shopify GraphQL Admin API: POST /admin/api/{version}/graphql.json, answered as
shopify.dev documents each version.

Understands the two operations the adapter sends (inventorySetQuantities under @idempotent, and
inventoryItem → inventoryLevel → quantities); it does not parse GraphQL in general (a simulator
for our own two documents, so a few patterns suffice). By version:

- before 2026-01 the schema has neither the `changeFromQuantity` input field nor the `@idempotent`
  directive; a mutation using them fails validation (top-level `errors`, nothing done);
- 2026-01 adds both, optional: without changeFromQuantity the old compareQuantity /
  ignoreCompareQuantity rule applies (shopify.dev/changelog/compare-and-swap-redesign-for-inventory-
  set-quantities, …/adding-idempotency-for-inventory-adjustments-and-refund-mutations);
- from 2026-04 both are required and compareQuantity is gone (…/finalizing-compare-and-swap-redesign-
  for-inventory-set-quantities, …/making-idempotency-mandatory-for-inventory-adjustments-and-refund-
  mutations).

Also: the access token header (401), changeFromQuantity as a compare-and-set (userErrors
CHANGE_FROM_QUANTITY_STALE), and idempotency keys as shopify.dev/docs/api/usage/implementing-
idempotency and the InventorySetQuantitiesUserErrorCode enum describe them: a repeated key with the
same input answers the first result without applying twice; one whose first request is still
running answers IDEMPOTENCY_CONCURRENT_REQUEST ("This request is currently in progress, please try
again"); one reused with other input, IDEMPOTENCY_KEY_PARAMETER_MISMATCH. A rate limit answers
THROTTLED with extensions.cost.throttleStatus. The wording of the 2026-04 runtime errors for a
missing key or changeFromQuantity is not published; the messages here are ours.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from firmware_sim.platforms.core import Platform

COST = 10
CONCURRENCY_FEATURES = "2026-01"  # changeFromQuantity and @idempotent exist from here
REQUIRED_FROM = "2026-04"  # and are required from here
_VERSION = re.compile(r"\d{4}-(01|04|07|10)|unstable")
_IDEMPOTENT = re.compile(r"@idempotent\(\s*key:\s*(?:\$(\w+)|\"([^\"]+)\")\s*\)")


def at_least(version: str, release: str) -> bool:
    return version == "unstable" or version >= release


def _errors(*messages: tuple[str, str]) -> web.Response:
    """A GraphQL request-level failure: HTTP 200, `errors`, no data."""
    return web.json_response({"errors": [{"message": m, "extensions": {"code": c}} for m, c in messages]})


def routes(p: Platform) -> list[web.RouteDef]:
    p.extra |= {"stale", "slow"}
    running: set[str] = set()  # idempotency keys whose first request is still being processed

    async def graphql(request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        if not _VERSION.fullmatch(version):
            return web.json_response({"errors": "Not Found"}, status=404)
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
            refused = _schema_errors(version, query, variables)
            if refused is not None:
                return refused
            found = _IDEMPOTENT.search(query)
            key = (variables.get(found.group(1)) if found.group(1) else found.group(2)) if found else None
            if not key and at_least(version, REQUIRED_FROM):
                return _errors(("inventorySetQuantities requires an idempotency key: add @idempotent(key:)",
                                "BAD_REQUEST"))
            payload = await _idempotent(p, running, str(key) if key else None, variables, version,
                                        slow=gate == "slow")
            return web.json_response({"data": {"inventorySetQuantities": payload}})
        if "inventoryItem" in query:
            item, location = str(variables.get("item", "")), str(variables.get("location", ""))
            qty = p.qty(location, item)
            return web.json_response({"data": {"inventoryItem": {"inventoryLevel": {
                "quantities": [{"name": "available", "quantity": qty}]}}}})
        return web.json_response({"errors": [{"message": "this simulator knows two operations"}]})

    return [web.post("/admin/api/{version}/graphql.json", graphql)]


def _schema_errors(version: str, query: str, variables: dict[str, Any]) -> web.Response | None:
    """What validation against this version's schema finds in the mutation (None: it is valid)."""
    found: list[tuple[str, str]] = []
    if "@idempotent" in query and not at_least(version, CONCURRENCY_FEATURES):
        found.append(("Directive 'idempotent' is not defined", "undefinedDirective"))
    data = variables.get("input")
    rows = data.get("quantities") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return _errors(*found, ("Variable $input of type InventorySetQuantitiesInput! was provided invalid "
                                "value for quantities", "INVALID_VARIABLE"))
    for i, row in enumerate(rows):
        problems = []
        if not isinstance(row.get("quantity"), int):
            problems.append(("quantity", "Expected value to be an Int"))
        has_change_from = "changeFromQuantity" in row
        if has_change_from and not at_least(version, CONCURRENCY_FEATURES):
            problems.append(("changeFromQuantity", "Field is not defined on InventoryQuantityInput"))
        if not has_change_from and at_least(version, REQUIRED_FROM):
            problems.append(("changeFromQuantity", "required from 2026-04: pass null to skip the check"))
        found += [(f"Variable $input of type InventorySetQuantitiesInput! was provided invalid value for "
                   f"quantities.{i}.{field} ({why})", "INVALID_VARIABLE") for field, why in problems]
    return _errors(*found) if found else None


async def _idempotent(p: Platform, running: set[str], key: str | None, variables: dict[str, Any],
                      version: str, *, slow: bool) -> dict[str, Any]:
    """Apply the mutation once per key: a repeat gets the first answer, a repeat while the first is
    still running is told to try again, a key reused with other input is refused."""
    data = variables.get("input") or {}
    fingerprint = json.dumps(data, sort_keys=True)
    if key is not None:
        if key in running:
            p.counts["concurrent"] += 1
            return _user_error("IDEMPOTENCY_CONCURRENT_REQUEST",
                               "This request is currently in progress, please try again.")
        if f"shopify:{key}" in p.replies:
            first_input, reply = p.replies[f"shopify:{key}"]
            if first_input != fingerprint:
                return _user_error("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "The same idempotency key cannot be "
                                   "used with different operation parameters.")
            p.counts["replays"] += 1
            answer: dict[str, Any] = reply
            return answer
        running.add(key)
    try:
        if slow:
            await p.slow_write()  # done, but after the caller has given up on the answer
        reply = _set(p, data, version)
    finally:
        if key is not None:
            running.discard(key)
    if key is not None:
        p.replies[f"shopify:{key}"] = (fingerprint, reply)
    return reply


def _user_error(code: str, message: str, *field: str) -> dict[str, Any]:
    return {"inventoryAdjustmentGroup": None, "userErrors": [{"code": code, "field": list(field),
                                                              "message": message}]}


def _set(p: Platform, data: dict[str, Any], version: str) -> dict[str, Any]:
    rows = data["quantities"]  # a list of objects with whole-number quantities (_schema_errors)
    if data.get("name") != "available":
        return _user_error("INVALID_NAME", "The quantity name must be 'available' here", "input", "name")
    if not data.get("reason"):
        return _user_error("INVALID_REASON", "The specified reason is invalid.", "input", "reason")
    changes = []
    for i, row in enumerate(rows):
        where = ("input", "quantities", str(i))
        item, location, qty = str(row.get("inventoryItemId")), str(row.get("locationId")), row["quantity"]
        if qty < 0:
            return _user_error("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.", *where)
        if p.take_fault("stale"):
            p.stock[(location, item)] = p.qty(location, item) - 1  # a buyer got there first
        if "changeFromQuantity" in row:
            expected, stale = row["changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE"
        elif row.get("ignoreCompareQuantity") or data.get("ignoreCompareQuantity"):
            expected, stale = None, "COMPARE_QUANTITY_STALE"
        elif "compareQuantity" in row:
            expected, stale = row["compareQuantity"], "COMPARE_QUANTITY_STALE"
        else:  # 2026-01 without changeFromQuantity: the old rule
            return _user_error("COMPARE_QUANTITY_REQUIRED", "The compareQuantity argument must be given to "
                               "each quantity or ignored using ignoreCompareQuantity.", *where)
        if expected is not None and expected != p.qty(location, item):
            p.counts["stale"] += 1
            field = "changeFromQuantity" if stale.startswith("CHANGE") else "compareQuantity"
            return _user_error(stale, f"The {field} value does not match persisted value.", *where, field)
        changes.append({"name": "available", "delta": qty - p.qty(location, item),
                        "quantityAfterChange": qty})
        p.put(location, item, qty)
    return {"inventoryAdjustmentGroup": {"changes": changes}, "userErrors": []}
