"""Orders in the database: reserve, cancel, fulfil, expire — conditional updates only.

A reservation is `UPDATE stock_levels SET reserved = reserved + :n WHERE store, sku AND
sellable - reserved - :safety >= :n` with its rowcount checked: PostgreSQL re-evaluates the WHERE
after waiting for a competing writer's row lock, SQLite has one writer at a time, so on both no
two orders can take the same unit, and there is no read-then-write anywhere. The plan that
chooses the store is made from a snapshot and may lose a race; the transaction is then rolled
back and planned again from fresh figures.

The lots an order holds are chosen after its holds, under their row locks, from the units that
no open order holds yet (FEFO among lots that have not expired): two orders placed at the same
moment never name the same unit. A stock figure written before midnight may still count a lot
that has expired since: the order then refreshes the figures first (holds.stale,
posting.refresh_sellable) and plans again. Fulfilment books each held lot unless it has expired
since, in which case it ships good units FEFO (cloud/db/holds.py keeps holds right as the stock
under them changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloud.channels.allocation import Candidate, Pick, Rules, Short, free_units, haversine_km, plan
from cloud.db import claims, engines, holds, ledger, posting, prepared
from cloud.db.engines import among
from cloud.db.models import (
    Balance,
    Channel,
    ChannelStore,
    Listing,
    Lot,
    Order,
    Reservation,
    StockLevel,
    Store,
)

log = logging.getLogger(__name__)
_NS = uuid.UUID("0f7c1b2a-8d4e-4c55-9a61-3a0b0c5d0e01")  # order movement ids: uuid5 of the reservation
MAX_ATTEMPTS = 12
CONFIG_TTL_S = 2.0
Coords = dict[str, tuple[float, float]]
Key = tuple[str, str]
# Work done in the transaction that changed a document, given the document as it now is: the
# console's audit entry (cloud/db/audit.py records in the caller's transaction). Not called when
# a repeated request changes nothing.
AlsoInTransaction = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


# The hot path's statements, built once (building a statement costs more than running it here),
# one of each per database where they differ (engines.among).
_LEVELS = {pg: select(StockLevel.store, StockLevel.sku, StockLevel.sellable, StockLevel.reserved)
           .where(among(pg, StockLevel.sku, "skus"), among(pg, StockLevel.store, "stores"))
           for pg in (True, False)}
_LISTED = {pg: select(Listing.channel_sku, Listing.sku)
           .where(Listing.channel == bindparam("channel"), among(pg, Listing.channel_sku, "channel_skus"))
           for pg in (True, False)}
_NEW_ORDER = insert(Order)
_NEW_RESERVATIONS = insert(Reservation)
# PostgreSQL: the order and its reservations in one statement, a round trip fewer per order (a
# data-modifying WITH, the reservations as arrays unnested in step); SQLite has no such WITH and
# takes the two inserts above.
_RESERVATION_ARRAYS = (("line", Integer), ("store", String), ("lot", String), ("sku", String),
                       ("qty", Integer))
_PLACED = (insert(Order)
           .values(id=bindparam("id"), channel=bindparam("channel"), order_id=bindparam("order_id"),
                   status="reserved", fulfilment=bindparam("fulfilment"), created_at=bindparam("created_at"),
                   expires_at=bindparam("expires_at"))
           .returning(Order.id).cte("placed"))
_HELD = (func.unnest(*(bindparam(f"r_{name}", type_=ARRAY(kind)) for name, kind in _RESERVATION_ARRAYS))
         .table_valued(*(name for name, _ in _RESERVATION_ARRAYS)).render_derived(name="held"))
_NEW_ORDER_WITH_RESERVATIONS = (
    insert(Reservation)
    .from_select(["order", *(name for name, _ in _RESERVATION_ARRAYS)],
                 select(_PLACED.c.id, *(_HELD.c[name] for name, _ in _RESERVATION_ARRAYS))
                 .select_from(_PLACED).join(_HELD, true()))
    .add_cte(_PLACED))
_HOLD = (update(StockLevel)
         .where(StockLevel.store == bindparam("s"), StockLevel.sku == bindparam("k"),
                StockLevel.sellable - StockLevel.reserved - bindparam("safety") >= bindparam("n"))
         .values(reserved=StockLevel.reserved + bindparam("n"))
         .returning(StockLevel.sellable)  # what holds.books would read again under the lock
         .execution_options(synchronize_session=False))


class OrderError(Exception):
    """A request the ledger cannot act on; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Shortage(OrderError):
    def __init__(self, short: Sequence[Short]) -> None:
        super().__init__(409, "not enough stock to fill the order",
                         short=[{"sku": s.sku, "wanted": s.wanted, "available": s.free} for s in short])


