"""Staff alerts on the gateway: durable alert book, apprise delivery with a retry queue (issue 7).

`shared/alerting/rules.py` decides; this module keeps the book in SQLite (so alerts survive a
restart and are not re-sent), queues notifications in the same transaction, and delivers them
through apprise (research/cloud.md §5: json://, ntfy://, wecombot://, ...). Every URL is checked
with apprise when the section is parsed, so a mistyped one stops start-up. A notification that
fails (internet down) stays queued and is retried with backoff, each target on its own: the
targets it reached are noted and not sent it again. Every change of an alert's state
is also queued, in the same transaction, for the MQTT `alerts` topic (contract.AlertNotice); the
publisher drains that queue as a `Feed`, so the cloud hears of alerts raised while offline.

Config (`[alerts]` in the store TOML)::

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

Head office may override a bin's product name and refill threshold, or a product's for every bin
that holds it, in the console (contract.ShelfSettings on cmd/{gw}/settings). The newest settings
received are kept in the alert book's SQLite, so a restart keeps them; the TOML's values are the
defaults they override: a bin's console setting first, then its product's, then the TOML.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import sqlite3
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise

from edge.camera.source import CameraStatus, LaneCount
from edge.rfid.presence import PresenceTracker, TagState
from edge.shelf.detector import UnexplainedWeight, WeightEvent
from edge.shelf.poller import BinAvailability, BinLevel
from shared.alerting.rules import (
    Alert,
    Book,
    Condition,
    Lot,
    Notification,
    Policy,
    Role,
    expiry_conditions,
    misplaced_condition,
    offline_condition,
    refill_condition,
    refilled_texts,
)
from shared.backoff import Backoff
from shared.contract import (
    AlertNotice,
    ContractError,
    ShelfRule,
    ShelfSettings,
    Stream,
    decode_settings,
    encode,
)
from shared.toml_tables import check_keys, closest

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Who may open the staff page when [alerts].staff_networks is not given: the store LAN (RFC 1918,
# RFC 4193, link-local) and the gateway itself, never an address from the internet.
PRIVATE_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8",
              "fc00::/7", "fe80::/10", "::1/128")
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertConfigError(ValueError):
    pass


# The keys of [alerts] and of each [alerts.bins.BIN] (shared/toml_tables.py: anything else is an
# error); [alerts.expiry_days] holds the shop's own product categories.
ALERTS_KEYS = frozenset({"db", "timezone", "staff", "manager", "escalate_after_s", "quiet_hours",
                         "rate_per_hour", "refill_clear_margin", "expiry_days", "expiry_default_days",
                         "bins", "retry_s", "tick_s", "staff_networks"})
BIN_RULE_KEYS = frozenset({"product", "refill_at"})


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    """apprise 2.3 loads its plugins lazily on the first add(); its e-mail plugin imports the
    stdlib imghdr, which warns on 3.11 (the warning is apprise's, not ours). It also logs its own
    error for a URL it refuses, which the caller reports better, with where the URL is."""
    lib_log = logging.getLogger("apprise")
    disabled, lib_log.disabled = lib_log.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            yield
    finally:
        lib_log.disabled = disabled


def _schemes() -> set[str]:
    """Every URL scheme this apprise knows (its plugins' `protocols` and `secure_protocols`)."""
    schemes: set[str] = set()
    for plugin in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            names = plugin.get(key) or ()
            schemes.update([names] if isinstance(names, str) else names)
    return schemes


def check_apprise_url(url: str, where: str) -> None:
    """AlertConfigError unless apprise can build a notifier from `url` (apprise's `add()` parses
    it and returns False when it cannot). The message names where the URL is and, for a mistyped
    scheme, the closest one apprise knows; it never repeats the URL, which may hold a key."""
    with _apprise_quiet():
        if apprise.Apprise().add(url):
            return
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        schemes = _schemes()
    if scheme not in schemes:
        match = closest(scheme, schemes)
        reason = f'unknown scheme "{scheme}"' + (f' — did you mean "{match}"?' if match else "")
    else:
        reason = f"apprise refuses this {scheme}:// URL: check its host, key and parameters"
    raise AlertConfigError(f"{where}: not a URL apprise can send to ({reason})")


def shown_url(url: str) -> str:
    """A URL as a log may show it: apprise's privacy form (keys and passwords masked), no options."""
    with _apprise_quiet():
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


# --- durable state ----------------------------------------------------------------------------


class AlertStore:
    """SQLite: the alert book and the queue of notifications not yet delivered."""

    def __init__(self, path: str | Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS alert (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT"
            " NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (role TEXT, at TEXT)")
        # Alert states for the MQTT `alerts` topic, until the broker acknowledges them.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS outgoing"
            " (id INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL)"
        )
        # The console's shelf settings last applied (one row: its JSON as the command carried it).
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS settings (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL)"
        )

    def close(self) -> None:
        self.db.close()

    def load_settings(self) -> ShelfSettings | None:
        row = self.db.execute("SELECT doc FROM settings WHERE id = 1").fetchone()
        return decode_settings(row[0]) if row is not None else None

    def save_settings(self, settings: ShelfSettings) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings(id, doc) VALUES (1, ?)",
                        (encode(settings).decode(),))

    def load(self) -> Book:
        alerts = {
            k: Alert.from_json(json.loads(doc)) for k, doc in self.db.execute("SELECT key, doc FROM alert")
        }
        sent = tuple(
            (Role(r), datetime.fromisoformat(at)) for r, at in self.db.execute("SELECT role, at FROM sent")
        )
        return Book(alerts, sent)

    def save(
        self, old: Book, new: Book, notes: Sequence[Notification], outgoing: Sequence[bytes] = ()
    ) -> None:
        """Write the changed alerts and enqueue `notes` (and the `outgoing` MQTT payloads)
        atomically: a crash between deciding and recording cannot lose or double a message."""
        with self.db:
            self.db.execute("BEGIN")
            for k, a in new.alerts.items():
                if old.alerts.get(k) != a:
                    doc = a.to_json() | {"resolved_notified": a.resolved_notified}
                    self.db.execute(
                        "INSERT OR REPLACE INTO alert(key, doc) VALUES (?, ?)", (k, json.dumps(doc))
                    )
            if new.sent != old.sent:
                self.db.execute("DELETE FROM sent")
                self.db.executemany(
                    "INSERT INTO sent VALUES (?, ?)", [(str(r), at.isoformat()) for r, at in new.sent]
                )
            for n in notes:
                doc = {
                    "key": n.key,
                    "role": str(n.role),
                    "event": n.event,
                    "title": n.title,
                    "body": n.body,
                    "urgent": n.urgent,
                }
                self.db.execute("INSERT INTO queue(doc) VALUES (?)", (json.dumps(doc),))
            self.db.executemany("INSERT INTO outgoing(payload) VALUES (?)", [(p,) for p in outgoing])

    def due(self, now: float) -> list[tuple[int, Notification, int, frozenset[str]]]:
        """Notifications to try now: (queue id, notification, tries so far, targets reached)."""
        rows = self.db.execute(
            "SELECT id, doc, attempts FROM queue WHERE next_at <= ? ORDER BY id", (now,)
        ).fetchall()
        out = []
        for i, doc, attempts in rows:
            d = json.loads(doc)
            n = Notification(d["key"], Role(d["role"]), d["event"], d["title"], d["body"], d["urgent"])
            out.append((i, n, attempts, frozenset(d.get("reached", ()))))
        return out

    def delivered(self, qid: int) -> None:
        self.db.execute("DELETE FROM queue WHERE id = ?", (qid,))

    def retry(self, qid: int, attempts: int, next_at: float, reached: Collection[str] = ()) -> None:
        """Try again at `next_at`, only the targets not in `reached` (target_id of each URL)."""
        with self.db:
            self.db.execute("BEGIN")
            (doc,) = self.db.execute("SELECT doc FROM queue WHERE id = ?", (qid,)).fetchone()
            doc = json.dumps(json.loads(doc) | {"reached": sorted(reached)})
            self.db.execute("UPDATE queue SET attempts = ?, next_at = ?, doc = ? WHERE id = ?",
                            (attempts, next_at, doc, qid))

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM queue").fetchone()[0])

    def unpublished(self, limit: int) -> list[tuple[int, bytes]]:
        rows = self.db.execute("SELECT id, payload FROM outgoing ORDER BY id LIMIT ?", (limit,))
        return [(int(i), bytes(p)) for i, p in rows]

    def published(self, upto: int) -> None:
        self.db.execute("DELETE FROM outgoing WHERE id <= ?", (upto,))

    def unpublished_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outgoing").fetchone()[0])


