"""Orders: every order with its holds (store, lot and the lot's expiry), filtered by channel, store
and state, a page at a time; the stock open orders hold; fulfil or cancel an open order.

The same rules as the API (cloud/api/orders.py): hq and finance see every order, a store token
those held in its store alone; fulfil and cancel go through `Orders.fulfil` / `Orders.cancel`
after `require_write` for every store holding the order (hq, or the store's own token; finance
never), and are recorded in the audit in the same transaction. The table refreshes itself when
stock changes (an order placed or closed changes what is held), at most every two seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.api.orders import may_see_order
from cloud.auth import Principal, Role, require_write
from cloud.console import queries
from cloud.console import queries_orders as q
from cloud.console.pages.overview import scope
from cloud.console.session import local_path
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.db import audit
from cloud.db.orders import OrderError
from cloud.keys import MAKER, ORDERS
from shared.contract import ContractError, check_id

LAPSING = timedelta(minutes=10)  # an open order this close to its hold's end is marked


def _id(text: str | None) -> str | None:
    """A store or channel id from a filter, or None (a malformed one filters nothing)."""
    if not text:
        return None
    try:
        check_id(text, "filter")
    except ContractError:
        return None
    return text


def _number(text: str | None) -> int:
    try:
        return int(text or "1")
    except ValueError:
        return 1


def filters(who: Principal, query: Mapping[str, str]) -> tuple[q.OrderFilter, int]:
    """The filter a request's query asks for, within what `who` may see, and the page number."""
    state = query.get("state") or None
    f = q.OrderFilter(channel=_id(query.get("channel")), store=_id(query.get("store")),
                      state=state if state in q.ORDER_STATES else None, text=(query.get("q") or "")[:64],
                      only_store=who.store if who.role is Role.STORE else None)
    return f, _number(query.get("page"))


def _query_of(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}


async def _table(request: web.Request, here: str, notice: str | None = None,
                 problem: str | None = None) -> dict[str, Any]:
    """The filtered page of orders that `here` (the page's address) shows."""
    who = principal(request)
    f, number = filters(who, _query_of(here))
    async with request.app[MAKER]() as session:
        rows, page = await q.orders(session, f, number)
        held = await q.open_holds(session, f, now() + LAPSING)
        names = await queries.product_names(session, {h.sku for o in rows for h in o.holds})
    return {"rows": rows, "page": page, "f": f, "held": held, "names": names, "here": here,
            "notice": notice, "problem": problem, "lapsing": LAPSING, "may_close": _may_close(who),
            "link": lambda n: _with_page(here, n)}


def _may_close(who: Principal) -> Callable[[q.OrderRow], bool]:
    """Whether `who` may fulfil or cancel an order (require_write for every store holding it)."""
    return lambda o: o.status == "reserved" and bool(o.stores) and all(who.may_write(s) for s in o.stores)


def _with_page(here: str, n: int) -> str:
    query = _query_of(here)
    query["page"] = str(n)
    return "/orders?" + urlencode(query)


async def _choices(session: AsyncSession, who: Principal) -> dict[str, Any]:
    return {"channels": await q.order_channels(session), "states": q.ORDER_STATES,
            "stores": await queries.known_stores(session, scope(who))}


async def orders_page(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    context = await _table(request, request.path_qs)
    if is_htmx(request) and request.headers.get("HX-Target") == "orders-table":
        return render(request, "_orders_table.html", context, section="orders")
    async with request.app[MAKER]() as session:
        context |= await _choices(session, who)
    return render(request, "orders.html", context, section="orders")


async def _close(request: web.Request, action: str) -> web.StreamResponse:
    """POST /orders/{id}/fulfil | /cancel (form: next, the page's address to show again)."""
    oid = request.match_info["id"]
    who = principal(request)
    form = await request.post()
    here = local_path(str(form.get("next", "")), "/orders")
    orders = request.app[ORDERS]
    order = await orders.get(oid)
    if order is None or not may_see_order(who, order):
        raise web.HTTPNotFound()  # another store's order does not exist for a store token
    for store in order["stores"] or [None]:
        require_write(request, store)
    t = words(request)
    before = {"status": order["status"], "holds": order["reservations"]}

    async def record(session: AsyncSession, done: dict[str, Any]) -> None:
        after = {"status": done["status"], "channel": done["channel"], "order_id": done["order_id"]}
        await audit.record(session, audit.actor(who.name, who.role), f"order.{action}", f"order:{oid}",
                           before, after)

    notice = problem = None
    try:
        done = await (orders.fulfil(oid, record) if action == "fulfil" else orders.cancel(oid, record))
        notice = t(f"orders.done.{action}", order=done["order_id"])
    except OrderError as e:
        problem = str(e)
    if not is_htmx(request):
        raise web.HTTPSeeOther(here)
    context = await _table(request, here, notice, problem)
    return render(request, "_orders_table.html", context, section="orders")


async def fulfil(request: web.Request) -> web.StreamResponse:
    return await _close(request, "fulfil")


async def cancel(request: web.Request) -> web.StreamResponse:
    return await _close(request, "cancel")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/orders", orders_page, "orders")
    routes.post("/orders/{id}/fulfil", fulfil, "order-fulfil")
    routes.post("/orders/{id}/cancel", cancel, "order-cancel")
