"""Who is calling, and what they may do: bearer tokens with roles (issue 8).

- `hq`: everything (the admin token from SHELFSYNC_ADMIN_TOKEN is an hq token);
- `store`: reads and writes its own store only (stock, movements, stocktakes, its pickups and
  transfers); another store's data is 403, not an empty list;
- `finance`: reads everything, including unit cost, and writes nothing.

Tokens are random and only their SHA-256 is stored (`api_tokens`), so a database dump does not
hand out access. Lookups are cached for a few seconds per worker; a revoked token stops working
within that time on every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from aiohttp import web
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.models import ApiToken
from cloud.keys import TOKENS
from shared.contract import check_id

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
CACHE_S = 5.0


class Role(StrEnum):
    HQ = "hq"
    STORE = "store"
    FINANCE = "finance"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    store: str | None = None

    @property
    def sees_cost(self) -> bool:
        return self.role in (Role.HQ, Role.FINANCE)

    def may_read(self, store: str) -> bool:
        return self.role is not Role.STORE or self.store == store

    def may_write(self, store: str | None = None) -> bool:
        if self.role is Role.HQ:
            return True
        return self.role is Role.STORE and store is not None and self.store == store


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json_error(status: int, message: str) -> web.HTTPException:
    cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    return cls(text=f'{{"error": "{message}"}}', content_type="application/json")


class Tokens:
    """Resolves bearer tokens to principals: the admin token, else the api_tokens table."""

    def __init__(self, maker: async_sessionmaker[AsyncSession] | None, admin_token: str) -> None:
        self.maker = maker
        self.admin_token = admin_token
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, token: str) -> Principal | None:
        if not token:
            return None
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin", Role.HQ)
        key = digest(token)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        principal = None
        if self.maker is not None:
            async with self.maker() as session:
                row = (await session.execute(select(ApiToken).where(ApiToken.digest == key))
                       ).scalar_one_or_none()
            if row is not None:
                principal = Principal(row.name, Role(row.role), row.store)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), principal)
        return principal


PRINCIPAL = web.RequestKey("principal", Principal)


@web.middleware
async def bearer_auth(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path in OPEN_PATHS:
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    principal = await request.app[TOKENS].resolve(token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    request[PRINCIPAL] = principal
    return await handler(request)


def principal(request: web.Request) -> Principal:
    p: Principal | None = request.get(PRINCIPAL)
    if p is None:
        raise _json_error(401, "missing or wrong bearer token")
    return p


def require_read(request: web.Request, store: str) -> Principal:
    p = principal(request)
    if not p.may_read(store):
        raise _json_error(403, f"token {p.name!r} may not read store {store!r}")
    return p


def require_write(request: web.Request, store: str | None = None) -> Principal:
    """hq may write anything; a store token only its own store; finance nothing."""
    p = principal(request)
    if not p.may_write(store):
        where = f"store {store!r}" if store else "chain-wide settings"
        raise _json_error(403, f"token {p.name!r} ({p.role}) may not change {where}")
    return p


def require_hq(request: web.Request) -> Principal:
    return require_write(request, None)


def check_token_fields(name: str, role: Role, store: str | None) -> None:
    """ValueError (a ContractError naming the field) unless the token's name and store are ids
    ([a-z0-9-]{1,32}, as in topics and URLs) and only a store token names a store."""
    check_id(name, "name")
    if store is not None:
        check_id(store, "store")
    if (role is Role.STORE) != (store is not None):
        raise ValueError("a store token needs --store, and only a store token has one")


async def create_token(maker: async_sessionmaker[AsyncSession], name: str, role: Role,
                       store: str | None) -> str:
    """A new token (shown once; only its digest is kept). A store token must name its store."""
    check_token_fields(name, role, store)
    token = "ss_" + secrets.token_urlsafe(32)
    async with maker() as session, session.begin():
        await session.execute(insert(ApiToken).values(digest=digest(token), name=name, role=role.value,
                                                      store=store, created_at=datetime.now(UTC)))
    return token


async def revoke_token(maker: async_sessionmaker[AsyncSession], name: str) -> bool:
    async with maker() as session, session.begin():
        result = await session.execute(delete(ApiToken).where(ApiToken.name == name))
    # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_tokens(maker: async_sessionmaker[AsyncSession]) -> list[dict[str, str | None]]:
    async with maker() as session:
        rows = (await session.scalars(select(ApiToken).order_by(ApiToken.name))).all()
    return [{"name": t.name, "role": t.role, "store": t.store, "created_at": t.created_at.isoformat()}
            for t in rows]
