"""A backup carries what Setup keeps — the audit log, the shelf settings with their version, the
channels' spreadsheet schedules — and a restore puts it back: SQLite → file → PostgreSQL, the
audit entries as they were (who, when, before → after), and the restored log keeps growing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud.channels import export
from cloud.db import audit, backup, engines
from cloud.db import shelf_settings as settings_db
from cloud.db.migrate import upgrade

T0 = datetime(2026, 12, 3, 9, tzinfo=UTC)
KIBBLE = "00950123456782"


async def _state(maker: object) -> tuple[object, ...]:
    async with maker() as session:  # type: ignore[operator]
        entries = [(e.at, e.who, e.action, e.target, e.before, e.after) for e in await audit.entries(session)]
        return (entries, await settings_db.rows_of(session, "sh-1"), await settings_db.version_of(session, "sh-1"),
                {c: (s.every_s, s.last_run_at) for c, s in (await export.states(session)).items()})


@pytest.mark.postgres
async def test_the_audit_log_shelf_settings_and_export_schedules_survive_backup_and_restore(
        tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    await asyncio.get_running_loop().run_in_executor(None, upgrade, source)
    engine = engines.make_engine(source)
    maker = engines.sessionmaker(engine)
    async with maker() as session, session.begin():
        await audit.record(session, "admin (hq)", "store.put", "store:sh-1", None, {"name": "Jing'an"}, at=T0)
        await settings_db.put(session, "sh-1", "bin", "A1-1", "Kibble 2 kg", 3, "ops (hq)", T0)
        await settings_db.put(session, "sh-1", "sku", KIBBLE, None, 2, "ops (hq)", T0)
        await export.set_every(session, "community", 3600, "ops (hq)")
    before = await _state(maker)
    file = tmp_path / "ledger.jsonl.gz"
    await backup.backup(maker, file)
    await engine.dispose()

    await asyncio.get_running_loop().run_in_executor(None, upgrade, pg_url)
    target = engines.make_engine(pg_url)
    tmaker = engines.sessionmaker(target)
    try:
        restored = await backup.restore(tmaker, file)
        assert restored["audit_log"] == 4 and restored["shelf_settings"] == 2
        assert await _state(tmaker) == before
        async with tmaker() as session, session.begin():  # the id sequence moved past the restored ids
            await audit.record(session, "admin (hq)", "store.put", "store:sh-2", None, {"name": "Xuhui"})
        async with tmaker() as session:
            newest = (await audit.entries(session, limit=1))[0]
        assert newest.target == "store:sh-2" and newest.id == 5
    finally:
        await target.dispose()
