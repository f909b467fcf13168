"""The migrations build exactly the schema the models describe (tables, columns, indexes, keys)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from cloud.channels import records
from cloud.db import engines
from cloud.db.migrate import upgrade
from cloud.db.models import Base


def _diff(conn: Any) -> list[Any]:
    """Differences between the database and every table the code declares (the ledger's models
    and the platform sync's push records)."""
    declared = MetaData()
    for table in (*Base.metadata.tables.values(), *records.metadata.tables.values()):
        table.to_metadata(declared)
    return list(compare_metadata(MigrationContext.configure(conn), declared))


async def test_migrations_match_the_models(tmp_path: Path, pg_url: str) -> None:
    for url in (f"sqlite:///{tmp_path / 'schema.db'}", pg_url):
        await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
        engine = engines.make_engine(url)
        try:
            async with engine.connect() as conn:
                diff = await conn.run_sync(_diff)
        finally:
            await engine.dispose()
        # alembic_version is Alembic's own table
        assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == [], url
