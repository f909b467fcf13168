"""Purchase orders: draft → sent → partial → received, or cancelled before anything arrived.

A draft is made by hand or from a replenishment run's purchase suggestions (one order per supplier
and location, made once: `suggested` is unique). Sending it makes its units count as on order for
the next run. A delivery is booked against its delivery note (`ref`, once per order): each line's
`received` rises by a conditional UPDATE (`received + n <= qty`, rowcount checked, so two
deliveries racing can never book more than was ordered) and `receipt` movements go into the
location's backroom through the ledger's write path (cloud/db/receipts.py), in the same
transaction; the order is `received` when every line is, `partial` before.

Every action takes `also`, a `Recorder` called in the action's own transaction with the order as it
was and as it is after (None before a new one) — how the API and the console write the audit entry
(`audited`: who, `purchase_order.<action>`, before → after) that commits or rolls back with the
change. It is not called when a repeated request changes nothing (the same send, the same
delivery note, an order made from the same suggestions before).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import audit, posting, receipts
from cloud.db.models import (
    NO_LOT,
    BuyingTerm,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    ReplenishmentSuggestion,
    Store,
    Supplier,
)
from cloud.db.orders import Key, OrderError, Orders, iso_utc

STATUSES = ("draft", "sent", "partial", "received", "cancelled")
ACTIONS = ("create", "from_suggestions", "send", "cancel", "receive")

# (session, the order before — None for a new one —, the order after): called in the action's
# transaction, after its change.
Recorder = Callable[[AsyncSession, "dict[str, Any] | None", "dict[str, Any]"], Awaitable[None]]


def _summary(po: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit keeps of an order: its state, where from and to, its lines as
    "sku: received/qty", its delivery notes and value."""
    return {"status": po["status"], "supplier": po["supplier"], "location": po["location"],
            "value": po["value"], "receipts": list(po["receipts"]), "suggested": po["suggested"],
            "lines": [f"{ln['sku']}: {ln['received']}/{ln['qty']}" for ln in po["lines"]]}


