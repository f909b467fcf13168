"""Commands from the cloud to a store's gateway (contract §5: shelfsync/v1/store/{store}/cmd/{gw}/…),
and what came of them.

POST /v1/stores/{store}/stocktakes {"gateway": "gw-1", "seconds": 180, "zone": null}
    → 202: the gateway counts its RFID tags; the counts arrive in the ledger as `count` deltas, and
    its report on its `stocktakes` stream (cloud/ingest.py) makes the stocktake `done` or `failed`.
GET  /v1/stores/{store}/stocktakes[/{id}] → each stocktake's state and report.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cloud.api.handlers import path_store
from cloud.auth import require_read, require_write
from cloud.db import stocktakes
from cloud.keys import INGEST, MAKER
from shared import contract
from shared.contract import StocktakeRequest, Zone
from shared.mqtt import MqttError
from shared.openapi import (
    ID,
    TIME,
    Param,
    Reply,
    Routes,
    Schema,
    array,
    checked,
    error,
    error_response,
    integer,
    nullable,
    number,
    obj,
)

STOCKTAKE_REQUEST: Schema = obj({
    "gateway": {**ID, "default": "gw-1", "description": "the gateway whose readers count"},
    "seconds": number(1, 3600, default=180,
                      description="deadline; a count ends sooner when no new tag turns up"),
    "zone": nullable({"enum": [z.value for z in Zone], "description": "count one zone (null: every zone)"}),
})
COUNT: Schema = obj({"sku": {"type": "string"}, "zone": {"type": "string"}, "qty": integer(lo=0),
                     "expected": integer(lo=0)}, ["sku", "zone", "qty"], closed=False)
REPORT: Schema = obj({
    "unique_tags": integer(lo=0), "reads": integer(lo=0), "seconds": number(lo=0), "started_at": TIME,
    "ended_at": TIME, "sold_during": integer(lo=0, description="units read, then sold before the end"),
    "counts": array(COUNT, description="per SKU and zone; every SKU in scope, zero included"),
}, ["unique_tags", "reads", "seconds", "started_at", "ended_at", "counts"], closed=False)
STOCKTAKE: Schema = obj({
    "id": ID, "store": ID, "gateway": ID,
    "state": {"enum": list(stocktakes.STATES),
              "description": "requested: sent, no report yet; done: counted; failed: see error"},
    "seconds": number(), "zone": nullable({"type": "string"}), "requested_at": TIME,
    "requested_by": nullable({"type": "string"}), "reported_at": nullable(TIME),
    "error": nullable({"type": "string"}), "report": {"oneOf": [REPORT, {"type": "null"}]},
}, ["id", "store", "gateway", "state", "seconds", "zone", "requested_at", "reported_at", "error", "report"],
    closed=False)
STOCKTAKES: Schema = obj({"store": ID, "stocktakes": array(STOCKTAKE)}, ["store", "stocktakes"], closed=False)


class StocktakeRefused(Exception):
    """A stocktake that cannot be asked for: `status` and `message` for the answer, `field` at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def ask_stocktake(app: web.Application, store: str, gateway: str, seconds: float, zone: Zone | None,
                        by: str) -> dict[str, Any]:
    """Send a stocktake command to one of a store's gateways and record it as `requested`
    (the API's POST and the console's form both come here; the caller has checked the role)."""
    maker = app[MAKER]
    known = await stocktakes.gateways_of(maker, store)
    if gateway not in known:  # nobody would ever answer: say so now, not never
        heard = f"; it knows {', '.join(known)}" if known else ""
        raise StocktakeRefused(
            422, f"gateway: the cloud has not heard from gateway {gateway!r} of {store}{heard}", "gateway")
    command = StocktakeRequest(f"st-{secrets.token_hex(6)}", float(seconds), zone)

    ingest = app.get(INGEST)
    if ingest is None:
        raise StocktakeRefused(503, "this worker has no broker connection (started with --mqtt none)")
    try:
        await ingest.command(store, gateway, "stocktake", contract.encode(command))
    except MqttError as e:
        raise StocktakeRefused(503, f"broker unavailable: {e}") from None
    return await stocktakes.requested(maker, store, gateway, command, by, datetime.now(UTC))


async def start_stocktake(request: web.Request) -> web.Response:
    store = path_store(request)
    who = require_write(request, store)
    body = checked(request).body
    zone = Zone(body["zone"]) if body.get("zone") else None
    try:
        made = await ask_stocktake(request.app, store, body["gateway"], body["seconds"], zone, who.name)
    except StocktakeRefused as e:
        return error_response(e.status, e.message, e.field)
    return web.json_response(made, status=202)


async def list_stocktakes(request: web.Request) -> web.Response:
    store = path_store(request)
    require_read(request, store)
    return web.json_response({"store": store, "stocktakes": await stocktakes.find(request.app[MAKER], store)})


async def get_stocktake(request: web.Request) -> web.Response:
    store = path_store(request)
    require_read(request, store)
    sid = checked(request).path["id"]
    found = await stocktakes.get(request.app[MAKER], store, sid)
    if found is None:
        return error_response(404, f"no stocktake {sid!r} in {store}")
    return web.json_response(found)


def add_routes(api: Routes) -> None:
    api.add("POST", "/v1/stores/{store}/stocktakes", start_stocktake, tags=("stocktakes",),
            summary="Ask a gateway for an RFID stocktake", body=STOCKTAKE_REQUEST, body_required=False,
            responses={202: Reply("sent to the gateway; follow it at GET …/stocktakes/{id}", STOCKTAKE),
                       422: error("the cloud has not heard from that gateway"),
                       503: error("this worker has no broker session")})
    api.add("GET", "/v1/stores/{store}/stocktakes", list_stocktakes, tags=("stocktakes",),
            summary="The store's stocktakes, newest first (the last 100)",
            responses={200: Reply("each one's state and report", STOCKTAKES)})
    api.add("GET", "/v1/stores/{store}/stocktakes/{id}", get_stocktake, tags=("stocktakes",),
            summary="One stocktake: its state and, once the gateway reported, its counts",
            path_params={"id": Param(ID, "the stocktake id (st-…)")},
            responses={200: Reply("the stocktake", STOCKTAKE), 404: error("no such stocktake in this store")})
