"""Store gateway configuration: one TOML file, parsed once into frozen dataclasses.

Example ([store], [mqtt] and [http] are required, with [store].id, [mqtt].url and a token; every
other key has a default):

    [store]
    id = "sh-0042"            # the MQTT username and topic level: [a-z0-9-]{1,32}
    gateway = "gw-1"
    data_dir = "/var/lib/shelfsync"

    [mqtt]
    url = "mqtts://sh-0042:secret@broker.example.com:8883?ca=/etc/shelfsync/ca.pem"
    keepalive = 30
    status_interval = 30      # status heartbeat; carries the last acknowledged seq
    unhealthy_after_s = 60    # /healthz says ok: false once the broker link is down this long

    [http]
    listen = "0.0.0.0:8081"   # POS webhook, staff page, health
    token = "…"               # bearer token the POS must send; or token_env = "SHELFSYNC_POS_TOKEN"
    max_ahead_s = 300         # a till's or staff `at` may be this far ahead of the gateway's clock
    max_age_days = 30         # … and this old; outside that it is a 400 naming `at`

    [outbox]
    batch_max = 500           # deltas per MQTT message
    sent_retention_days = 7   # unsent deltas are never purged

Sections for devices ([rfid], [shelf], [camera], [alerts], [reconcile]) are kept as parsed TOML and
handed to the module that owns them, which parses its own section into its own frozen dataclasses
(edge/store_check.py has them all checked at once). Every name is checked (shared/toml_tables.py): a
section or key that nothing reads is an error that suggests the closest valid one, never ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge.pos import TILL_SKEW
from shared.contract import ClockSkew, ContractError, check_id
from shared.mqtt import BrokerUrl
from shared.toml_tables import check_keys, check_sections


class ConfigError(ValueError):
    """The store config is missing, unreadable or invalid; the message names the key."""


# The tables parsed here and the keys each takes (every key `_get` reads must be listed).
KEYS: Mapping[str, frozenset[str]] = {
    "store": frozenset({"id", "gateway", "data_dir"}),
    "mqtt": frozenset({"url", "keepalive", "status_interval", "unhealthy_after_s"}),
    "http": frozenset({"listen", "token", "token_env", "max_ahead_s", "max_age_days"}),
    "outbox": frozenset({"batch_max", "sent_retention_days"}),
}
REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {"store": ("id",), "mqtt": ("url",)}
# Handed to the modules that own them, which check their own keys.
DEVICE_SECTIONS = ("rfid", "shelf", "camera", "alerts", "reconcile", "clock")
# No [mqtt] must not mean "a broker on this machine", nor no [http] "a webhook no till reaches".
REQUIRED_SECTIONS = ("store", "mqtt", "http")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    broker: BrokerUrl
    keepalive: int = 30
    status_interval: float = 30.0  # seconds between status heartbeats (they carry last_seq)
    unhealthy_after_s: float = 60.0  # broker link down this long: /healthz ok is false


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str
    port: int
    token: str
    skew: ClockSkew = TILL_SKEW  # how far a till's `at` may be from the gateway's clock


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    batch_max: int = 500
    sent_retention_days: float = 7.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    store: str
    gateway: str
    data_dir: Path
    mqtt: MqttSettings
    http: HttpSettings
    outbox: OutboxSettings
    sections: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _get(table: Mapping[str, Any], section: str, key: str, kind: type, default: Any = None) -> Any:
    assert key in KEYS[section], f"[{section}] {key} is read but not in KEYS"
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"[{section}].{key} is required")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[{section}].{key} must be a {kind.__name__}, got {value!r}")
    return value


def parse_listen(value: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{where} must be HOST:PORT, got {value!r}")
    return host or "0.0.0.0", int(port)


def parse_config(doc: Mapping[str, Any], *, base: Path | None = None,
                 env: Mapping[str, str] | None = None) -> StoreConfig:
    env = os.environ if env is None else env
    check_sections(doc, (*KEYS, *DEVICE_SECTIONS), required=REQUIRED_SECTIONS, error=ConfigError)
    for name, keys in KEYS.items():
        check_keys(_table(doc, name), keys, f"[{name}]", required=REQUIRED_KEYS.get(name, ()),
                   error=ConfigError)
    store_t = _table(doc, "store")
    try:
        store = check_id(store_t.get("id"), "[store].id")
        gateway = check_id(store_t.get("gateway", "gw-1"), "[store].gateway")
    except ContractError as e:
        raise ConfigError(str(e)) from None
    data_dir = Path(_get(store_t, "store", "data_dir", str, "var/" + store))
    if not data_dir.is_absolute() and base is not None:
        data_dir = base / data_dir

    mqtt_t = _table(doc, "mqtt")
    try:
        broker = BrokerUrl.parse(_get(mqtt_t, "mqtt", "url", str))
    except ValueError as e:
        raise ConfigError(f"[mqtt].url: {e}") from None
    keepalive = _get(mqtt_t, "mqtt", "keepalive", int, 30)
    status_interval = _get(mqtt_t, "mqtt", "status_interval", float, 30.0)
    if status_interval <= 0:
        raise ConfigError("[mqtt].status_interval must be > 0 seconds")
    unhealthy_after = _get(mqtt_t, "mqtt", "unhealthy_after_s", float, 60.0)
    if unhealthy_after <= 0:
        raise ConfigError("[mqtt].unhealthy_after_s must be > 0 seconds")

    http_t = _table(doc, "http")
    host, port = parse_listen(_get(http_t, "http", "listen", str, "127.0.0.1:8081"), "[http].listen")
    token = http_t.get("token")
    if token is None and "token_env" in http_t:  # token_env names a variable; `token` wins
        token = env.get(str(http_t["token_env"]))
        if not token:
            raise ConfigError(f"[http].token_env names {http_t['token_env']!r}, which is not set")
    if not isinstance(token, str) or len(token) < 8:
        raise ConfigError("[http].token (or token_env) must give a bearer token of at least 8 characters")
    ahead = _get(http_t, "http", "max_ahead_s", float, TILL_SKEW.ahead.total_seconds())
    age = _get(http_t, "http", "max_age_days", float, (TILL_SKEW.behind or timedelta(0)) / timedelta(days=1))
    if not (0 <= ahead <= 86400 and 0 < age <= 3650):
        raise ConfigError("[http].max_ahead_s must be within 0..86400 and max_age_days within 0..3650 (> 0)")

    out_t = _table(doc, "outbox")
    batch_max = _get(out_t, "outbox", "batch_max", int, 500)
    if not 1 <= batch_max <= 1000:
        raise ConfigError("[outbox].batch_max must be within 1..1000 (the contract's batch limit)")
    retention = _get(out_t, "outbox", "sent_retention_days", float, 7.0)

    return StoreConfig(
        store=store,
        gateway=gateway,
        data_dir=data_dir,
        mqtt=MqttSettings(broker, keepalive, status_interval, unhealthy_after),
        http=HttpSettings(host, port, token, ClockSkew(timedelta(seconds=ahead), timedelta(days=age))),
        outbox=OutboxSettings(batch_max, retention),
        sections={k: v for k, v in doc.items() if k in DEVICE_SECTIONS},
    )


def load_config(path: Path | str) -> StoreConfig:
    path = Path(path)
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        config = parse_config(doc, base=path.parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return replace(config, path=path)
