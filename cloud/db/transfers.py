"""Cross-store transfers: stock leaves one store at once and reaches the other when received.

Between the two it is in transit: booked out of the source (a `transfer_out` movement, so the
source cannot sell it) and not yet into the destination (whose `transfer_in` is booked on
receipt — by the API, or by an RFID read at its dock: a receipt delta with ref `transfer:<id>:…`,
see claims.py). Only free units leave (`sellable - reserved >= n`, conditional), lots go FEFO and
arrive with their expiry. A transfer still in transit can be cancelled: its units come back to the
source as `transfer_in` movements, into the zones and lots they left (a received one cannot). A
dock read of a cancelled transfer is not booked but dead-lettered for review (claims.py says why).

Suggestions: a store below a SKU's minimum (products.min_stock) is short; a store above twice the
minimum has surplus; the nearest surplus store is suggested first, with an estimated cost.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.channels.allocation import free_units, haversine_km
from cloud.db import holds, posting
from cloud.db.models import Balance, Movement, Product, StockLevel, Store, Transfer, TransferLine
from cloud.db.orders import AlsoInTransaction, Key, OrderError, Orders, iso_utc

_NS = uuid.UUID("5d2e0b7a-3c1f-4e8a-9b6d-7a4f1e2c9d03")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    from_store: str
    to_store: str
    lines: tuple[tuple[str, int], ...]  # (sku, qty)


def new_transfer_id() -> str:
    return f"t-{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:16]}"


class Transfers:
    def __init__(self, orders: Orders) -> None:
        self.orders = orders  # shares its transaction runner (retries, SQLite writer lock, events)

    @property
    def maker(self) -> async_sessionmaker[AsyncSession]:
        return self.orders.maker

    async def create(self, req: TransferRequest, also: AlsoInTransaction | None = None) -> dict[str, Any]:
        if req.from_store == req.to_store:
            raise OrderError(400, "a transfer needs two different stores")
        result: dict[str, Any] = await self.orders._transaction(self._create, req, also)
        return result

    async def _create(self, session: AsyncSession, req: TransferRequest,
                      also: AlsoInTransaction | None = None) -> tuple[dict[str, Any], set[Key]]:
        tid = new_transfer_id()
        now = self.orders.clock()
        want: dict[str, int] = defaultdict(int)
        for sku, qty in req.lines:
            want[sku] += qty
        # A figure written before midnight may still count a lot that has expired since: the
        # orders' runner refreshes the figures and calls again (holds.Stale).
        books, stored = await holds.books(session, [(req.from_store, sku) for sku in sorted(want)])
        if holds.stale(books, stored, now.date()):
            raise holds.Stale(now.date())
        for sku, n in sorted(want.items()):
            took = await session.execute(
                update(StockLevel)
                .where(StockLevel.store == req.from_store, StockLevel.sku == sku,
                       StockLevel.sellable - StockLevel.reserved >= n)
                .values(sellable=StockLevel.sellable - n)  # rewritten from the book just below
                .execution_options(synchronize_session=False))
            # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
            if took.rowcount != 1:  # type: ignore[attr-defined]
                row = (await session.execute(select(StockLevel.sellable, StockLevel.reserved).where(
                    StockLevel.store == req.from_store, StockLevel.sku == sku))).first()
                raise OrderError(409, f"{req.from_store} has not {n} free units of {sku}",
                                 short=[{"sku": sku, "wanted": n,
                                         "available": free_units(*row) if row else 0}])
        await session.execute(insert(Transfer).values(id=tid, from_store=req.from_store,
                                                      to_store=req.to_store, status="in_transit",
                                                      created_at=now))
        sources = await _fefo_sources(session, req.from_store, sorted(want), now.date())
        lines: list[dict[str, Any]] = []
        moves: list[posting.CloudMove] = []
        for sku, n in sorted(want.items()):
            for zone, lot, expiry, k in _take(sources[sku], n):
                line = len(lines)
                lines.append({"transfer": tid, "line": line, "sku": sku, "qty": k, "lot": lot,
                              "expiry": expiry})
                moves.append(posting.CloudMove(
                    id=str(uuid.uuid5(_NS, f"{tid}/out/{line}")), store=req.from_store, sku=sku,
                    kind="transfer_out", qty=-k, ref=f"transfer:{tid}:out/{line + 1}", zone=zone, lot=lot,
                    expiry=expiry, source="transfer"))
        await session.execute(insert(TransferLine), lines)
        changed = await posting.write_movements(session, moves, now)
        made = _transfer_json(tid, req.from_store, req.to_store, "in_transit", now, None, None, lines)
        if also is not None:
            await also(session, made)
        return made, changed

    async def receive(self, tid: str, also: AlsoInTransaction | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.orders._transaction(self._receive, tid, also)
        return result

    async def _receive(self, session: AsyncSession, tid: str,
                       also: AlsoInTransaction | None = None) -> tuple[dict[str, Any], set[Key]]:
        now = datetime.now(UTC)
        won = await session.execute(update(Transfer)
                                    .where(Transfer.id == tid, Transfer.status == "in_transit")
                                    .values(status="received", received_at=now, received_by="api")
                                    .execution_options(synchronize_session=False))
        t = await _transfer(session, tid)
        if t is None:
            raise OrderError(404, f"no transfer {tid!r}")
        # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
        if won.rowcount != 1:  # type: ignore[attr-defined]
            if t["status"] == "cancelled":  # its units are back in the source
                raise OrderError(409, f"transfer {tid} is cancelled; it cannot be received")
            return t, set()  # received already (here, or by the dock's RFID read)
        changed = await posting.write_movements(session, [
            posting.CloudMove(id=str(uuid.uuid5(_NS, f"{tid}/in/{ln['line']}")), store=t["to"], sku=ln["sku"],
                           kind="transfer_in", qty=ln["qty"], ref=f"transfer:{tid}:in/{ln['line'] + 1}",
                           zone="backroom", lot=ln["lot"] or "", expiry=_day(ln["expiry"]), source="transfer")
            for ln in t["lines"]])
        if also is not None:
            await also(session, t)
        return t, changed

    async def cancel(self, tid: str, also: AlsoInTransaction | None = None) -> dict[str, Any]:
        """Put a transfer's units back in the source, lot by lot and zone by zone as they left,
        once (a repeated call finds it cancelled and books nothing). Not after receipt: 409."""
        result: dict[str, Any] = await self.orders._transaction(self._cancel, tid, also)
        return result

    async def _cancel(self, session: AsyncSession, tid: str,
                      also: AlsoInTransaction | None = None) -> tuple[dict[str, Any], set[Key]]:
        won = await session.execute(update(Transfer)
                                    .where(Transfer.id == tid, Transfer.status == "in_transit")
                                    .values(status="cancelled", cancelled_at=datetime.now(UTC))
                                    .execution_options(synchronize_session=False))
        t = await _transfer(session, tid)
        if t is None:
            raise OrderError(404, f"no transfer {tid!r}")
        # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
        if won.rowcount != 1:  # type: ignore[attr-defined]
            if t["status"] != "cancelled":
                raise OrderError(409, f"transfer {tid} is {t['status']}; it cannot be cancelled")
            return t, set()
        # What left, read back from the transfer_out movements themselves (by their ids, made from
        # the transfer's lines when it was created): the zone is only there.
        out_ids = {str(uuid.uuid5(_NS, f"{tid}/out/{ln['line']}")): ln["line"] for ln in t["lines"]}
        gone = (await session.scalars(select(Movement).where(Movement.id.in_(list(out_ids))))).all()
        changed = await posting.write_movements(session, [
            posting.CloudMove(id=str(uuid.uuid5(_NS, f"{tid}/back/{out_ids[m.id]}")), store=m.store,
                              sku=m.sku, kind="transfer_in", qty=-m.qty,
                              ref=f"transfer:{tid}:back/{out_ids[m.id] + 1}", zone=m.zone, lot=m.lot,
                              expiry=m.expiry, source="transfer")
            for m in sorted(gone, key=lambda m: out_ids[m.id])])
        if also is not None:
            await also(session, t)
        return t, changed

    async def get(self, tid: str) -> dict[str, Any] | None:
        async with self.maker() as session:
            return await _transfer(session, tid)

    async def find(self, store: str | None, status: str | None) -> list[dict[str, Any]]:
        async with self.maker() as session:
            q = select(Transfer.id).order_by(Transfer.created_at.desc()).limit(500)
            if store is not None:
                q = q.where((Transfer.from_store == store) | (Transfer.to_store == store))
            if status is not None:
                q = q.where(Transfer.status == status)
            ids = (await session.scalars(q)).all()
            return [t for tid in ids if (t := await _transfer(session, tid)) is not None]

    async def suggestions(self, *, base_cost: float = 20.0, per_km: float = 1.5,
                          only_store: str | None = None) -> list[dict[str, Any]]:
        # Columns, not ORM objects: every stock row of the chain is read (a chain of 50 stores
        # and 500 SKUs spent 1.4 s building 25,000 StockLevel instances).
        async with self.maker() as session:
            levels = (await session.execute(select(StockLevel.store, StockLevel.sku, StockLevel.sellable,
                                                   StockLevel.reserved))).all()
            mins = dict((await session.execute(select(Product.sku, Product.min_stock))).all())
            stores = (await session.execute(select(Store.store, Store.lat, Store.lon))).all()
        where = {s.store: (s.lat, s.lon) for s in stores if s.lat is not None and s.lon is not None}
        free = levels_by_sku(levels)
        for per_store in free.values():  # a registered store without a row has none of the SKU
            for s in stores:
                per_store.setdefault(s.store, 0)
        return suggest(free, mins, where, base_cost, per_km, only_store)


def levels_by_sku(levels: Sequence[Any]) -> dict[str, dict[str, int]]:
    """sku → store → free units, from rows with store, sku, sellable and reserved."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for lv in levels:
        out[lv.sku][lv.store] = free_units(lv.sellable, lv.reserved)
    return out


