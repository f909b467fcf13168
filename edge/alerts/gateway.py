"""The gateway's staff alerts: the shared alerting engine (shared/alerting/service.py) fed from
this gateway's devices.

Scales, camera lanes and RFID presence speak in observations (edge/fusion/domain.py); the engine
speaks in the shop's words (a bin's count, a device gone or back, a foreign item on a scale).
`GatewayAlerts.observe` is the translation, so the engine itself imports no device driver and the
cloud runs it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.fusion.domain import (
    BinAvailability,
    BinLevel,
    CameraStatus,
    LaneCount,
    UnexplainedWeight,
    WeightEvent,
)
from edge.rfid.presence import PresenceTracker, TagState
from shared.alerting.config import AlertConfigError, parse_alerts_config
from shared.alerting.service import AlertService, log, unknown_backroom
from shared.alerting.store import AlertStore


@dataclass
class GatewayAlerts(AlertService):
    """The alert service of one gateway, taking its devices' observations."""

    def on_observation(self, obs: object) -> None:
        """`observe` for device callbacks: a fault here is logged, never raised into a poller."""
        try:
            self.observe(obs)
        except (sqlite3.Error, ValueError, KeyError):
            log.exception("alerts: could not take %s", type(obs).__name__)

    def observe(self, obs: object) -> None:
        """A shelf or camera observation: WeightEvent / BinLevel / LaneCount give a bin's count,
        BinAvailability / CameraStatus a device going away or back, UnexplainedWeight a foreign
        item; anything else is ignored."""
        if isinstance(obs, BinAvailability):
            self.device(f"shelf:{obs.bin}", obs.available, obs.reason)
        elif isinstance(obs, CameraStatus):
            self.device(f"camera:{obs.camera}", obs.available, obs.reason)
        elif isinstance(obs, UnexplainedWeight):
            self.foreign_item(obs.bin, obs.sku, obs.delta_g)
        elif isinstance(obs, LaneCount):
            if obs.sku is not None:
                self.shelf_count(obs.bin or obs.lane, obs.sku, obs.count)
        elif isinstance(obs, WeightEvent):
            self.shelf_count(obs.bin, obs.sku, obs.count, weighed_change=True)
        elif isinstance(obs, BinLevel) and obs.sku is not None:
            self.shelf_count(obs.bin, obs.sku, obs.count)


def rfid_backroom(tracker: PresenceTracker, skus: Sequence[str] = ()) -> Callable[[str], int | None]:
    """Units of a SKU present in the backroom zone by RFID presence (edge/rfid/presence.py).

    A SKU is counted only if it is tagged: in `skus` ([rfid].skus) or seen on some tag already.
    An untagged product would otherwise read as "none in backroom" and ask for a needless reorder."""
    tagged = set(skus)

    def count(sku: str) -> int | None:
        n, seen = 0, sku in tagged
        for t in tracker.snapshot():
            if t.gtin == sku:
                seen = True
                if t.state is TagState.PRESENT and t.zone == "backroom":
                    n += 1
        return n if seen else None

    return count


def open_alerts(
    section: Mapping[str, Any],
    *,
    data_dir: Path | None = None,
    source: tuple[str, str] | None = None,
    backroom: Callable[[str], int | None] = unknown_backroom,
) -> GatewayAlerts:
    """The gateway's alert service from its `[alerts]` section; AlertConfigError if it is bad."""
    cfg = parse_alerts_config(section, data_dir)
    try:
        Path(cfg.db).parent.mkdir(parents=True, exist_ok=True)
        store = AlertStore(cfg.db)
    except (OSError, sqlite3.Error) as e:
        raise AlertConfigError(f"[alerts] db {cfg.db}: {e}") from e
    return GatewayAlerts(cfg, store, backroom=backroom, source=source)


async def run_alerts(
    config_section: Mapping[str, Any],
    observations: asyncio.Queue[object],
    stop: asyncio.Event,
    *,
    backroom: Callable[[str], int | None] = unknown_backroom,
    ready: Callable[[GatewayAlerts], None] | None = None,
) -> None:
    """The alert service fed from a queue of observations until `stop` (tests, benchmarks)."""
    svc = open_alerts(config_section, backroom=backroom)
    if ready is not None:
        ready(svc)

    async def feed() -> None:
        while True:
            svc.observe(await observations.get())

    feeder = asyncio.create_task(feed())
    try:
        await svc.run(stop)
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        svc.store.close()
