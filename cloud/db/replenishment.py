"""Replenishment runs against the ledger: read the chain's facts, plan on a worker thread, store
the suggestions.

A run reads (one read-only transaction): every location (registered, or holding stock), every SKU
with stock, sales in the window or buying terms; daily units sold per location × SKU over the last
`history_days` UTC days from the ledger's `sale` movements (till sales and fulfilled online orders
alike); what each location has free now (`stock_levels`: sellable − reserved); what is on its way
to it (transfers in transit, purchase orders sent and not yet received); capacities, shelf lives,
and each SKU's supplier: the cheapest of its terms, then the quickest, then the first by id; and
the day each location × SKU first had a movement, so a product or store new within the window
starts from the forecast's priors (the SKU elsewhere, its category) rather than from the days
before it existed read as days of no demand; and, with opening hours, the days each location ×
SKU had nothing sellable for most of them (its book replayed through the window by the ledger's
own arithmetic), whose sales the forecast reads as censored demand.

Each run reads the chain's stored settings (cloud/db/replenishment_settings.py: promotions,
targets per category, store sizes, transfer distance, opening hours) and, when it has finished,
deletes all but the newest `keep_runs` runs with their suggestions.

The forecast and the policy (`cloud.replenish.plan`, numpy and statsforecast: seconds of CPU for a
chain) run on the executor given (a thread of its own in the cloud worker), never on the event loop,
so the API keeps answering. The suggestions are stored with the run (`replenishment_suggestions`).

Nightly: `nightly(night)` inserts the night's run row first; the night is unique, so of several
workers only the one whose insert wins runs it (the others get None).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import ledger
from cloud.db import replenishment_settings as stored_settings
from cloud.db.models import (
    BuyingTerm,
    Movement,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentRun,
    ReplenishmentSuggestion,
    ShelfCapacity,
    ShelfLife,
    StockLevel,
    Store,
    Transfer,
    TransferLine,
)
from cloud.db.orders import AlsoInTransaction, OrderError, iso_utc
from cloud.db.posting import reason_of
from cloud.db.transfers import TransferRequest, Transfers
from cloud.replenish.plan import NO_CAP, ChainFacts, Location, Plan, PlanSettings, SkuTerms
from cloud.replenish.policy import Limit
from cloud.replenish.series import OpeningHours, stocked_out
from cloud.replenish.settings import ReplenishmentSettings

log = logging.getLogger(__name__)
HISTORY_DAYS = 182
OPEN_PO = ("sent", "partial")
CHUNK = 500
PART = 500  # rows of daily sales turned into the array between two turns of the event loop


def new_run_id() -> str:
    return f"r-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(8)}"


async def read_facts(session: AsyncSession, today: date, history_days: int = HISTORY_DAYS,
                     hours: OpeningHours | None = None) -> ChainFacts:
    """The chain as the ledger and the master data know it at the start of `today` (UTC); with
    `hours`, also the days each location × SKU was out of stock for most of them (`stock_outs`)."""
    start = datetime.combine(today - timedelta(days=history_days), time(), UTC)
    end = datetime.combine(today, time(), UTC)
    in_window = (Movement.kind == "sale", Movement.occurred_at >= start, Movement.occurred_at < end)
    registered = {s.store: s for s in (await session.scalars(select(Store))).all()}
    holding = set((await session.scalars(union(select(StockLevel.store),
                                               select(Movement.store).where(*in_window)))).all())
    locations = tuple(
        Location(i, registered[i].kind, registered[i].lat, registered[i].lon) if i in registered
        else Location(i) for i in sorted(set(registered) | holding))
    terms = (await session.scalars(select(BuyingTerm))).all()
    skus_seen = set((await session.scalars(union(select(StockLevel.sku), select(BuyingTerm.sku),
                                                 select(Movement.sku).where(*in_window)))).all())
    categories = dict((await session.execute(select(Product.sku, Product.category))).all())
    lives = dict((await session.execute(select(ShelfLife.sku, ShelfLife.days))).all())
    best: dict[str, BuyingTerm] = {}
    for t in sorted(terms, key=lambda t: (t.unit_cost if t.unit_cost is not None else float("inf"),
                                          t.lead_mean_days, t.supplier)):
        best.setdefault(t.sku, t)
    skus = tuple(
        SkuTerms(sku, categories.get(sku, ""), b.supplier, b.lead_mean_days, b.lead_sd_days, b.pack,
                 b.minimum, b.unit_cost, lives.get(sku)) if (b := best.get(sku)) is not None
        else SkuTerms(sku, categories.get(sku, ""), shelf_life_days=lives.get(sku))
        for sku in sorted(skus_seen))
    loc_at = {loc.id: i for i, loc in enumerate(locations)}
    sku_at = {s.sku: j for j, s in enumerate(skus)}
    n_sku = len(skus)

    def at(store: str, sku: str) -> int | None:
        i, j = loc_at.get(store), sku_at.get(sku)
        return None if i is None or j is None else i * n_sku + j

    n = len(locations) * n_sku
    sales = np.zeros((n, history_days))
    day = func.date(Movement.occurred_at)
    cols: dict[str, int] = {}  # a day's text (SQLite) or date (PostgreSQL) → its column, parsed once
    daily = await session.stream(select(Movement.store, Movement.sku, day, func.sum(Movement.qty))
                                 .where(*in_window).group_by(Movement.store, Movement.sku, day))
    async for part in daily.partitions(PART):
        for store, sku, d, qty in part:
            text = str(d)[:10]
            col = cols.get(text)
            if col is None:
                col = cols[text] = (date.fromisoformat(text) - start.date()).days
            k = at(store, sku)
            if k is not None and 0 <= col < history_days:
                sales[k, col] += max(-int(qty or 0), 0)
        # A chain's daily sales are 100,000s of rows: the API answers between parts (a bench of
        # 20 stores × 200 SKUs × 182 days held the event loop for 4 s in one piece).
        await asyncio.sleep(0)
    free = np.zeros(n, dtype=np.int64)
    for store, sku, sellable, reserved in (await session.execute(
            select(StockLevel.store, StockLevel.sku, StockLevel.sellable, StockLevel.reserved))).all():
        k = at(store, sku)
        if k is not None:
            free[k] = max(sellable - reserved, 0)
    on_order = np.zeros(n, dtype=np.int64)
    coming = await session.execute(
        select(Transfer.to_store, TransferLine.sku, func.sum(TransferLine.qty))
        .join(TransferLine, TransferLine.transfer == Transfer.id)
        .where(Transfer.status == "in_transit").group_by(Transfer.to_store, TransferLine.sku))
    ordered = await session.execute(
        select(PurchaseOrder.location, PurchaseOrderLine.sku,
               func.sum(PurchaseOrderLine.qty - PurchaseOrderLine.received))
        .join(PurchaseOrderLine, PurchaseOrderLine.po == PurchaseOrder.id)
        .where(PurchaseOrder.status.in_(OPEN_PO)).group_by(PurchaseOrder.location, PurchaseOrderLine.sku))
    for store, sku, qty in [*coming.all(), *ordered.all()]:
        k = at(store, sku)
        if k is not None:
            on_order[k] += max(int(qty or 0), 0)
    listed = np.full(n, -1, dtype=np.int64)
    for store, sku, first in (await session.execute(
            select(Movement.store, Movement.sku, func.min(Movement.occurred_at))
            .group_by(Movement.store, Movement.sku))).all():
        k = at(store, sku)
        if k is not None and first is not None:
            col = (date.fromisoformat(str(first)[:10]) - start.date()).days
            listed[k] = col if col > 0 else -1
    capacity = np.full(n, NO_CAP, dtype=np.int64)
    for store, sku, cap in (await session.execute(
            select(ShelfCapacity.store, ShelfCapacity.sku, ShelfCapacity.capacity))).all():
        k = at(store, sku)
        if k is not None:
            capacity[k] = cap
    out = None
    if hours is not None:
        out = np.zeros((n, history_days), dtype=bool)
        async for key, levels in _level_steps(session, start, end):
            k = at(*key)
            if k is not None:
                out[k] = stocked_out(levels, start.date(), history_days, hours)
    return ChainFacts(today, locations, skus, sales, free, on_order, capacity, listed, out)


async def _level_steps(session: AsyncSession, start: datetime, end: datetime
                       ) -> AsyncIterator[tuple[tuple[str, str], list[tuple[datetime, int]]]]:
    """Per location × SKU with movements before `end`, the steps of its sellable level from
    `start` to `end`: the book replayed by the ledger's own arithmetic (`ledger.SkuBook`, from the
    first movement: a count is absolute, so no shortcut from today's balance backwards is exact),
    a step after each movement in the window and at each midnight a lot expires. Rows come in
    parts with the event loop free between them, as the daily sales do."""
    m = Movement
    rows = await session.stream(  # columns, not ORM objects: a chain's history is 100,000s of rows
        select(m.store, m.sku, m.id, m.kind, m.qty, m.zone, m.occurred_at, m.lot, m.expiry, m.from_zone,
               m.evidence)
        .where(m.occurred_at < end).order_by(m.store, m.sku, m.occurred_at, m.id))
    key: tuple[str, str] | None = None
    book = ledger.SkuBook()
    steps: list[tuple[datetime, int]] = []
    day = start.date()

    def level(on: date) -> int:
        return ledger.sellable(book, on)

    def midnights(until: date) -> None:
        """Steps at each midnight in the window up to `until` where a lot may have expired."""
        nonlocal day
        if steps and any(e is not None for e in book.expiry.values()):
            while day < until:
                day += timedelta(days=1)
                steps.append((datetime.combine(day, time(), UTC), level(day)))
        day = max(day, until)

    def finish() -> list[tuple[datetime, int]]:
        if not steps:  # every movement before the window: the book as it stood at its start
            steps.append((start, level(start.date())))
        midnights(end.date())
        return steps

    async for part in rows.partitions(PART):
        for store, sku, id_, kind, qty, zone, occurred_at, lot, expiry, from_zone, evidence in part:
            if (store, sku) != key:
                if key is not None:
                    yield key, finish()
                key, book, steps, day = (store, sku), ledger.SkuBook(), [], start.date()
            move = ledger.Move(id_, kind, qty, zone, occurred_at, lot, expiry, from_zone, _reason(evidence))
            if move.occurred_at >= start and not steps:
                steps.append((start, level(start.date())))
            if steps:
                midnights(move.day)
            book.apply(move)
            if move.occurred_at >= start:
                steps.append((move.occurred_at, level(move.day)))
        await asyncio.sleep(0)
    if key is not None:
        yield key, finish()


def _reason(evidence: str | None) -> str | None:
    """An expiry write-off's reason from a stored movement's evidence (as posting.move_of reads it)."""
    if not evidence or '"reason"' not in evidence:  # most evidence is the reconciler's: not parsed
        return None
    try:
        return reason_of(json.loads(evidence))
    except (ValueError, AttributeError):
        return None


def suggestion_rows(run: str, facts: ChainFacts, result: Plan) -> list[dict[str, Any]]:
    """The rows a plan stores: purchases, transfers, emergencies, in that order."""
    index = {(s.location, s.sku): k for k, s in enumerate(result.series)}
    lv = result.levels

    def detail(location: str, sku: str, **more: Any) -> str:
        k = index[(location, sku)]
        return json.dumps({"reorder_point": int(lv.reorder_point[k]), "order_up_to": int(lv.order_up_to[k]),
                           "position": int(result.position[k]), "method": result.method[k], **more},
                          separators=(",", ":"))

    rows: list[dict[str, Any]] = []

    def add(**row: Any) -> None:
        rows.append({"run": run, "line": len(rows), "source": None, "supplier": None, "unit_cost": None,
                     "level": None, **row})

    for p in sorted(result.purchases, key=lambda p: (p.supplier, p.location, p.sku)):
        add(kind="purchase", sku=p.sku, location=p.location, supplier=p.supplier, units=p.units,
            unit_cost=p.unit_cost, detail=detail(p.location, p.sku, limit=Limit(p.limit).name.lower()))
    for t in result.transfers:
        add(kind="transfer", sku=t.sku, location=t.destination, source=t.source, units=t.units,
            detail=detail(t.destination, t.sku))
    for e in result.emergencies:
        add(kind="emergency", sku=e.sku, location=e.region, units=e.shortfall, level=int(e.level),
            detail=json.dumps({"stores": list(e.stores), "warehouse_units": e.warehouse_units,
                               "level": e.level.name.lower()}, separators=(",", ":")))
    return rows


def run_json(r: ReplenishmentRun) -> dict[str, Any]:
    return {"id": r.id, "trigger": r.trigger, "night": r.night.isoformat() if r.night else None,
            "status": r.status, "started_at": iso_utc(r.started_at), "finished_at": iso_utc(r.finished_at),
            "requested_by": r.requested_by, "error": r.error,
            "summary": json.loads(r.summary) if r.summary else None}


def suggestion_json(s: ReplenishmentSuggestion) -> dict[str, Any]:
    return {"run": s.run, "line": s.line, "kind": s.kind, "sku": s.sku, "location": s.location,
            "source": s.source, "supplier": s.supplier, "units": s.units, "unit_cost": s.unit_cost,
            "level": s.level, "detail": json.loads(s.detail) if s.detail else None, "acted": s.acted}


class Replenishment:
    """Runs on one database; `executor` takes the planning (None: the loop's default executor)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], executor: Executor | None = None,
                 settings: PlanSettings | None = None, history_days: int = HISTORY_DAYS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), tz: tzinfo = UTC) -> None:
        """`settings`: what the stored settings (`replenishment_settings`) do not set; `tz`: the
        chain's time zone (opening hours, the nightly run)."""
        self.maker, self.executor, self.clock, self.tz = maker, executor, clock, tz
        self.settings = settings or PlanSettings()
        self.history_days = history_days
        self.tasks: dict[asyncio.Task[Any], str] = {}  # runs executing behind the API, and their ids
        self.changed = asyncio.Event()  # the settings changed here: the nightly schedule looks again

    async def chain_settings(self) -> ReplenishmentSettings:
        async with self.maker() as session:
            return await stored_settings.load(session)

    async def save_settings(self, changes: dict[str, Any], by: str) -> ReplenishmentSettings:
        """Change settings (settings.SettingError: nothing changed), audited."""
        async with self.maker() as session, session.begin():
            saved = await stored_settings.save(session, changes, by, self.clock())
        self.changed.set()
        return saved

    def plan_settings(self, chain: ReplenishmentSettings) -> PlanSettings:
        """This worker's plan settings with the chain's stored ones applied."""
        return replace(self.settings, calendar=chain.calendar, fill_rate=chain.fill_rate,
                       fill_rates=dict(chain.fill_rates), store_size=dict(chain.store_sizes),
                       max_km=chain.transfer_km, served_by=dict(chain.served_by), pooled=chain.pooled,
                       least_fill_rate=chain.least_fill_rate)

    async def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` finished runs (done or failed) with their suggestions;
        a running run is never deleted. Returns how many runs went. Purchase orders and transfers
        made from a deleted run's suggestions stay: they are records of their own."""
        async with self.maker() as session, session.begin():
            old = list((await session.scalars(
                select(ReplenishmentRun.id).where(ReplenishmentRun.status != "running")
                .order_by(ReplenishmentRun.started_at.desc(), ReplenishmentRun.id.desc())
                .offset(keep))).all())
            for start in range(0, len(old), CHUNK):
                ids = old[start:start + CHUNK]
                await session.execute(delete(ReplenishmentSuggestion)
                                      .where(ReplenishmentSuggestion.run.in_(ids)))
                await session.execute(delete(ReplenishmentRun).where(ReplenishmentRun.id.in_(ids)))
        return len(old)

    async def start(self, trigger: str, by: str | None, night: date | None = None) -> dict[str, Any] | None:
        """A new run's row (status running); None when `night`'s run exists already."""
        run = ReplenishmentRun(id=new_run_id(), trigger=trigger, night=night, status="running",
                               started_at=self.clock(), requested_by=by)
        try:
            async with self.maker() as session, session.begin():
                session.add(run)
        except IntegrityError:
            return None
        return run_json(run)

    async def execute(self, run_id: str) -> dict[str, Any]:
        """Read, plan (on the executor), store; the finished run (failed, with its error, on any
        exception: a run that cannot finish says why instead of staying `running`)."""
        t0 = self.clock()
        chain: ReplenishmentSettings | None = None
        try:
            async with self.maker() as session:
                chain = await stored_settings.load(session)
                hours = OpeningHours(chain.opens, chain.closes, self.tz)
                facts = await read_facts(session, t0.date(), self.history_days, hours)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, _plan, facts, self.plan_settings(chain))
            rows = suggestion_rows(run_id, facts, result)
            counts: dict[str, int] = defaultdict(int)
            for r in rows:
                counts[r["kind"]] += 1
            summary = {"locations": len(facts.locations), "skus": len(facts.skus),
                       "series": len(result.series),
                       "history_days": self.history_days, "purchases": counts["purchase"],
                       "transfers": counts["transfer"], "emergencies": counts["emergency"],
                       "unbuyable_skus": result.unbuyable,
                       "stock_out_days": int(facts.stocked_out.sum()) if facts.stocked_out is not None else 0,
                       "new_series": sum(m == "prior" for m in result.method),
                       "seconds": round((self.clock() - t0).total_seconds(), 3)}
            async with self.maker() as session, session.begin():
                for start in range(0, len(rows), CHUNK):
                    await session.execute(insert(ReplenishmentSuggestion), rows[start:start + CHUNK])
                await self._finish(session, run_id, "done", None, summary)
        except ImportError as e:  # the cloud installed without the [replenish] part
            await self._fail(run_id, f"forecasting needs the [replenish] part installed ({e})")
        except Exception as e:
            log.exception("replenishment run %s failed", run_id)
            await self._fail(run_id, f"{type(e).__name__}: {e}")
        finished = await self.get(run_id) or {}
        try:
            await self.prune(chain.keep_runs if chain is not None else ReplenishmentSettings().keep_runs)
        except Exception:  # keeping the table small must not fail the run it follows
            log.exception("pruning old replenishment runs failed")
        return finished

    async def _fail(self, run_id: str, error: str) -> None:
        async with self.maker() as session, session.begin():
            await self._finish(session, run_id, "failed", error, None)

    async def _finish(self, session: AsyncSession, run_id: str, status: str, error: str | None,
                      summary: dict[str, Any] | None) -> None:
        await session.execute(update(ReplenishmentRun).where(
            ReplenishmentRun.id == run_id, ReplenishmentRun.status == "running").values(
            status=status, error=error, finished_at=self.clock(),
            summary=json.dumps(summary) if summary is not None else None))

    async def run(self, trigger: str, by: str | None, night: date | None = None) -> dict[str, Any] | None:
        started = await self.start(trigger, by, night)
        return None if started is None else await self.execute(started["id"])

    def run_behind(self, run_id: str) -> None:
        """Execute a started run as a task of its own (the API answers at once)."""
        task = asyncio.create_task(self.execute(run_id), name=f"replenishment-{run_id}")
        self.tasks[task] = run_id
        task.add_done_callback(lambda t: self.tasks.pop(t, None))

    async def nightly(self, night: date) -> dict[str, Any] | None:
        """The night's run, unless another worker has it (None)."""
        return await self.run("nightly", None, night)

    async def get(self, run_id: str) -> dict[str, Any] | None:
        async with self.maker() as session:
            r = await session.get(ReplenishmentRun, run_id)
            return run_json(r) if r is not None else None

    async def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self.maker() as session:
            rows = (await session.scalars(select(ReplenishmentRun).order_by(
                ReplenishmentRun.started_at.desc(), ReplenishmentRun.id).limit(limit))).all()
            return [run_json(r) for r in rows]

    async def latest_done(self) -> str | None:
        async with self.maker() as session:
            return await session.scalar(select(ReplenishmentRun.id).where(ReplenishmentRun.status == "done")
                                        .order_by(ReplenishmentRun.finished_at.desc()).limit(1))

    async def suggestions(self, run_id: str, *, kind: str | None = None, location: str | None = None,
                          supplier: str | None = None, sku: str | None = None,
                          store: str | None = None) -> list[dict[str, Any]]:
        """A run's suggestions, narrowed; `store`: only those to or from that location."""
        q = select(ReplenishmentSuggestion).where(ReplenishmentSuggestion.run == run_id)
        for col, value in (("kind", kind), ("location", location), ("supplier", supplier), ("sku", sku)):
            if value is not None:
                q = q.where(getattr(ReplenishmentSuggestion, col) == value)
        if store is not None:
            q = q.where((ReplenishmentSuggestion.location == store)
                        | (ReplenishmentSuggestion.source == store))
        async with self.maker() as session:
            return [suggestion_json(s) for s in (await session.scalars(
                q.order_by(ReplenishmentSuggestion.line))).all()]

    async def make_transfers(self, transfers: Transfers, run_id: str, source: str | None = None,
                             also: AlsoInTransaction | None = None
                             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Transfers for a run's transfer suggestions not acted on yet, one per source and
        destination (only from `source` if given): (made, refused). Each suggestion becomes a
        transfer once: it is marked in the transfer's own transaction, conditionally, so a twin
        request makes nothing twice. A source without the free units any more is refused (409's
        `short`) and its suggestions stay open. `also` is called with each transfer made, in its
        transaction (the caller's audit entry)."""
        q = select(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.run == run_id, ReplenishmentSuggestion.kind == "transfer",
            ReplenishmentSuggestion.acted.is_(None))
        if source is not None:
            q = q.where(ReplenishmentSuggestion.source == source)
        async with self.maker() as session:
            rows = (await session.scalars(q.order_by(ReplenishmentSuggestion.line))).all()
        groups: dict[tuple[str, str], list[ReplenishmentSuggestion]] = defaultdict(list)
        for r in rows:
            groups[(r.source or "", r.location)].append(r)
        made: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for (src, dst), group in sorted(groups.items()):
            lines = [r.line for r in group]

            async def mark(session: AsyncSession, t: dict[str, Any], lines: list[int] = lines) -> None:
                won = await session.execute(update(ReplenishmentSuggestion).where(
                    ReplenishmentSuggestion.run == run_id, ReplenishmentSuggestion.line.in_(lines),
                    ReplenishmentSuggestion.acted.is_(None)).values(acted=t["id"])
                    .execution_options(synchronize_session=False))
                # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
                if won.rowcount != len(lines):  # type: ignore[attr-defined]
                    raise OrderError(409, "these suggestions were made into a transfer just now")
                if also is not None:
                    await also(session, t)

            try:
                made.append(await transfers.create(
                    TransferRequest(src, dst, tuple((r.sku, r.units) for r in group)), also=mark))
            except OrderError as e:
                refused.append({"from": src, "to": dst, "lines": lines, "error": str(e), **e.detail})
        return made, refused

    async def close(self) -> None:
        """Stop the runs executing behind the API; each says it did not finish (not `running` for
        ever). A plan already on the executor's thread finishes there; its result is dropped."""
        stopped = dict(self.tasks)
        for task in stopped:
            task.cancel()
        await asyncio.gather(*stopped, return_exceptions=True)
        for run_id in stopped.values():
            await self._fail(run_id, "the worker stopped before the run finished")


def _plan(facts: ChainFacts, settings: PlanSettings) -> Plan:
    from cloud.replenish.plan import plan  # on the worker thread: pandas and statsforecast load there

    return plan(facts, settings)


def next_night(now: datetime, at: time, tz: Any) -> datetime:
    """The next time `at` (in the chain's time zone `tz`) after `now`, as an aware UTC time."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return candidate.astimezone(UTC)


__all__ = ["HISTORY_DAYS", "Replenishment", "next_night", "read_facts", "suggestion_rows"]
