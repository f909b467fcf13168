"""The console's frame: its routes beside the API's, its navigation, rendering and error pages.

The console and the API share one aiohttp application and port. A request belongs to the
console when its route was added through `ConsoleRoutes` (route names start with "console."), or
when nothing matched and its path is not the API's (/v1/…, /healthz, …): then it gets the
console's HTML 404 rather than the API's JSON one. `split_middlewares` keeps the API's middlewares
(JSON errors, bearer tokens) off console requests and the console's (session, CSRF, HTML errors)
off API requests.

Adding a page (for whoever builds the next one):

    # cloud/console/pages/orders.py
    def add_routes(routes: ConsoleRoutes) -> None:
        routes.get("/orders", orders_page, "orders")

    async def orders_page(request: web.Request) -> web.StreamResponse:
        who = principal(request)                    # cloud.auth: the signed-in token's role
        ...                                         # data from cloud/db/, never SQL here
        return render(request, "orders.html", {"orders": rows}, section="orders")

then list the module in `pages/__init__.py` PAGES, point its NAV entry at it (drop `coming`),
add its words to i18n.MESSAGES in both languages, and extend `base.html` in the template.
Every non-GET request is checked for the CSRF token before a handler runs (session.py); forms
include `{{ csrf_field() }}`, htmx requests send the header set on <body>.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from cloud.auth import OPEN_PATHS, PRINCIPAL, Principal, Role
from cloud.console.i18n import Words, request_lang
from cloud.keys import CONSOLE_OPTIONS, CONSOLE_PUBLIC

log = logging.getLogger(__name__)

ROUTE_PREFIX = "console."
API_PREFIX = "/v1/"
WORDS = web.RequestKey("console_words", Words)
CSRF = web.RequestKey("console_csrf", str)  # the signed-in session's synchroniser token


@dataclass(frozen=True, slots=True)
class NavItem:
    section: str  # the page's name; the i18n key is "nav.<section>"
    path: str
    coming: bool = False  # shows the placeholder page until someone builds it
    hide_from: tuple[Role, ...] = ()

    def visible_to(self, who: Principal) -> bool:
        return who.role not in self.hide_from


NAV: tuple[NavItem, ...] = (
    NavItem("overview", "/"),
    NavItem("stores", "/stores"),
    NavItem("products", "/products"),
    NavItem("channels", "/channels", hide_from=(Role.STORE,)),
    NavItem("orders", "/orders"),
    NavItem("transfers", "/transfers"),
    NavItem("replenishment", "/replenishment", hide_from=(Role.STORE,)),
    NavItem("reports", "/reports"),
    NavItem("setup", "/setup", hide_from=(Role.STORE, Role.FINANCE)),
    NavItem("audit", "/audit", hide_from=(Role.STORE,)),
)


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console behaves; parsed once from the command line (cloud/settings.py)."""

    idle_s: float = 1800.0  # a session without a request for this long ends
    timezone: str = "Asia/Shanghai"  # "today" and the clock times shown

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)