class _LostRace(Exception):
    """A conditional update found less than the snapshot promised: plan again."""


@dataclass(frozen=True, slots=True)
class Line:
    qty: int
    sku: str | None = None
    channel_sku: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    channel: str
    order_id: str
    lines: tuple[Line, ...]
    fulfilment: str = "ship"  # ship | pickup
    store: str | None = None
    address: tuple[float, float] | None = None  # (lat, lon) of the buyer


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    platform: str
    rules: Rules
    split: bool
    hold_s: int
    ship: tuple[str, ...]
    pickup: tuple[str, ...]

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.ship) | set(self.pickup)))


async def channel_configs(session: AsyncSession, name: str | None = None) -> dict[str, ChannelConfig]:
    """Every channel (or the one named) with its rules and stores. Columns, not ORM objects: the
    console's channels pages read every channel's stores on each refresh (a thousand rows for five
    channels of 200 stores), and building a mapped object per row was most of that read's CPU."""
    q = select(Channel.name, Channel.platform, Channel.safety, Channel.share_pct, Channel.min_qty,
               Channel.max_qty, Channel.split, Channel.hold_s)
    qs = select(ChannelStore.channel, ChannelStore.store, ChannelStore.ship, ChannelStore.pickup)
    if name is not None:
        q, qs = q.where(Channel.name == name), qs.where(ChannelStore.channel == name)
    channels = (await session.execute(q)).all()
    ship: dict[str, list[str]] = defaultdict(list)
    pickup: dict[str, list[str]] = defaultdict(list)
    for channel, store, ships, picks in (await session.execute(qs)).all():
        if ships:
            ship[channel].append(store)
        if picks:
            pickup[channel].append(store)
    return {c.name: ChannelConfig(c.name, c.platform, Rules(c.safety, c.share_pct, c.min_qty, c.max_qty),
                                  c.split, c.hold_s, tuple(sorted(ship[c.name])),
                                  tuple(sorted(pickup[c.name])))
            for c in channels}


