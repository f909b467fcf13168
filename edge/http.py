"""The gateway's HTTP face on the store LAN: the POS webhook, staff movements and handheld picks,
health, staff page.

A 200 from POST /v1/pos/transactions means the deltas are committed (fsync'd) in the outbox. A
repeated txn with the same body answers 200 with "duplicate": true and writes nothing; the same
txn with another body is a 409. A bad body is a 400 naming the field, and writes nothing; so is
an `at` outside the gateway's clock skew ([http] max_ahead_s, max_age_days) — by the shop's
clock (edge/clock.py).

POST /v1/picks is a staff handheld's scan of units picked for an online order: no stock moves
(the units wait on the pickup shelf), so nothing goes to the cloud; its scan id is recorded in
the outbox (idempotent the same way: a resend is a duplicate, the same scan with another body a
409) and the pick goes to the reconciler, where it claims the weight pick it caused.
POST /v1/refills is the handheld's scan of units staff carried from the backroom onto a shelf,
recorded the same way: the reconciler books the move where no scale or camera sees the shelf
(where one does, the shelf's rise books it).

GET /healthz answers 200 with `"ok"` and the `"problems"` that make it false (edge/health.py);
GET /readyz answers 200 when ready and 503 with the reasons when not. Neither needs the token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

from aiohttp import web
from prometheus_client import CollectorRegistry

from edge.clock import WALL_CLOCK, Clock
from edge.delivery.outbox import Outbox, OutboxError, SourceKeyConflict, body_hash
from edge.pos import (
    MOVEMENTS_SCHEMA,
    PICK_SCHEMA,
    REFILL_SCHEMA,
    TILL_SKEW,
    TRANSACTION_SCHEMA,
    HandheldScan,
    ParsedRequest,
    StaffPick,
    StaffRefill,
    parse_movements,
    parse_pick,
    parse_refill,
    parse_transaction,
)
from shared.contract import ClockSkew, ContractError, StockDelta, load_json
from shared.metrics import handler as metrics_handler
from shared.openapi import Handler, Reply, Routes, error, integer, json_errors, obj, package_version

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
ON_PICKS: web.AppKey[Callable[[StaffPick], None] | None] = web.AppKey("on_picks")
ON_REFILLS: web.AppKey[Callable[[StaffRefill], None] | None] = web.AppKey("on_refills")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
MAX_BODY = 1 << 20
STAFF_PREFIX = "/staff/"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def bearer_auth(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path in OPEN_PATHS or request.path.startswith(STAFF_PREFIX):
        return await handler(request)  # the staff page keeps to the store LAN (edge/alerts/staff_page.py)
    expected = request.app[TOKEN]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return _error(401, "missing or wrong bearer token")
    return await handler(request)


def decode_body(raw: bytes) -> object:
    """A request body as JSON; ContractError naming "body" when it is not."""
    return load_json(raw, "body")


async def _read_json(request: web.Request) -> object:
    return decode_body(await request.read())


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
    parse = partial(parse_transaction, skew=request.app[SKEW], now=request.app[CLOCK].now())
    response = await _store(request, parse, request.app[ON_SALES])
    return response


async def post_movements(request: web.Request) -> web.Response:
    parse = partial(parse_movements, skew=request.app[SKEW], now=request.app[CLOCK].now())
    return await _store(request, parse, request.app.get(ON_MOVEMENTS))


async def _record_scan(request: web.Request, parse: Callable[..., HandheldScan],
                       hook: Callable[[Any], None] | None) -> web.Response:
    """A handheld's scan: parsed, its scan id recorded in the outbox (no delta), handed to `hook`
    once."""
    try:
        body = await _read_json(request)
        scan = parse(body, skew=request.app[SKEW], now=request.app[CLOCK].now())
    except ContractError as e:
        log.info("rejected %s: %s", request.path, e)
        return _error(400, str(e), field=e.field)
    try:
        result = await request.app[OUTBOX].append((), source_key=scan.key, source_hash=body_hash(body))
    except SourceKeyConflict as e:
        return _error(409, str(e))
    except OutboxError as e:
        log.error("could not record %s: %s", scan.key, e)
        return _error(503, "the gateway could not record this; retry later")
    if hook is not None and not result.duplicate:
        hook(scan)
    return web.json_response({"scan": scan.scan, "sku": scan.sku, "duplicate": result.duplicate,
                                    **({"order": scan.order} if isinstance(scan, StaffPick) else {})})


async def post_pick(request: web.Request) -> web.Response:
    return await _record_scan(request, parse_pick, request.app[ON_PICKS])


async def post_refill(request: web.Request) -> web.Response:
    return await _record_scan(request, parse_refill, request.app[ON_REFILLS])


async def healthz(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    problems = list(request.app[PROBLEMS]())
    return web.json_response({"ok": not problems, "problems": problems,
                              **{k: v() for k, v in health.items()}})


async def readyz(request: web.Request) -> web.Response:
    problems = list(request.app[UNREADY]())
    if problems:  # an error answer like every other: {"error"} first
        return web.json_response({"error": "not ready: " + "; ".join(problems), "ready": False,
                                  "problems": problems}, status=503)
    return web.json_response({"ready": True, "problems": problems})


def create_app(outbox: Outbox, token: str,
               health: dict[str, Callable[[], object]] | None = None,
               metrics: CollectorRegistry | None = None,
               on_sales: Callable[[tuple[StockDelta, ...]], None] | None = None,
               staff: web.Application | None = None,
               on_movements: Callable[[tuple[StockDelta, ...]], None] | None = None,
               skew: ClockSkew = TILL_SKEW, problems: Problems = tuple,
               unready: Problems | None = None, clock: Clock = WALL_CLOCK,
               on_picks: Callable[[StaffPick], None] | None = None,
               on_refills: Callable[[StaffRefill], None] | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=MAX_BODY)
    app[OUTBOX] = outbox
    app[ON_SALES] = on_sales
    app[ON_MOVEMENTS] = on_movements  # committed back-office movements (counts among them)
    app[ON_PICKS] = on_picks  # handheld scans of online-order picks, once each
    app[ON_REFILLS] = on_refills  # handheld scans of shelf refills, once each
    app[CLOCK] = clock
    app[TOKEN] = token
    app[HEALTH] = health or {}
    app[SKEW] = skew
    app[PROBLEMS] = problems
    app[UNREADY] = unready or problems
    api = gateway_api(metrics)
    api.install(app)  # the routes behind the schemas /openapi.json publishes (shared/openapi.py)
    if staff is not None:
        api.mount(app, STAFF_PREFIX, staff)
    return app


STORED = obj({"accepted": integer(lo=0), "duplicate": {"type": "boolean"},
              "seqs": {"type": "array", "items": integer(lo=1)}},
             ["accepted", "duplicate", "seqs"], closed=False)


def gateway_api(metrics: CollectorRegistry | None = None) -> Routes:
    """The gateway's HTTP API: each route with the schema its body is checked against."""
    api = Routes("shelfsync gateway", package_version(), "A store gateway's API on the store LAN: the "
                 "POS webhook, staff movements, handheld picks and refills (bearer token), health, the "
                 "staff page. "
                 'Every error is JSON {"error", "field"?}.')
    stored = {200: Reply("committed to the outbox (fsync'd); `duplicate` when this key was seen with "
                         "this body", STORED),
              409: error("this txn / ref was used with another body"),
              503: error("the gateway could not store it; retry")}
    api.add("POST", "/v1/pos/transactions", post_transaction, body=TRANSACTION_SCHEMA, tags=("till",),
            summary="A till's sale or return (idempotent on txn)", responses=stored)
    api.add("POST", "/v1/stock/movements", post_movements, body=MOVEMENTS_SCHEMA, tags=("staff",),
            summary="Staff movements: receipts, counts, moves, adjustments, shrink (idempotent on ref)",
            responses=stored)
    api.add("POST", "/v1/picks", post_pick, body=PICK_SCHEMA, tags=("staff",),
            summary="A staff handheld's scan of units picked for an online order (idempotent on scan)",
            responses={200: Reply("recorded; `duplicate` when this scan was seen with this body",
                                  obj({"scan": {"type": "string"}, "order": {"type": "string"},
                                       "sku": {"type": "string", "description": "the GTIN-14 scanned"},
                                       "duplicate": {"type": "boolean"}},
                                      ["scan", "order", "sku", "duplicate"], closed=False)),
                       409: error("this scan was recorded with another body"),
                       503: error("the gateway could not record it; retry")})
    api.add("POST", "/v1/refills", post_refill, body=REFILL_SCHEMA, tags=("staff",),
            summary="A staff handheld's scan of units carried from the backroom onto a shelf "
                    "(idempotent on scan)",
            responses={200: Reply("recorded; `duplicate` when this scan was seen with this body",
                                  obj({"scan": {"type": "string"},
                                       "sku": {"type": "string", "description": "the GTIN-14 scanned"},
                                       "duplicate": {"type": "boolean"}},
                                      ["scan", "sku", "duplicate"], closed=False)),
                       409: error("this scan was recorded with another body"),
                       503: error("the gateway could not record it; retry")})
    api.add("GET", "/healthz", healthz, public=True, tags=("meta",), summary="Health and counters",
            responses={200: Reply("`ok` false with the `problems` that make it so",
                                  obj({"ok": {"type": "boolean"}, "problems": {"type": "array"}},
                                      ["ok", "problems"], closed=False))})
    api.add("GET", "/readyz", readyz, public=True, tags=("meta",), summary="Ready to take sales",
            responses={200: Reply("ready", obj({"ready": {"const": True}}, ["ready"], closed=False)),
                       503: error("not ready; `problems` lists why")})
    if metrics is not None:
        api.add("GET", "/metrics", cast(Handler, metrics_handler(metrics)), public=True, tags=("meta",),
                summary="Prometheus metrics (text exposition format)",
                responses={200: Reply("the metrics", {"type": "string"}, media="text/plain")})
    return api
