"""Reading the ledger back: a store's stock, a SKU across stores, the movements feed, gateways,
dead letters, and the rebuild that checks every cached balance against its movements."""


from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import ledger
from cloud.db.models import (
    Balance,
    DeadLetter,
    Gateway,
    Movement,
    Product,
    SetAsideDelta,
    StockLevel,
)
from cloud.db.posting import books_of, move_of


def _fefo_key(book: ledger.SkuBook, lot: str) -> tuple[date, str]:
    return (book.expiry.get(lot) or date.max, lot)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def item_json(sku: str, book: ledger.SkuBook, today: date, reserved: int = 0) -> dict[str, Any]:
    lots: dict[str, int] = defaultdict(int)
    for (_, lot), q in book.qty.items():
        lots[lot] += q
    return {
        "sku": sku,
        "on_hand": book.on_hand,
        "reserved": reserved,
        "available": ledger.available(book, today, reserved=reserved),
        "zones": {z: book.zone_total(z) for z in (ledger.FLOOR, ledger.BACKROOM)},
        "lots": [{"lot": lot or None, "expiry": _iso(book.expiry.get(lot)), "qty": q}
                 for lot, q in sorted(lots.items(), key=lambda kv: (_fefo_key(book, kv[0])))
                 if q],  # FEFO
    }


async def _reserved(session: AsyncSession, store: str | None, sku: str | None) -> dict[tuple[str, str], int]:
    q = select(StockLevel.store, StockLevel.sku, StockLevel.reserved).where(StockLevel.reserved != 0)
    if store is not None:
        q = q.where(StockLevel.store == store)
    if sku is not None:
        q = q.where(StockLevel.sku == sku)
    return {(r.store, r.sku): int(r.reserved) for r in (await session.execute(q)).all()}


async def store_stock(maker: async_sessionmaker[AsyncSession], store: str, sku: str | None,
                      today: date, *, with_cost: bool = False) -> list[dict[str, Any]]:
    """One store's items; with_cost adds unit_cost and value (finance and hq only)."""
    async with maker() as session:
        q = select(Balance).where(Balance.store == store)
        if sku is not None:
            q = q.where(Balance.sku == sku)
        books = books_of((await session.scalars(q)).all())
        reserved = await _reserved(session, store, sku)
        costs: dict[str, float | None] = {}
        if with_cost and books:
            costs = {r.sku: r.unit_cost for r in (await session.execute(
                select(Product.sku, Product.unit_cost).where(Product.sku.in_([k for _, k in books])))).all()}
    items = []
    for (st, s), book in sorted(books.items()):
        item = item_json(s, book, today, reserved.get((st, s), 0))
        if with_cost:
            cost = costs.get(s)
            item["unit_cost"] = cost
            item["value"] = round(cost * max(0, book.on_hand), 2) if cost is not None else None
        items.append(item)
    return items


async def sku_stock(maker: async_sessionmaker[AsyncSession], sku: str, today: date) -> dict[str, Any]:
    async with maker() as session:
        books = books_of((await session.scalars(select(Balance).where(Balance.sku == sku))).all())
        reserved = await _reserved(session, None, sku)
    stores = [{"store": st, "on_hand": b.on_hand, "reserved": reserved.get((st, sku), 0),
               "available": ledger.available(b, today, reserved=reserved.get((st, sku), 0))}
              for (st, _), b in sorted(books.items())]
    return {"sku": sku, "on_hand": sum(s["on_hand"] for s in stores),
            "available": sum(s["available"] for s in stores), "stores": stores}


async def movements(maker: async_sessionmaker[AsyncSession], store: str, since: int,
                    limit: int) -> list[dict[str, Any]]:
    async with maker() as session:
        rows = (await session.scalars(
            select(Movement).where(Movement.store == store, Movement.pos > since)
            .order_by(Movement.pos).limit(limit))).all()
    return [{
        "pos": m.pos, "id": m.id, "gateway": m.gateway, "seq": m.seq, "sku": m.sku, "kind": m.kind,
        "qty": m.qty, "zone": m.zone, "from_zone": m.from_zone, "lot": m.lot or None,
        "expiry": m.expiry.isoformat() if m.expiry else None,
        "occurred_at": m.occurred_at.isoformat().replace("+00:00", "Z"), "source": m.source,
        "confidence": m.confidence, "bin": m.bin, "ref": m.ref,
        "received_at": m.received_at.isoformat().replace("+00:00", "Z"),
    } for m in rows]


async def gateways(maker: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Each gateway's position: deltas booked, seqs set aside (received, not booked: db/seqs.py)
    and the seqs still missing below its highest."""
    async with maker() as session:
        rows = (await session.scalars(select(Gateway).order_by(Gateway.store, Gateway.gateway))).all()
        aside = {(r.store, r.gateway): int(r.n) for r in (await session.execute(
            select(SetAsideDelta.store, SetAsideDelta.gateway, func.count().label("n"))
            .group_by(SetAsideDelta.store, SetAsideDelta.gateway))).all()}
    return [{"store": g.store, "gateway": g.gateway, "state": g.state,
             "status_at": g.status_at.isoformat() if g.status_at else None,
             "last_batch_at": g.last_batch_at.isoformat() if g.last_batch_at else None,
             "max_seq": g.max_seq, "deltas": g.deltas, "set_aside": aside.get((g.store, g.gateway), 0),
             "seq_gaps": max(0, g.max_seq - g.deltas - aside.get((g.store, g.gateway), 0))} for g in rows]


async def dead_letters(maker: async_sessionmaker[AsyncSession], limit: int = 100) -> list[dict[str, Any]]:
    async with maker() as session:
        rows = (await session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit))).all()
    return [{"id": d.id, "received_at": d.received_at.isoformat(), "topic": d.topic, "reason": d.reason,
             "payload": d.payload[:2000]} for d in rows]


async def rebuild_mismatches(maker: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Replay every SKU's movements and compare with the cached balances; [] when they agree."""
    async with maker() as session:
        history = (await session.scalars(select(Movement))).all()
        cached = books_of((await session.scalars(select(Balance))).all())
    grouped: dict[tuple[str, str], list[ledger.Move]] = defaultdict(list)
    for m in history:
        grouped[(m.store, m.sku)].append(move_of(m))
    out = []
    for key in sorted(set(grouped) | set(cached)):
        rebuilt = ledger.replay(grouped.get(key, []))
        have = cached.get(key, ledger.SkuBook())
        if rebuilt.qty != have.qty:
            out.append({"store": key[0], "sku": key[1], "rebuilt": _keyed(rebuilt.qty),
                        "cached": _keyed(have.qty)})
    return out


def _keyed(qty: dict[tuple[str, str], int]) -> dict[str, int]:
    return {f"{z}/{lot}": q for (z, lot), q in sorted(qty.items())}
