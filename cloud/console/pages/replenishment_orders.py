"""Purchase orders (head office acts, finance reads with their values; a store token is refused):
the list, PAGE_SIZE a page, by state (draft → sent → partial → received, or cancelled), and one order's page —
*Send*, *Cancel* (a draft, or a sent order nothing of which arrived: cloud/db/purchasing.py says
so, as to the API) and *Receive*, in full or in part, against a delivery note.

Every action is the API's (cloud/api/purchase_orders.py) through the same functions
(cloud/db/purchasing.PurchaseOrders): a delivery books `receipt` movements into the location's
stock once per delivery note, never more than is still due, and the stock events reach every
console. A delivery form is checked by the API's own schema for a delivery (DELIVERY), so the
console accepts exactly what the API would. Each action is recorded in the audit log in its own
transaction (who, when, `purchase_order.<action>`, before → after: cloud/db/purchasing.audited), as
the API records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cloud.api.purchase_orders import DELIVERY
from cloud.console import queries
from cloud.console.pages.replenishment_frame import actor, bad_query, hq, order_id, page, query_id, reader
from cloud.console.queries_orders import page_of
from cloud.console.web import ConsoleRoutes, is_htmx, words
from cloud.db import replenishment_views as views
from cloud.db.models import NO_LOT
from cloud.db.orders import OrderError
from cloud.db.purchasing import STATUSES, DeliveredLine, PurchaseOrders, audited
from cloud.keys import MAKER, ORDERS
from shared.contract import ContractError
from shared.openapi import Checker

DELIVERY_FORM = Checker(DELIVERY)
PAGE_SIZE = 50


def _orders(request: web.Request) -> PurchaseOrders:
    return PurchaseOrders(request.app[ORDERS])


async def orders_page(request: web.Request) -> web.StreamResponse:
    """GET /replenishment/orders[?status=&supplier=&location=&page=]: newest first, PAGE_SIZE a page."""
    reader(request)
    q = request.query
    try:
        if q.get("status") and q["status"] not in STATUSES:
            raise ContractError("status", f"must be one of {', '.join(STATUSES)}, got {q['status'][:40]!r}")
        supplier, location = query_id(request, "supplier"), query_id(request, "location")
    except ContractError as e:
        return bad_query(request, e)
    status = q.get("status") or None
    try:
        number = int(q.get("page", "1"))
    except ValueError:
        number = 1
    async with request.app[MAKER]() as session:
        _, total = await views.order_rows(session, status=status, supplier=supplier, location=location,
                                          limit=0)
        at = page_of(number, total, PAGE_SIZE)
        rows, _ = await views.order_rows(session, status=status, supplier=supplier, location=location,
                                         offset=at.offset, limit=at.size)
    narrowed = {k: v for k, v in (("supplier", supplier), ("location", location)) if v}

    def link(state: str | None) -> str:
        query = urlencode({**narrowed, **({"status": state} if state else {})})
        return "/replenishment/orders" + (f"?{query}" if query else "")

    def page_link(n: int) -> str:
        return "/replenishment/orders?" + urlencode({**narrowed, **({"status": status} if status else {}),
                                                     "page": str(n)})

    template = ("_replenishment_orders_table.html"
                if is_htmx(request) and request.headers.get("HX-Target") == "purchase-orders"
                else "replenishment_orders.html")
    return page(request, template, "orders", {
        "orders": rows, "status": status or "", "statuses": STATUSES, "link": link, "narrowed": narrowed,
        "at": at, "page_link": page_link})


async def _order(request: web.Request, notice: str | None = None, problem: str | None = None,
                 form: Mapping[str, str] | None = None, status: int = 200) -> web.StreamResponse:
    pid = order_id(request)
    po = await _orders(request).get(pid)
    if po is None:
        raise web.HTTPNotFound()
    async with request.app[MAKER]() as session:
        names = await queries.product_names(session, {ln["sku"] for ln in po["lines"]})
    return page(request, "replenishment_order.html", "orders", {
        "po": po, "names": names, "notice": notice, "problem": problem, "form": form or {},
        "due": sum(ln["qty"] - ln["received"] for ln in po["lines"])}, status=status)


async def order_page(request: web.Request) -> web.StreamResponse:
    """GET /replenishment/orders/{id}."""
    reader(request)
    return await _order(request, notice=_done_notice(request))


def _done_notice(request: web.Request) -> str | None:
    done = request.query.get("done", "")
    t = words(request)
    return t(f"rp.po.done.{done}") if done in ("send", "cancel", "receive") else None


async def _move(request: web.Request, action: str) -> web.StreamResponse:
    record = audited(actor(hq(request)), action)
    pid = order_id(request)
    pos = _orders(request)
    if await pos.get(pid) is None:
        raise web.HTTPNotFound()
    try:
        await (pos.send(pid, record) if action == "send" else pos.cancel(pid, record))
    except OrderError as e:
        return await _order(request, problem=str(e), status=e.status)
    raise web.HTTPSeeOther(f"/replenishment/orders/{pid}?done={action}")


async def send(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/orders/{id}/send: draft → sent (its units count as on order)."""
    return await _move(request, "send")


async def cancel(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/orders/{id}/cancel."""
    return await _move(request, "cancel")


def _delivery(form: Mapping[str, str], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The form (ref; per line qty-N, lot-N, expiry-N, blank or 0: nothing of it came) as the API's
    delivery body, checked by its schema; ContractError naming the field."""
    delivered: list[dict[str, Any]] = []
    for ln in lines:
        n = ln["line"]
        text = form.get(f"qty-{n}", "").strip()
        if not text:
            continue
        try:
            qty = int(text)
        except ValueError:
            raise ContractError(f"qty-{n}", f"must be a whole number, got {text!r}") from None
        if qty == 0:
            continue
        delivered.append({"line": n, "qty": qty, "lot": form.get(f"lot-{n}", "").strip() or None,
                          "expiry": form.get(f"expiry-{n}", "").strip() or None})
    if not delivered:
        raise ContractError("lines", "enter the units that arrived on at least one line")
    return dict(DELIVERY_FORM({"ref": form.get("ref", "").strip(), "lines": delivered}))


async def receive(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/orders/{id}/receive (form: ref, qty-N, lot-N, expiry-N): book a
    delivery, once per delivery note; nothing is booked when any line is refused."""
    who = hq(request)
    pid = order_id(request)
    pos = _orders(request)
    po = await pos.get(pid)
    if po is None:
        raise web.HTTPNotFound()
    posted = await request.post()
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
    try:
        body = _delivery(form, po["lines"])
    except ContractError as e:
        return await _order(request, problem=f"{e.field}: {e.problem}", form=form, status=422)
    lines = [DeliveredLine(ln["line"], ln["qty"], ln["lot"] or NO_LOT,
                           date.fromisoformat(ln["expiry"]) if ln["expiry"] else None)
             for ln in body["lines"]]
    try:
        await pos.receive(pid, body["ref"], lines, audited(actor(who), "receive"))
    except OrderError as e:
        return await _order(request, problem=str(e), form=form, status=e.status)
    raise web.HTTPSeeOther(f"/replenishment/orders/{pid}?done=receive")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/replenishment/orders", orders_page, "replenishment-orders")
    routes.get("/replenishment/orders/{id}", order_page, "replenishment-order")
    routes.post("/replenishment/orders/{id}/send", send, "replenishment-order-send")
    routes.post("/replenishment/orders/{id}/cancel", cancel, "replenishment-order-cancel")
    routes.post("/replenishment/orders/{id}/receive", receive, "replenishment-order-receive")


__all__ = ["add_routes"]
