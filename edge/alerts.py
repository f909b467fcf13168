"""Staff alerts on the gateway: durable alert book, apprise delivery with a retry queue (issue 7).

`edge/alert_rules.py` decides; this module keeps the book in SQLite (so alerts survive a
restart and are not re-sent), queues notifications in the same transaction, and delivers them
through apprise (research/cloud.md §5: json://, ntfy://, wecombot://, ...). A notification that
fails (internet down) stays queued and is retried with backoff.

Config (`[alerts]` in the store TOML)::

    [alerts]
    db = "/var/lib/shelfsync/alerts.db"
    staff = ["ntfy://ntfy.example/store-0042"]
    manager = ["wecombot://KEY"]
    escalate_after_s = 900
    quiet_hours = ["22:00", "07:00"]
    rate_per_hour = 30
    [alerts.bins.A1-2]
    product = "Royal Canin Indoor 2 kg"
    refill_at = 2
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import apprise

from edge.alert_rules import (
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
)
from edge.shelf_events import UnexplainedWeight, WeightEvent
from edge.sources.shelf import BinAvailability, BinLevel

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertConfigError(ValueError):
    pass


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


def parse_alerts_config(section: Mapping[str, Any]) -> AlertsConfig:
    def strs(key: str) -> tuple[str, ...]:
        v = section.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise AlertConfigError(f"[alerts] {key} must be a list of apprise URLs")
        return tuple(v)

    try:
        quiet = section.get("quiet_hours")
        qs = qe = None
        if quiet is not None:
            qs, qe = (time.fromisoformat(str(x)) for x in quiet)
        expiry = section.get("expiry_days", {})
        policy = Policy(
            escalate_after=timedelta(seconds=float(section.get("escalate_after_s", 900))),
            quiet_start=qs,
            quiet_end=qe,
            rate_per_hour=int(section.get("rate_per_hour", 30)),
            refill_clear_margin=int(section.get("refill_clear_margin", 1)),
            expiry_days={str(k): int(v) for k, v in dict(expiry).items()},
            expiry_default_days=int(section.get("expiry_default_days", 90)),
        )
        bins = {
            str(b): BinRule(str(b), str(r["product"]), int(r["refill_at"]))
            for b, r in dict(section.get("bins", {})).items()
        }
        return AlertsConfig(
            db=str(section.get("db", "alerts.db")),
            urls={Role.STAFF: strs("staff"), Role.MANAGER: strs("manager")},
            policy=policy,
            bins=bins,
            retry_s=float(section.get("retry_s", 5.0)),
            tick_s=float(section.get("tick_s", 1.0)),
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

    def close(self) -> None:
        self.db.close()

    def load(self) -> Book:
        alerts = {
            k: Alert.from_json(json.loads(doc)) for k, doc in self.db.execute("SELECT key, doc FROM alert")
        }
        sent = tuple(
            (Role(r), datetime.fromisoformat(at)) for r, at in self.db.execute("SELECT role, at FROM sent")
        )
        return Book(alerts, sent)

    def save(self, old: Book, new: Book, notes: Sequence[Notification]) -> None:
        """Write the changed alerts and enqueue `notes` atomically: a crash between deciding
        and recording cannot lose or double a message."""
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

    def due(self, now: float) -> list[tuple[int, Notification, int]]:
        rows = self.db.execute(
            "SELECT id, doc, attempts FROM queue WHERE next_at <= ? ORDER BY id", (now,)
        ).fetchall()
        out = []
        for i, doc, attempts in rows:
            d = json.loads(doc)
            n = Notification(d["key"], Role(d["role"]), d["event"], d["title"], d["body"], d["urgent"])
            out.append((i, n, attempts))
        return out

    def delivered(self, qid: int) -> None:
        self.db.execute("DELETE FROM queue WHERE id = ?", (qid,))

    def retry(self, qid: int, attempts: int, next_at: float) -> None:
        self.db.execute("UPDATE queue SET attempts = ?, next_at = ? WHERE id = ?", (attempts, next_at, qid))

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM queue").fetchone()[0])


# --- delivery ---------------------------------------------------------------------------------


async def deliver(urls: Sequence[str], n: Notification) -> bool:
    """Send one notification through apprise; False when any target failed (retry later)."""
    if not urls:
        log.warning("no apprise URLs for role %s; dropping %s %s", n.role, n.event, n.key)
        return True
    ap = apprise.Apprise()
    # apprise 2.3 loads its plugins lazily on the first add(); its e-mail plugin imports the
    # stdlib imghdr, which warns on 3.11. The warning is apprise's, not ours.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        for u in urls:
            if not ap.add(u):
                log.error("invalid apprise URL for role %s (ignored)", n.role)
    if len(ap) == 0:
        return True
    kind = {
        "raised": apprise.NotifyType.WARNING,
        "escalated": apprise.NotifyType.FAILURE,
        "resolved": apprise.NotifyType.SUCCESS,
    }.get(n.event, apprise.NotifyType.INFO)
    try:
        return bool(await ap.async_notify(body=n.body, title=n.title, notify_type=kind))
    except Exception:  # apprise plugins raise assorted errors; a failed send is retried
        log.exception("apprise delivery failed")
        return False


# --- the service -----------------------------------------------------------------------------


@dataclass
class AlertService:
    """Owns the book: feeds observations in, persists, delivers, and tells listeners."""

    config: AlertsConfig
    store: AlertStore
    backroom: Callable[[str], int] = lambda sku: 0  # units of a SKU in the backroom
    publish: Callable[[Alert], Coroutine[Any, Any, None]] | None = None  # `alerts` topic
    clock: Clock = utcnow
    book: Book = field(default_factory=Book)
    listeners: list[asyncio.Queue[dict[str, object]]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    delivered_log: list[Notification] = field(default_factory=list)
    flushed: asyncio.Event = field(default_factory=asyncio.Event)
    _publishing: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.book = self.store.load()

    # -- inputs --
    def observe(self, obs: object) -> None:
        """A shelf observation (edge/sources/shelf.py): WeightEvent / BinLevel / BinAvailability;
        anything else (UnexplainedWeight, ...) is ignored here."""
        now = self.clock()
        if isinstance(obs, BinAvailability):
            key = f"offline:shelf:{obs.bin}"
            if obs.available:
                self._apply(self.book.resolve(key, now))
            else:
                self._apply(self.book.raise_(offline_condition(f"shelf:{obs.bin}", obs.reason), now))
            return
        if isinstance(obs, UnexplainedWeight):
            # Weight added that is not whole units of this bin's product: something foreign
            # was put down here (edge/shelf_events.py). Cleared by the next explained change.
            if obs.delta_g > 0:
                product = self.config.bins[obs.bin].product if obs.bin in self.config.bins else obs.sku
                self._apply(
                    self.book.raise_(
                        misplaced_condition(obs.bin, f"≈{obs.delta_g:.0f} g, not {product}"), now
                    )
                )
            return
        if not isinstance(obs, WeightEvent | BinLevel):
            return
        bin_id, count, sku = obs.bin, obs.count, obs.sku
        if isinstance(obs, WeightEvent) and self.book.is_open(f"misplaced:{bin_id}"):
            self._apply(self.book.resolve(f"misplaced:{bin_id}", now))
        rule = self.config.bins.get(bin_id)
        if rule is None:
            return
        key = f"refill:{bin_id}"
        c = refill_condition(
            bin_id=bin_id,
            product=rule.product,
            on_shelf=count,
            backroom=self.backroom(sku),
            refill_at=rule.refill_at,
            is_open=self.book.is_open(key),
            clear_margin=self.config.policy.refill_clear_margin,
        )
        if isinstance(c, Condition):
            self._apply(self.book.raise_(c, now))
        elif c is None:
            self._apply(self.book.resolve(key, now))

    def expiry(self, lots: Sequence[Lot]) -> None:
        """The lots on hand now (daily, from the ledger): opens and closes expiry alerts."""
        now = self.clock()
        cs = expiry_conditions(lots, now.date(), self.config.policy)
        book = self.book.sync([c for c in cs if c.kind == "expiring"], "expiring:", now)
        self._apply(book.sync([c for c in cs if c.kind == "expired"], "expired:", now))

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
        self._apply(self.book.resolve(key, self.clock()))
        return True

    # -- core --
    def _apply(self, new: Book) -> None:
        if new is self.book:
            return
        new, notes = new.tick(self.config.policy, self.clock())
        old, self.book = self.book, new
        self.store.save(old, new, notes)
        changed = [a for k, a in new.alerts.items() if old.alerts.get(k) != a]
        for a in changed:
            for q in self.listeners:
                q.put_nowait(a.to_json())
            if self.publish is not None:
                t = asyncio.get_running_loop().create_task(self.publish(a))
                self._publishing.add(t)  # keep a reference until done (asyncio docs)
                t.add_done_callback(self._publishing.discard)
        self.wake.set()

    def tick(self) -> None:
        new, notes = self.book.tick(self.config.policy, self.clock())
        if notes or new != self.book:
            old, self.book = self.book, new
            self.store.save(old, new, notes)
            self.wake.set()

    async def flush(self) -> int:
        """Try every due notification once; returns how many were delivered."""
        sent = 0
        now = self.clock().timestamp()
        for qid, n, attempts in self.store.due(now):
            if await deliver(self.config.urls.get(n.role, ()), n):
                self.store.delivered(qid)
                self.delivered_log.append(n)
                sent += 1
            else:
                backoff = min(self.config.retry_s * 2**attempts, 300.0)
                self.store.retry(qid, attempts + 1, now + backoff)
                log.warning("alert %s %s not delivered; retry in %.0fs", n.event, n.key, backoff)
        self.flushed.set()
        return sent

    async def drained(self) -> None:
        """Return once the delivery queue is empty (for tests and shutdown)."""
        while self.store.pending():
            self.flushed.clear()
            await self.flushed.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver queued notifications and tick timers (escalation, quiet hours) until `stop`."""
        while not stop.is_set():
            self.wake.clear()
            self.tick()
            await self.flush()
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper}, timeout=self.config.tick_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                stopper.cancel()


async def run_alerts(
    config_section: Mapping[str, Any],
    observations: asyncio.Queue[object],
    publish: Callable[[Alert], Coroutine[Any, Any, None]] | None,
    stop: asyncio.Event,
    *,
    backroom: Callable[[str], int] = lambda sku: 0,
    ready: Callable[[AlertService], None] | None = None,
) -> None:
    """Gateway entry point: feed shelf observations from `observations` until `stop`."""
    cfg = parse_alerts_config(config_section)
    store = AlertStore(cfg.db)
    svc = AlertService(cfg, store, backroom=backroom, publish=publish)
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
        store.close()