def new_order_id() -> str:
    return f"o-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(8)}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Orders:
    """Order operations against one database. On SQLite, writers queue on a process lock
    instead of spinning on SQLITE_BUSY (SQLite has one writer anyway)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], *, sqlite: bool,
                 on_changed: Callable[[set[Key]], None] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.maker = maker
        self.clock = clock  # aware UTC: orders' times, and the day that decides which lots expired
        self._lock = asyncio.Lock() if sqlite else None
        pg = self.engine.dialect.name == "postgresql"
        # The hot path's statements on asyncpg itself (prepared.py says why); SQLite: SQLAlchemy.
        self._statements = prepared.Statements(self.engine.dialect) if pg else None
        self.on_changed = on_changed  # after commit: the (store, sku) whose stock or holds moved
        self._configs: dict[str, tuple[float, ChannelConfig, Coords]] = {}
        self._config_lock = asyncio.Lock()  # one reload at a time, not one per waiting order

    @property
    def engine(self) -> AsyncEngine:
        bind = self.maker.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

    async def _transaction(self, work: Any, *args: Any, core: bool = False) -> Any:
        """Run `work(session, *args) -> (result, changed keys)` in a transaction, retrying lost
        races and transient lock errors; announce the changed keys after the commit. With
        `core`, work gets a prepared.Runner instead of an ORM session (the order hot path: the
        session's bookkeeping, and SQLAlchemy's execution, cost more than the statements)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if self._lock is not None:
                        await stack.enter_async_context(self._lock)
                    if core:
                        db: Any = await stack.enter_async_context(
                            prepared.transaction(self.engine, self._statements))
                    else:
                        db = await stack.enter_async_context(self.maker())
                        await stack.enter_async_context(db.begin())
                    result, changed = await work(db, *args)
                if changed and self.on_changed is not None:
                    self.on_changed(changed)
                return result
            except _LostRace:
                log.debug("order plan lost a race, attempt %d", attempt + 1)
            except holds.Stale as e:  # lots expired since the figures were written: refresh, plan again
                refreshed = await posting.refresh_sellable(self.maker, e.today, now=self.clock())
                if refreshed and self.on_changed is not None:
                    self.on_changed(refreshed)
                continue
            except DBAPIError as e:
                if not engines.is_transient(e):
                    raise
                log.debug("order transaction retried after %s", e)
            await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise OrderError(503, "the ledger is too contended to take this order now; retry")

    # --- place ---------------------------------------------------------------------------

    async def place(self, req: OrderRequest) -> tuple[dict[str, Any], bool]:
        """Reserve stock for an order: (the order, True) when created now, (it, False) when it
        existed already (a retried request). Raises Shortage (409) or OrderError."""
        for _ in range(3):
            try:
                cfg, coords = await self._config(req.channel)
                result: tuple[dict[str, Any], bool] = await self._transaction(self._place, req, cfg, coords,
                                                                              core=True)
                return result
            except IntegrityError:  # (channel, order_id) exists: a retry, or a concurrent twin
                async with self.maker() as session:
                    existing = await _order_by_ref(session, req.channel, req.order_id)
                if existing is not None:
                    return existing, False
        raise OrderError(503, "could not place the order; retry")

    async def _config(self, channel: str) -> tuple[ChannelConfig, Coords]:
        """The channel's rules and its stores' coordinates, cached for CONFIG_TTL_S per worker
        (an order reads them on every request; settings change rarely)."""
        hit = self._configs.get(channel)
        if hit is not None and time.monotonic() < hit[0]:
            return hit[1], hit[2]
        async with self._config_lock:
            hit = self._configs.get(channel)
            if hit is not None and time.monotonic() < hit[0]:  # another order just loaded it
                return hit[1], hit[2]
            async with self.maker() as session:
                cfg = (await channel_configs(session, channel)).get(channel)
                if cfg is None:
                    raise OrderError(404, f"unknown channel {channel!r}")
                coords = {r.store: (r.lat, r.lon) for r in (await session.execute(
                    select(Store.store, Store.lat, Store.lon).where(Store.store.in_(cfg.stores)))).all()
                    if r.lat is not None and r.lon is not None}
            self._configs[channel] = (time.monotonic() + CONFIG_TTL_S, cfg, coords)
            return cfg, coords

    def settings_changed(self) -> None:
        """Forget cached channel settings (called by this worker's settings endpoints)."""
        self._configs.clear()

    async def _place(self, run: prepared.Runner, req: OrderRequest, cfg: ChannelConfig,
                     coords: Coords) -> tuple[tuple[dict[str, Any], bool], set[Key]]:
        lines = await _resolve_lines(run, cfg.name, req.lines)
        stores = _eligible(cfg, req)
        skus = sorted({sku for sku, _ in lines})
        free: dict[str, dict[str, int]] = {s: {} for s in stores}
        for store, sku, figure, reserved in await run.rows(_LEVELS[run.pg], {"skus": skus, "stores": stores}):
            free[store][sku] = free_units(figure, reserved, cfg.rules.safety)
        address = req.address
        candidates = [Candidate(s, haversine_km(address, coords[s]) if address and s in coords else None,
                                free[s]) for s in stores]
        picks = plan(lines, candidates, cfg.split and req.fulfilment == "ship")
        if not picks or isinstance(picks[0], Short):
            raise Shortage([p for p in picks if isinstance(p, Short)])
        chosen = [p for p in picks if isinstance(p, Pick)]
        need: dict[Key, int] = defaultdict(int)
        for p in chosen:
            need[(p.store, p.sku)] += p.qty
        now = self.clock()
        today = now.date()
        oid = new_order_id()
        expires = now + timedelta(seconds=cfg.hold_s)
        # The holds lock the stock rows from here to the commit, so they come as late as they can.
        sellable: dict[Key, int] = {}
        for (store, sku), n in sorted(need.items()):  # (store, sku) order: no deadlocks on PostgreSQL
            took = await run.first(_HOLD, {"s": store, "k": sku, "n": n, "safety": cfg.rules.safety})
            if took is None:
                raise _LostRace()
            sellable[(store, sku)] = int(took[0])
        # Under those locks, the lots: FEFO among the good units no open order names yet (an order
        # that held the same rows before us has committed its lots, and we read them now).
        keys = sorted(need)
        books, stored = await holds.books(run, keys, sellable=sellable)
        if holds.stale(books, stored, today):
            raise holds.Stale(today)
        spare = {k: holds.room(books[k], today) for k in keys}
        # With one lot that has room (a SKU sold without lots, or one lot on the shelf) the hold
        # above has proved it has the units: sellable ≤ that lot's room, and what the other open
        # orders hold is in `reserved`. Only a choice between lots needs their holds per lot.
        several = [k for k in keys if len(spare[k]) > 1]
        for key, held in (await holds.held_by_lot(run, several)).items():
            for lot, qty in held.items():
                spare[key][lot] = spare[key].get(lot, 0) - qty
        picked = [{"order": oid, "line": p.line, "store": p.store, "lot": lot, "sku": p.sku, "qty": k}
                for p in chosen
                for lot, k in holds.pick(spare[(p.store, p.sku)], books[(p.store, p.sku)], p.qty)]
        reservations = _merge(picked)
        order_row = {"id": oid, "channel": cfg.name, "order_id": req.order_id, "fulfilment": req.fulfilment,
                     "created_at": now, "expires_at": expires}
        await _insert(run, order_row, reservations)  # a duplicate (channel, order_id) fails here
        if self.clock().date() != today:  # midnight passed while we chose: choose again
            raise _LostRace()
        order = _order_json(oid, req.channel, req.order_id, "reserved", req.fulfilment, now, expires,
                            None, None, reservations)
        return (order, True), set(need)

    # --- close -----------------------------------------------------------------------------

    async def cancel(self, oid: str, also: AlsoInTransaction | None = None) -> dict[str, Any]:
        # _transaction returns what the function it runs returns, but is typed Any
        return await self._close(oid, "cancelled", also)  # type: ignore[no-any-return]

    async def fulfil(self, oid: str, also: AlsoInTransaction | None = None) -> dict[str, Any]:
        """The reservation becomes a sale movement, exactly once: a repeated call, or a pickup
        rung up at the POS first, finds the order closed and books nothing."""
        # _transaction returns what the function it runs returns, but is typed Any
        return await self._close(oid, "fulfilled", also)  # type: ignore[no-any-return]

    async def _close(self, oid: str, status: str, also: AlsoInTransaction | None = None) -> Any:
        return await self._transaction(self._close_in, oid, status, also)

    async def _close_in(self, session: AsyncSession, oid: str, status: str,
                        also: AlsoInTransaction | None = None) -> tuple[dict[str, Any], set[Key]]:
        now = self.clock()
        won = await session.execute(update(Order).where(Order.id == oid, Order.status == "reserved")
                                    .values(status=status, closed_at=now, closed_by="api")
                                    .execution_options(synchronize_session=False))
        order = await _order_by_id(session, oid)
        if order is None:
            raise OrderError(404, f"no order {oid!r}")
        # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
        if won.rowcount != 1:  # type: ignore[attr-defined]
            if order["status"] == status:
                return order, set()  # the same call again: nothing more to do
            raise OrderError(409, f"order {oid} is {order['status']}, it cannot become {status}",
                             order=order)
        changed = await claims.release_reservations(session, oid)
        if status == "fulfilled":
            zones = await _zones(session, sorted(changed))
            expired = await _expired_lots(session, sorted(changed), now.date())
            changed |= await posting.write_movements(session, [
                posting.CloudMove(id=str(uuid.uuid5(_NS, f"{oid}/{r['line']}/{r['store']}/{r['lot']}")),
                               store=r["store"], sku=r["sku"], kind="sale", qty=-r["qty"],
                               ref=f"order:{oid}:fulfil/{r['line'] + 1}",
                               # a lot that expired since it was held is not shipped: good units FEFO
                               lot=ledger.NO_LOT if (r["store"], r["sku"], r["lot"]) in expired else r["lot"],
                               zone=_pick_zone(zones.get((r["store"], r["sku"]), {}), r["qty"]))
                for r in order["reservations"]], now)
        if also is not None:
            await also(session, order)
        return order, changed  # read after the update: it shows the new status already

    async def expire_due(self, now: datetime | None = None, limit: int = 500) -> list[str]:
        """Unpaid orders past their hold: release their stock. Returns the order ids expired."""
        now = now or self.clock()
        async with self.maker() as session:
            due = list((await session.scalars(select(Order.id).where(
                Order.status == "reserved", Order.expires_at < now).limit(limit))).all())
        expired = []
        for oid in due:
            try:
                await self._close(oid, "expired")
                expired.append(oid)
            except OrderError:
                pass  # paid or cancelled in the meantime
        return expired

    async def get(self, oid: str) -> dict[str, Any] | None:
        async with self.maker() as session:
            return await _order_by_id(session, oid)


