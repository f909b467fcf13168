"""The cloud's HTTP API as one registry (shared/openapi.py): every module's operations, checked on the
way in and published at /openapi.json."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from cloud.api import admin, buying, commands, handlers, orders, purchase_orders, replenishment, reports
from shared import metrics
from shared.openapi import Reply, Routes, package_version

DESCRIPTION = """The chain's stock ledger, orders that never oversell, transfers and stocktakes.

Every call but /healthz, /readyz, /metrics and this document takes `Authorization: Bearer <token>`:
an **hq** token may do everything, a **store** token reads and writes its own store only, a
**finance** token reads everything (with unit cost) and writes nothing. Every error is JSON
`{"error", "field"?}`; `field` names the input at fault."""


def cloud_api(registry: CollectorRegistry) -> Routes:
    api = Routes("shelfsync cloud", package_version(), DESCRIPTION, path_params=handlers.PATH_PARAMS,
                 secured=handlers.SECURED)
    handlers.add_routes(api)
    commands.add_routes(api)
    orders.add_routes(api)
    admin.add_routes(api)
    buying.add_routes(api)
    replenishment.add_routes(api)
    purchase_orders.add_routes(api)
    reports.add_routes(api)
    scrape = metrics.handler(registry)

    async def prometheus_metrics(request: web.Request) -> web.StreamResponse:
        return await scrape(request)

    api.add("GET", "/metrics", prometheus_metrics, public=True, tags=("meta",),
            summary="Prometheus metrics (text exposition format)",
            responses={200: Reply("the metrics", {"type": "string"}, media="text/plain")})
    return api
