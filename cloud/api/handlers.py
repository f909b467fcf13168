"""REST handlers for the ledger: parse → call the ledger → respond. Bearer tokens; JSON everywhere.

Each module of cloud/api adds its operations to the API's registry (`add_routes(api)`), with the
schemas its input is checked against and the document at /openapi.json is made from (shared/openapi.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cloud.auth import Role, principal, require_read
from cloud.db import engines, reads
from cloud.keys import HEALTH, MAKER
from shared.openapi import (
    DAY,
    GTIN14,
    ID,
    MAX_INT64,
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
    text,
)

# --- what the ledger answers with (response schemas: open, so a new field breaks no client) ---

LOT: Schema = obj({"lot": nullable(text(128)), "expiry": nullable(DAY), "qty": integer()},
                  ["lot", "expiry", "qty"], closed=False)
ITEM: Schema = obj({
    "sku": GTIN14, "on_hand": integer(), "reserved": integer(lo=0),
    "available": integer(lo=0, description="on hand − reserved − expired, never below 0"),
    "zones": obj({"floor": integer(), "backroom": integer()}, ["floor", "backroom"], closed=False),
    "lots": array(LOT, description="first expiry first"),
    "unit_cost": nullable(number(description="hq and finance only")),
    "value": nullable(number(description="hq and finance only")),
}, ["sku", "on_hand", "reserved", "available", "zones", "lots"], closed=False)
STORE_STOCK: Schema = obj({"store": ID, "items": array(ITEM)}, ["store", "items"], closed=False)
SKU_STOCK: Schema = obj({
    "sku": GTIN14, "on_hand": integer(), "available": integer(),
    "stores": array(obj({"store": ID, "on_hand": integer(), "reserved": integer(), "available": integer()},
                        ["store", "on_hand", "reserved", "available"], closed=False)),
}, ["sku", "on_hand", "available", "stores"], closed=False)
MOVEMENT: Schema = obj({
    "pos": integer(lo=1), "id": text(64), "gateway": text(32), "seq": integer(), "sku": GTIN14,
    "kind": text(16), "qty": integer(), "zone": text(16), "from_zone": nullable(text(16)),
    "lot": nullable(text(128)), "expiry": nullable(DAY), "occurred_at": TIME, "source": text(16),
    "confidence": number(0, 1), "bin": nullable(text(128)), "ref": nullable(text(128)), "received_at": TIME,
}, ["pos", "id", "sku", "kind", "qty", "zone", "occurred_at"], closed=False)
MOVEMENTS: Schema = obj({"store": ID, "movements": array(MOVEMENT),
                         "next": integer(lo=0, description="the cursor for the next call")},
                        ["store", "movements", "next"], closed=False)
GATEWAYS: Schema = obj({"gateways": array(obj({
    "store": ID, "gateway": ID, "state": nullable(text(16)), "status_at": nullable(TIME),
    "last_batch_at": nullable(TIME), "max_seq": integer(), "deltas": integer(),
    "set_aside": integer(lo=0, description="seqs received and not booked: dead-lettered on their own, "
                                           "absorbed, or of a batch rejected whole"),
    "seq_gaps": integer(lo=0),
}, ["store", "gateway", "state", "max_seq", "deltas", "set_aside", "seq_gaps"], closed=False))},
    ["gateways"], closed=False)
DEAD_LETTERS: Schema = obj({"dead_letters": array(obj({
    "id": integer(), "received_at": TIME, "topic": {"type": "string"}, "reason": {"type": "string"},
    "payload": {"type": "string"}}, ["id", "received_at", "topic", "reason", "payload"], closed=False))},
    ["dead_letters"], closed=False)
HEALTHY: Schema = obj({"ok": {"type": "boolean"}}, ["ok"], closed=False)
READY: Schema = obj({"ready": {"type": "boolean"}, "db": {"type": "boolean"}}, ["ready", "db"], closed=False)

# The path parameters every module shares, and what a token can be refused.
PATH_PARAMS = {
    "store": Param(ID, "store id"),
    "sku": Param(GTIN14, "GTIN-14"),
    "channel": Param(ID, "channel name"),
    "id": Param(text(64), "the document's id"),
    "name": Param(text(64), "token name"),
}
SECURED = {401: error("no bearer token, or a wrong one"),
           403: error("this token's role or store may not do this")}


def _today() -> datetime:
    return datetime.now(UTC)


def path_store(request: web.Request) -> str:
    """The {store} of the path, checked against its schema before the handler ran."""
    store: str = checked(request).path["store"]
    return store


async def store_stock(request: web.Request) -> web.Response:
    """Stock of one store; unit cost and stock value only for roles that see cost."""
    store = path_store(request)
    who = require_read(request, store)
    sku = checked(request).query.get("sku")
    items = await reads.store_stock(request.app[MAKER], store, sku, _today().date(), with_cost=who.sees_cost)
    return web.json_response({"store": store, "items": items})


async def sku_stock(request: web.Request) -> web.Response:
    sku = checked(request).path["sku"]
    answer = await reads.sku_stock(request.app[MAKER], sku, _today().date())
    who = principal(request)
    if who.role is Role.STORE:  # a store sees its own shelf, not the chain's
        answer["stores"] = [s for s in answer["stores"] if s["store"] == who.store]
        answer["on_hand"] = sum(s["on_hand"] for s in answer["stores"])
        answer["available"] = sum(s["available"] for s in answer["stores"])
    return web.json_response(answer)


async def store_movements(request: web.Request) -> web.Response:
    store = path_store(request)
    require_read(request, store)
    query = checked(request).query
    since = query["since"]
    rows = await reads.movements(request.app[MAKER], store, since, query["limit"])
    return web.json_response({"store": store, "movements": rows,
                              "next": rows[-1]["pos"] if rows else since})


async def gateways(request: web.Request) -> web.Response:
    rows = await reads.gateways(request.app[MAKER])
    who = principal(request)
    return web.json_response({"gateways": [g for g in rows if who.may_read(g["store"])]})


async def dead_letters(request: web.Request) -> web.Response:
    if principal(request).role is Role.STORE:
        return error_response(403, "dead letters are chain-wide: hq and finance only")
    return web.json_response({"dead_letters": await reads.dead_letters(request.app[MAKER])})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and, if this worker ingests, its MQTT session is up."""
    checks: dict[str, Any] = {k: v() for k, v in request.app[HEALTH].items()}
    ingest = checks.get("ingest")
    try:
        await engines.ping(request.app[MAKER])
        db_ok = True
    except Exception as e:  # any driver error means "not ready"; the reason goes back
        db_ok, checks["db_error"] = False, str(e)[:200]
    ready = db_ok and (ingest is None or bool(ingest.get("connected")))
    if not ready:  # an error answer like every other: {"error"} first, the checks beside it
        checks["error"] = "not ready: " + ("the database does not answer" if not db_ok
                                           else "no broker session for ingest")
    return web.json_response({"ready": ready, "db": db_ok, **checks}, status=200 if ready else 503)


