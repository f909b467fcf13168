"""The ledger's database: engines for SQLite and PostgreSQL, sessions, and what differs between them.

Works the same on both: plain URLs (sqlite:///x.db, postgresql://…) get the async driver this
service uses; SQLite runs in WAL mode with fsync on every commit, so an acknowledged batch is on
disk; `upsert` and `dialect` hide the one statement the two spell differently.
"""


from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam, event, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

Key = tuple[str, str]  # (store, sku): the unit of ordering in the ledger


def is_transient(e: DBAPIError) -> bool:
    """A lock or serialisation conflict that a retry of the whole transaction gets past
    (SQLite "database is locked", PostgreSQL deadlock / serialization failure)."""
    return any(w in str(e).lower() for w in ("locked", "deadlock", "serializ"))


def async_url(url: str) -> str:
    """Plain URLs (sqlite:///x.db, postgresql://…) → the async driver this service uses."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    engine = create_async_engine(async_url(url), **kw)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acked batch is on disk
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
    return engine


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect(session: AsyncSession) -> str:
    bind = session.get_bind()
    return str(bind.dialect.name)


def upsert(session: AsyncSession) -> Any:
    return postgresql.insert if dialect(session) == "postgresql" else sqlite.insert


async def ping(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as session:
        await session.execute(select(1))


def among(pg: bool, column: Any, name: str) -> Any:
    """`column` is one of the list bound to `name` when the statement runs: on PostgreSQL
    `= ANY(:name)` with the list as one array, so the statement is the same whatever the list's
    length; elsewhere (SQLite has no arrays) an expanding IN, whose SQL SQLAlchemy renders again
    for every execution, costing about as much as the statement itself on a hot path."""
    if pg:
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def in_keys(store_col: Any, sku_col: Any, keys: Sequence[Key]) -> Any:
    return tuple_(store_col, sku_col).in_(list(keys))
