"""The audit log in a real database (SQLite and PostgreSQL): an entry lives and dies with the
transaction of its change, unchanged values are not recorded, the database refuses to rewrite or
delete an entry, and the page's query filters and pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import audit, engines
from cloud.db.migrate import upgrade
from cloud.db.models import AuditEntry

T0 = datetime(2026, 12, 3, 9, tzinfo=UTC)


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.get_running_loop().run_in_executor(None, upgrade, db_url)
    engine = engines.make_engine(db_url)
    try:
        yield engines.sessionmaker(engine)
    finally:
        await engine.dispose()


async def test_an_entry_is_committed_with_its_change_and_rolled_back_with_it(
        maker: async_sessionmaker[AsyncSession]) -> None:
    who = audit.actor("admin", "hq")
    async with maker() as session, session.begin():
        assert await audit.record(session, who, "store.put", "store:sh-1", None, {"name": "Jing'an"}, at=T0)
    with pytest.raises(RuntimeError):
        async with maker() as session, session.begin():
            await audit.record(session, who, "store.put", "store:sh-2", None, {"name": "Xuhui"}, at=T0)
            raise RuntimeError("the change failed")
    async with maker() as session:
        [entry] = await audit.entries(session)
    assert (entry.who, entry.action, entry.target, entry.at) == ("admin (hq)", "store.put", "store:sh-1", T0)
    assert entry.before is None and entry.after == {"name": "Jing'an"}
    assert [(c.field, c.before, c.after) for c in entry.changes] == [("name", None, "Jing'an")]


async def test_a_change_that_changes_nothing_is_not_recorded_and_a_change_shows_only_its_fields(
        maker: async_sessionmaker[AsyncSession]) -> None:
    before = {"name": "Kibble 2 kg", "unit_cost": 50.0, "min_stock": 2}
    async with maker() as session, session.begin():
        assert not await audit.record(session, "a (hq)", "product.put", "product:1", before, dict(before))
        assert await audit.record(session, "a (hq)", "product.put", "product:1", before,
                                  {**before, "min_stock": 4})
    async with maker() as session:
        [entry] = await audit.entries(session)
    assert [(c.field, c.before, c.after) for c in entry.changes] == [("min_stock", 2, 4)]


async def test_the_database_refuses_to_rewrite_or_delete_an_entry(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as session, session.begin():
        await audit.record(session, "a (hq)", "store.put", "store:sh-1", None, {"name": "x"})
    for statement in (update(AuditEntry).values(who="someone else"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with maker() as session, session.begin():
                await session.execute(statement)
    async with maker() as session:
        assert [e.who for e in await audit.entries(session)] == ["a (hq)"]
        assert (await session.execute(text("SELECT count(*) FROM audit_log"))).scalar_one() == 1


async def test_entries_filter_by_who_action_target_and_time_newest_first_and_page_back(
        maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as session, session.begin():
        for i in range(6):
            who = "admin (hq)" if i % 2 else "ops-lead (hq)"
            action = "store.put" if i < 3 else "channel.put"
            await audit.record(session, who, action, f"store:sh-{i}" if i < 3 else f"channel:c{i}",
                               None, {"n": i}, at=T0 + timedelta(minutes=i))
    async with maker() as session:
        def ns(rows: list[audit.AuditView]) -> list[int]:
            return [r.after["n"] for r in rows if r.after]

        assert ns(await audit.entries(session)) == [5, 4, 3, 2, 1, 0]
        assert ns(await audit.entries(session, who="OPS")) == [4, 2, 0]
        assert ns(await audit.entries(session, action="store.put")) == [2, 1, 0]
        assert ns(await audit.entries(session, target="channel:")) == [5, 4, 3]
        assert ns(await audit.entries(session, since=T0 + timedelta(minutes=2),
                                      until=T0 + timedelta(minutes=4))) == [3, 2]
        first = await audit.entries(session, limit=2)
        assert ns(first) == [5, 4]
        assert ns(await audit.entries(session, limit=2, before_id=first[-1].id)) == [3, 2]
        assert ns(await audit.entries(session, who="100%_")) == []  # LIKE wildcards are text here
        assert await audit.actions(session) == ["channel.put", "store.put"]
