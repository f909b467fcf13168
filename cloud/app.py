"""create_app(settings) → the cloud service: database engine, MQTT ingest, REST API.

Each resource is a cleanup_ctx generator, so it is opened at startup and closed at shutdown in
reverse order, and tests can build the same app against any database and broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from cloud.api.handlers import ADMIN_TOKEN, HEALTH, MAKER, add_routes, bearer_auth
from cloud.db import repo
from cloud.db.migrate import upgrade
from cloud.ingest import Ingest
from cloud.settings import Settings

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
INGEST = web.AppKey("ingest", Ingest)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.migrate:
        await asyncio.get_running_loop().run_in_executor(None, upgrade, settings.db_url)
    engine = repo.make_engine(settings.db_url, pool_size=5, max_overflow=5) \
        if not settings.db_url.startswith("sqlite") else repo.make_engine(settings.db_url)
    app[MAKER] = repo.sessionmaker(engine)
    yield
    await engine.dispose()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.mqtt is None:
        yield
        return
    # SQLite has one writer at a time; PostgreSQL overlaps a group's statements with the
    # previous group's commit.
    concurrency = 1 if settings.db_url.startswith("sqlite") else 2
    ingest = Ingest(app[MAKER], settings.mqtt, settings.client_id, settings.share_group, concurrency)
    app[INGEST] = ingest
    app[HEALTH]["ingest"] = lambda: {
        "connected": ingest.stats.connected, "batches": ingest.stats.batches,
        "deltas": ingest.stats.deltas, "duplicates": ingest.stats.duplicates,
        "dead_letters": ingest.stats.dead_letters, "resend_requests": ingest.stats.resend_requests,
        "batch_ms_p50": _pct(ingest.stats.commit_ms, 0.5), "batch_ms_p99": _pct(ingest.stats.commit_ms, 0.99),
    }
    task = asyncio.create_task(ingest.run(), name="ingest")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _pct(values: list[float], q: float) -> float | None:
    """A percentile of the last 1,000 batch transactions (None before the first)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[bearer_auth])
    app[SETTINGS] = settings
    app[ADMIN_TOKEN] = settings.admin_token
    app[HEALTH] = {"worker": lambda: settings.client_id}
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    add_routes(app)
    return app