def audited(by: str, action: str) -> Recorder:
    """The audit entry of a purchase-order action by `by` (audit.actor's name), written in the
    action's transaction: `purchase_order.<action>`, target `purchase_order:<id>`."""
    assert action in ACTIONS, action

    async def record(session: AsyncSession, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        await audit.record(session, by, f"purchase_order.{action}", f"purchase_order:{after['id']}",
                           _summary(before) if before is not None else None, _summary(after))

    return record


@dataclass(frozen=True, slots=True)
class DeliveredLine:
    line: int
    qty: int
    lot: str = NO_LOT
    expiry: date | None = None


def new_po_id() -> str:
    return f"po-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(6)}"


class PurchaseOrders:
    def __init__(self, orders: Orders) -> None:
        self.orders = orders  # its transaction runner: retries, SQLite's writer lock, stock events

    async def create(self, supplier: str, location: str, lines: Sequence[tuple[str, int, float | None]],
                     by: str | None, suggested: str | None = None, also: Recorder | None = None
                     ) -> dict[str, Any]:
        """A draft; a line's unit cost left out is the supplier's for the SKU. OrderError 422 for a
        supplier or location the chain does not have."""
        async with self.orders.maker() as session, session.begin():
            return await self._create(session, supplier, location, lines, by, suggested, also)

    async def _create(self, session: AsyncSession, supplier: str, location: str,
                      lines: Sequence[tuple[str, int, float | None]], by: str | None,
                      suggested: str | None, also: Recorder | None) -> dict[str, Any]:
        if await session.get(Supplier, supplier) is None:
            raise OrderError(422, f"supplier: the chain has no supplier {supplier!r}", field="supplier")
        if await session.get(Store, location) is None:
            raise OrderError(422, f"location: the chain has no store or warehouse {location!r}",
                             field="location")
        costs = dict((await session.execute(select(BuyingTerm.sku, BuyingTerm.unit_cost).where(
            BuyingTerm.supplier == supplier, BuyingTerm.sku.in_([sku for sku, _, _ in lines])))).all())
        pid = new_po_id()
        await session.execute(insert(PurchaseOrder).values(
            id=pid, supplier=supplier, location=location, status="draft", created_at=datetime.now(UTC),
            created_by=by, suggested=suggested))
        await session.execute(insert(PurchaseOrderLine), [
            {"po": pid, "line": i, "sku": sku, "qty": qty, "received": 0,
             "unit_cost": cost if cost is not None else costs.get(sku)}
            for i, (sku, qty, cost) in enumerate(lines)])
        found = await _po(session, pid)
        assert found is not None
        if also is not None:
            await also(session, None, found)
        return found

    async def from_suggestions(self, run: str, supplier: str, by: str | None, also: Recorder | None = None
                               ) -> list[dict[str, Any]]:
        """Drafts for a run's purchase suggestions from one supplier, one per location, each made
        once (asked again: the same orders)."""
        async with self.orders.maker() as session:
            rows = (await session.scalars(select(ReplenishmentSuggestion).where(
                ReplenishmentSuggestion.run == run, ReplenishmentSuggestion.kind == "purchase",
                ReplenishmentSuggestion.supplier == supplier).order_by(ReplenishmentSuggestion.line))).all()
        by_location: dict[str, list[tuple[str, int, float | None]]] = {}
        for r in rows:
            by_location.setdefault(r.location, []).append((r.sku, r.units, r.unit_cost))
        made = []
        for location, lines in sorted(by_location.items()):
            key = f"{run}/{supplier}/{location}"
            try:
                async with self.orders.maker() as session, session.begin():
                    made.append(await self._create(session, supplier, location, lines, by, key, also))
            except IntegrityError:  # made before (or by a twin request just now)
                async with self.orders.maker() as session:
                    pid = await session.scalar(select(PurchaseOrder.id).where(PurchaseOrder.suggested == key))
                    existing = await _po(session, pid) if pid is not None else None
                if existing is None:
                    raise
                made.append(existing)
        return made

    async def _move(self, pid: str, to: str, allowed: Sequence[str], also: Recorder | None) -> dict[str, Any]:
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": to}
        if to == "sent":
            values["sent_at"] = now
        else:
            values["closed_at"] = now
        async with self.orders.maker() as session, session.begin():
            before = await _po(session, pid, lock=True) if also is not None else None
            won = await session.execute(update(PurchaseOrder).where(
                PurchaseOrder.id == pid, PurchaseOrder.status.in_(list(allowed))).values(**values)
                .execution_options(synchronize_session=False))
            po = await _po(session, pid)
            if po is None:
                raise OrderError(404, f"no purchase order {pid!r}")
            # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
            changed = won.rowcount == 1  # type: ignore[attr-defined]
            if not changed and po["status"] != to:
                raise OrderError(409, f"purchase order {pid} is {po['status']}; it cannot be {to}")
            if also is not None and changed:
                await also(session, before, po)
            return po

    async def send(self, pid: str, also: Recorder | None = None) -> dict[str, Any]:
        """draft → sent (again: the same order)."""
        return await self._move(pid, "sent", ("draft",), also)

    async def cancel(self, pid: str, also: Recorder | None = None) -> dict[str, Any]:
        """A draft, or a sent order nothing of which arrived, → cancelled."""
        return await self._move(pid, "cancelled", ("draft", "sent"), also)

    async def receive(self, pid: str, ref: str, lines: Sequence[DeliveredLine], also: Recorder | None = None
                      ) -> dict[str, Any]:
        """Book a delivery once per `ref`: OrderError 409 for an order not sent, a line not on it,
        or more than is still due; nothing is booked then."""
        try:
            result: dict[str, Any] = await self.orders._transaction(self._receive, pid, ref, lines, also)
        except IntegrityError:  # the same delivery note booked by a twin request just now
            async with self.orders.maker() as session:
                found = await _po(session, pid)
            if found is None:
                raise
            return found
        return result

    async def _receive(self, session: AsyncSession, pid: str, ref: str,
                       lines: Sequence[DeliveredLine], also: Recorder | None = None
                       ) -> tuple[dict[str, Any], set[Key]]:
        po = await session.get(PurchaseOrder, pid, with_for_update=True)
        if po is None:
            raise OrderError(404, f"no purchase order {pid!r}")
        before = await _po(session, pid) if also is not None else None
        if await session.get(PurchaseReceipt, (pid, ref)) is not None:
            again = await _po(session, pid)
            assert again is not None
            return again, set()
        if po.status not in ("sent", "partial"):
            why = "send it first" if po.status == "draft" else "nothing more can arrive"
            raise OrderError(409, f"purchase order {pid} is {po.status}: {why}")
        ordered = {ln.line: ln for ln in (await session.scalars(
            select(PurchaseOrderLine).where(PurchaseOrderLine.po == pid))).all()}
        booked: list[receipts.ReceiptLine] = []
        for i, d in enumerate(lines):
            ln = ordered.get(d.line)
            if ln is None:
                raise OrderError(409, f"lines[{i}].line: purchase order {pid} has no line {d.line}",
                                 field=f"lines[{i}].line")
            took = await session.execute(update(PurchaseOrderLine).where(
                PurchaseOrderLine.po == pid, PurchaseOrderLine.line == d.line,
                PurchaseOrderLine.received + d.qty <= PurchaseOrderLine.qty)
                .values(received=PurchaseOrderLine.received + d.qty)
                .execution_options(synchronize_session=False))
            # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
            if took.rowcount != 1:  # type: ignore[attr-defined]
                due = await session.scalar(select(PurchaseOrderLine.qty - PurchaseOrderLine.received).where(
                    PurchaseOrderLine.po == pid, PurchaseOrderLine.line == d.line))
                raise OrderError(409, f"lines[{i}].qty: {d.qty} is more than the {due} still due on line "
                                 f"{d.line}", field=f"lines[{i}].qty", due=due)
            booked.append(receipts.ReceiptLine(ln.sku, d.qty, d.lot, d.expiry))
        now = datetime.now(UTC)
        session.add(PurchaseReceipt(po=pid, ref=ref, received_at=now, lines=json.dumps(
            [{"line": d.line, "qty": d.qty, "lot": d.lot or None,
              "expiry": d.expiry.isoformat() if d.expiry else None} for d in lines])))
        changed = await posting.write_movements(
            session, receipts.receipt_moves(po.location, f"po:{pid}:{ref}", booked, source="purchase"), now)
        due = await session.scalar(select(func.sum(PurchaseOrderLine.qty - PurchaseOrderLine.received))
                                   .where(PurchaseOrderLine.po == pid))
        done = not due
        await session.execute(update(PurchaseOrder).where(PurchaseOrder.id == pid).values(
            status="received" if done else "partial", closed_at=now if done else None)
            .execution_options(synchronize_session=False))
        result = await _po(session, pid)
        assert result is not None
        if also is not None:
            await also(session, before, result)
        return result, changed

    async def get(self, pid: str) -> dict[str, Any] | None:
        async with self.orders.maker() as session:
            return await _po(session, pid)

    async def find(self, *, status: str | None = None, supplier: str | None = None,
                   location: str | None = None) -> list[dict[str, Any]]:
        q = select(PurchaseOrder.id).order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id).limit(500)
        for col, value in (("status", status), ("supplier", supplier), ("location", location)):
            if value is not None:
                q = q.where(getattr(PurchaseOrder, col) == value)
        async with self.orders.maker() as session:
            ids = (await session.scalars(q)).all()
            return [po for pid in ids if (po := await _po(session, pid)) is not None]


