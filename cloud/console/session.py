"""Signing in to the console with an API token, the session cookie, CSRF and sign-out.

- **Sign-in** takes an existing API token (hq, store or finance; cloud/auth.py resolves it, the
  same way as for a bearer request) and answers with a session cookie: HttpOnly, SameSite=Lax,
  Secure when the request came over TLS (directly, or `X-Forwarded-Proto: https` from the proxy
  in front). The session lives in the database (db/console_sessions.py) so every worker knows it;
  the cookie's value is random and only its SHA-256 is stored. The token is not kept: the session
  keeps the token's digest, and each request looks the token up again, so revoking the token
  (`shelfsync cloud token revoke`) ends its sessions.
- **Roles** are the API's: the request gets the same `Principal` a bearer request would, and page
  handlers use cloud.auth's require_read / require_write / require_hq.
- **CSRF**: every non-GET console request must carry the session's synchroniser token, as the form
  field `csrf` or the `X-CSRF-Token` header (htmx sends the header, set once on <body>); the
  sign-in form, which has no session yet, uses a double-submit cookie (OWASP CSRF Prevention Cheat
  Sheet, "Synchronizer Token Pattern" and "Signed Double-Submit Cookie").
- **Idle expiry**: ConsoleOptions.idle_s without a request ends a session.
- **Throttling**: failed sign-ins per client address lock it out for exponentially longer
  (db/console_sessions.py). The address is the TCP peer's; behind a proxy, configure the proxy to
  limit sign-in attempts too, since every client then shares its address.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from cloud.auth import PRINCIPAL, Principal, Role, digest
from cloud.console.i18n import LANG_COOKIE, LANGS
from cloud.console.web import CSRF, ConsoleRoutes, error_page, is_htmx, now, render, route_name
from cloud.db import console_sessions
from cloud.keys import CONSOLE_OPTIONS, CONSOLE_PUBLIC, MAKER, TOKENS

SESSION_COOKIE = "shelfsync_session"
SIGNIN_COOKIE = "shelfsync_signin"  # the sign-in form's double-submit token
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_ID = web.RequestKey("console_session_id", str)


def is_tls(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Lax", secure=is_tls(request), path="/",
                        max_age=max_age)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site (no scheme, host or //), else `default`: a sign-in
    link cannot send anyone elsewhere (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


async def _principal_of(request: web.Request, row: console_sessions.SessionRow) -> Principal | None:
    """The session's principal from its token as it is now (None: the token was revoked)."""
    if row.token_role is not None:
        return Principal(row.name, Role(row.token_role), row.token_store)
    admin = request.app[TOKENS].admin_token
    if admin and hmac.compare_digest(row.token_digest, digest(admin)):
        return Principal("admin", Role.HQ)
    return None


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who is signed in; sends everyone else to sign in; refuses a state change without its
    CSRF token. Runs for console routes only (web.split_middlewares)."""
    # Public: the sign-in form, static files, and paths nothing serves (their 404 page must not
    # send the browser to sign in: its favicon request would replace the sign-in form's cookie).
    public = (route_name(request) in request.app[CONSOLE_PUBLIC]
              or request.match_info.http_exception is not None)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        idle = timedelta(seconds=request.app[CONSOLE_OPTIONS].idle_s)
        row = await console_sessions.lookup(request.app[MAKER], session_id, now(), idle)
        who = await _principal_of(request, row) if row is not None else None
        if row is not None and who is not None:
            request[PRINCIPAL] = who
            request[CSRF] = row.csrf
            request[SESSION_ID] = session_id
    if PRINCIPAL not in request and not public:
        return _to_signin(request, expired=bool(session_id))
    if request.method not in SAFE_METHODS and not public:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                     "multipart/form-data"):
            field = (await request.post()).get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        if not sent or not hmac.compare_digest(sent.encode(), request[CSRF].encode()):
            return error_page(request, 403, "error.csrf")
    return await handler(request)


def _to_signin(request: web.Request, expired: bool) -> web.StreamResponse:
    target = "/signin?next=" + quote(request.path_qs if request.method == "GET" else "/", safe="")
    if expired:
        target += "&expired=1"
    if request.path == "/events":  # an EventSource gives up on a non-200 answer; the page then reloads
        return web.Response(status=401, text="signed out")
    if is_htmx(request):  # htmx follows this header instead of swapping a login form into a table
        return web.Response(status=200, headers={"HX-Redirect": target})
    raise web.HTTPSeeOther(target)


async def signin_form(request: web.Request) -> web.StreamResponse:
    if PRINCIPAL in request:
        raise web.HTTPSeeOther(local_path(request.query.get("next")))
    return _signin_page(request, None)


def _signin_page(request: web.Request, problem: str | None, status: int = 200,
                 fields: dict[str, object] | None = None, next_path: str | None = None) -> web.Response:
    # One token per browser, kept across reloads and tabs: a second tab's form must not void the first's.
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    notice = None
    if problem is None and request.query.get("expired"):
        notice = "signin.expired"
    elif problem is None and request.query.get("out"):
        notice = "signin.out"
    response = render(request, "signin.html", {
        "csrf_token": token, "next": local_path(next_path or request.query.get("next")), "problem": problem,
        "problem_fields": fields or {}, "notice": notice}, status=status)
    _set_cookie(request, response, SIGNIN_COOKIE, token)
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sent, expected = str(form.get(CSRF_FIELD, "")), request.cookies.get(SIGNIN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return error_page(request, 403, "error.csrf")
    maker = request.app[MAKER]
    address = (request.remote or "unknown")[:64]
    t = now()
    next_path = str(form.get("next", "/"))
    locked = await console_sessions.locked_until(maker, address, t)
    if locked is not None:
        return _locked(request, locked, next_path)
    token = str(form.get("token", "")).strip()
    who = await request.app[TOKENS].resolve(token) if token else None
    if who is None:
        locked = await console_sessions.failed(maker, address, t)
        if locked is not None:
            return _locked(request, locked, next_path)
        return _signin_page(request, "signin.wrong", status=401, next_path=next_path)
    await console_sessions.succeeded(maker, address)
    session_id, _ = await console_sessions.create(maker, digest(token), who.name, t)
    response = web.HTTPSeeOther(local_path(next_path))
    _set_cookie(request, response, SESSION_COOKIE, session_id)
    response.del_cookie(SIGNIN_COOKIE, path="/")
    raise response


def _locked(request: web.Request, until: datetime, next_path: str) -> web.Response:
    seconds = max(1, math.ceil((until - now()).total_seconds()))
    response = _signin_page(request, "signin.locked", status=429, fields={"seconds": seconds},
                            next_path=next_path)
    response.headers["Retry-After"] = str(seconds)
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    session_id = request.get(SESSION_ID)
    if session_id is not None:
        await console_sessions.end(request.app[MAKER], session_id)
    response = web.HTTPSeeOther("/signin?out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def choose_language(request: web.Request) -> web.StreamResponse:
    """GET /lang/{lang}?next=…: remember the person's language (a preference, not a change of
    anything on the server, so a plain link)."""
    lang = request.match_info["lang"]
    if lang not in LANGS:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(local_path(request.query.get("next")))
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", secure=is_tls(request),
                        path="/")
    raise response


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/signin", signin_form, "signin", public=True)
    routes.post("/signin", signin, "signin-post", public=True)
    routes.post("/signout", signout, "signout")
    routes.get("/lang/{lang}", choose_language, "lang", public=True)


__all__ = ["CSRF", "CSRF_FIELD", "CSRF_HEADER", "SESSION_COOKIE", "add_routes", "local_path", "sessions"]
