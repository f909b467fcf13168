"""Chain-level staff alerts raised by the cloud (issue 7): a store gateway gone offline (and back),
lots nearing expiry and expired lots still on hand, per the ledger, and lots a till sold after
they expired (issue 14).

The gateway raises shelf alerts itself, on the store LAN; these are the ones only the cloud can
see. The alert rules, the durable book (one SQLite file per store, so a restart re-sends nothing),
dedupe, quiet hours in the store's time zone, rate limits, escalation and apprise delivery are the
gateway's own (shared/alerting/rules.py, edge/alerts.py); this module feeds them from:

- the retained `status` topic of every gateway, on this worker's own (not shared) subscription,
  so the broker hands over every gateway's current state at each connect and the last will
  (`offline`) when a gateway's link dies. A gateway that stays offline for `offline_grace_s`
  raises "Gateway offline"; its next `online` resolves it. The devices an online gateway reports
  offline in its status (a scale bus, a camera) raise one alert each, resolved when they are back.
- read-only queries of the ledger's `balances` every `expiry_every_s`. The alert for an expired
  lot gives the staff movements request that writes it off, per zone, ready to post to the store
  gateway (`"reason": "expired"`, edge/pos.py); the ledger takes expired units out of the
  book only that way (or by a count), never by a sale that names no lot (cloud/db/ledger.py).
- the ledger's new till sales (`movements`, from a cursor) in the same round: a sale naming a lot
  that had expired when it was rung up raises "Sold after expiry" once per lot (its count grows
  while it is open). The cursor starts at 0 when the worker starts: the book's dedupe makes the
  first round's rescan raise nothing twice.

Run them on one cloud worker only (the one started with `--alerts FILE`): several would each send.

The alerts file (TOML)::

    dir = "/var/lib/shelfsync/alerts"     # the alert books, one SQLite file per store
    timezone = "Asia/Shanghai"
    quiet_hours = ["22:00", "07:00"]      # expiring-soon waits; offline and expired do not
    offline_grace_s = 120                 # a reboot is not an alert
    escalate_after_s = 1800
    expiry_default_days = 90              # pet food, unless the category says otherwise
    expiry_every_s = 3600
    [expiry_days]
    treats = 30
    [products.09501234567891]
    name = "Royal Canin Indoor 2 kg"
    category = "dry-food"
    [stores."*"]                          # every store: HQ hears every chain-level alert
    hq = ["mailtos://alerts:pw@mail.example.com?to=ops@example.com"]
    [stores.sh-0042]
    staff = ["ntfy://ntfy.example/sh-0042"]
    manager = ["wecombot://KEY"]

Routing: a first notice and its "resolved" go to the store's `staff` and to `hq`; an escalation
(not acknowledged in time) to the store's `manager` and to `hq`. Device alerts go to `hq` only
(and the manager on escalation): the gateway already tells the store's staff about its devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import tomllib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud import emergencies
from cloud.db import ledger
from cloud.db.models import Balance, Movement
from cloud.db.models import Lot as LedgerLot
from cloud.db.models import Product as CatalogueProduct
from cloud.keys import CHAIN_ALERTS, MAKER
from shared import contract
from shared.alerting.config import AlertConfigError, AlertsConfig, check_apprise_url, parse_alerts_config
from shared.alerting.rules import Condition, Kind, Lot, Role, sold_expired_condition
from shared.alerting.service import AlertService
from shared.alerting.store import AlertStore
from shared.backoff import Backoff
from shared.contract import ContractError, GatewayState
from shared.mqtt import BrokerUrl, MqttClient, MqttError
from shared.toml_tables import UnknownName, check_keys, check_sections

log = logging.getLogger(__name__)

ROLES = ("staff", "manager", "hq")
# The alerts file (shared/toml_tables.py: any other name is an error): plain keys at the top, then
# its tables; [expiry_days] holds the chain's own product categories.
POLICY_KEYS = ("timezone", "quiet_hours", "escalate_after_s", "rate_per_hour", "expiry_days",
               "expiry_default_days", "retry_s", "tick_s")
TOP_KEYS = frozenset({"dir", "offline_grace_s", "expiry_every_s", *POLICY_KEYS} - {"expiry_days"})
SECTIONS = frozenset({"expiry_days", "products", "stores"})
PRODUCT_KEYS = frozenset({"name", "category"})


class ChainAlertsError(ValueError):
    """The alerts file is missing or invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    category: str


