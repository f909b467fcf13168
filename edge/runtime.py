"""`shelfsync gateway`: wires a store gateway together and runs it until SIGTERM.

The only module that knows every part: outbox, HTTP face (POS webhook), MQTT publisher.
Device sources (RFID, weight shelves, cameras) plug in here as they land.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiohttp import web

from edge.alerts.gateway import GatewayAlerts, open_alerts, rfid_backroom
from edge.alerts.staff_page import staff_app
from edge.camera.source import CameraError
from edge.camera.source import parse_section as parse_camera_section
from edge.clock import WALL_CLOCK, Clock, ClockConfigError, parse_clock_section
from edge.config import ConfigError, StoreConfig, load_config
from edge.delivery.outbox import Outbox, OutboxError
from edge.delivery.publisher import Publisher
from edge.fusion.domain import BinAvailability, BinInfo, CameraStatus
from edge.fusion.pipeline import (
    Append,
    Pipeline,
    SalesHook,
    parse_reconcile_section,
    reconcile_late_s,
    reconcile_unseen_s,
)
from edge.fusion.reconciler import Reconciler
from edge.health import judge
from edge.http import create_app
from edge.rfid.devices import DeviceConfigError, Presence, Stocktakes, parse_rfid_section
from edge.sdnotify import Notifier, keep_watchdog
from edge.shelf.poller import ShelfConfigError, parse_shelf_config
from edge.shelves import Shelves
from edge.store_check import check_store_config
from shared.alerting.config import AlertConfigError
from shared.alerting.service import unknown_backroom
from shared.contract import StockDelta
from shared.logs import LogSetupError
from shared.logs import setup as setup_logging
from shared.metrics import Reading, registry

log = logging.getLogger("shelfsync.gateway")

EPILOG = """example:
  shelfsync gateway --config /etc/shelfsync/store.toml
  shelfsync gateway --check-config /etc/shelfsync/store.toml   (check every section; start nothing)

A minimal store.toml:
  [store]
  id = "sh-0042"
  [mqtt]
  url = "mqtt://127.0.0.1:1883"
  [http]
  listen = "0.0.0.0:8081"
  token = "change-me-long-random"
