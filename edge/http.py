"""The gateway's HTTP face on the store LAN: the POS webhook, staff movements, health, staff page.

A 200 from POST /v1/pos/transactions means the deltas are committed (fsync'd) in the outbox. A
repeated txn with the same body answers 200 with "duplicate": true and writes nothing; the same
txn with another body is a 409. A bad body is a 400 naming the field, and writes nothing; so is
an `at` outside the gateway's clock skew ([http] max_ahead_s, max_age_days).

GET /healthz answers 200 with `"ok"` and the `"problems"` that make it false (edge/health.py);
GET /readyz answers 200 when ready and 503 with the reasons when not. Neither needs the token.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from edge.contract import ClockSkew, ContractError, StockDelta
from edge.metrics import handler as metrics_handler
from edge.outbox import Outbox, OutboxError, SourceKeyConflict, body_hash
from edge.sources.pos import TILL_SKEW, ParsedRequest, parse_movements, parse_transaction

log = logging.getLogger(__name__)

OUTBOX = web.AppKey("outbox", Outbox)
TOKEN = web.AppKey("token", str)
HEALTH = web.AppKey("health", dict)
SKEW = web.AppKey("skew", ClockSkew)
Problems = Callable[[], Sequence[str]]
PROBLEMS: web.AppKey[Problems] = web.AppKey("problems")  # why /healthz is not ok
UNREADY: web.AppKey[Problems] = web.AppKey("unready")  # why /readyz is not ready
ON_SALES: web.AppKey[Callable[[tuple[StockDelta, ...]], None] | None] = web.AppKey("on_sales")
ON_MOVEMENTS: web.AppKey[Callable[[tuple[StockDelta, ...]], None] | None] = web.AppKey("on_movements")
MAX_BODY = 1 << 20
STAFF_PREFIX = "/staff/"


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def bearer_auth(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path in ("/healthz", "/readyz", "/metrics") or request.path.startswith(STAFF_PREFIX):
        return await handler(request)  # the staff page keeps to the store LAN (edge/staff_page.py)
    expected = request.app[TOKEN]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return _error(401, "missing or wrong bearer token")
    return await handler(request)


async def _read_json(request: web.Request) -> object:
    try:
        raw = await request.read()
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ContractError("body", f"not valid JSON: {e}") from None


async def _store(request: web.Request, parse: Callable[[object], ParsedRequest],
                 stored: Callable[[tuple[StockDelta, ...]], None] | None = None) -> web.Response:
    try:
        body = await _read_json(request)
        parsed = parse(body)
    except ContractError as e:
        log.info("rejected %s: %s", request.path, e)
        return _error(400, str(e), field=e.field)
    try:
        result = await request.app[OUTBOX].append(parsed.deltas, source_key=parsed.key,
                                                  source_hash=body_hash(body))
    except SourceKeyConflict as e:
        return _error(409, str(e))
    except OutboxError as e:
        log.error("could not store %s: %s", parsed.key, e)
        return _error(503, "the gateway could not store this; retry later")
    if stored is not None and not result.duplicate:
        stored(parsed.deltas)
    return web.json_response({"accepted": len(result.seqs), "duplicate": result.duplicate,
                              "seqs": list(result.seqs)})


async def post_transaction(request: web.Request) -> web.Response:
    parse = partial(parse_transaction, skew=request.app[SKEW])
    response = await _store(request, parse, request.app[ON_SALES])
    return response


async def post_movements(request: web.Request) -> web.Response:
    parse = partial(parse_movements, skew=request.app[SKEW])
    return await _store(request, parse, request.app.get(ON_MOVEMENTS))


async def healthz(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    problems = list(request.app[PROBLEMS]())
    return web.json_response({"ok": not problems, "problems": problems,
                              **{k: v() for k, v in health.items()}})


async def readyz(request: web.Request) -> web.Response:
    problems = list(request.app[UNREADY]())
    return web.json_response({"ready": not problems, "problems": problems}, status=503 if problems else 200)


def create_app(outbox: Outbox, token: str,
               health: dict[str, Callable[[], object]] | None = None,
               metrics: CollectorRegistry | None = None,
               on_sales: Callable[[tuple[StockDelta, ...]], None] | None = None,
               staff: web.Application | None = None,
               on_movements: Callable[[tuple[StockDelta, ...]], None] | None = None,
               skew: ClockSkew = TILL_SKEW, problems: Problems = tuple,
               unready: Problems | None = None) -> web.Application:
    app = web.Application(middlewares=[bearer_auth], client_max_size=MAX_BODY)
    if metrics is not None:
        app.router.add_get("/metrics", metrics_handler(metrics))  # type: ignore[arg-type]
    app[OUTBOX] = outbox
    app[ON_SALES] = on_sales
    app[ON_MOVEMENTS] = on_movements  # committed back-office movements (counts among them)
    app[TOKEN] = token
    app[HEALTH] = health or {}
    app[SKEW] = skew
    app[PROBLEMS] = problems
    app[UNREADY] = unready or problems
    app.router.add_post("/v1/pos/transactions", post_transaction)
    app.router.add_post("/v1/stock/movements", post_movements)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if staff is not None:
        app.add_subapp(STAFF_PREFIX, staff)
    return app
