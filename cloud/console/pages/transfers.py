"""Transfers: the suggested moves from surplus stores to short ones (create one as suggested, or
with another quantity), a transfer by hand, what is in transit (receive it, or cancel it back to
its source) and the transfers before, a page at a time.

Every action goes through cloud/db/transfers.py under the API's rules (cloud/api/orders.py): the
sending store (or hq) creates and cancels, the receiving store (or hq) receives, finance reads
only; a store token sees transfers from or to its store and the suggestions for its store. Each
action is recorded in the audit in the transaction that makes it. The lists refresh themselves when stock
changes; the suggestions only after an action (a figure changing under a quantity someone is
typing would be worse than a suggestion a little old: creating from it re-checks the stock).

The suggestions weigh every short store of the chain against every store with surplus (a
200-store chain: a second or more of reading and arithmetic), so the page shows them as of a read
at most SUGGESTIONS_FRESH_S old, made behind the page for the next visitor once older, and says
when (console/shared_reads.py, as the stores list's values). A transfer made, received or
cancelled here outdates them: the answer to the action (htmx) comes at once with the notice and the
lists, and its suggestions part fetches itself when the new read is done (1.6-2.1 s on a
200-store chain; the answer waited for it before). The page itself, and a plain form's answer,
wait for the read: without htmx nothing would fetch the part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import Principal, Role, require_write
from cloud.console import queries
from cloud.console import queries_orders as q
from cloud.console.i18n import Words
from cloud.console.pages.overview import scope
from cloud.console.session import local_path
from cloud.console.web import ConsoleRoutes, is_htmx, now, principal, render, words
from cloud.db import audit, stocktakes
from cloud.db.orders import OrderError
from cloud.db.transfers import TransferRequest
from cloud.keys import CONSOLE_READS, MAKER, TRANSFERS
from shared.contract import ContractError, check_id, is_gtin14

HISTORY_PAGE = 20
IN_TRANSIT_SHOWN = 100
SUGGESTIONS_SHOWN = 30  # a chain of hundreds of stores has thousands: the emptiest stores' first
MAX_QTY = 100_000  # as the API's schema (cloud/api/orders.py QTY)
SUGGESTIONS_FRESH_S, SUGGESTIONS_STALE_S = 30.0, 600.0
# made in a process of its own, not on the worker's interpreter (queries_orders.SuggestionsApart)
SUGGESTIONS_APART = web.AppKey("console-suggestions-apart", q.SuggestionsApart)
OUTDATES = "transfers"  # the shared reads' topic that a transfer action here moves on
PARTS = {"transit": "_transfers_transit.html", "history": "_transfers_history.html",
         "suggestions": "_transfers_suggestions.html"}


def _store_of(who: Principal) -> str | None:
    """The one store a store token sees; None (every store) for hq and finance."""
    return who.store if who.role is Role.STORE else None


def _query_of(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}


def _number(text: str | None) -> int:
    try:
        return int(text or "1")
    except ValueError:
        return 1


async def _transit(request: web.Request) -> dict[str, Any]:
    who = principal(request)
    async with request.app[MAKER]() as session:
        rows, page = await q.transfers(session, _store_of(who), "in_transit", 1, IN_TRANSIT_SHOWN)
        names = await queries.product_names(session, {ln.sku for t in rows for ln in t.lines})
    return {"transit": rows, "transit_total": page.total, "transit_names": names}


async def _history(request: web.Request, here: str) -> dict[str, Any]:
    who = principal(request)
    query = _query_of(here)
    state = query.get("state") if query.get("state") in q.TRANSFER_STATES else None
    async with request.app[MAKER]() as session:
        number = _number(query.get("page"))
        rows, page = await q.transfers(session, _store_of(who), state, number, HISTORY_PAGE)
        names = await queries.product_names(session, {ln.sku for t in rows for ln in t.lines})

    def link(n: int) -> str:
        return "/transfers?" + urlencode({**query, "page": str(n)})

    return {"history": rows, "page": page, "state": state or "", "states": q.TRANSFER_STATES,
            "history_names": names, "link": link}


def _most_needed(s: Mapping[str, Any]) -> tuple[int, int, bool, float]:
    """The emptiest short store first, then the largest move, then the nearest donor."""
    km = s.get("distance_km")
    return (s["to_free"], -s["qty"], km is None, km or 0.0)


async def _suggestions(request: web.Request, here: str, *, wait: bool = True) -> dict[str, Any]:
    """GET /v1/transfers/suggestions's answer for this principal (a store token: its store's; hq
    and finance may ask for one short store, `?for=`, as the API's `?store=`). Without `wait`, a
    read under way is not waited for: `suggestions_later`, and the part fetches itself (htmx)."""
    who = principal(request)
    wanted = _query_of(here).get("for") or None
    for_store = _store_of(who) or (wanted if wanted and who.may_read(wanted) and _is_id(wanted) else None)
    maker, shared = request.app[MAKER], request.app[CONSOLE_READS]

    async def read() -> tuple[datetime, list[dict[str, Any]]]:
        at = now()
        return at, await request.app[SUGGESTIONS_APART].suggestions(maker.kw["bind"], for_store)

    key, generation = ("transfer-suggestions", for_store), shared.version(OUTDATES)
    later, found_at, found = False, None, []  # type: tuple[bool, datetime | None, list[dict[str, Any]]]
    if wait:
        found_at, found = await shared.get(key, read, generation=generation, max_age=SUGGESTIONS_FRESH_S,
                                           stale_for=SUGGESTIONS_STALE_S)
    else:
        ready, answer = shared.at_once(key, read, generation=generation, max_age=SUGGESTIONS_FRESH_S,
                                       stale_for=SUGGESTIONS_STALE_S)
        if ready:
            found_at, found = answer
        else:
            later = True
    shown = sorted(found, key=_most_needed)[:SUGGESTIONS_SHOWN]
    async with maker() as session:
        names = await queries.product_names(session, {s["sku"] for s in shown})
        mine = await queries.known_stores(session, scope(who))
        every = await queries.known_stores(session)
    return {"suggestions": shown, "suggestions_total": len(found), "suggestions_at": found_at,
            "suggestion_names": names, "suggestions_later": later,
            "for_store": for_store, "here": here,
            "from_stores": [s for s in mine if who.may_write(s)], "to_stores": list(every)}


def _is_id(text: str) -> bool:
    try:
        check_id(text, "store")
    except ContractError:
        return False
    return True


async def _everything(request: web.Request, here: str, notice: str | None = None,
                      problem: str | None = None, form: Mapping[str, str] | None = None, *,
                      wait: bool = True) -> dict[str, Any]:
    context: dict[str, Any] = {"here": here, "notice": notice, "problem": problem, "form": form or {}}
    context |= await _suggestions(request, here, wait=wait)
    context |= await _transit(request)
    context |= await _history(request, here)
    return context


async def transfers_page(request: web.Request) -> web.StreamResponse:
    """GET /transfers[?state=&page=]: the page, or (htmx) the part its HX-Target names."""
    part = request.headers.get("HX-Target", "") if is_htmx(request) else ""
    if part == "transit":
        return render(request, PARTS[part], await _transit(request), section="transfers")
    if part == "history":
        return render(request, PARTS[part], await _history(request, request.path_qs), section="transfers")
    if part == "suggestions":
        return render(request, PARTS[part], await _suggestions(request, request.path_qs), section="transfers")
    return render(request, "transfers.html", await _everything(request, request.path_qs), section="transfers")


def _actor(who: Principal) -> str:
    return audit.actor(who.name, who.role)


Recorder = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


def _recorder(who: Principal, action: str, before: Mapping[str, Any] | None) -> Recorder:
    """The audit entry of a transfer action, written in the action's own transaction."""

    async def record(session: AsyncSession, t: dict[str, Any]) -> None:
        after = {"status": t["status"], "from": t["from"], "to": t["to"], "lines": t["lines"]}
        await audit.record(session, _actor(who), f"transfer.{action}", f"transfer:{t['id']}", before, after)

    return record