@dataclass
class AlertFeed:
    """The alert book's MQTT queue as the publisher's `Feed` (edge/delivery/publisher.py)."""

    store: AlertStore
    stream: Stream = Stream.ALERTS
    queued: asyncio.Event = field(default_factory=asyncio.Event)

    def unpublished(self, limit: int) -> list[tuple[int, bytes]]:
        return self.store.unpublished(limit)

    def published(self, upto: int) -> None:
        self.store.published(upto)


# --- delivery ---------------------------------------------------------------------------------


async def deliver(urls: Sequence[str], n: Notification) -> set[str]:
    """Send one notification to each of `urls` through apprise, one target at a time so that one
    failing does not hide the others' success; returns the targets it reached. A URL apprise
    refuses here (none should: they are checked at start) is a target not reached, never sent."""
    kind = {
        "raised": apprise.NotifyType.WARNING,
        "escalated": apprise.NotifyType.FAILURE,
        "resolved": apprise.NotifyType.SUCCESS,
    }.get(n.event, apprise.NotifyType.INFO)
    reached = set()
    for url in urls:
        ap = apprise.Apprise()
        with _apprise_quiet():
            added = ap.add(url)
        if not added:
            log.error("alert %s %s: apprise refuses a %s URL; kept for retry", n.event, n.key, n.role)
            continue
        try:
            if await ap.async_notify(body=n.body, title=n.title, notify_type=kind):
                reached.add(url)
        except Exception:  # apprise plugins raise assorted errors; a failed send is retried
            log.exception("apprise delivery failed")
    return reached