# --- helpers -------------------------------------------------------------------------------

def _eligible(cfg: ChannelConfig, req: OrderRequest) -> list[str]:
    if req.fulfilment == "pickup":
        if req.store is None:
            raise OrderError(400, "fulfilment.store: a pickup order must name its store")
        if req.store not in cfg.pickup:
            raise OrderError(422, f"store {req.store!r} does not offer pickup for channel {cfg.name!r}",
                             pickup_stores=list(cfg.pickup))
        return [req.store]
    if req.store is not None:
        if req.store not in cfg.ship:
            raise OrderError(422, f"store {req.store!r} does not ship for channel {cfg.name!r}",
                             ship_stores=list(cfg.ship))
        return [req.store]
    if not cfg.ship:
        raise OrderError(422, f"channel {cfg.name!r} has no store that ships")
    return list(cfg.ship)


async def _insert(run: prepared.Runner, order: dict[str, Any], reservations: list[dict[str, Any]]) -> None:
    """The order's row and its reservations: one statement on PostgreSQL, two on SQLite."""
    if run.pg:
        await run.run(_NEW_ORDER_WITH_RESERVATIONS, {
            **order, **{f"r_{name}": [r[name] for r in reservations] for name, _ in _RESERVATION_ARRAYS}})
        return
    await run.run(_NEW_ORDER, {**order, "status": "reserved", "closed_at": None, "closed_by": None})
    await run.run(_NEW_RESERVATIONS, reservations)


