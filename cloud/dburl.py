"""The `--db` URL of every cloud command: checked, and the database reached, before anything runs.

The ledger runs on SQLite and PostgreSQL only (ARCHITECTURE §1). A URL for anything else, a SQLite
file in a directory that does not exist, or a server that cannot be reached is a user's mistake:
it must reach them as one line naming `--db`, not as a SQLAlchemy or asyncpg traceback from deep
inside start-up (or, for SQLite, as a new empty ledger somewhere unexpected).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

SQLITE = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
POSTGRES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2", "postgresql+psycopg")
FORMS = "use sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


class DatabaseUrlError(ValueError):
    """`--db` is not a ledger this service can use; the message says why in one line."""


def check_db_url(url: str) -> str:
    """`url` if it names a SQLite file in an existing directory or a PostgreSQL database."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"{url!r} is not a database URL ({FORMS})") from None
    if u.drivername in SQLITE:
        if u.database and u.database != ":memory:":
            folder = Path(u.database).expanduser().resolve().parent
            if not folder.is_dir():
                raise DatabaseUrlError(f"directory {folder} does not exist (for {u.database})")
        return url
    if u.drivername in POSTGRES:
        return url
    raise DatabaseUrlError(f"{u.drivername!r} databases are not supported: {FORMS}")


async def probe(url: str, timeout_s: float = 15.0) -> None:
    """Connect once and run `SELECT 1`; DatabaseUrlError naming the database (password hidden)
    and the reason when that fails."""
    from cloud.db.engines import make_engine  # the engine factory (and its drivers) only once the URL is sane

    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUrlError(f"cannot connect to {shown}: no answer in {timeout_s:g} s") from None
    except (SQLAlchemyError, OSError) as e:
        reason = getattr(e, "orig", None) or e
        raise DatabaseUrlError(f"cannot connect to {shown}: {_one_line(reason)}") from None
    finally:
        await engine.dispose()


def _one_line(error: BaseException) -> str:
    said = str(error).strip().splitlines()
    return said[0] if said else type(error).__name__