# --- the service -----------------------------------------------------------------------------


def unknown_backroom(sku: str) -> int | None:
    """No RFID in the backroom: its stock is unknown, and the refill message says so."""
    return None


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


@dataclass
class AlertService:
    """Owns the book: feeds observations in, persists, delivers, and tells listeners."""

    config: AlertsConfig
    store: AlertStore
    backroom: Callable[[str], int | None] = unknown_backroom  # units of a SKU in the backroom
    clock: Clock = utcnow
    source: tuple[str, str] | None = None  # (store, gateway): publish changes on `alerts` when set
    book: Book = field(default_factory=Book)
    listeners: list[asyncio.Queue[dict[str, object]]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    delivered_log: list[Notification] = field(default_factory=list)
    delivery_failures: int = 0  # tries that left a notification undelivered (/healthz, /metrics)
    retry_backoff: Backoff = field(init=False)  # a notification's retries (its tries kept in the book)
    flushed: asyncio.Event = field(default_factory=asyncio.Event)
    feed: AlertFeed | None = None
    settings: ShelfSettings | None = None  # the console's, over the TOML's bins (loaded from the book)
    on_settings: Callable[[], None] | None = None  # after new settings were applied
    # Each bin's newest count and SKU, so that new settings apply to what the shelf shows now.
    shelf: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # No jitter: one gateway's queue, each notification retried on its own schedule.
        self.retry_backoff = Backoff(initial=self.config.retry_s, maximum=300.0, jitter=0.0)
        self.book = self.store.load()
        try:
            self.settings = self.store.load_settings()
        except ContractError:  # written by this module from a checked command; never expected
            log.exception("alerts: the stored console settings are unreadable; using the TOML's")
        if self.source is not None:
            self.feed = AlertFeed(self.store)

    # -- settings --
    @property
    def settings_version(self) -> int:
        """The version of the console's settings in force (0: none received)."""
        return self.settings.version if self.settings is not None else 0

    def rule_for(self, bin_id: str, sku: str | None) -> BinRule | None:
        """The refill rule of a bin holding `sku`: each field from the console's bin setting, else
        its product setting, else the TOML's [alerts.bins.BIN]; None when no threshold is set."""
        base = self.config.bins.get(bin_id)
        layers: list[ShelfRule] = []
        if self.settings is not None:
            by_bin = self.settings.bins.get(bin_id)
            by_product = self.settings.products.get(sku) if sku else None
            layers = [r for r in (by_bin, by_product) if r is not None]
        if base is not None:
            layers.append(ShelfRule(base.product, base.refill_at))
        refill_at = next((r.refill_at for r in layers if r.refill_at is not None), None)
        if refill_at is None:
            return None
        product = next((r.product for r in layers if r.product is not None), None)
        return BinRule(bin_id, product or sku or bin_id, refill_at)

    def refill_at_of(self, bin_id: str, sku: str) -> int | None:
        """A bin's refill threshold now (the shelves snapshot shows it)."""
        rule = self.rule_for(bin_id, sku)
        return rule.refill_at if rule is not None else None

    def apply_settings(self, settings: ShelfSettings) -> bool:
        """Take the console's settings if newer than those in force: kept in the book, then every
        bin whose count is known is judged again by its new rule. False: older or the same."""
        if settings.version <= self.settings_version:
            return False
        self.store.save_settings(settings)
        self.settings = settings
        for bin_id, (count, sku) in sorted(self.shelf.items()):
            self._judge(bin_id, sku, count)
        log.info("alerts: console settings version %d applied (%d bins, %d products)", settings.version,
                 len(settings.bins), len(settings.products))
        if self.on_settings is not None:
            self.on_settings()
        return True

    async def on_settings_command(self, payload: bytes) -> None:
        """The `settings` command's handler (edge/delivery/publisher.py `commands`)."""
        try:
            settings = decode_settings(payload)
        except ContractError as e:
            log.warning("alerts: ignoring a settings command: %s", e)
            return
        try:
            if not self.apply_settings(settings):
                log.info("alerts: settings version %d ignored: version %d is in force", settings.version,
                         self.settings_version)
        except sqlite3.Error:  # not kept: the status still says the old version, so the cloud resends
            log.exception("alerts: could not keep settings version %d", settings.version)

    # -- inputs --
    def on_observation(self, obs: object) -> None:
        """`observe` for device callbacks: a fault here is logged, never raised into a poller."""
        try:
            self.observe(obs)
        except (sqlite3.Error, ValueError, KeyError):
            log.exception("alerts: could not take %s", type(obs).__name__)

    def observe(self, obs: object) -> None:
        """A shelf or camera observation (edge/shelf/poller.py, edge/camera/source.py):
        WeightEvent / BinLevel / LaneCount give a bin's count, BinAvailability / CameraStatus
        a device going away or back, UnexplainedWeight a foreign item; anything else is ignored."""
        now = self.clock()
        if isinstance(obs, BinAvailability | CameraStatus):
            device = f"shelf:{obs.bin}" if isinstance(obs, BinAvailability) else f"camera:{obs.camera}"
            if obs.available:
                self._apply(self.book.resolve(f"offline:{device}", now))
            else:
                self._apply(self.book.raise_(offline_condition(device, obs.reason), now))
            return
        if isinstance(obs, UnexplainedWeight):
            # Weight added that is not whole units of this bin's product: something foreign
            # was put down here (edge/shelf/detector.py). Cleared by the next explained change.
            if obs.delta_g > 0:
                found = self.rule_for(obs.bin, obs.sku)
                product = found.product if found is not None else obs.sku
                self._apply(
                    self.book.raise_(
                        misplaced_condition(obs.bin, f"≈{obs.delta_g:.0f} g, not {product}"), now
                    )
                )
            return
        if isinstance(obs, LaneCount):
            if obs.sku is None:
                return
            bin_id, count, sku = obs.bin or obs.lane, obs.count, obs.sku
        elif isinstance(obs, WeightEvent | BinLevel):
            bin_id, count, sku = obs.bin, obs.count, obs.sku
            if isinstance(obs, WeightEvent) and self.book.is_open(f"misplaced:{bin_id}"):
                self._apply(self.book.resolve(f"misplaced:{bin_id}", now))
        else:
            return
        self.shelf[bin_id] = (count, sku)
        self._judge(bin_id, sku, count)

    def _judge(self, bin_id: str, sku: str, count: int) -> None:
        """Open, keep or resolve a bin's refill alert for its count by its rule now."""
        now = self.clock()
        rule = self.rule_for(bin_id, sku)
        key = f"refill:{bin_id}"
        if rule is None:
            if self.book.is_open(key):  # its threshold was removed: nothing asks for a refill any more
                self._apply(self.book.resolve(key, now))
            return
        c = refill_condition(
            bin_id=bin_id,
            product=rule.product,
            on_shelf=count,
            backroom=self.backroom(sku) if count <= rule.refill_at else None,
            refill_at=rule.refill_at,
            is_open=self.book.is_open(key),
            clear_margin=self.config.policy.refill_clear_margin,
        )
        if isinstance(c, Condition):
            self._apply(self.book.raise_(c, now))
        elif c is None:
            self._apply(self.book.resolve(key, now, refilled_texts(bin_id, rule.product, count)))

    def expiry(self, lots: Sequence[Lot]) -> None:
        """The lots on hand now (daily, from the ledger): opens and closes expiry alerts."""
        now = self.clock()
        today = now.astimezone(self.config.policy.tz).date()  # expiry dates are the store's dates
        cs = expiry_conditions(lots, today, self.config.policy)
        book = self.book.sync([c for c in cs if c.kind == "expiring"], "expiring:", now)
        self._apply(book.sync([c for c in cs if c.kind == "expired"], "expired:", now))

    def sync(self, conditions: Sequence[Condition], scope: str) -> None:
        """Make the open alerts whose key starts with `scope` exactly `conditions`."""
        self._apply(self.book.sync(conditions, scope, self.clock()))

    def raise_(self, c: Condition) -> None:
        self._apply(self.book.raise_(c, self.clock()))

    def resolve(self, key: str) -> None:
        self._apply(self.book.resolve(key, self.clock()))

    def ack(self, key: str) -> bool:
        if not self.book.is_open(key):
            return False
        self._apply(self.book.ack(key, self.clock()))
        return True

    def done(self, key: str) -> bool:
        """Staff mark a task done; a refill is really closed by the shelf seeing the stock."""
        if not self.book.is_open(key):
            return False
        kind, _, bin_id = key.partition(":")
        rule = self.rule_for(bin_id, self.shelf.get(bin_id, (0, None))[1]) if kind == "refill" else None
        texts = refilled_texts(bin_id, rule.product, None) if rule is not None else None
        self._apply(self.book.resolve(key, self.clock(), texts))
        return True

    # -- core --
    def _notices(self, old: Book, new: Book, now: datetime) -> list[bytes]:
        """AlertNotice payloads for alerts whose state staff would see change (not timers)."""
        if self.source is None:
            return []
        out = []
        for k, a in new.alerts.items():
            was = old.alerts.get(k)
            if was is not None and (was.status, was.kind, was.title_en) == (a.status, a.kind, a.title_en):
                continue
            out.append(
                encode(
                    AlertNotice(
                        self.source[0], self.source[1], a.key, str(a.kind), str(a.status), a.aisle,
                        a.title_en, a.title_zh, a.urgent, a.raised_at, now,
                    )
                )
            )
        return out

    def _save(self, old: Book, new: Book, notes: Sequence[Notification], now: datetime) -> None:
        outgoing = self._notices(old, new, now)
        self.store.save(old, new, notes, outgoing)
        if outgoing and self.feed is not None:
            self.feed.queued.set()

    def _apply(self, new: Book) -> None:
        if new is self.book:
            return
        now = self.clock()
        new, notes = new.tick(self.config.policy, now)
        old, self.book = self.book, new
        self._save(old, new, notes, now)
        changed = [a for k, a in new.alerts.items() if old.alerts.get(k) != a]
        for a in changed:
            for q in self.listeners:
                q.put_nowait(a.to_json())
        self.wake.set()

    def tick(self) -> None:
        now = self.clock()
        new, notes = self.book.tick(self.config.policy, now)
        if notes or new != self.book:
            old, self.book = self.book, new
            self._save(old, new, notes, now)
            self.wake.set()

    async def flush(self) -> int:
        """Try every due notification once; returns how many were delivered (to every target)."""
        sent = 0
        now = self.clock().timestamp()
        for qid, n, attempts, reached in self.store.due(now):
            urls = self.config.urls.get(n.role, ())
            if not urls:  # a role without a route (listed at start-up): the staff page has it
                log.warning("no apprise URLs for role %s; %s %s not sent", n.role, n.event, n.key)
            todo = [u for u in urls if target_id(u) not in reached]
            reached = reached | {target_id(u) for u in await deliver(todo, n)}
            if all(target_id(u) in reached for u in urls):
                self.store.delivered(qid)
                self.delivered_log.append(n)
                sent += 1
            else:
                self.delivery_failures += 1
                backoff = self.retry_backoff.delay(attempts)
                self.store.retry(qid, attempts + 1, now + backoff, reached)
                log.warning("alert %s %s not delivered to %d of %d targets; retry in %.0fs", n.event,
                            n.key, sum(target_id(u) not in reached for u in urls), len(urls), backoff)
        self.flushed.set()
        return sent

    async def drained(self) -> None:
        """Return once the delivery queue is empty (for tests and shutdown)."""
        while self.store.pending():
            self.flushed.clear()
            await self.flushed.wait()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver queued notifications and tick timers (escalation, quiet hours) until `stop`
        (or until cancelled)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            self.wake.clear()
            try:
                self.tick()
                await self.flush()
            except sqlite3.Error:
                log.exception("alerts: the alert book could not be read or written")
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper}, timeout=self.config.tick_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                stopper.cancel()


def open_alerts(
    section: Mapping[str, Any],
    *,
    data_dir: Path | None = None,
    source: tuple[str, str] | None = None,
    backroom: Callable[[str], int | None] = unknown_backroom,
) -> AlertService:
    """The gateway's alert service from its `[alerts]` section; AlertConfigError if it is bad."""
    cfg = parse_alerts_config(section, data_dir)
    try:
        Path(cfg.db).parent.mkdir(parents=True, exist_ok=True)
        store = AlertStore(cfg.db)
    except (OSError, sqlite3.Error) as e:
        raise AlertConfigError(f"[alerts] db {cfg.db}: {e}") from e
    return AlertService(cfg, store, backroom=backroom, source=source)


async def run_alerts(
    config_section: Mapping[str, Any],
    observations: asyncio.Queue[object],
    stop: asyncio.Event,
    *,
    backroom: Callable[[str], int | None] = unknown_backroom,
    ready: Callable[[AlertService], None] | None = None,
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