class ConsoleRoutes:
    """Adds console routes to the shared application, named "console.<name>"."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        app.setdefault(CONSOLE_PUBLIC, set())

    def get(self, path: str, handler: Handler, name: str, *, public: bool = False) -> None:
        self.add("GET", path, handler, name, public=public)

    def post(self, path: str, handler: Handler, name: str, *, public: bool = False) -> None:
        self.add("POST", path, handler, name, public=public)

    def add(self, method: str, path: str, handler: Handler, name: str, *, public: bool = False) -> None:
        # aiohttp checks each "-"-separated part of a name is an identifier and not a keyword
        # ("setup-products-import" would be refused): the parts are joined with "_" instead.
        full = ROUTE_PREFIX + name.replace("-", "_")
        self.app.router.add_route(method, path, handler, name=full)
        if public:
            self.app[CONSOLE_PUBLIC].add(full)


def route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    if route.name is not None:
        return route.name
    resource = route.resource
    return resource.name if resource is not None else None


def is_console_request(request: web.Request) -> bool:
    name = route_name(request)
    if name is not None:
        return name.startswith(ROUTE_PREFIX)
    if request.match_info.route.resource is not None:  # an API route (they have no names)
        return False
    return not request.path.startswith(API_PREFIX) and request.path not in OPEN_PATHS


def split_middlewares(api: Iterable[Middleware], console: Iterable[Middleware]) -> list[Middleware]:
    """The application's middlewares: `api` ones run for API requests only, `console` ones for
    console requests only (each list in its own order)."""

    def only(mw: Middleware, for_console: bool) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if is_console_request(request) is for_console:
                return await mw(request, handler)
            return await handler(request)

        return middleware

    return [only(m, False) for m in api] + [only(m, True) for m in console]


def words(request: web.Request) -> Words:
    w: Words | None = request.get(WORDS)
    if w is None:
        w = request[WORDS] = Words(request_lang(request))
    return w


def principal(request: web.Request) -> Principal:
    """The signed-in principal (the session middleware has made sure there is one)."""
    who: Principal | None = request.get(PRINCIPAL)
    if who is None:
        raise web.HTTPUnauthorized()
    return who


def now() -> datetime:
    return datetime.now(UTC)


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: web.Request, template: str, context: Mapping[str, Any], *, section: str = "",
           status: int = 200) -> web.Response:
    """A page (or an htmx partial: a template whose name starts with "_") with the frame's
    context: words `t`, the principal `who`, the navigation, the clock and the options."""
    options = request.app[CONSOLE_OPTIONS]
    who: Principal | None = request.get(PRINCIPAL)
    frame = {
        "t": words(request), "lang": words(request).lang, "who": who, "section": section,
        "nav": [n for n in NAV if who is not None and n.visible_to(who)],
        "now": now(), "tz": options.tz, "path": request.path_qs, "csrf": request.get(CSRF, ""),
    }
    response = aiohttp_jinja2.render_template(template, request, {**frame, **context}, status=status)
    response.headers["Cache-Control"] = "no-store"  # stock figures and tokens' views are never cached
    response.headers["Vary"] = "Cookie, Accept-Language, HX-Request"
    return response


def error_page(request: web.Request, status: int, message_key: str, detail: str = "") -> web.Response:
    return render(request, "error.html", {"status": status, "message": words(request)(message_key),
                                          "detail": detail}, status=status)


@web.middleware
async def server_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The time the worker spent on a console request — session, handler and rendering, not the
    network — as a W3C Server-Timing header (`app;dur=12.3`, milliseconds): the browser's
    developer tools show it beside the network time, and `shelfsync bench console` reads each
    page's server time from it. `cpu;dur=` is the worker's CPU time meanwhile — this request's
    alone when it was the only one, a figure that does not grow with a busy machine's queue for
    the CPU. A stream (the event stream) has sent its headers already."""
    started, cpu = time.perf_counter(), time.thread_time()
    response = await handler(request)
    if not response.prepared:
        response.headers["Server-Timing"] = (f"app;dur={(time.perf_counter() - started) * 1000:.1f}, "
                                             f"cpu;dur={(time.thread_time() - cpu) * 1000:.1f}")
    return response


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors on console pages are pages: the API's JSON refusals (403 from cloud.auth) and
    aiohttp's 404/405 become the console's own, in the person's language."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        key = {403: "error.403", 404: "error.404", 405: "error.404",
               413: "error.413"}.get(e.status, "error.title")  # 413: an upload over client_max_size
        detail = _detail(e.text or "")
        return error_page(request, e.status, key, detail if e.status == 403 else "")
    except Exception:  # a defect: logged whole, the person sees a page without it
        log.exception("console %s %s failed", request.method, request.path)
        return error_page(request, 500, "error.500")


def _detail(text: str) -> str:
    """The reason inside a JSON refusal from cloud.auth ({"error": "..."}), for the 403 page."""
    import json

    try:
        body = json.loads(text)
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["CSRF", "NAV", "WORDS", "ConsoleOptions", "ConsoleRoutes", "NavItem", "PageHandler", "error_page",
           "html_errors", "is_console_request", "is_htmx", "now", "principal", "render", "route_name",
           "split_middlewares", "words"]
