"""The alert service: the book (shared/alerting/rules.py decides), its SQLite store, delivery with a
retry queue, and listeners (the staff page, the MQTT `alerts` feed).

A notification that fails (internet down) stays queued and is retried with backoff, each target
on its own: the targets it reached are noted and not sent it again. Every change of an alert's
state is also queued, in the same transaction, for the MQTT `alerts` topic (contract.AlertNotice);
the gateway's publisher drains that queue as a `Feed`, so the cloud hears of alerts raised while
offline.

Inputs are in the shop's words — a bin's count, a device gone or back, a foreign item on a scale,
the lots on hand — so both the gateway (edge/alerts/gateway.py turns its device observations into
these) and the cloud (cloud/alerts.py) run the same engine without a device driver.

Head office may override a bin's product name and refill threshold, or a product's for every bin
that holds it, in the console (contract.ShelfSettings on cmd/{gw}/settings). The newest settings
received are kept in the alert book, so a restart keeps them; the TOML's values are the defaults
they override: a bin's console setting first, then its product's, then the TOML.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.alerting.config import AlertsConfig, BinRule, target_id
from shared.alerting.delivery import deliver
from shared.alerting.rules import (
    Book,
    Condition,
    Lot,
    Notification,
    expiry_conditions,
    misplaced_condition,
    offline_condition,
    refill_condition,
    refilled_texts,
)
from shared.alerting.store import AlertFeed, AlertStore
from shared.backoff import Backoff
from shared.contract import (
    AlertNotice,
    ContractError,
    ShelfRule,
    ShelfSettings,
    decode_settings,
    encode,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)



def unknown_backroom(sku: str) -> int | None:
    """No RFID in the backroom: its stock is unknown, and the refill message says so."""
    return None


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

    # -- inputs (in the shop's words; edge/alerts/gateway.py maps the gateway's devices to them) --
    def shelf_count(self, bin_id: str, sku: str, count: int, *, weighed_change: bool = False) -> None:
        """A bin (or camera lane) holds `count` units of `sku` now: opens, keeps or resolves its
        refill alert. A change the scale explained in whole units (`weighed_change`) also clears
        a foreign item flagged on that bin."""
        if weighed_change and self.book.is_open(f"misplaced:{bin_id}"):
            self._apply(self.book.resolve(f"misplaced:{bin_id}", self.clock()))
        self.shelf[bin_id] = (count, sku)
        self._judge(bin_id, sku, count)

    def device(self, device: str, available: bool, reason: str) -> None:
        """A device ("shelf:BIN", "camera:ID", ...) went away (`available` False) or came back."""
        now = self.clock()
        if available:
            self._apply(self.book.resolve(f"offline:{device}", now))
        else:
            self._apply(self.book.raise_(offline_condition(device, reason), now))

    def foreign_item(self, bin_id: str, sku: str, delta_g: float) -> None:
        """`delta_g` grams were put on a bin that are not whole units of its product: something
        foreign lies there. Cleared by the bin's next explained change (`shelf_count`)."""
        if delta_g <= 0:
            return
        found = self.rule_for(bin_id, sku)
        product = found.product if found is not None else sku
        self._apply(self.book.raise_(misplaced_condition(bin_id, f"≈{delta_g:.0f} g, not {product}"),
                                     self.clock()))

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
