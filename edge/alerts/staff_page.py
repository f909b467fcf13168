"""The staff phone page: open tasks by aisle, acknowledge / done, live updates over SSE (issue 7 §3).

An aiohttp sub-application the gateway mounts on the store LAN (works with the internet down):

    app.add_subapp("/staff/", staff_app(alerts))

Routes: GET / (the page), GET /api/alerts (open alerts by aisle), POST /api/alerts/{key}/ack,
POST /api/alerts/{key}/done, GET /api/events (Server-Sent Events: one JSON alert per change).

Access: the page is for the shop floor's phones, which hold no token, so it is not behind the
POS bearer token. It answers only to client addresses in `[alerts].staff_networks` (default: the
private LAN ranges and loopback) and 403s anyone else, so a gateway reachable from the internet
does not expose it. That is a network boundary, not authentication: anyone on the store Wi-Fi can
acknowledge a task, which is the intent (the worst case is a task marked seen).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from shared.alerting.service import AlertService
from shared.openapi import Param, Reply, Routes, Schema, error, obj, package_version, text

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SERVICE = web.AppKey("alerts", AlertService)
CLOSING = web.AppKey("closing", asyncio.Event)
ALERT: Schema = obj({"key": {"type": "string"}, "kind": {"type": "string"}, "aisle": {"type": "string"},
                     "title_en": {"type": "string"}, "title_zh": {"type": "string"},
                     "urgent": {"type": "boolean"}, "status": {"type": "string"}},
                    ["key", "kind", "aisle", "status"], closed=False)


@web.middleware
async def store_lan_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    networks = request.app[SERVICE].config.staff_networks
    try:
        client = ipaddress.ip_address(request.remote or "")
    except ValueError:
        client = None
    if client is None or not any(client in n for n in networks):
        log.warning("staff page refused to %s (not in [alerts].staff_networks)", request.remote)
        return web.json_response({"error": "the staff page is for the store LAN only"}, status=403)
    return await handler(request)


def _open_by_aisle(svc: AlertService) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for a in svc.book.open_alerts():
        out.setdefault(a.aisle, []).append(a.to_json())
    return out


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "staff.html")


async def _list(request: web.Request) -> web.Response:
    return web.json_response({"aisles": _open_by_aisle(request.app[SERVICE])})


async def _ack(request: web.Request) -> web.Response:
    return _act(request, "ack")


async def _done(request: web.Request) -> web.Response:
    return _act(request, "done")


def _act(request: web.Request, action: str) -> web.Response:
    svc = request.app[SERVICE]
    key = request.match_info["key"]
    ok = svc.ack(key) if action == "ack" else svc.done(key)
    if not ok:
        raise web.HTTPConflict(
            text=json.dumps({"error": f"{key} is not open"}), content_type="application/json"
        )
    return web.json_response(svc.book.alerts[key].to_json())


async def _events(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICE]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    q: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    svc.listeners.append(q)
    closing = asyncio.ensure_future(request.app[CLOSING].wait())
    try:
        await resp.write(b": hello\n\n")
        while True:
            getter = asyncio.ensure_future(q.get())
            await asyncio.wait({getter, closing}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():  # the gateway is stopping: end the stream, the phone reconnects
                getter.cancel()
                break
            await resp.write(f"data: {json.dumps(getter.result(), ensure_ascii=False)}\n\n".encode())
    except ConnectionResetError:
        pass  # the phone went away
    finally:
        closing.cancel()
        svc.listeners.remove(q)
    return resp


async def _closing(app: web.Application) -> None:
    app[CLOSING].set()  # on_shutdown runs before the server waits for open streams to finish


def staff_app(alerts: AlertService) -> web.Application:
    app = web.Application(middlewares=[store_lan_only])
    app[SERVICE] = alerts
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_closing)
    # Documented in the gateway's /openapi.json (edge/http.py mounts it); no token: see above.
    api = Routes("shelfsync staff page", package_version(), "the staff phone page", serve_document=False,
                 path_params={"key": Param(text(256), "the alert's key, e.g. refill:A1-2")})
    refused = {403: error("not from the store LAN ([alerts].staff_networks)")}
    tag = ("staff page",)
    api.add("GET", "/", _index, public=True, tags=tag, summary="The staff page (HTML)",
            responses={200: Reply("the page", {"type": "string"}, media="text/html"), **refused})
    api.add("GET", "/api/alerts", _list, public=True, tags=tag, summary="Open alerts by aisle",
            responses={200: Reply("aisle → its open alerts", obj(
                {"aisles": {"type": "object", "additionalProperties": {"type": "array", "items": ALERT}}},
                ["aisles"], closed=False)), **refused})
    for action, handler, says in (("ack", _ack, "Acknowledge an alert (someone is on it)"),
                                  ("done", _done, "Mark an alert's task done")):
        api.add("POST", f"/api/alerts/{{key}}/{action}", handler, public=True, tags=tag, summary=says,
                responses={200: Reply("the alert", ALERT), 409: error("no such open alert"), **refused})
    api.add("GET", "/api/events", _events, public=True, tags=tag,
            summary="Server-Sent Events: one JSON alert per change, until the phone goes away",
            responses={200: Reply("the event stream", {"type": "string"}, media="text/event-stream"),
                       **refused})
    api.install(app)
    return app