def suggest(free: dict[str, dict[str, int]], mins: dict[str, int], where: dict[str, tuple[float, float]],
            base_cost: float, per_km: float, only_store: str | None = None,
            default_min: int = 2) -> list[dict[str, Any]]:
    """Pure: transfers that lift short stores to twice their minimum from surplus stores,
    nearest donor first (unknown distance last), never taking a donor below twice its minimum."""
    out = []
    measured: dict[tuple[str, str], float | None] = {}  # a pair of stores is as far apart for every SKU

    def km(donor: str, short: str) -> float | None:
        if (donor, short) not in measured:
            measured[(donor, short)] = haversine_km(where[donor], where[short]) \
                if donor in where and short in where else None
        return measured[(donor, short)]

    for sku, stores in sorted(free.items()):
        target = 2 * mins.get(sku, default_min)
        minimum = mins.get(sku, default_min)
        surplus = {s: f - target for s, f in stores.items() if f > target}
        for short, have in sorted(stores.items()):
            if have >= minimum or (only_store is not None and short != only_store):
                continue
            need = target - have
            apart = {d: km(d, short) for d in surplus}
            ranked = sorted(surplus, key=lambda d: (apart[d] is None, apart[d] or 0.0, -surplus[d], d))
            for donor in ranked:
                if need <= 0:
                    break
                k = min(need, surplus[donor])
                if k <= 0:
                    continue
                d = apart[donor]
                out.append({"sku": sku, "from": donor, "to": short, "qty": k,
                            "distance_km": round(d, 1) if d is not None else None,
                            "estimated_cost": round(base_cost + per_km * d, 2) if d is not None else None,
                            "from_free": stores[donor], "to_free": have})
                surplus[donor] -= k
                need -= k
    return out


