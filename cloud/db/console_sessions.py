"""Console sign-in state in the database, so every cloud worker sees the same sessions.

- A session is a random id in an HttpOnly cookie; the table keeps only its SHA-256, the digest of
  the API token it signed in with (never the token) and its CSRF synchroniser token. It expires
  after `idle` without a request; `seen_at` is refreshed at most once per `TOUCH_EVERY` so a busy
  page is not one write per request.
- Failed sign-ins are counted per client address. From the `FREE_FAILURES`-th on, each failure
  locks the address out for twice as long as the one before (2 s, 4 s, … at most `MAX_LOCK`); a
  success, or an hour without failures, starts the count again. OWASP's Authentication Cheat
  Sheet ("Login Throttling") recommends exactly this shape: an exponential delay per source
  rather than a permanent account lock that anyone could trigger.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import upsert
from cloud.db.models import ApiToken, ConsoleSession, SigninFailure

TOUCH_EVERY = timedelta(seconds=30)
FREE_FAILURES = 3
MAX_LOCK = timedelta(minutes=15)
FORGET_FAILURES = timedelta(hours=1)


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    token_digest: str
    name: str
    csrf: str
    created_at: datetime
    # The API token it signed in with, as api_tokens holds it now (None: the admin token, or revoked).
    token_role: str | None
    token_store: str | None


async def create(maker: async_sessionmaker[AsyncSession], token_digest: str, name: str,
                 now: datetime) -> tuple[str, str]:
    """A new session: (the id for the cookie, its CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with maker() as session, session.begin():
        session.add(ConsoleSession(digest=session_digest(session_id), token_digest=token_digest, name=name,
                                   csrf=csrf, created_at=now, seen_at=now))
    return session_id, csrf


async def lookup(maker: async_sessionmaker[AsyncSession], session_id: str, now: datetime,
                 idle: timedelta) -> SessionRow | None:
    """The live session with this id, touched; None when unknown or idle too long (then deleted)."""
    key = session_digest(session_id)
    async with maker() as session:
        found = (await session.execute(
            select(ConsoleSession, ApiToken.role, ApiToken.store)
            .outerjoin(ApiToken, ApiToken.digest == ConsoleSession.token_digest)
            .where(ConsoleSession.digest == key))).one_or_none()
        if found is None:
            return None
        row, role, store = found
        if now - row.seen_at > idle:
            await session.execute(delete(ConsoleSession).where(ConsoleSession.digest == key))
            await session.commit()
            return None
        if now - row.seen_at > TOUCH_EVERY:
            await session.execute(update(ConsoleSession).where(ConsoleSession.digest == key)
                                  .values(seen_at=now))
            await session.commit()
        return SessionRow(row.token_digest, row.name, row.csrf, row.created_at, role, store)


async def end(maker: async_sessionmaker[AsyncSession], session_id: str) -> None:
    async with maker() as session, session.begin():
        key = session_digest(session_id)
        await session.execute(delete(ConsoleSession).where(ConsoleSession.digest == key))


async def purge_idle(maker: async_sessionmaker[AsyncSession], now: datetime, idle: timedelta) -> int:
    """Delete sessions idle longer than `idle` and failure counts long forgotten."""
    async with maker() as session, session.begin():
        gone = await session.execute(delete(ConsoleSession).where(ConsoleSession.seen_at < now - idle))
        await session.execute(delete(SigninFailure).where(SigninFailure.last_at < now - FORGET_FAILURES,
                                                          (SigninFailure.locked_until.is_(None))
                                                          | (SigninFailure.locked_until < now)))
    return int(getattr(gone, "rowcount", 0) or 0)


async def locked_until(maker: async_sessionmaker[AsyncSession], address: str,
                       now: datetime) -> datetime | None:
    """When this address may try again, if it is locked out now."""
    async with maker() as session:
        until = await session.scalar(select(SigninFailure.locked_until)
                                     .where(SigninFailure.address == address))
    return until if until is not None and until > now else None


def lock_for(failures: int) -> timedelta | None:
    """How long the `failures`-th failure in a row locks an address out."""
    if failures < FREE_FAILURES:
        return None
    return min(MAX_LOCK, timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)))


async def failed(maker: async_sessionmaker[AsyncSession], address: str, now: datetime) -> datetime | None:
    """Count a failed sign-in; returns the lockout it starts, if any."""
    async with maker() as session, session.begin():
        row = (await session.scalars(select(SigninFailure).where(SigninFailure.address == address)
                                     .with_for_update())).one_or_none()
        failures = 1 if row is None or now - row.last_at > FORGET_FAILURES else row.failures + 1
        lock = lock_for(failures)
        until = now + lock if lock is not None else None
        stmt = upsert(session)(SigninFailure).values(address=address, failures=failures, last_at=now,
                                                      locked_until=until)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["address"], set_={"failures": failures, "last_at": now, "locked_until": until}))
    return until


async def succeeded(maker: async_sessionmaker[AsyncSession], address: str) -> None:
    async with maker() as session, session.begin():
        await session.execute(delete(SigninFailure).where(SigninFailure.address == address))


__all__ = ["SessionRow", "create", "end", "failed", "lock_for", "locked_until", "lookup", "purge_idle",
           "session_digest", "succeeded"]
