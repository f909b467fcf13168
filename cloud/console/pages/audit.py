"""The audit page: every change of the chain's settings — who, when, what, before → after —
newest first, filtered by who, action, target and day, and paged back. Head office and finance
read it (finance reads everything and changes nothing); a store token does not.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from aiohttp import web

from cloud.auth import Role
from cloud.console.web import ConsoleRoutes, principal, render
from cloud.db import audit
from cloud.keys import CONSOLE_OPTIONS, MAKER

PAGE = 100


def _day(text: str, tz: tzinfo) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.combine(day, time(), tzinfo=tz)


async def audit_page(request: web.Request) -> web.StreamResponse:
    if principal(request).role is Role.STORE:
        raise web.HTTPForbidden()
    q = request.query
    tz = request.app[CONSOLE_OPTIONS].tz
    who, action, target = q.get("who", "")[:64], q.get("action", "")[:64], q.get("target", "")[:128]
    since, until = _day(q.get("from", ""), tz), _day(q.get("to", ""), tz)
    try:
        before_id = int(q["before"]) if q.get("before") else None
    except ValueError:
        before_id = None
    async with request.app[MAKER]() as session:
        found = await audit.entries(session, who=who, action=action, target=target, since=since,
                                    until=until + timedelta(days=1) if until else None, before_id=before_id,
                                    limit=PAGE + 1)
        actions = await audit.actions(session)
    more = len(found) > PAGE
    entries = found[:PAGE]
    filters = {"who": who, "action": action, "target": target, "from": q.get("from", ""),
               "to": q.get("to", "")}
    page_back = {"before": entries[-1].id} if entries else {}
    older = urlencode({k: v for k, v in filters.items() if v} | page_back)
    return render(request, "audit.html", {
        "entries": entries, "actions": actions, "f": filters, "more": more,
        "older": f"/audit?{older}" if more else "",
    }, section="audit")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/audit", audit_page, "audit")


__all__ = ["add_routes"]