async def _fefo_sources(session: AsyncSession, store: str, skus: Sequence[str],
                        today: date) -> dict[str, list[tuple[str, str, date | None, int]]]:
    """Per SKU: (zone, lot, expiry, units), backroom before floor, earliest expiry first; lots
    expired `today` (the ledger's UTC day) stay behind for their write-off."""
    out: dict[str, list[tuple[str, str, date | None, int]]] = defaultdict(list)
    rows = (await session.execute(select(Balance).where(Balance.store == store, Balance.sku.in_(list(skus)),
                                                        Balance.qty > 0))).scalars().all()
    for b in sorted(rows, key=lambda b: (b.zone != "backroom", b.lot == "", b.expiry or date.max, b.lot)):
        if b.expiry is not None and b.expiry < today:
            continue
        out[b.sku].append((b.zone, b.lot, b.expiry, b.qty))
    return out


Source = tuple[str, str, date | None, int]  # (zone, lot, expiry, units)


def _take(sources: list[Source], n: int) -> list[Source]:
    taken = []
    for zone, lot, expiry, q in sources:
        if not n:
            break
        k = min(q, n)
        taken.append((zone, lot, expiry, k))
        n -= k
    if n:  # the level said free, the lots are fewer: the book's unknown lot covers it
        taken.append(("backroom", "", None, n))
    return taken


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _transfer_json(tid: str, src: str, dst: str, status: str, created: datetime, received: datetime | None,
                   received_by: str | None, lines: Sequence[dict[str, Any]],
                   cancelled: datetime | None = None) -> dict[str, Any]:
    return {"id": tid, "from": src, "to": dst, "status": status, "created_at": iso_utc(created),
            "received_at": iso_utc(received), "received_by": received_by, "cancelled_at": iso_utc(cancelled),
            "lines": [{"line": ln["line"], "sku": ln["sku"], "qty": ln["qty"], "lot": ln["lot"] or None,
                       "expiry": ln["expiry"].isoformat() if isinstance(ln["expiry"], date) else ln["expiry"]}
                      for ln in sorted(lines, key=lambda ln: ln["line"])]}


async def _transfer(session: AsyncSession, tid: str) -> dict[str, Any] | None:
    t = (await session.execute(select(Transfer).where(Transfer.id == tid))).scalar_one_or_none()
    if t is None:
        return None
    lines = (await session.execute(select(TransferLine).where(TransferLine.transfer == tid))).scalars().all()
    return _transfer_json(t.id, t.from_store, t.to_store, t.status, t.created_at, t.received_at,
                          t.received_by,
                          [{"line": ln.line, "sku": ln.sku, "qty": ln.qty, "lot": ln.lot, "expiry": ln.expiry}
                           for ln in lines], t.cancelled_at)


__all__ = ["TransferRequest", "Transfers", "suggest"]
