"""Logical backup and restore of the ledger: the movements are the truth, everything else follows.

`shelfsync cloud backup --db URL --out ledger.jsonl.gz` streams every movement (and the gateways'
sequence positions and the dead letters) as gzipped JSON lines, in `pos` order, without locking the
writers out. `shelfsync cloud restore --db URL --in ledger.jsonl.gz` loads them into an empty,
migrated database and rebuilds balances, lots and SKU heads by replaying each SKU (the same pure
ledger code as ingest), then checks the rebuild against itself. The format does not depend on the
engine, so a SQLite ledger restores into PostgreSQL and back. For PostgreSQL in production, keep
using pg_dump / PITR as well: this is the engine-neutral copy a test can exercise end to end.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import ledger, posting
from cloud.db.models import (
    ApiToken,
    AuditEntry,
    Balance,
    BuyingTerm,
    Channel,
    ChannelExport,
    ChannelStore,
    Checkpoint,
    DeadLetter,
    Gateway,
    Listing,
    Lot,
    Movement,
    Order,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Reservation,
    SetAsideDelta,
    ShelfCapacity,
    ShelfLife,
    ShelfSetting,
    SkuHead,
    StockLevel,
    Stocktake,
    Store,
    StoreSettingsVersion,
    Supplier,
    Transfer,
    TransferLine,
)

FORMAT = "shelfsync-ledger-backup/1"
CHUNK = 5000
# The chain's settings and documents (issue 8) travel too; a backup without them still restores.
DOCUMENTS: dict[str, Any] = {
    "stores": Store, "products": Product, "channels": Channel, "channel_stores": ChannelStore,
    "listings": Listing, "orders": Order, "reservations": Reservation, "transfers": Transfer,
    "transfer_lines": TransferLine, "api_tokens": ApiToken, "stocktakes": Stocktake,
    # Setup (issue 16): the audit log (INSERT is all its triggers allow), shelf settings and their
    # version (what a gateway compares its own with), the spreadsheet schedules.
    "audit_log": AuditEntry, "shelf_settings": ShelfSetting, "store_settings_versions": StoreSettingsVersion,
    "channel_exports": ChannelExport,
    # The seqs the ledger received and did not book (db/seqs.py): without them a restored ledger
    # would ask gateways to resend what it refused, for ever.
    "set_aside_deltas": SetAsideDelta,
    # Buying (issue 17): master data and purchase orders (their receipts are movements already;
    # without the orders a restored ledger would count nothing on order). Replenishment runs and
    # their suggestions are not kept: the next run makes them again.
    "suppliers": Supplier, "buying_terms": BuyingTerm, "shelf_capacities": ShelfCapacity,
    "shelf_lives": ShelfLife, "purchase_orders": PurchaseOrder, "purchase_order_lines": PurchaseOrderLine,
    "purchase_receipts": PurchaseReceipt,
}


class BackupError(Exception):
    """The backup file is unreadable, of another format, or the target database is not empty."""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, dict) and "$d" in value:
        return date.fromisoformat(value["$d"])
    return value


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _encode(getattr(obj, c.key)) for c in obj.__table__.columns}


async def _stream(session: AsyncSession, model: Any, order: Any) -> AsyncIterator[Any]:
    last = None
    while True:
        q = select(model).order_by(order).limit(CHUNK)
        if last is not None:
            q = q.where(order > last)
        rows = (await session.scalars(q)).all()
        if not rows:
            return
        for r in rows:
            yield r
        last = getattr(rows[-1], order.key)


async def backup(maker: async_sessionmaker[AsyncSession], out: Path) -> dict[str, int]:
    counts = {"movements": 0, "gateways": 0, "dead_letters": 0}
    tmp = out.with_suffix(out.suffix + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"format": FORMAT}) + "\n")
        async with maker() as session:
            for table, model, order in (("movements", Movement, Movement.pos),
                                        ("dead_letters", DeadLetter, DeadLetter.id)):
                async for r in _stream(session, model, order):
                    f.write(json.dumps({"t": table, "r": _row(r)}) + "\n")
                    counts[table] += 1
            for g in (await session.scalars(select(Gateway))).all():
                f.write(json.dumps({"t": "gateways", "r": _row(g)}) + "\n")
                counts["gateways"] += 1
            for table, model in DOCUMENTS.items():
                for r in (await session.scalars(select(model))).all():
                    f.write(json.dumps({"t": table, "r": _row(r)}) + "\n")
                    counts[table] = counts.get(table, 0) + 1
    tmp.replace(out)  # a half-written backup never has the final name
    return counts


async def restore(maker: async_sessionmaker[AsyncSession], source: Path) -> dict[str, int]:
    async with maker() as session:
        if await session.scalar(select(func.count()).select_from(Movement)):
            raise BackupError("the target ledger is not empty; restore into a new, migrated database")
    counts: dict[str, int] = defaultdict(int)
    models = {"movements": Movement, "dead_letters": DeadLetter, "gateways": Gateway, **DOCUMENTS}
    try:
        with gzip.open(source, "rt", encoding="utf-8") as f:
            header = json.loads(f.readline() or "{}")
            if header.get("format") != FORMAT:
                raise BackupError(f"{source}: not a {FORMAT} file")
            pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
            async with maker() as session, session.begin():
                for line in f:
                    item = json.loads(line)
                    table = item["t"]
                    pending[table].append({k: _decode(v) for k, v in item["r"].items()})
                    if len(pending[table]) >= CHUNK:
                        await session.execute(insert(models[table]), pending.pop(table))
                    counts[table] += 1
                for table, rows in pending.items():
                    if rows:
                        await session.execute(insert(models[table]), rows)
                await _rebuild(session)
                if session.get_bind().dialect.name == "postgresql":
                    # Rows came with their ids: move the id sequences past them.
                    for table, column in (("movements", "pos"), ("dead_letters", "id"), ("audit_log", "id")):
                        await session.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                            f"GREATEST((SELECT max({column}) FROM {table}), 1))"))
    except (OSError, EOFError, json.JSONDecodeError, KeyError) as e:
        raise BackupError(f"{source}: unreadable backup: {e}") from e
    return dict(counts)


async def _rebuild(session: AsyncSession) -> None:
    """Balances, lots and heads from the movements, SKU by SKU (as a full replay defines them)."""
    for model in (Balance, Lot, SkuHead, Checkpoint, StockLevel):
        await session.execute(delete(model))
    grouped: dict[tuple[str, str], list[ledger.Move]] = defaultdict(list)
    for m in (await session.scalars(select(Movement))).all():
        grouped[(m.store, m.sku)].append(posting.move_of(m))  # with its reason (an expiry write-off)
    balances, lots, heads = [], [], []
    books: dict[tuple[str, str], ledger.SkuBook] = {}
    for (store, sku), moves in grouped.items():
        book = books[(store, sku)] = ledger.replay(moves)
        balances += [{"store": store, "sku": sku, "zone": z, "lot": lot, "qty": q,
                      "expiry": book.expiry.get(lot)} for (z, lot), q in book.qty.items()]
        lots += [{"store": store, "sku": sku, "lot": lot, "expiry": e} for lot, e in book.expiry.items()]
        head = max(moves, key=lambda m: m.order)
        heads.append({"store": store, "sku": sku, "version": 1, "head_at": head.occurred_at,
                      "head_id": head.id, "since_checkpoint": len(moves)})
    held: dict[tuple[str, str], int] = defaultdict(int)
    for r in (await session.execute(select(Reservation.store, Reservation.sku, Reservation.qty)
                                    .join(Order, Order.id == Reservation.order)
                                    .where(Order.status == "reserved"))).all():
        held[(r.store, r.sku)] += r.qty
    today = datetime.now(UTC).date()  # the ledger's day is UTC's (ledger.py)
    levels = [{"store": store, "sku": sku, "sellable": ledger.sellable(book, today),
               "reserved": held.pop((store, sku), 0)} for (store, sku), book in books.items()]
    levels += [{"store": store, "sku": sku, "sellable": 0, "reserved": n} for (store, sku), n in held.items()]
    for model, rows in ((Balance, balances), (Lot, lots), (SkuHead, heads), (StockLevel, levels)):
        for i in range(0, len(rows), CHUNK):
            await session.execute(insert(model), rows[i:i + CHUNK])


__all__ = ["BackupError", "backup", "restore"]
