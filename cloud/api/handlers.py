"""REST handlers: parse → call the ledger → respond. Bearer tokens; JSON everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.auth import Role, principal, require_read
from cloud.db import repo
from edge.contract import ContractError, check_id, is_gtin14

MAKER = web.AppKey("maker", async_sessionmaker[AsyncSession])
HEALTH = web.AppKey("health", dict)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _today() -> datetime:
    return datetime.now(UTC)


def _store(request: web.Request) -> str:
    try:
        return check_id(request.match_info["store"], "store")
    except ContractError as e:
        raise web.HTTPBadRequest(text=f'{{"error": "{e}"}}', content_type="application/json") from None


async def store_stock(request: web.Request) -> web.Response:
    """Stock of one store; unit cost and stock value only for roles that see cost."""
    store = _store(request)
    who = require_read(request, store)
    sku = request.query.get("sku")
    if sku is not None and not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    items = await repo.store_stock(request.app[MAKER], store, sku, _today().date(), with_cost=who.sees_cost)
    return web.json_response({"store": store, "items": items})


async def sku_stock(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    if not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    answer = await repo.sku_stock(request.app[MAKER], sku, _today().date())
    who = principal(request)
    if who.role is Role.STORE:  # a store sees its own shelf, not the chain's
        answer["stores"] = [s for s in answer["stores"] if s["store"] == who.store]
        answer["on_hand"] = sum(s["on_hand"] for s in answer["stores"])
        answer["available"] = sum(s["available"] for s in answer["stores"])
    return web.json_response(answer)


async def store_movements(request: web.Request) -> web.Response:
    store = _store(request)
    require_read(request, store)
    try:
        since = int(request.query.get("since", "0"))
        limit = min(int(request.query.get("limit", "1000")), 10_000)
    except ValueError:
        return _error(400, "since and limit must be integers (since is the last 'pos' you have)")
    rows = await repo.movements(request.app[MAKER], store, since, limit)
    return web.json_response({"store": store, "movements": rows,
                              "next": rows[-1]["pos"] if rows else since})


async def gateways(request: web.Request) -> web.Response:
    rows = await repo.gateways(request.app[MAKER])
    who = principal(request)
    return web.json_response({"gateways": [g for g in rows if who.may_read(g["store"])]})


async def dead_letters(request: web.Request) -> web.Response:
    if principal(request).role is Role.STORE:
        return _error(403, "dead letters are chain-wide: hq and finance only")
    return web.json_response({"dead_letters": await repo.dead_letters(request.app[MAKER])})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and, if this worker ingests, its MQTT session is up."""
    checks = {k: v() for k, v in request.app[HEALTH].items()}
    ingest = checks.get("ingest")
    try:
        await repo.ping(request.app[MAKER])
        db_ok = True
    except Exception as e:  # any driver error means "not ready"; the reason goes back
        db_ok, checks["db_error"] = False, str(e)[:200]
    ready = db_ok and (ingest is None or bool(ingest.get("connected")))
    return web.json_response({"ready": ready, "db": db_ok, **checks}, status=200 if ready else 503)


async def healthz(request: web.Request) -> web.Response:
    checks = {k: v() for k, v in request.app[HEALTH].items()}
    return web.json_response({"ok": True, **checks})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/stores/{store}/stock", store_stock)
    app.router.add_get("/v1/stock/{sku}", sku_stock)
    app.router.add_get("/v1/stores/{store}/movements", store_movements)
    app.router.add_get("/v1/gateways", gateways)
    app.router.add_get("/v1/dead-letters", dead_letters)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