def _parsed(form: Mapping[str, str], t: Words) -> TransferRequest | str:
    """A transfer from the form, or what is wrong with it (in the person's words)."""
    src, dst, sku = form.get("from", ""), form.get("to", ""), form.get("sku", "").strip()
    for name, value in (("from", src), ("to", dst)):
        try:
            check_id(value, name)
        except ContractError:
            return t("tr.bad_store", field=t(f"tr.{name}"), value=value)
    if src == dst:
        return t("tr.same_store")
    if not is_gtin14(sku):
        return t("tr.bad_sku", value=sku)
    try:
        qty = int(form.get("qty", ""))
    except ValueError:
        qty = 0
    if not 1 <= qty <= MAX_QTY:
        return t("tr.bad_qty", max=MAX_QTY)
    return TransferRequest(src, dst, ((sku, qty),))


async def _answer(request: web.Request, here: str, notice: str | None, problem: str | None,
                  form: Mapping[str, str] | None = None, status: int = 422) -> web.StreamResponse:
    """What a post gets back: htmx, the page's body with the notice or the problem (200: htmx
    swaps only those); a plain form, the page again (303) or, refused, the page saying why."""
    if not is_htmx(request) and problem is None:
        raise web.HTTPSeeOther(here)
    context = await _everything(request, here, notice, problem, form if problem else None,
                                wait=not is_htmx(request))
    if is_htmx(request):
        return render(request, "_transfers_body.html", context, section="transfers")
    return render(request, "transfers.html", context, section="transfers", status=status)


