"""The `[alerts]` section of a store's TOML (and of the cloud's alerts file) → AlertsConfig.

Every apprise URL is checked here, when the section is read, so a mistyped one stops start-up
instead of swallowing every alert sent to it.

    [alerts]
    db = "alerts.sqlite3"              # relative to [store].data_dir
    timezone = "Asia/Shanghai"         # quiet hours and expiry dates are the store's local time
    staff = ["ntfy://ntfy.example/store-0042"]
    manager = ["wecombot://KEY"]
    escalate_after_s = 900
    quiet_hours = ["22:00", "07:00"]
    rate_per_hour = 30
    staff_networks = ["192.168.1.0/24"]   # who may open /staff/ (default: private addresses)
    [alerts.bins.A1-2]
    product = "Royal Canin Indoor 2 kg"
    refill_at = 2
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise

from shared.alerting.delivery import apprise_quiet, known_schemes
from shared.alerting.rules import (
    Policy,
    Role,
)
from shared.toml_tables import check_keys, closest

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Who may open the staff page when [alerts].staff_networks is not given: the store LAN (RFC 1918,
# RFC 4193, link-local) and the gateway itself, never an address from the internet.
PRIVATE_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8",
              "fc00::/7", "fe80::/10", "::1/128")
)


class AlertConfigError(ValueError):
    pass


# The keys of [alerts] and of each [alerts.bins.BIN] (shared/toml_tables.py: anything else is an
# error); [alerts.expiry_days] holds the shop's own product categories.
ALERTS_KEYS = frozenset({"db", "timezone", "staff", "manager", "escalate_after_s", "quiet_hours",
                         "rate_per_hour", "refill_clear_margin", "expiry_days", "expiry_default_days",
                         "bins", "retry_s", "tick_s", "staff_networks"})
BIN_RULE_KEYS = frozenset({"product", "refill_at"})


def check_apprise_url(url: str, where: str) -> None:
    """AlertConfigError unless apprise can build a notifier from `url` (apprise's `add()` parses
    it and returns False when it cannot). The message names where the URL is and, for a mistyped
    scheme, the closest one apprise knows; it never repeats the URL, which may hold a key."""
    with apprise_quiet():
        if apprise.Apprise().add(url):
            return
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        schemes = known_schemes()
    if scheme not in schemes:
        match = closest(scheme, schemes)
        reason = f'unknown scheme "{scheme}"' + (f' — did you mean "{match}"?' if match else "")
    else:
        reason = f"apprise refuses this {scheme}:// URL: check its host, key and parameters"
    raise AlertConfigError(f"{where}: not a URL apprise can send to ({reason})")


def shown_url(url: str) -> str:
    """A URL as a log may show it: apprise's privacy form (keys and passwords masked), no options."""
    with apprise_quiet():
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return "(not an apprise URL)"
    # apprise's URLBase.url has no annotations
    return str(plugin.url(privacy=True)).partition("?")[0]  # type: ignore[no-untyped-call]


def target_id(url: str) -> str:
    """How the delivery queue notes a target it reached (a digest: the URL may hold a key)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BinRule:
    bin: str
    product: str
    refill_at: int


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    db: str
    urls: Mapping[Role, tuple[str, ...]]
    policy: Policy
    bins: Mapping[str, BinRule]
    retry_s: float = 5.0
    tick_s: float = 1.0
    staff_networks: tuple[Network, ...] = PRIVATE_NETWORKS


def parse_alerts_config(section: Mapping[str, Any], data_dir: Path | None = None) -> AlertsConfig:
    """The `[alerts]` table → AlertsConfig; a relative `db` is taken from `data_dir`."""
    def strs(key: str) -> tuple[str, ...]:
        v = section.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise AlertConfigError(f"[alerts] {key} must be a list of apprise URLs")
        for i, url in enumerate(v):
            check_apprise_url(url, f"[alerts] {key}[{i}]")
        return tuple(v)

    if not isinstance(section, Mapping):
        raise AlertConfigError("[alerts] must be a table")
    check_keys(section, ALERTS_KEYS, "[alerts]", error=AlertConfigError)
    raw_bins = section.get("bins", {})
    if not isinstance(raw_bins, Mapping):
        raise AlertConfigError("[alerts] bins must be tables: [alerts.bins.BIN] with product and refill_at")
    for b, r in raw_bins.items():
        if not isinstance(r, Mapping):
            raise AlertConfigError(f"[alerts.bins.{b}] must be a table with product and refill_at")
        check_keys(r, BIN_RULE_KEYS, f"[alerts.bins.{b}]", required=BIN_RULE_KEYS, error=AlertConfigError)

    try:
        quiet = section.get("quiet_hours")
        qs = qe = None
        if quiet is not None:
            qs, qe = (time.fromisoformat(str(x)) for x in quiet)
        expiry = section.get("expiry_days", {})
        try:
            tz = ZoneInfo(str(section.get("timezone", "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            raise AlertConfigError(
                f"[alerts] timezone: unknown time zone {section.get('timezone')!r} "
                "(an IANA name such as \"Asia/Shanghai\")"
            ) from None
        networks = section.get("staff_networks")
        try:
            staff_networks = (
                tuple(ipaddress.ip_network(str(n), strict=False) for n in networks)
                if networks is not None
                else PRIVATE_NETWORKS
            )
        except (TypeError, ValueError) as e:
            raise AlertConfigError(f"[alerts] staff_networks: {e} (want CIDRs like 192.168.1.0/24)") from None
        db = Path(str(section.get("db", "alerts.sqlite3")))
        if data_dir is not None and not db.is_absolute():
            db = data_dir / db
        policy = Policy(
            escalate_after=timedelta(seconds=float(section.get("escalate_after_s", 900))),
            quiet_start=qs,
            quiet_end=qe,
            tz=tz,
            rate_per_hour=int(section.get("rate_per_hour", 30)),
            refill_clear_margin=int(section.get("refill_clear_margin", 1)),
            expiry_days={str(k): int(v) for k, v in dict(expiry).items()},
            expiry_default_days=int(section.get("expiry_default_days", 90)),
        )
        bins = {str(b): BinRule(str(b), str(r["product"]), int(r["refill_at"])) for b, r in raw_bins.items()}
        return AlertsConfig(
            db=str(db),
            urls={Role.STAFF: strs("staff"), Role.MANAGER: strs("manager")},
            policy=policy,
            bins=bins,
            retry_s=float(section.get("retry_s", 5.0)),
            tick_s=float(section.get("tick_s", 1.0)),
            staff_networks=staff_networks,
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, AlertConfigError):
            raise
        raise AlertConfigError(f"[alerts]: {e!r}") from e


