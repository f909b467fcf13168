"""REST handlers: parse → call the ledger → respond. Bearer tokens; JSON everywhere."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import repo
from edge.contract import ContractError, check_id, is_gtin14

MAKER = web.AppKey("maker", async_sessionmaker[AsyncSession])
ADMIN_TOKEN = web.AppKey("admin_token", str)
HEALTH = web.AppKey("health", dict)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def bearer_auth(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path in ("/healthz", "/readyz", "/metrics"):
        return await handler(request)
    expected = request.app[ADMIN_TOKEN]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    valid = bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
    if scheme.lower() != "bearer" or not valid:
        return _error(401, "missing or wrong bearer token")
    return await handler(request)


def _today() -> datetime:
    return datetime.now(UTC)


def _store(request: web.Request) -> str:
    try:
        return check_id(request.match_info["store"], "store")
    except ContractError as e:
        raise web.HTTPBadRequest(text=f'{{"error": "{e}"}}', content_type="application/json") from None


async def store_stock(request: web.Request) -> web.Response:
    store = _store(request)
    sku = request.query.get("sku")
    if sku is not None and not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    items = await repo.store_stock(request.app[MAKER], store, sku, _today().date())
    return web.json_response({"store": store, "items": items})


async def sku_stock(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    if not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    return web.json_response(await repo.sku_stock(request.app[MAKER], sku, _today().date()))


async def store_movements(request: web.Request) -> web.Response:
    store = _store(request)
    try:
        since = int(request.query.get("since", "0"))
        limit = min(int(request.query.get("limit", "1000")), 10_000)
    except ValueError:
        return _error(400, "since and limit must be integers (since is the last 'pos' you have)")
    rows = await repo.movements(request.app[MAKER], store, since, limit)
    return web.json_response({"store": store, "movements": rows,
                              "next": rows[-1]["pos"] if rows else since})


async def gateways(request: web.Request) -> web.Response:
    return web.json_response({"gateways": await repo.gateways(request.app[MAKER])})


async def dead_letters(request: web.Request) -> web.Response:
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