async def _po(session: AsyncSession, pid: str, lock: bool = False) -> dict[str, Any] | None:
    po = await session.get(PurchaseOrder, pid, populate_existing=True, with_for_update=lock)
    if po is None:
        return None
    lines = (await session.scalars(select(PurchaseOrderLine).where(PurchaseOrderLine.po == pid)
                                   .order_by(PurchaseOrderLine.line)
                                   .execution_options(populate_existing=True))).all()
    refs = (await session.scalars(select(PurchaseReceipt.ref).where(PurchaseReceipt.po == pid)
                                  .order_by(PurchaseReceipt.received_at, PurchaseReceipt.ref))).all()
    return {"id": po.id, "supplier": po.supplier, "location": po.location, "status": po.status,
            "created_at": iso_utc(po.created_at), "created_by": po.created_by, "sent_at": iso_utc(po.sent_at),
            "closed_at": iso_utc(po.closed_at), "suggested": po.suggested, "receipts": list(refs),
            "value": round(sum(ln.qty * (ln.unit_cost or 0.0) for ln in lines), 2),
            "lines": [{"line": ln.line, "sku": ln.sku, "qty": ln.qty, "unit_cost": ln.unit_cost,
                       "received": ln.received} for ln in lines]}


__all__ = ["ACTIONS", "STATUSES", "DeliveredLine", "PurchaseOrders", "Recorder", "audited"]