async def _resolve_lines(run: prepared.Runner, channel: str, lines: Sequence[Line]) -> list[tuple[str, int]]:
    wanted = sorted({ln.channel_sku for ln in lines if ln.channel_sku is not None})
    mapped: dict[str, str] = {}
    if wanted:
        rows = await run.rows(_LISTED[run.pg], {"channel": channel, "channel_skus": wanted})
        mapped = {str(channel_sku): str(sku) for channel_sku, sku in rows}
    out = []
    for i, ln in enumerate(lines):
        if ln.sku is not None:
            out.append((ln.sku, ln.qty))
        elif ln.channel_sku in mapped:
            out.append((mapped[ln.channel_sku], ln.qty))
        else:
            raise OrderError(422, f"lines[{i}].channel_sku: {ln.channel_sku!r} is not listed on {channel!r}")
    return out


def _merge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[int, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["line"], r["store"], r["lot"])
        if key in merged:
            merged[key]["qty"] += r["qty"]
        else:
            merged[key] = dict(r)
    return list(merged.values())


async def _expired_lots(session: AsyncSession, keys: Sequence[Key], today: date) -> set[tuple[str, str, str]]:
    """(store, sku, lot) of these SKUs' lots that have expired `today`."""
    if not keys:
        return set()
    rows = (await session.execute(select(Lot.store, Lot.sku, Lot.lot, Lot.expiry)
                                  .where(tuple_(Lot.store, Lot.sku).in_(list(keys))))).all()
    return {(r.store, r.sku, r.lot) for r in rows if ledger.is_expired(r.expiry, today)}


async def _zones(session: AsyncSession, keys: Sequence[Key]) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if keys:
        for b in (await session.execute(select(Balance.store, Balance.sku, Balance.zone, Balance.qty)
                                        .where(tuple_(Balance.store, Balance.sku).in_(list(keys))))).all():
            out[(b.store, b.sku)][b.zone] += b.qty
    return out


def _pick_zone(zones: dict[str, int], qty: int) -> str:
    """An order is picked from the floor when the floor holds it, else from the backroom."""
    if zones.get("floor", 0) >= qty or zones.get("backroom", 0) < qty:
        return "floor"
    return "backroom"


def iso_utc(t: datetime | None) -> str | None:
    """An aware UTC time as the API writes it (…Z), or None."""
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _order_json(oid: str, channel: str, order_id: str, status: str, fulfilment: str, created: datetime,
                expires: datetime, closed: datetime | None, closed_by: str | None,
                reservations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    res = sorted(({"line": r["line"], "store": r["store"], "sku": r["sku"], "lot": r["lot"], "qty": r["qty"]}
                  for r in reservations), key=lambda r: (r["line"], r["store"], r["lot"]))
    return {"id": oid, "channel": channel, "order_id": order_id, "status": status, "fulfilment": fulfilment,
            "stores": sorted({r["store"] for r in res}), "created_at": iso_utc(created),
            "expires_at": iso_utc(expires), "closed_at": iso_utc(closed), "closed_by": closed_by,
            "reservations": res}


async def _order_where(session: AsyncSession, *where: Any) -> dict[str, Any] | None:
    o = (await session.execute(select(Order).where(*where))).scalar_one_or_none()
    if o is None:
        return None
    res = (await session.execute(select(Reservation.line, Reservation.store, Reservation.sku, Reservation.lot,
                                        Reservation.qty).where(Reservation.order == o.id))).all()
    return _order_json(o.id, o.channel, o.order_id, o.status, o.fulfilment, o.created_at, o.expires_at,
                       o.closed_at, o.closed_by, [r._asdict() for r in res])


async def _order_by_id(session: AsyncSession, oid: str) -> dict[str, Any] | None:
    return await _order_where(session, Order.id == oid)


async def _order_by_ref(session: AsyncSession, channel: str, order_id: str) -> dict[str, Any] | None:
    return await _order_where(session, Order.channel == channel, Order.order_id == order_id)
