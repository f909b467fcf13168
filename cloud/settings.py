"""Cloud service settings: command line and environment, parsed once."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.mqtt import BrokerUrl

# `shelfsync cloud` (serve) without --db or $SHELFSYNC_DB; every other command needs one.
DEFAULT_DB = "sqlite:///shelfsync-ledger.db"


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = DEFAULT_DB
    mqtt: BrokerUrl | None = None  # None: no ingest (API only)
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str = ""
    worker_id: str = ""
    share_group: str = "cloud"
    migrate: bool = True
    alerts: Path | None = None  # chain-level staff alerts (cloud/alerts.py); one worker only
    channels: Path | None = None  # platform sync credentials (cloud/channels/config.py); None: no sync
    max_clock_ahead_s: float = 900.0  # a delta dated further ahead of this clock is dead-lettered
    console_idle_s: float = 1800.0  # a console session without a request for this long ends
    timezone: str = "Asia/Shanghai"  # the chain's: the console's "today" and the times it shows
    export_dir: Path | None = None  # channels' scheduled spreadsheets (cloud/channels/export.py); None: none
    export_tick_s: float = 15.0  # how often due spreadsheets are looked for

    @property
    def client_id(self) -> str:
        return f"cloud-{self.worker_id or socket.gethostname()}"


def admin_token_from(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("SHELFSYNC_ADMIN_TOKEN", "")