async def healthz(request: web.Request) -> web.Response:
    checks = {k: v() for k, v in request.app[HEALTH].items()}
    return web.json_response({"ok": True, **checks})


def add_routes(api: Routes) -> None:
    api.add("GET", "/v1/stores/{store}/stock", store_stock, tags=("ledger",),
            summary="A store's stock per SKU: zones, lots (FEFO), reserved, available",
            query={"sku": Param(GTIN14, "only this SKU")},
            responses={200: Reply("the store's items", STORE_STOCK)})
    api.add("GET", "/v1/stock/{sku}", sku_stock, tags=("ledger",),
            summary="One SKU across the chain (a store token sees its own store only)",
            responses={200: Reply("the SKU per store", SKU_STOCK)})
    api.add("GET", "/v1/stores/{store}/movements", store_movements, tags=("ledger",),
            summary="The store's append-only movements after a cursor",
            query={"since": Param(integer(0, MAX_INT64, default=0),
                                  "the last `pos` you have (0: from the start)"),
                   "limit": Param(integer(1, 10_000, default=1000), "at most this many movements")},
            responses={200: Reply("movements in `pos` order, and the cursor for the next call", MOVEMENTS)})
    api.add("GET", "/v1/gateways", gateways, tags=("ledger",),
            summary="Every gateway the cloud has heard from: status, last batch, seq gaps",
            responses={200: Reply("the gateways this token may read", GATEWAYS)})
    api.add("GET", "/v1/dead-letters", dead_letters, tags=("ledger",),
            summary="Payloads the ingest rejected, with the reason (hq and finance)",
            responses={200: Reply("the newest 100", DEAD_LETTERS)})
    api.add("GET", "/healthz", healthz, public=True, tags=("meta",), summary="Liveness and counters",
            responses={200: Reply("alive, with the ingest's counters", HEALTHY)})
    api.add("GET", "/readyz", readyz, public=True, tags=("meta",),
            summary="Ready when the database answers and the ingest holds its broker session",
            responses={200: Reply("ready", READY),
                       503: error("not ready; `error` says why, beside the same checks as a 200")})
