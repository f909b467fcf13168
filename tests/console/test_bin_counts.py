"""A shelves snapshot's empty and low bins are counted when it is kept (the overview reads the
counts, not every store's bins), by the same rule as the shelf map's tiles; snapshots kept before
migration 0008 are counted by the migration. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cloud.db import engines
from cloud.db.gateway_snapshots import bin_state, gateway_views, record_shelves
from cloud.db.migrate import upgrade
from shared.contract import BinView, ShelfSnapshot, Source
from tests.support.services import postgres_database

SKU = "06923450000106"
BINS = (BinView("A1-1", SKU, 0, True),                    # empty
        BinView("A1-2", SKU, 2, True, refill_at=2),       # low: at its threshold
        BinView("A1-3", SKU, 1, True, refill_at=3),       # low
        BinView("A1-4", SKU, 5, True, refill_at=2),       # ok
        BinView("A1-5", SKU, 0, False),                   # unavailable: not empty
        BinView("A1-6", SKU, None, True),                 # not counted yet
        BinView("C1-1", SKU, 0, True, Source.VISION))      # an empty camera lane


async def test_a_kept_snapshot_counts_its_empty_and_low_bins(db_url: str) -> None:
    upgrade(db_url)
    engine = engines.make_engine(db_url)
    maker = engines.sessionmaker(engine)
    try:
        async with maker() as session, session.begin():
            await session.execute(text("INSERT INTO gateways (store, gateway, max_seq, deltas) "
                                       "VALUES ('sh-0042', 'gw-1', 0, 0)"))
        assert await record_shelves(maker, ShelfSnapshot("sh-0042", "gw-1", datetime.now(UTC), BINS))
        async with maker() as session:
            [light] = await gateway_views(session, ["sh-0042"], bins=False)
            [full] = await gateway_views(session, ["sh-0042"])
        states = [bin_state(b) for b in BINS]
        assert (light.empty_bins, light.low_bins) == (states.count("empty"), states.count("low")) == (2, 2)
        assert light.bins == () and full.bins == BINS
        assert (full.empty_bins, full.low_bins) == (2, 2)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, whatever `db_url` may give (a database already at the head
    of the migrations cannot be taken to 0007 by an upgrade)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with postgres_database() as url:
            yield url


async def test_the_migration_counts_the_snapshots_kept_before_it(empty_db_url: str) -> None:
    db_url = empty_db_url
    upgrade(db_url, "0007")
    engine = engines.make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO gateway_snapshots (store, gateway, shelves) VALUES "
                                    "('sh-0042', 'gw-1', :s), ('sh-0043', 'gw-1', NULL)"),
                               {"s": json.dumps([b.to_json() for b in BINS])})
        upgrade(db_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT store, empty_bins, low_bins FROM gateway_snapshots"))).all()
        counts = {store: (empty, low) for store, empty, low in rows}
        assert counts == {"sh-0042": (2, 2), "sh-0043": (None, None)}
    finally:
        await engine.dispose()
