"""Every application key of the cloud service, in one place (aiohttp's typed `web.AppKey`).

A handler, a page or a background task finds what the app holds here, never in the module that
builds it: cloud/app.py wires the resources in and everything else only reads them, so no module
needs to import the app (which imports every module) and there is no import circle to dodge. The
types are imported for the type checker only, which keeps this module free of the resources' own
dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from cloud.alerts import ChainAlerts
    from cloud.auth import Tokens
    from cloud.channels.config import ChannelConfig
    from cloud.channels.relay import EventRelay
    from cloud.channels.sync import PlatformSync, SyncOptions
    from cloud.console.live import Live
    from cloud.console.queries_channels import ChannelFigures
    from cloud.console.shared_reads import SharedReads
    from cloud.console.web import ConsoleOptions
    from cloud.db.orders import Orders
    from cloud.db.replenishment import Replenishment
    from cloud.db.transfers import Transfers
    from cloud.events import StockEvents
    from cloud.ingest import Ingest
    from cloud.settings import Settings

# The service and its database
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[CollectorRegistry] = web.AppKey("metrics")
MAKER: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("maker")
HEALTH: web.AppKey[dict[str, Callable[[], Any]]] = web.AppKey("health")  # /healthz sections
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens")
EVENTS: web.AppKey[StockEvents] = web.AppKey("stock_events")

# The MQTT ingest worker (its session also carries commands to the gateways)
INGEST: web.AppKey[Ingest] = web.AppKey("ingest")

# Orders and transfers
ORDERS: web.AppKey[Orders] = web.AppKey("orders")
TRANSFERS: web.AppKey[Transfers] = web.AppKey("transfers")
REPLENISHMENT: web.AppKey[Replenishment] = web.AppKey("replenishment")  # runs, suggestions, the nightly one

# Platform sync and the channels' spreadsheets
SYNC: web.AppKey[PlatformSync] = web.AppKey("platform_sync")
RELAY: web.AppKey[EventRelay] = web.AppKey("stock_event_relay")
CHANNELS: web.AppKey[dict[str, ChannelConfig]] = web.AppKey("channel_configs")
SYNC_OPTIONS: web.AppKey[SyncOptions] = web.AppKey("sync_options")
EXPORT_DIR: web.AppKey[Path] = web.AppKey("export_dir")  # in the app when --export-dir is given

# Chain alerts
CHAIN_ALERTS: web.AppKey[ChainAlerts] = web.AppKey("chain_alerts")

# The console
CONSOLE_PUBLIC: web.AppKey[set[str]] = web.AppKey("console_public_routes")  # routes needing no session
CONSOLE_OPTIONS: web.AppKey[ConsoleOptions] = web.AppKey("console_options")
LIVE: web.AppKey[Live] = web.AppKey("console_live")
CONSOLE_READS: web.AppKey[SharedReads] = web.AppKey("console_shared_reads")  # what many consoles read at once
CHANNEL_FIGURES: web.AppKey[ChannelFigures] = web.AppKey("console_channel_figures")  # kept per worker