@dataclass(frozen=True, slots=True)
class ChainAlertsConfig:
    dir: Path
    base: Mapping[str, Any]  # the [alerts]-style keys every store's book shares (policy, timers)
    stores: Mapping[str, Mapping[str, tuple[str, ...]]]  # store or "*" -> role -> apprise URLs
    products: Mapping[str, Product] = field(default_factory=dict)
    offline_grace_s: float = 120.0
    expiry_every_s: float = 3600.0

    def urls(self, store: str, role: str) -> tuple[str, ...]:
        return self.stores.get(store, {}).get(role, ()) + self.stores.get("*", {}).get(role, ())

    def book_config(self, name: str) -> AlertsConfig:
        """The book `name`: a store id (its staff and HQ hear first), "STORE.hq" (HQ only), or
        "STORE.manager" (its manager and HQ: a replenishment emergency, cloud/emergencies.py)."""
        store, _, audience = name.partition(".")
        cfg = parse_alerts_config({**self.base, "db": str(self.dir / f"{name}.sqlite3")})
        first = self.urls(store, "hq")
        if audience == "manager":
            first = self.urls(store, "manager") + first
        elif audience != "hq":
            first = self.urls(store, "staff") + first
        return AlertsConfig(
            cfg.db, {Role.STAFF: first, Role.MANAGER: self.urls(store, "manager") + self.urls(store, "hq")},
            cfg.policy, {}, cfg.retry_s, cfg.tick_s)


def load_chain_alerts(path: Path) -> ChainAlertsConfig:
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise ChainAlertsError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ChainAlertsError(f"{path}: not valid TOML: {e}") from None
    try:
        return parse_chain_alerts(doc, path.parent)
    except ChainAlertsError as e:
        raise ChainAlertsError(f"{path}: {e}") from None


def parse_chain_alerts(doc: Mapping[str, Any], base_dir: Path) -> ChainAlertsConfig:
    try:
        check_sections(doc, SECTIONS, keys=TOP_KEYS)
        for section, known in (("stores", ROLES), ("products", PRODUCT_KEYS)):
            tables = doc.get(section, {})
            for name, table in tables.items() if isinstance(tables, Mapping) else ():
                if isinstance(table, Mapping):
                    check_keys(table, known, f"[{section}.{name}]")
    except UnknownName as e:
        raise ChainAlertsError(str(e)) from None
    base = {k: doc[k] for k in POLICY_KEYS if k in doc}
    base.setdefault("tick_s", 5.0)
    try:
        parse_alerts_config(base)  # the shared policy is checked once, here
    except AlertConfigError as e:
        raise ChainAlertsError(str(e).replace("[alerts]", "alerts file:")) from None
    stores: dict[str, dict[str, tuple[str, ...]]] = {}
    raw_stores = doc.get("stores", {})
    if not isinstance(raw_stores, Mapping):
        raise ChainAlertsError("[stores] must be a table of stores")
    for store, table in raw_stores.items():
        if store != "*":
            try:
                contract.check_id(store, "store")
            except ContractError as e:
                raise ChainAlertsError(f"[stores.{store}]: {e}") from None
        if not isinstance(table, Mapping):
            raise ChainAlertsError(f"[stores.{store}]: only {', '.join(ROLES)} (lists of apprise URLs)")
        roles: dict[str, tuple[str, ...]] = {}
        for role, urls in table.items():
            urls = [urls] if isinstance(urls, str) else urls
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ChainAlertsError(f"[stores.{store}].{role} must be a list of apprise URLs")
            for i, url in enumerate(urls):
                try:
                    check_apprise_url(url, f"[stores.{store}] {role}[{i}]")
                except AlertConfigError as e:
                    raise ChainAlertsError(str(e)) from None
            roles[role] = tuple(urls)
        stores[store] = roles
    products = {}
    for gtin, p in dict(doc.get("products", {})).items():
        if not contract.is_gtin14(gtin) or not isinstance(p, Mapping) or "name" not in p:
            raise ChainAlertsError(f"[products.{gtin}]: a GTIN-14 with a name (and a category)")
        products[gtin] = Product(str(p["name"]), str(p.get("category", "")))
    directory = Path(str(doc.get("dir", "alerts")))
    try:
        return ChainAlertsConfig(
            dir=directory if directory.is_absolute() else base_dir / directory,
            base=base, stores=stores, products=products,
            offline_grace_s=float(doc.get("offline_grace_s", 120.0)),
            expiry_every_s=float(doc.get("expiry_every_s", 3600.0)))
    except (TypeError, ValueError) as e:
        raise ChainAlertsError(f"alerts file: {e}") from None


