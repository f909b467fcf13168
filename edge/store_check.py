"""The whole store.toml checked at once, and said back in a few lines.

edge/config.py parses the gateway's own tables ([store], [mqtt], [http], [outbox]) and checks that
no section is unknown; each device section is parsed here by the module that owns it ([shelf]
edge/shelf/poller.py, [camera] edge/camera/source.py, [rfid] edge/rfid/devices.py, [alerts]
edge/alerts.py, [reconcile] edge/fusion/pipeline.py), each checking its own keys. Nothing is opened: no
device, broker, database or model file. `shelfsync gateway --check-config FILE` prints
`describe()`, and the gateway logs the same lines at start-up, so what it found (devices, alert
routes, reconciler settings) is never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from edge.clock import ClockConfigError, ShopClock, parse_clock_section
from edge.config import ConfigError, StoreConfig
from edge.fusion.pipeline import ReconcileConfigError, parse_reconcile_section
from edge.rfid.devices import DeviceConfigError, RfidConfig, parse_rfid_section
from edge.shelf.poller import ShelfConfig, ShelfConfigError, parse_shelf_config
from shared.alerting.config import AlertConfigError, AlertsConfig, parse_alerts_config, shown_url
from shared.alerting.rules import Role

if TYPE_CHECKING:  # the camera part (OpenCV, onnxruntime) is imported only for a [camera] section
    from edge.camera.source import CameraConfig


@dataclass(frozen=True, slots=True)
class CheckedConfig:
    """A store config with every device section parsed (None / empty: the section is absent)."""

    config: StoreConfig
    shelf: ShelfConfig | None
    cameras: tuple[CameraConfig, ...]
    rfid: RfidConfig | None
    alerts: AlertsConfig | None
    reconcile: tuple[float, float, float] | None  # window_s, tick_s, exit_grace_s
    clock: ShopClock | None = None  # a simulated shop's own clock

    def describe(self) -> list[str]:
        """One line per part: what the gateway will run (secrets masked as apprise masks them)."""
        c = self.config
        lines = [f"store {c.store}, gateway {c.gateway}, data in {c.data_dir}",
                 f"broker {c.mqtt.broker.redacted()}, POS webhook on {c.http.host}:{c.http.port}"]
        if self.shelf is None:
            lines.append("shelf: none")
        else:
            buses = ", ".join(f"{b.id} tcp {b.tcp[0]}:{b.tcp[1]}" if b.tcp else f"{b.id} serial {b.serial}"
                              for b in self.shelf.buses)
            lines.append(f"shelf: {_count(len(self.shelf.buses), 'bus', 'buses')}, "
                         f"{_count(len(self.shelf.bins), 'bin')} ({buses})")
        lines.append("camera: " + (", ".join(f"{cam.id} ({_count(len(cam.lanes), 'lane')})"
                                             for cam in self.cameras) or "none"))
        if self.rfid is None or not self.rfid.readers:
            lines.append("rfid: none")
        else:
            readers = ", ".join(f"{r.name} {r.host}:{r.port}" for r in self.rfid.readers)
            lines.append(f"rfid: {_count(len(self.rfid.readers), 'reader')} ({readers}), presence "
                         + ("on" if self.rfid.presence else "off")
                         + (", door antenna" if self.rfid.portal else ""))
        if self.alerts is None:
            lines.append("alerts: none")
        else:
            routes = "; ".join(f"{role} → " + (", ".join(shown_url(u) for u in self.alerts.urls.get(role, ()))
                                               or "none")
                               for role in (Role.STAFF, Role.MANAGER))
            lines.append(f"alerts: {routes}; {_count(len(self.alerts.bins), 'bin rule')}")
        if self.reconcile is None:
            lines.append("reconcile: off (weight readings inform the shelves snapshot only)")
        else:
            window, tick, grace = self.reconcile
            lines.append(f"reconcile: window {window:g} s, tick {tick:g} s, exit grace {grace:g} s")
        if self.clock is not None:
            lines.append(f"clock: a simulated shop's, {self.clock.speed:g} x real time "
                         f"(at {self.clock.start.isoformat()} when this machine's clock said "
                         f"{datetime.fromtimestamp(self.clock.wall, UTC).isoformat()})")
        return lines


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def check_store_config(config: StoreConfig) -> CheckedConfig:
    """Parse every device section of `config`; ConfigError naming the file and the key if one is
    wrong."""
    sections = config.sections
    try:
        cameras: tuple[CameraConfig, ...] = ()
        if "camera" in sections:
            from edge.camera.source import CameraError
            from edge.camera.source import parse_section as parse_camera_section
            try:
                base = config.path.parent if config.path else None
                cameras = parse_camera_section(sections["camera"], base)
            except CameraError as e:
                raise DeviceConfigError(str(e)) from None
        return CheckedConfig(
            config=config,
            shelf=parse_shelf_config(sections["shelf"]) if "shelf" in sections else None,
            cameras=cameras,
            rfid=parse_rfid_section(sections["rfid"]) if "rfid" in sections else None,
            alerts=parse_alerts_config(sections["alerts"], config.data_dir) if "alerts" in sections else None,
            reconcile=parse_reconcile_section(sections["reconcile"]) if "reconcile" in sections else None,
            clock=parse_clock_section(sections["clock"]) if "clock" in sections else None,
        )
    except (ShelfConfigError, DeviceConfigError, AlertConfigError, ReconcileConfigError,
            ClockConfigError) as e:
        raise ConfigError(f"{config.path}: {e}" if config.path else str(e)) from None
