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

from edge.alerts import AlertService

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SERVICE = web.AppKey("alerts", AlertService)
CLOSING = web.AppKey("closing", asyncio.Event)


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


async def _act(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    key, action = request.match_info["key"], request.match_info["action"]
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
    app.router.add_get("/", _index)
    app.router.add_get("/api/alerts", _list)
    app.router.add_post("/api/alerts/{key}/{action:ack|done}", _act)
    app.router.add_get("/api/events", _events)
    return app