def gateway_offline(store: str, gateway: str) -> Condition:
    return Condition(
        f"offline:gateway:{gateway}", Kind.OFFLINE, "-",
        f"Store {store}: gateway {gateway} is offline (stock updates are queued in the store)",
        f"门店 {store}：网关 {gateway} 已离线（库存更新在门店排队等待）",
        urgent=True)


DEVICE_NAMES = {"scale-bus": ("scale bus", "称重总线"), "camera": ("camera", "摄像头"),
                "reader": ("RFID reader", "RFID 读写器")}


def device_offline(store: str, gateway: str, device: str) -> Condition:
    """A device ("scale-bus:bus-1") an online gateway reports offline in its status."""
    kind, _, name = device.partition(":")
    en, zh = DEVICE_NAMES.get(kind, ("device", "设备"))
    return Condition(
        f"offline:device:{gateway}:{device}", Kind.OFFLINE, "-",
        f"Store {store}: {en} {name or device} on gateway {gateway} is offline",
        f"门店 {store}：网关 {gateway} 的{zh} {name or device} 已离线",
        urgent=True)


@dataclass(frozen=True, slots=True)
class LotOnHand:
    store: str
    sku: str
    lot: str
    expiry: date
    qty: int
    name: str = ""  # from the chain's product catalogue (PUT /v1/products/{sku}), when it has one
    category: str = ""
    zones: tuple[tuple[str, int], ...] = ()  # (zone, units) where the lot is


async def lots_on_hand(maker: async_sessionmaker[AsyncSession]) -> list[LotOnHand]:
    """Every lot with stock and an expiry date, per store, summed over zones (read-only)."""
    q = (select(Balance.store, Balance.sku, Balance.lot, Balance.expiry, Balance.zone, Balance.qty,
                CatalogueProduct.name, CatalogueProduct.category)
         .outerjoin(CatalogueProduct, CatalogueProduct.sku == Balance.sku)
         .where(Balance.expiry.is_not(None), Balance.qty > 0))
    async with maker() as session:
        rows = (await session.execute(q)).all()
    zones: dict[tuple[str, str, str, date, str, str], list[tuple[str, int]]] = defaultdict(list)
    for s, sku, lot, e, zone, n, name, category in rows:
        if e is not None:
            zones[(s, sku, lot, e, name or "", category or "")].append((zone, int(n)))
    return [LotOnHand(s, sku, lot, e, sum(n for _, n in where), name, category, tuple(sorted(where)))
            for (s, sku, lot, e, name, category), where in sorted(zones.items())]