async def create(request: web.Request) -> web.StreamResponse:
    """POST /transfers (form: from, to, sku, qty, next): send free units from one store to another."""
    who = principal(request)
    posted = await request.post()
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
    here = local_path(form.get("next"), "/transfers")
    t = words(request)
    req = _parsed(form, t)
    if isinstance(req, str):
        return await _answer(request, here, None, req, form)
    require_write(request, req.from_store)  # the sending store (or hq) ships it
    known = await stocktakes.known_stores(request.app[MAKER], (req.from_store, req.to_store))
    unknown = [s for s in (req.from_store, req.to_store) if s not in known]
    if unknown:  # units sent there would stay in transit for ever
        return await _answer(request, here, None, t("tr.unknown_store", store=unknown[0]), form)
    try:
        made = await request.app[TRANSFERS].create(req, _recorder(who, "create", None))
    except OrderError as e:
        return await _answer(request, here, None, _refusal(e, req.from_store, t), form, e.status)
    request.app[CONSOLE_READS].changed(OUTDATES)
    sku, qty = req.lines[0]
    return await _answer(request, here, t("tr.created", id=made["id"], qty=qty, sku=sku, src=req.from_store,
                                          dst=req.to_store), None)


def _refusal(e: OrderError, store: str, t: Words) -> str:
    short = e.detail.get("short")
    if e.status == 409 and short:
        return t("tr.short", store=store, sku=short[0]["sku"], wanted=short[0]["wanted"],
                 available=short[0]["available"])
    return str(e)


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    """POST /transfers/{id}/receive | /cancel (form: next)."""
    who = principal(request)
    tid = request.match_info["id"]
    form = await request.post()
    here = local_path(str(form.get("next", "")), "/transfers")
    transfers = request.app[TRANSFERS]
    found = await transfers.get(tid)
    if found is None or not (who.may_read(found["from"]) or who.may_read(found["to"])):
        raise web.HTTPNotFound()  # another store's transfer does not exist for a store token
    # the receiving store (or hq) books it in; the sending store (or hq) calls it back
    require_write(request, found["to"] if action == "receive" else found["from"])
    record = _recorder(who, action, {"status": found["status"]})
    t = words(request)
    try:
        act = transfers.receive if action == "receive" else transfers.cancel
        done = await act(tid, record)
    except OrderError as e:
        return await _answer(request, here, None, str(e), status=e.status)
    request.app[CONSOLE_READS].changed(OUTDATES)
    return await _answer(request, here, t(f"tr.done.{action}", id=done["id"]), None)


async def receive(request: web.Request) -> web.StreamResponse:
    return await _act(request, "receive")


async def cancel(request: web.Request) -> web.StreamResponse:
    return await _act(request, "cancel")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/transfers", transfers_page, "transfers")
    routes.post("/transfers", create, "transfer-create")
    routes.post("/transfers/{id}/receive", receive, "transfer-receive")
    routes.post("/transfers/{id}/cancel", cancel, "transfer-cancel")
