"""The staff phone page: open tasks by aisle, acknowledge / done, live updates over SSE (issue 7 §3).

An aiohttp sub-application the gateway mounts on the store LAN (works with the internet down):

    app.add_subapp("/staff/", staff_app(alerts))

Routes: GET / (the page), GET /api/alerts (open alerts by aisle), POST /api/alerts/{key}/ack,
POST /api/alerts/{key}/done, GET /api/events (Server-Sent Events: one JSON alert per change).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web

from edge.alerts import AlertService

STATIC = Path(__file__).parent / "static"
SERVICE = web.AppKey("alerts", AlertService)


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
    try:
        await resp.write(b": hello\n\n")
        while True:
            alert = await q.get()
            await resp.write(f"data: {json.dumps(alert, ensure_ascii=False)}\n\n".encode())
    except ConnectionResetError:
        pass  # the phone went away
    finally:
        svc.listeners.remove(q)
    return resp


def staff_app(alerts: AlertService) -> web.Application:
    app = web.Application()
    app[SERVICE] = alerts
    app.router.add_get("/", _index)
    app.router.add_get("/api/alerts", _list)
    app.router.add_post("/api/alerts/{key}/{action:ack|done}", _act)
    app.router.add_get("/api/events", _events)
    return app