def write_off_body(lot: LotOnHand, at: datetime) -> str:
    """The staff movements request (the gateway's POST /v1/stock/movements) that writes an
    expired lot off where it is: one shrink line per zone, `"reason": "expired"`. Its ref names
    the lot, the day and the units, so posting the same request twice books it once."""
    return json.dumps({
        "ref": f"EXP-{lot.lot}-{at:%Y%m%d}-{lot.qty}", "at": contract.format_ts(at),
        "lines": [{"sku": lot.sku, "kind": "shrink", "qty": -n, "zone": zone, "lot": lot.lot,
                   "reason": ledger.EXPIRED} for zone, n in lot.zones]}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ExpiredSale:
    """Units of a lot a till sold after the lot's expiry date (`pos`: the movement's position)."""

    pos: int
    store: str
    sku: str
    lot: str
    expiry: date
    qty: int
    name: str = ""
    category: str = ""


SETTLED_S = 300.0  # a movement received this long ago is committed whatever its position


async def expired_sales(maker: async_sessionmaker[AsyncSession], after: int,
                        limit: int = 5000) -> tuple[list[ExpiredSale], int]:
    """Till sales after movement `after` that name a lot expired on the (UTC) day they were
    rung up, and the position from which the next read must start (read-only).

    Positions come from a sequence, and transactions commit in any order: a position below the
    highest one read may still appear. So the next read starts after the movements received at
    least SETTLED_S ago, and reads the younger ones again (the caller counts each position once)."""
    q = (select(Movement.pos, Movement.store, Movement.sku, Movement.lot, Movement.qty, Movement.occurred_at,
                LedgerLot.expiry, CatalogueProduct.name, CatalogueProduct.category)
         .join(LedgerLot, (LedgerLot.store == Movement.store) & (LedgerLot.sku == Movement.sku)
               & (LedgerLot.lot == Movement.lot))
         .outerjoin(CatalogueProduct, CatalogueProduct.sku == Movement.sku)
         .where(Movement.pos > after, Movement.kind == "sale", Movement.source == "pos",
                Movement.lot != ledger.NO_LOT, LedgerLot.expiry.is_not(None))
         .order_by(Movement.pos).limit(limit))
    settled = datetime.now(UTC) - timedelta(seconds=SETTLED_S)
    async with maker() as session:
        rows = (await session.execute(q)).all()
        upto = select(func.max(Movement.pos)).where(Movement.pos > after, Movement.received_at < settled)
        if len(rows) == limit:
            upto = upto.where(Movement.pos <= rows[-1].pos)
        last = await session.scalar(upto)
    sales = [ExpiredSale(r.pos, r.store, r.sku, r.lot, r.expiry, -r.qty, r.name or "", r.category or "")
             for r in rows if ledger.is_expired(r.expiry, r.occurred_at.astimezone(UTC).date())]
    return sales, max(after, int(last or 0))


@dataclass
class ChainAlerts:
    """One alert book per store, fed from gateway statuses and the ledger's lots."""

    config: ChainAlertsConfig
    maker: async_sessionmaker[AsyncSession] | None = None
    clock: Callable[[], float] = time.monotonic
    books: dict[str, AlertService] = field(default_factory=dict)
    offline_since: dict[tuple[str, str], float] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    lot_rounds: int = 0  # checks of the ledger's lots done
    sales_read: int = 0  # the position in the ledger's movements up to which till sales were read
    sold_expired: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (store, sku, lot)
    sales_counted: set[int] = field(default_factory=set)  # positions after `sales_read` counted
    _runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def book(self, name: str) -> AlertService:
        svc = self.books.get(name)
        if svc is None:
            self.config.dir.mkdir(parents=True, exist_ok=True)
            cfg = self.config.book_config(name)
            svc = self.books[name] = AlertService(cfg, AlertStore(cfg.db))
            self._runs[name] = asyncio.get_running_loop().create_task(svc.run(self.stop),
                                                                      name=f"alerts-{name}")
        return svc

    def has_book(self, name: str) -> bool:
        return name in self.books or (self.config.dir / f"{name}.sqlite3").exists()

    def open_books(self) -> None:
        """The stores with a book on disk: their open alerts resume (and resolve) after a restart."""
        for path in sorted(self.config.dir.glob("*.sqlite3")) if self.config.dir.exists() else ():
            self.book(path.stem)

    def on_status(self, status: contract.GatewayStatus) -> None:
        key = (status.store, status.gateway)
        if status.state is GatewayState.OFFLINE:
            # The will cannot say how its devices are: their alerts stay as they were.
            self.offline_since.setdefault(key, self.clock())
            return
        self.offline_since.pop(key, None)
        if self.has_book(status.store):
            self.book(status.store).resolve(gateway_offline(*key).key)
        down = [device_offline(status.store, status.gateway, d)
                for d, state in sorted(status.devices.items()) if state == "offline"]
        hq = f"{status.store}.hq"
        if down or self.has_book(hq):
            self.book(hq).sync(down, f"offline:device:{status.gateway}:")

    def check_offline(self) -> None:
        now = self.clock()
        for (store, gw), since in self.offline_since.items():
            if now - since >= self.config.offline_grace_s:
                self.book(store).raise_(gateway_offline(store, gw))  # deduped while open

    def product(self, sku: str, name: str, category: str) -> Product:
        """The alerts file names products first, then the chain's catalogue, then the GTIN."""
        return self.config.products.get(sku) or Product(name or f"GTIN {sku}", category)

    def on_expired_sales(self, sales: list[ExpiredSale], read_upto: int) -> None:
        """Raise "Sold after expiry" for sales not counted yet; forget positions up to `read_upto`
        (the next read starts after it)."""
        for sale in sales:
            if sale.pos in self.sales_counted:
                continue
            self.sales_counted.add(sale.pos)
            key = (sale.store, sale.sku, sale.lot)
            self.sold_expired[key] = self.sold_expired.get(key, 0) + sale.qty
            product = self.product(sale.sku, sale.name, sale.category)
            log.warning("store %s sold %d of %s lot %s at the till after it expired on %s", sale.store,
                        sale.qty, sale.sku, sale.lot, sale.expiry)
            self.book(sale.store).raise_(sold_expired_condition(sale.sku, product.name, sale.lot, sale.expiry,
                                                                self.sold_expired[key]))
        self.sales_counted = {p for p in self.sales_counted if p > read_upto}

    def on_lots(self, lots: list[LotOnHand], now: datetime | None = None) -> None:
        per_store: dict[str, list[Lot]] = {s: [] for s in self.books if "." not in s}
        for lot in lots:
            product = self.product(lot.sku, lot.name, lot.category)
            per_store.setdefault(lot.store, []).append(
                Lot(lot.sku, product.name, product.category, lot.lot or "-", lot.expiry, lot.qty, "-",
                    write_off_body(lot, now or datetime.now(UTC)) if lot.zones else ""))
        for store, store_lots in per_store.items():
            if store_lots or store in self.books:
                self.book(store).expiry(store_lots)

    def on_emergencies(self, rows: list[dict[str, Any]], names: Mapping[str, str]) -> None:
        """Make the open replenishment emergencies of every book exactly the newest run's."""
        wanted = emergencies.by_book(rows, names)
        for name in sorted(set(wanted) | set(self.books)):
            self.book(name).sync(wanted.get(name, []), emergencies.SCOPE)

    async def watch_statuses(self, broker: BrokerUrl, client_id: str) -> None:
        backoff = Backoff()
        topic = f"{contract.TOPIC_ROOT}/+/gw/+/{contract.Stream.STATUS.value}"
        while True:
            client = MqttClient(broker, client_id, clean_start=True)
            try:
                await client.connect()
                await client.subscribe(topic, qos=1)  # the broker sends every retained status first
                backoff.reset()
                while not client.closed.is_set():
                    try:
                        message = await asyncio.wait_for(client.messages.get(), timeout=1.0)
                    except TimeoutError:
                        self.check_offline()  # the grace period also runs out between messages
                        continue
                    if message.payload:  # an empty retained message clears a status
                        try:
                            self.on_status(contract.decode_status(message.payload))
                        except ContractError as e:
                            log.warning("alerts: ignoring status on %s: %s", message.topic, e)
                    self.check_offline()  # heartbeats from other gateways may never leave a gap
                raise MqttError("connection lost")
            except (MqttError, TimeoutError, OSError) as e:
                log.warning("alerts: broker %s: %s", broker.redacted(), e)
            finally:
                with contextlib.suppress(Exception):
                    await client.disconnect()
            await asyncio.sleep(backoff.next_delay())

    async def watch_lots(self) -> None:
        assert self.maker is not None
        while True:
            try:
                self.on_lots(await lots_on_hand(self.maker))
                sales, self.sales_read = await expired_sales(self.maker, self.sales_read)
                self.on_expired_sales(sales, self.sales_read)
                found = await emergencies.newest(self.maker)
                if found is not None:
                    self.on_emergencies(*found)
                self.lot_rounds += 1
            except Exception:  # the ledger is away or mid-migration: try again next round
                log.exception("alerts: could not read lots from the ledger")
            await asyncio.sleep(self.config.expiry_every_s)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._runs.values(), return_exceptions=True)
        for svc in self.books.values():
            svc.store.close()




def chain_alerts(config_path: Path | None, broker: BrokerUrl | None,
                 client_id: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """The aiohttp cleanup_ctx that runs chain alerts (nothing when `config_path` is None)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if config_path is None:
            yield
            return
        alerts = ChainAlerts(load_chain_alerts(config_path), app[MAKER])
        app[CHAIN_ALERTS] = alerts
        alerts.open_books()
        tasks = [asyncio.create_task(alerts.watch_lots(), name="alerts-lots")]
        if broker is not None:
            tasks.append(asyncio.create_task(alerts.watch_statuses(broker, f"{client_id}-alerts"),
                                             name="alerts-status"))
        yield
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await alerts.close()

    return ctx


__all__ = ["ChainAlerts", "ChainAlertsError", "chain_alerts", "load_chain_alerts"]