"""


async def run_gateway(config: StoreConfig, *, ready: asyncio.Event | None = None,
                      stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    # A bad section stops start-up before anything opens; what was found goes to the log.
    for line in check_store_config(config).describe():
        log.info("config: %s", line)
    clock = shop_clock(config)
    outbox = Outbox(config.outbox_path, sent_retention_s=config.outbox.sent_retention_days * 86400)
    await outbox.open()
    publisher = Publisher(outbox, config.mqtt.broker, config.store, config.gateway,
                          batch_max=config.outbox.batch_max, keepalive=config.mqtt.keepalive,
                          status_interval=config.mqtt.status_interval)
    devices, stocktakes = _devices(config, outbox, publisher, clock)
    alerts = _alerts(config, devices, publisher) if "alerts" in config.sections else None
    _watch_devices(devices, publisher, alerts)
    stocktakes_on_sales = stocktakes.on_sales if stocktakes is not None else None
    reconciler, on_sales = attach_reconciler(config.sections.get("reconcile"), devices, outbox.append,
                                             stocktakes_on_sales, clock)
    if reconciler is not None and stocktakes is not None:
        stocktakes.on_counts = reconciler.on_counts  # an RFID count anchors the reconciler's floor
    readings = [
        Reading("shelfsync_gateway_deltas_accepted_total", "Deltas committed to the outbox", "counter",
                lambda: outbox.appended_total),
        Reading("shelfsync_gateway_deltas_published_total", "Deltas acknowledged by the broker", "counter",
                lambda: publisher.published),
        Reading("shelfsync_gateway_outbox_depth", "Deltas not yet acknowledged by the broker", "gauge",
                lambda: outbox.depth),
        Reading("shelfsync_gateway_outbox_oldest_unsent_seconds", "Age of the oldest unsent delta", "gauge",
                lambda: outbox.oldest_unsent_age_s),
        Reading("shelfsync_gateway_mqtt_connected", "1 while the broker link is up", "gauge",
                lambda: publisher.connected.is_set()),
        Reading("shelfsync_gateway_resends_total", "Resend requests obeyed", "counter",
                lambda: publisher.resends),
        Reading("shelfsync_gateway_bins", "Shelf bins and camera lanes watched", "gauge",
                lambda: sum(len(d.snapshot().bins) for d in devices if isinstance(d, Shelves))),
        Reading("shelfsync_gateway_bins_unavailable", "Bins or lanes whose scale or camera is down", "gauge",
                lambda: sum(1 for d in devices if isinstance(d, Shelves)
                            for b in d.snapshot().bins if not b.available)),
    ]
    if reconciler is not None and reconciler.reconciler.portal:
        door = reconciler.reconciler
        readings += [
            Reading("shelfsync_gateway_door_reads_total", "Tag reads at the door's antennas",
                    "counter", lambda: sum(d.exits for d in devices if isinstance(d, Presence))),
            Reading("shelfsync_gateway_door_out_total",
                    "Units the door's two antennas saw carried out (door_in, then door_out)", "counter",
                    lambda: sum(d.went_out for d in devices if isinstance(d, Presence))),
            Reading("shelfsync_gateway_door_in_total",
                    "Units the door's two antennas saw carried in: returns, transfers (not shrink)",
                    "counter",
                    lambda: sum(d.came_in for d in devices if isinstance(d, Presence))),
            Reading("shelfsync_gateway_door_reads_waiting",
                    "Units read leaving whose till line may still come (exit_grace_s), not judged yet",
                    "gauge", lambda: door.door_reads_waiting),
        ]
    if reconciler is not None:
        pipeline = reconciler
        readings += [
            Reading("shelfsync_gateway_reconcile_waiting",
                    "Observations held until their time has passed by the lateness allowed", "gauge",
                    lambda: pipeline.waiting),
            Reading("shelfsync_gateway_reconcile_late_total",
                    "Observations that came after their time had been reconciled past", "counter",
                    lambda: pipeline.late),
        ]
    health: dict[str, Callable[[], object]] = {
        "store": lambda: config.store,
        "gateway": lambda: config.gateway,
        "mqtt_connected": publisher.connected.is_set,
        "mqtt_down_s": lambda: None if (down := publisher.down_for()) is None else round(down, 1),
        "outbox_depth": lambda: outbox.depth,
        "published": lambda: publisher.published,
    }
    if alerts is not None:
        health["alerts_open"] = lambda: len(alerts.book.open_alerts())
        health["alerts_undelivered"] = alerts.store.pending
        health["alerts_delivery_failures"] = lambda: alerts.delivery_failures
        health["alerts_unpublished"] = alerts.store.unpublished_count
        readings += [
            Reading("shelfsync_gateway_alerts_undelivered", "Staff notifications queued, not yet delivered",
                    "gauge", alerts.store.pending),
            Reading("shelfsync_gateway_alert_delivery_failures_total",
                    "Delivery tries that left a staff notification undelivered (it stays queued)", "counter",
                    lambda: alerts.delivery_failures),
        ]
    def problems(link_threshold_s: float) -> Callable[[], tuple[str, ...]]:
        return lambda: judge(link_down_s=publisher.down_for(), link_threshold_s=link_threshold_s,
                             devices=publisher.devices(), outbox_alive=outbox.alive)

    app = create_app(outbox, config.http.token, health=health, metrics=registry(readings),
                     on_sales=on_sales, staff=staff_app(alerts) if alerts else None,
                     on_movements=reconciler.on_counts if reconciler is not None else None,
                     skew=config.http.skew, problems=problems(config.mqtt.unhealthy_after_s),
                     unready=problems(0.0),  # ready: healthy, with the broker link up now
                     clock=clock, on_picks=reconciler.on_pick if reconciler is not None else None,
                     on_refills=reconciler.on_refill if reconciler is not None else None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port)
    try:
        await site.start()
        log.info("gateway %s/%s: POS webhook on %s:%d, broker %s, outbox %s (%d unsent)",
                 config.store, config.gateway, config.http.host, config.http.port,
                 config.mqtt.broker.redacted(), config.outbox_path, outbox.depth)
        notifier = Notifier.from_env()  # systemd Type=notify; a no-op elsewhere
        async with asyncio.TaskGroup() as tasks:
            publishing = tasks.create_task(publisher.run(), name="publisher")
            # Healthy while the publisher runs and the outbox writer lives; a broker that is
            # away is not a reason to restart (the outbox holds the deltas).
            stats = tasks.create_task(_refresh_stats(outbox), name="outbox-stats")
            device_tasks = [tasks.create_task(d.run(), name=type(d).__name__) for d in devices]
            if alerts is not None:
                device_tasks.append(tasks.create_task(alerts.run(), name="alerts"))
            if reconciler is not None:
                device_tasks.append(tasks.create_task(reconciler.run(), name="reconciler"))
            watchdog = tasks.create_task(keep_watchdog(
                notifier, healthy=lambda: not publishing.done() and outbox.alive), name="watchdog")
            notifier.ready(f"POS webhook on {config.http.host}:{config.http.port}")
            if ready is not None:
                ready.set()
            await stop.wait()
            notifier.stopping("draining")
            for task in (publishing, stats, watchdog, *device_tasks):
                task.cancel()
        await publisher.announce_offline()
    finally:
        await runner.cleanup()
        await outbox.close()
        if alerts is not None:
            alerts.store.close()


def shop_clock(config: StoreConfig) -> Clock:
    """The shop's clock: the wall clock, or a simulated shop's own ([clock], edge/clock.py)."""
    if "clock" not in config.sections:
        return WALL_CLOCK
    try:
        return parse_clock_section(config.sections["clock"])
    except ClockConfigError as e:
        raise ConfigError(str(e)) from None


def attach_reconciler(section: object, devices: Sequence[object], append: Append,
                      on_sales: SalesHook | None,
                      clock: Clock = WALL_CLOCK) -> tuple[Pipeline | None, SalesHook | None]:
    """Opt-in (`[reconcile]` in store.toml): a Pipeline over every scale bin and camera lane (one
    that names a bin) of the gateway's shelves, listening to their observations, to the door's
    antennas and to the POS webhook's committed sales (after whatever listened before), on the
    shop's clock. Returns the pipeline (None without the section) and the sales hook the webhook should call.

        [reconcile]
        window_s = 1500     # a pick no sale claims within this long is shrink
        tick_s = 10         # the reconciler's clock ticks every 10 s of the shop's time
        exit_grace_s = 60   # with a door antenna: how late a till line may follow its units out
        late_s = 5          # real seconds an observation may reach the gateway after its time
        unseen_s = 1800     # how long a pick nothing saw leave waits for its sale (1.2 x window_s)
    """
    if section is None:
        return None, on_sales
    window_s, tick_s, grace_s = parse_reconcile_section(section)
    shelves = [d for d in devices if isinstance(d, Shelves)]
    bins = {b.id: BinInfo(b.id, b.sku, b.unit_g) for s in shelves for p in s.pollers for b in p.bins}
    # Camera lanes that name a bin: their count changes are picks and put-backs too (a bin with a
    # scale and a lane is fused by their confidences). A lane-only bin's unit weight is its SKU's on
    # a scale, if any (the reconciler weighs nothing on it).
    unit_of = {b.sku: b.unit_g for b in bins.values()}
    lane_cameras: dict[str, str] = {}  # lane -> the camera that counts it
    for s in shelves:
        for camera in s.cameras:
            for lane in camera.config.lanes:
                if lane.bin is None:
                    continue
                lane_cameras[lane.id] = camera.config.id
                if lane.bin in bins:
                    bins[lane.bin] = replace(bins[lane.bin], lane=True)
                elif lane.sku is not None:
                    bins[lane.bin] = BinInfo(lane.bin, lane.sku, unit_of.get(lane.sku, 0.0),
                                             scale=False, lane=True)
    pipeline = Pipeline(bins, append, clock=clock, tick=timedelta(seconds=tick_s),
                        late_s=reconcile_late_s(section),
                        reconciler=Reconciler(bins, window=timedelta(seconds=window_s),
                                              unseen_window=timedelta(seconds=reconcile_unseen_s(section)),
                                              portal_grace=timedelta(seconds=grace_s)))
    for lane_id, camera_id in lane_cameras.items():
        pipeline.lanes.lane_of_camera(lane_id, camera_id)
    tagged: set[str] = set()
    for presence in (d for d in devices if isinstance(d, Presence) and d.config.portal):
        pipeline.reconciler.portal = True
        presence.on_exit = pipeline.on_exit
        presence.on_entry = pipeline.on_entry
        tagged.update(presence.config.skus)
    if tagged:
        # `[rfid].skus`, the SKUs a stocktake counts, are those whose units carry tags: a pick of
        # one the door did not read is still in the shop, and waits for its sale, its units coming
        # home or the next count rather than turning shrink by time (edge/fusion/reconciler.py).
        pipeline.reconciler.tagged = frozenset(tagged)
    for s in shelves:
        before = s.on_observation

        def observed(o: object, before: Callable[[Any], None] | None = before) -> None:
            if before is not None:
                before(o)
            pipeline.on_observation(o)

        s.on_observation = observed

    def sales(deltas: tuple[StockDelta, ...]) -> None:
        if on_sales is not None:
            on_sales(deltas)
        pipeline.on_sales(deltas)

    log.info("reconciler on %d scale bins and %d camera lanes, window %g s%s",
             sum(b.scale for b in bins.values()), sum(b.lane for b in bins.values()), window_s,
             ", exit portal" if pipeline.reconciler.portal else "")
    return pipeline, sales


def _devices(config: StoreConfig, outbox: Outbox, publisher: Publisher,
             clock: Clock = WALL_CLOCK) -> tuple[list[Shelves | Presence], Stocktakes | None]:
    """Device sections → running parts: shelves report their snapshot; RFID readers take stock
    when the cloud asks. Raises ConfigError for a bad section."""
    devices: list[Shelves | Presence] = []
    stocktakes: Stocktakes | None = None
    try:
        if "shelf" in config.sections or "camera" in config.sections:
            shelves = parse_shelf_config(config.sections["shelf"]) if "shelf" in config.sections else None
            base = config.path.parent if config.path else None
            cameras = parse_camera_section(config.sections.get("camera", {}), base)
            devices.append(Shelves(shelves, cameras, config.store, config.gateway, publisher.publish_latest,
                                   clock=clock))
        if "rfid" in config.sections:
            rfid = parse_rfid_section(config.sections["rfid"])
            presence = (Presence(rfid, outbox, clock=clock) if (rfid.presence or rfid.portal) and rfid.readers
                        else None)
            if presence is not None:
                devices.append(presence)
            stocktakes = Stocktakes(rfid, outbox, publisher.publish_latest, presence)
            publisher.commands["stocktake"] = stocktakes.on_command
    except (ShelfConfigError, DeviceConfigError, CameraError) as e:
        raise ConfigError(str(e)) from None
    return devices, stocktakes


def _alerts(config: StoreConfig, devices: list[Shelves | Presence], publisher: Publisher) -> GatewayAlerts:
    """[alerts] → staff alerts fed by the shelves and cameras, on the `alerts` topic through the
    publisher, the backroom counted by RFID presence when there is any."""
    presence = next((d for d in devices if isinstance(d, Presence)), None)
    backroom = rfid_backroom(presence.tracker, presence.config.skus) if presence else unknown_backroom
    try:
        alerts = open_alerts(config.sections["alerts"], data_dir=config.data_dir,
                             source=(config.store, config.gateway), backroom=backroom)
    except AlertConfigError as e:
        raise ConfigError(str(e)) from None
    if alerts.feed is not None:
        publisher.feeds.append(alerts.feed)
    return alerts


def _watch_devices(devices: list[Shelves | Presence], publisher: Publisher,
                   alerts: GatewayAlerts | None) -> None:
    """Shelf and camera observations go to staff alerts; a scale bus or camera going away or
    coming back is published in the status at once (the cloud raises chain-level alerts from it)."""
    shelves = [d for d in devices if isinstance(d, Shelves)]
    readers = [d for d in devices if isinstance(d, Presence)]
    parts: list[Shelves | Presence] = [*shelves, *readers]
    publisher.devices = lambda: {k: v for part in parts for k, v in part.device_states().items()}
    for r in readers:
        r.on_readers_changed = publisher.devices_changed
    if alerts is not None:  # the snapshot shows each bin's refill threshold (the console's shelf map)
        for s in shelves:
            s.refill_at = alerts.refill_at_of
        _take_settings(alerts, publisher, shelves)

    def observed(observation: object) -> None:
        if alerts is not None:
            alerts.on_observation(observation)
        if isinstance(observation, BinAvailability | CameraStatus):
            publisher.devices_changed()

    for s in shelves:
        s.on_observation = observed


def _take_settings(alerts: GatewayAlerts, publisher: Publisher, shelves: list[Shelves]) -> None:
    """The console's shelf settings (cmd/{gw}/settings) go to staff alerts; once applied, the status
    says their version at once (the cloud re-sends to a gateway that is behind) and the shelves
    snapshot shows the new thresholds."""
    publisher.commands["settings"] = alerts.on_settings_command
    publisher.settings_version = lambda: alerts.settings_version

    def applied() -> None:
        publisher.devices_changed()
        for s in shelves:
            s.thresholds_changed()

    alerts.on_settings = applied


async def _refresh_stats(outbox: Outbox, every_s: float = 10.0) -> None:
    """Keep the outbox's age gauge fresh for /metrics (the count is kept on every commit)."""
    while True:
        try:
            await outbox.stats()
        except OutboxError as e:
            log.warning("outbox stats: %s", e)
        await asyncio.sleep(every_s)


