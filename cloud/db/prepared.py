"""The order path's statements run on the database driver's own prepared statements (PostgreSQL:
asyncpg), written and compiled by SQLAlchemy.

Why not through SQLAlchemy's execution, as everywhere else: placing an order is six round trips
to PostgreSQL, and SQLAlchemy's execution of an already compiled statement (its execution context,
parameter and result set-up, the greenlet bridge to asyncio) costs more than twice the round trip
itself. Measured on the build machine with the order transaction's own statements: 1.0 ms of CPU
per order through SQLAlchemy, 0.32 ms on asyncpg with the same SQL (both on uvloop). So here
SQLAlchemy still writes every statement, one definition compiled once per dialect with its bind
types applied, and asyncpg prepares and runs it, in a transaction of its own on a connection from
the engine's pool. Errors are SQLAlchemy's (IntegrityError, DBAPIError), as callers expect.

SQLite (in process, one writer) runs the same statements through SQLAlchemy: `Runner` is the
seam, and `runner(db)` makes one of a session or connection for code shared with other callers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.types import ARRAY

Params = Mapping[str, Any]
Row = Sequence[Any]


class Runner(Protocol):
    """Runs prepared SQLAlchemy statements in one transaction; rows are tuples in the statement's
    column order. `pg` says which of a statement's dialect variants to pass (engines.among)."""

    @property
    def pg(self) -> bool: ...

    async def rows(self, statement: Executable, params: Params) -> Sequence[Row]: ...

    async def first(self, statement: Executable, params: Params) -> Row | None: ...

    async def run(self, statement: Executable, params: Params | Sequence[Params]) -> None: ...


@dataclass(frozen=True, slots=True)
class SqlAlchemyRunner:
    """Through SQLAlchemy: SQLite's path, and any session or connection."""

    db: AsyncSession | AsyncConnection
    pg: bool = False

    async def rows(self, statement: Executable, params: Params) -> Sequence[Row]:
        return (await self.db.execute(statement, params)).all()

    async def first(self, statement: Executable, params: Params) -> Row | None:
        return (await self.db.execute(statement, params)).first()

    async def run(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        await self.db.execute(statement, params)


def runner(db: AsyncSession | AsyncConnection | Runner) -> Runner:
    """A Runner for whatever a caller holds."""
    if isinstance(db, (AsyncSession, AsyncConnection)):
        bind = db if isinstance(db, AsyncConnection) else db.get_bind()
        return SqlAlchemyRunner(db, pg=bind.dialect.name == "postgresql")
    return db


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # the positional parameters in order: name, the value bound in the statement itself (a
    # literal status) and the bind type's conversion (UtcDateTime), if any
    parameters: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]

    def arguments(self, params: Params) -> list[Any]:
        out = []
        for name, given, processor in self.parameters:
            value = params.get(name, given)
            out.append(value if processor is None or value is None else processor(value))
        return out


class Statements:
    """Each statement compiled once for one dialect (the worker keeps one of these)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, tuple[Executable, _Compiled]] = {}

    def __getitem__(self, statement: Executable) -> _Compiled:
        hit = self._compiled.get(id(statement))
        if hit is not None and hit[0] is statement:
            return hit[1]
        compiled = statement.compile(dialect=self.dialect)  # type: ignore[attr-defined]  # every Executable here is a ClauseElement
        parameters = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            kind = bind.type.item_type if isinstance(bind.type, ARRAY) else bind.type
            # an array's items converted one by one; asyncpg takes a list of plain values as it is
            processor = kind.dialect_impl(self.dialect).bind_processor(self.dialect)
            if processor is not None and kind is not bind.type:
                processor = bind.type.dialect_impl(self.dialect).bind_processor(self.dialect)
            parameters.append((name, None if bind.required else bind.value, processor))
        done = _Compiled(str(compiled), tuple(parameters))
        self._compiled[id(statement)] = (statement, done)
        return done


@dataclass(frozen=True, slots=True)
class AsyncpgRunner:
    connection: Any  # asyncpg.Connection (its stubs are incomplete)
    statements: Statements
    pg: bool = True

    async def rows(self, statement: Executable, params: Params) -> Sequence[Row]:
        c = self.statements[statement]
        with _translated(c.sql):
            rows: Sequence[Row] = await self.connection.fetch(c.sql, *c.arguments(params))
        return rows

    async def first(self, statement: Executable, params: Params) -> Row | None:
        c = self.statements[statement]
        with _translated(c.sql):
            row: Row | None = await self.connection.fetchrow(c.sql, *c.arguments(params))
        return row

    async def run(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        c = self.statements[statement]
        with _translated(c.sql):
            if isinstance(params, Mapping):
                await self.connection.execute(c.sql, *c.arguments(params))
            else:
                await self.connection.executemany(c.sql, [c.arguments(p) for p in params])


@contextlib.contextmanager
def _translated(sql: str) -> Any:
    """asyncpg's errors as SQLAlchemy's, which the callers (and engines.is_transient) know."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as e:
        raise IntegrityError(sql, None, e) from e
    except asyncpg.PostgresError as e:
        raise DBAPIError(sql, None, e) from e


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine, statements: Statements | None) -> AsyncIterator[Runner]:
    """A transaction on a pooled connection: on asyncpg's own connection when `statements` are
    given (PostgreSQL), else SQLAlchemy's. Committed when the block ends, rolled back on error."""
    if statements is None:
        async with engine.begin() as conn:
            yield SqlAlchemyRunner(conn)
        return
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's own connection
        with _translated("BEGIN / COMMIT"):
            async with raw.transaction():
                yield AsyncpgRunner(raw, statements)


__all__ = ["AsyncpgRunner", "Runner", "SqlAlchemyRunner", "Statements", "runner", "transaction"]
