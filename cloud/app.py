"""create_app(settings) → the cloud service: database engine, MQTT ingest, REST API.

Each resource is a cleanup_ctx generator, so it is opened at startup and closed at shutdown in
reverse order, and tests can build the same app against any database and broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from cloud import console, shelf_settings
from cloud.alerts import chain_alerts
from cloud.api import orders, replenishment
from cloud.api.routes import cloud_api
from cloud.auth import Tokens, bearer_auth
from cloud.channels import export
from cloud.channels.sync import platform_sync
from cloud.db import engines
from cloud.db.migrate import upgrade
from cloud.db.orders import Orders
from cloud.db.transfers import Transfers
from cloud.events import StockEvents
from cloud.ingest import Ingest
from cloud.keys import EVENTS, EXPORT_DIR, HEALTH, INGEST, MAKER, METRICS, ORDERS, SETTINGS, TOKENS, TRANSFERS
from cloud.settings import Settings
from shared import metrics
from shared.contract import ClockSkew
from shared.openapi import json_errors

log = logging.getLogger(__name__)



async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.migrate:
        await asyncio.get_running_loop().run_in_executor(None, upgrade, settings.db_url)
    engine = engines.make_engine(settings.db_url, pool_size=5, max_overflow=5) \
        if not settings.db_url.startswith("sqlite") else engines.make_engine(settings.db_url)
    app[MAKER] = engines.sessionmaker(engine)
    app[TOKENS].maker = app[MAKER]
    app[ORDERS] = Orders(app[MAKER], sqlite=engine.dialect.name == "sqlite",
                                on_changed=app[EVENTS].publish)
    app[TRANSFERS] = Transfers(app[ORDERS])
    yield
    await engine.dispose()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.mqtt is None:
        yield
        return
    # One group in its transaction at a time. Two (the next group's statements overlapping the
    # previous commit) measured worse on PostgreSQL here: the groups wait on each other's SKU
    # locks (bench e2e p99 106-185 ms against 66-95 ms with one); SQLite has one writer anyway.
    concurrency = 1
    ingest = Ingest(app[MAKER], settings.mqtt, settings.client_id, settings.share_group, concurrency)
    app[INGEST] = ingest
    ingest.on_applied = app[EVENTS].publish
    ingest.on_status = shelf_settings.follow(app[MAKER], ingest.command)  # gateways behind the console's
    ingest.clock = ClockSkew(ahead=timedelta(seconds=settings.max_clock_ahead_s))
    app[HEALTH]["ingest"] = lambda: {
        "connected": ingest.stats.connected, "batches": ingest.stats.batches,
        "deltas": ingest.stats.deltas, "duplicates": ingest.stats.duplicates,
        "dead_letters": ingest.stats.dead_letters, "resend_requests": ingest.stats.resend_requests,
        "batch_ms_p50": _pct(ingest.stats.commit_ms, 0.5), "batch_ms_p99": _pct(ingest.stats.commit_ms, 0.99),
    }
    app[METRICS].register(_IngestReadings(ingest))
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


class _IngestReadings(Collector):
    """The ingest worker's counters as Prometheus metrics, read at scrape time."""

    def __init__(self, ingest: Ingest) -> None:
        s = ingest.stats
        self._inner = metrics.Readings([
            metrics.Reading("shelfsync_cloud_batches_total", "Delta batches applied", "counter",
                            lambda: s.batches),
            metrics.Reading("shelfsync_cloud_deltas_applied_total", "Deltas applied to the ledger", "counter",
                            lambda: s.deltas),
            metrics.Reading("shelfsync_cloud_deltas_duplicate_total", "Redelivered deltas skipped", "counter",
                            lambda: s.duplicates),
            metrics.Reading("shelfsync_cloud_dead_letters_total", "Payloads rejected", "counter",
                            lambda: s.dead_letters),
            metrics.Reading("shelfsync_cloud_resend_requests_total", "Resends asked of gateways", "counter",
                            lambda: s.resend_requests),
            metrics.Reading("shelfsync_cloud_ingest_connected", "1 while subscribed", "gauge",
                            lambda: s.connected),
            metrics.Reading("shelfsync_cloud_batch_transaction_seconds_p99",
                            "p99 of the last 1,000 group transactions", "gauge",
                            lambda: (_pct(s.commit_ms, 0.99) or 0.0) / 1000),
        ])

    def collect(self) -> Iterator[Metric]:
        return self._inner.collect()


def create_app(settings: Settings) -> web.Application:
    # The API's answers are JSON and take bearer tokens; the console's (under /) are pages with a
    # session cookie: each set of middlewares runs for its own routes only.
    app = web.Application(middlewares=console.split_middlewares(api=[json_errors, bearer_auth],
                                                                console=console.MIDDLEWARES))
    app[METRICS] = CollectorRegistry(auto_describe=True)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(None, settings.admin_token)
    app[EVENTS] = StockEvents()
    app[HEALTH] = {"worker": lambda: settings.client_id}
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(orders.sweeper)
    app.cleanup_ctx.append(replenishment.replenishment)
    app.cleanup_ctx.append(chain_alerts(settings.alerts, settings.mqtt, settings.client_id))
    app.cleanup_ctx.append(platform_sync)
    app.cleanup_ctx.append(export.scheduler(settings.export_dir, settings.export_tick_s))
    if settings.export_dir is not None:
        app[EXPORT_DIR] = settings.export_dir
    cloud_api(app[METRICS]).install(app)  # the routes, their schemas and /openapi.json
    console.install(app, console.ConsoleOptions(settings.console_idle_s, settings.timezone),
                    settings.client_id)
    return app