STOP_GRACE_S = 10.0  # a clean stop takes a second or two; systemd's own limit is longer


class _StuckStop(Exception):
    """The gateway did not finish stopping within STOP_GRACE_S of SIGTERM or SIGINT."""


def main(argv: list[str], prog: str = "shelfsync gateway") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run a store gateway.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="the store's TOML config")
    which.add_argument("--check-config", metavar="FILE",
                       help="check every section and key of FILE, say what it describes, start nothing")
    parser.add_argument("--log-level", default="INFO", help="debug, info, warning, error or critical")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level, args.log_format)
    except LogSetupError as e:
        print(f"{prog}: --log-level: {e}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config or args.check_config)
        if args.check_config:
            lines = check_store_config(config).describe()
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{config.path}: ok")
        print("\n".join(f"  {line}" for line in lines))
        return 0

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        gateway = asyncio.ensure_future(run_gateway(config, stop=stop))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([gateway, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        done, _ = await asyncio.wait([gateway], timeout=STOP_GRACE_S)
        if not done:  # asked to stop, and still stopping: say what waits, and go (below)
            waiting = sorted(t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task())
            log.error("gateway: still stopping %g s after the signal (waiting: %s); leaving without it: "
                      "what the outbox took is on disk", STOP_GRACE_S, ", ".join(waiting))
            raise _StuckStop
        gateway.result()

    try:
        asyncio.run(serve())
    except _StuckStop:
        with contextlib.suppress(Exception):
            logging.shutdown()
        os._exit(1)  # asyncio.run would wait for the stuck task again; every fsync'd delta is kept
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except OutboxError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    with contextlib.suppress(Exception):
        logging.shutdown()
    return 0
