"""Posting to the ledger: a DeltaBatch (or the cloud's own movements) applied atomically.

Works the same on SQLite and PostgreSQL: no row locks (SQLite has none), only a unique key on the
delta id (a redelivered delta is skipped) and a compare-and-set on each SKU's head version, so two
workers applying batches for the same SKU cannot both win; the loser retries its whole batch.
The arithmetic itself is cloud/db/ledger.py's; this module keeps the cached balances, the heads
and checkpoints, gateway positions and dead letters, and the stock levels orders hold against.
A delta that is not booked (refused for its time, or absorbed by claims.py) is set aside in the
same transaction (seqs.py), so the gap detector counts its seq as received.
"""


import asyncio
import base64
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import claims, holds, ledger, seqs
from cloud.db.engines import Key, dialect, in_keys, is_transient, upsert
from cloud.db.models import (
    Balance,
    Checkpoint,
    DeadLetter,
    Gateway,
    Lot,
    Movement,
    SetAsideDelta,
    SkuHead,
    StockLevel,
    UtcDateTime,
)
from shared import contract
from shared.contract import ClockSkew, ContractError, DeltaBatch, StockDelta, Stream

log = logging.getLogger(__name__)
# Core tables for the bulk writes of the hot path: no per-row ORM bookkeeping.
MOVEMENTS = cast(Table, Movement.__table__)
BALANCES = cast(Table, Balance.__table__)
LOTS = cast(Table, Lot.__table__)
SKU_HEADS = cast(Table, SkuHead.__table__)
GATEWAYS = cast(Table, Gateway.__table__)
STOCK_LEVELS = cast(Table, StockLevel.__table__)
CLOUD_GATEWAY = "cloud"  # the gateway name of movements the cloud writes itself (orders, transfers)
MAX_ATTEMPTS = 8
CHECKPOINT_EVERY = 200  # movements between a SKU's checkpoints: bounds the cost of a late arrival
CHECKPOINTS_KEPT = 3


class ConflictRetry(Exception):
    """Another worker changed a SKU this batch touches; the batch is retried from scratch."""


@dataclass(frozen=True, slots=True)
class Applied:
    applied: int
    duplicates: int
    replayed_skus: int = 0
    prior_max_seq: int = 0  # the gateway's highest seq before this batch
    changed: frozenset[tuple[str, str]] = frozenset()  # (store, sku) whose stock or holds changed
    dead_letters: int = 0  # deltas refused on their own (dated beyond the clock, ...): not booked


def move_of(m: Movement) -> ledger.Move:
    """A stored movement as the ledger's arithmetic takes it."""
    return ledger.Move(m.id, m.kind, m.qty, m.zone, m.occurred_at, m.lot, m.expiry, m.from_zone,
                       _stored_reason(m.evidence))


def _delta_move(d: StockDelta) -> ledger.Move:
    return ledger.Move(d.id, d.kind.value, d.qty, d.zone.value, d.occurred_at, d.lot or ledger.NO_LOT,
                       d.expiry, d.from_zone.value if d.from_zone else None, reason_of(d.evidence))


def reason_of(evidence: Mapping[str, Any] | None) -> str | None:
    """A movement's reason travels in its evidence (`{"reason": "expired"}` on an expiry
    write-off), which the movements table keeps: the wire contract and the schema stay as they are."""
    reason = evidence.get("reason") if evidence is not None else None
    return reason if isinstance(reason, str) else None


def _stored_reason(evidence: str | None) -> str | None:
    if not evidence or '"reason"' not in evidence:  # most evidence is the reconciler's: skip parsing it
        return None
    try:
        stored = json.loads(evidence)
    except ValueError:
        return None
    return reason_of(stored) if isinstance(stored, dict) else None


def _row(batch: DeltaBatch, d: StockDelta, now: datetime) -> dict[str, Any]:
    return {
        "id": d.id, "store": batch.store, "gateway": batch.gateway, "seq": d.seq, "sku": d.sku,
        "kind": d.kind.value, "qty": d.qty, "zone": d.zone.value,
        "from_zone": d.from_zone.value if d.from_zone else None, "lot": d.lot or ledger.NO_LOT,
        "expiry": d.expiry, "occurred_at": d.occurred_at, "source": d.source.value,
        "confidence": d.confidence, "bin": d.bin, "ref": d.ref,
        "evidence": json.dumps(dict(d.evidence)) if d.evidence is not None else None,
        "received_at": now,
    }


async def apply_batch(maker: async_sessionmaker[AsyncSession], batch: DeltaBatch, *,
                      now: datetime | None = None, clock: ClockSkew | None = None) -> Applied:
    """Apply one batch in one transaction (see apply_batches)."""
    return (await apply_batches(maker, [batch], now=now, clock=clock))[0]


async def apply_batches(maker: async_sessionmaker[AsyncSession], batches: Sequence[DeltaBatch], *,
                        now: datetime | None = None, clock: ClockSkew | None = None) -> list[Applied]:
    """Apply batches together in one transaction, retrying when another worker raced us.

    Every batch is applied whole or not at all (they share the transaction); grouping the
    batches that arrived together is what lets one worker keep up with many gateways, since the
    cost of a transaction hardly grows with the number of deltas in it.

    With `clock`, a delta dated outside it (around `now`) is dead-lettered on its own and set
    aside (seqs.py), and the rest of its batch is booked: such a delta is well-formed, so its
    batch is no broken payload (ARCHITECTURE §5), and refusing the batch whole would lose the
    valid deltas it carries. Dated ahead, it would sort after every later count of its SKU, and
    no count could ever correct it (§6).
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with maker() as session, session.begin():
                return await _apply(session, batches, now or datetime.now(UTC), clock)
        except (ConflictRetry, IntegrityError) as e:
            log.debug("group of %d batches, retry %d: %s", len(batches), attempt + 1, e)
        except DBAPIError as e:
            if not is_transient(e):
                raise
            log.debug("group of %d batches, retry %d: %s", len(batches), attempt + 1, e)
        await asyncio.sleep(random.uniform(0, 0.005 * 2 ** attempt))
    raise ConflictRetry(f"a group of {len(batches)} batches lost {MAX_ATTEMPTS} races in a row")


async def _apply(session: AsyncSession, batches: Sequence[DeltaBatch], now: datetime,
                 clock: ClockSkew | None) -> list[Applied]:
    gateways = sorted({(b.store, b.gateway) for b in batches})
    prior = {(r.store, r.gateway): int(r.max_seq) for r in (await session.execute(
        select(Gateway.store, Gateway.gateway, Gateway.max_seq).where(
            tuple_(Gateway.store, Gateway.gateway).in_(gateways)))).all()}
    ids = [d.id for b in batches for d in b.deltas]
    seen = set((await session.scalars(
        select(Movement.id).where(Movement.id.in_(ids))
        .union_all(select(SetAsideDelta.delta_id).where(SetAsideDelta.delta_id.in_(ids))))).all())
    fresh: list[list[StockDelta]] = []
    for b in batches:
        mine = [d for d in b.deltas if d.id not in seen]
        seen.update(d.id for d in mine)  # a delta redelivered within the same group counts once
        fresh.append(mine)
    # Not booked: refused (dead-lettered on its own) or absorbed, each with why; by delta id.
    refused: dict[str, str] = _outside(clock, batches, fresh, now) if clock is not None else {}
    absorbed: dict[str, str] = {}
    held_changed: set[Key] = set()
    closing = [(b.store, d) for b, mine in zip(batches, fresh, strict=True) for d in mine
               if d.id not in refused and d.ref is not None
               and d.ref.startswith((claims.ORDER_REF, claims.TRANSFER_REF))]
    if closing:  # pickups rung up at the POS, transfers read at the dock
        claimed, held_changed = await claims.claim(session, closing, now)
        for delta_id, why in claimed.items():
            (refused if why.review else absorbed)[delta_id] = why.reason
    unbooked = {**refused, **absorbed}
    dead = [sum(d.id in refused for d in mine) for mine in fresh]
    if unbooked:
        await _set_aside(session, batches, fresh, refused, absorbed, now)
        fresh = [[d for d in mine if d.id not in unbooked] for mine in fresh]
    rows = [_row(b, d, now) for b, mine in zip(batches, fresh, strict=True) for d in mine]
    replayed = 0
    if rows:
        await session.execute(insert(MOVEMENTS), rows)
        by_key: dict[Key, list[ledger.Move]] = defaultdict(list)
        for b, mine in zip(batches, fresh, strict=True):
            for d in mine:
                by_key[(b.store, d.sku)].append(_delta_move(d))
        replayed, settled = await _update_books(session, by_key, now)
        held_changed |= settled
    fresh_by_gateway: dict[tuple[str, str], list[StockDelta]] = {g: [] for g in gateways}
    for b, mine in zip(batches, fresh, strict=True):
        fresh_by_gateway[(b.store, b.gateway)].extend(mine)
    await _touch_gateways(session, fresh_by_gateway, now)
    return [Applied(len(m), len(b.deltas) - len(m) - n, replayed, prior.get((b.store, b.gateway), 0),
                    frozenset({(b.store, d.sku) for d in m} | held_changed), n)
            for b, m, n in zip(batches, fresh, dead, strict=True)]


def _outside(clock: ClockSkew, batches: Sequence[DeltaBatch], fresh: Sequence[list[StockDelta]],
             now: datetime) -> dict[str, str]:
    """The new deltas dated outside `clock` around `now`, by id, with the reason (naming the
    delta's place in its batch, as a contract error does)."""
    out: dict[str, str] = {}
    for b, mine in zip(batches, fresh, strict=True):
        new = {d.id for d in mine}
        for i, d in enumerate(b.deltas):
            if d.id not in new:
                continue
            try:
                clock.check(d.occurred_at, now, f"deltas[{i}].occurred_at")
            except ContractError as e:
                out[d.id] = str(e)
    return out


async def _set_aside(session: AsyncSession, batches: Sequence[DeltaBatch], fresh: Sequence[list[StockDelta]],
                     refused: Mapping[str, str], absorbed: Mapping[str, str], now: datetime) -> None:
    """Record the deltas not booked (seqs.py); a refused one is also dead-lettered, as a batch of
    that delta alone, so a person sees exactly what was refused and not the deltas booked with it."""
    aside: list[seqs.SetAside] = []
    letters: list[dict[str, Any]] = []
    for b, mine in zip(batches, fresh, strict=True):
        for d in mine:
            why = refused.get(d.id) or absorbed.get(d.id)
            if why is None:
                continue
            aside.append(seqs.SetAside(b.store, b.gateway, d.seq, d.id, why))
            if d.id in refused:
                log.warning("dead letter: delta %s (seq %d) of %s/%s: %s",
                            d.id, d.seq, b.store, b.gateway, why)
                letters.append(_dead_letter(contract.gateway_topic(b.store, b.gateway, Stream.DELTAS),
                                            contract.encode(DeltaBatch(b.store, b.gateway, b.sent_at, (d,))),
                                            why, now))
    if letters:
        await session.execute(insert(DeadLetter), letters)
    await seqs.set_aside(session, aside, now)


@dataclass(frozen=True, slots=True)
class CloudMove:
    """A movement the cloud itself books (an order's sale, a transfer leaving or arriving)."""

    id: str
    store: str
    sku: str
    kind: str
    qty: int
    ref: str
    zone: str = ledger.FLOOR
    lot: str = ledger.NO_LOT
    expiry: date | None = None
    source: str = "order"


async def write_movements(session: AsyncSession, moves: Sequence[CloudMove],
                          now: datetime | None = None) -> set[Key]:
    """Book cloud movements in the caller's transaction, through the same book update as
    ingest, as occurring `now`. Ids are derived from the document, so a retried call changes
    nothing: a movement already booked is skipped. Returns the (store, sku) keys changed."""
    now = now or datetime.now(UTC)
    ids = [m.id for m in moves]
    seen = set((await session.scalars(select(Movement.id).where(Movement.id.in_(ids)))).all())
    fresh = [m for m in moves if m.id not in seen]
    if not fresh:
        return set()
    await session.execute(insert(MOVEMENTS), [{
        "id": m.id, "store": m.store, "gateway": CLOUD_GATEWAY, "seq": 0, "sku": m.sku, "kind": m.kind,
        "qty": m.qty, "zone": m.zone, "from_zone": None, "lot": m.lot, "expiry": m.expiry,
        "occurred_at": now, "source": m.source, "confidence": 1.0, "bin": None, "ref": m.ref,
        "evidence": None, "received_at": now} for m in fresh])
    by_key: dict[Key, list[ledger.Move]] = defaultdict(list)
    for m in fresh:
        by_key[(m.store, m.sku)].append(ledger.Move(m.id, m.kind, m.qty, m.zone, now, m.lot, m.expiry))
    _, settled = await _update_books(session, by_key, now)
    return set(by_key) | settled


@dataclass(frozen=True, slots=True)
class _Head:
    head_at: datetime
    head_id: str
    since_checkpoint: int


async def _lock_heads(session: AsyncSession, keys: list[Key]) -> dict[Key, _Head]:
    """Lock the SKUs' heads before reading their books, and return them as they are now.

    Writing first makes the database serialise workers on the same SKU: PostgreSQL makes a second
    writer wait for the row lock (taken in (store, sku) order, so no deadlocks) and then re-reads
    the row; SQLite has one writer at a time. What we read after this is what the previous writer
    committed. One statement for every SKU of every store in the group.
    """
    locked = (select(SkuHead.store, SkuHead.sku).where(in_keys(SkuHead.store, SkuHead.sku, keys))
              .order_by(SkuHead.store, SkuHead.sku))
    if dialect(session) == "postgresql":
        locked = locked.with_for_update()
    result = await session.execute(
        update(SkuHead)
        .where(tuple_(SkuHead.store, SkuHead.sku).in_(locked))
        .values(version=SkuHead.version + 1)
        .returning(SkuHead.store, SkuHead.sku, SkuHead.version, SkuHead.head_at, SkuHead.head_id,
                   SkuHead.since_checkpoint)
        .execution_options(synchronize_session=False))
    return {(r.store, r.sku): _Head(r.head_at, r.head_id, r.since_checkpoint) for r in result}


async def _update_books(session: AsyncSession, by_key: dict[Key, list[ledger.Move]],
                        now: datetime) -> tuple[int, set[Key]]:
    """Apply new movements to their SKUs' books and write balances, lots and sellable figures;
    then keep open orders' holds within the new figures (holds.settle, for the SKUs whose change
    could break a hold: holds.at_risk). Returns the number of SKUs replayed and the keys whose
    holds changed."""
    keys = sorted(by_key)
    heads = await _lock_heads(session, keys)
    incremental, replay = [], []
    for key in keys:
        head = heads.get(key)
        if head is None or min(m.order for m in by_key[key]) > (head.head_at, head.head_id):
            incremental.append(key)
        else:
            replay.append(key)

    books: dict[Key, ledger.SkuBook] = {}
    before: dict[Key, ledger.SkuBook] = {}  # the books as they were: which holds may need settling
    if incremental:
        for key in incremental:
            books[key] = ledger.SkuBook()
        for b in (await session.execute(
                select(Balance.store, Balance.sku, Balance.zone, Balance.lot, Balance.qty)
                .where(in_keys(Balance.store, Balance.sku, incremental)))).all():
            books[(b.store, b.sku)].qty[(b.zone, b.lot)] = b.qty
        for lot in (await session.execute(select(Lot.store, Lot.sku, Lot.lot, Lot.expiry)
                                          .where(in_keys(Lot.store, Lot.sku, incremental)))).all():
            books[(lot.store, lot.sku)].expiry[lot.lot] = lot.expiry
        for key in incremental:
            before[key] = books[key].copy()
            for m in sorted(by_key[key], key=lambda m: m.order):
                books[key].apply(m)
    for key in replay:
        books[key] = await _replay_tail(session, key[0], key[1], min(m.order for m in by_key[key]))

    # Heads move to the newest movement; every CHECKPOINT_EVERY movements a SKU's book is saved
    # at its head, so that a later late arrival replays from there instead of from the start.
    head_rows, new_heads, checkpoints = [], [], []
    for key in keys:
        store, sku = key
        newest = max(m.order for m in by_key[key])
        h = heads.get(key)
        top = max(newest, (h.head_at, h.head_id)) if h is not None else newest
        count = (h.since_checkpoint if h is not None else 0) + len(by_key[key])
        if count >= CHECKPOINT_EVERY:
            checkpoints.append({"store": store, "sku": sku, "at": top[0], "id": top[1],
                                "book": json.dumps(books[key].to_json())})
            count = 0
        row = {"store": store, "sku": sku, "head_at": top[0], "head_id": top[1], "since_checkpoint": count}
        if h is not None:
            head_rows.append(row)
        else:
            new_heads.append({**row, "version": 1})
    if head_rows:  # ORM bulk UPDATE by primary key: one executemany
        heads_t = SKU_HEADS
        await session.execute(
            update(heads_t)
            .where(heads_t.c.store == bindparam("k_store"), heads_t.c.sku == bindparam("k_sku"))
            .values(head_at=bindparam("head_at"), head_id=bindparam("head_id"),
                    since_checkpoint=bindparam("since_checkpoint")),
            [{"k_store": r["store"], "k_sku": r["sku"], "head_at": r["head_at"], "head_id": r["head_id"],
              "since_checkpoint": r["since_checkpoint"]} for r in head_rows])
    if new_heads:
        await session.execute(insert(SKU_HEADS), new_heads)
    if checkpoints:
        await session.execute(insert(Checkpoint), checkpoints)
        for cp in checkpoints:
            mine = (Checkpoint.store == cp["store"], Checkpoint.sku == cp["sku"])
            keep = (select(Checkpoint.at).where(*mine).order_by(Checkpoint.at.desc())
                    .limit(1).offset(CHECKPOINTS_KEPT - 1).scalar_subquery())
            await session.execute(delete(Checkpoint).where(*mine, Checkpoint.at < keep)
                                  .execution_options(synchronize_session=False))

    await session.execute(delete(Balance).where(in_keys(Balance.store, Balance.sku, keys))
                          .execution_options(synchronize_session=False))
    balance_rows: list[dict[str, Any]] = [
        {"store": store, "sku": sku, "zone": zone, "lot": lot, "qty": qty, "expiry": book.expiry.get(lot)}
        for (store, sku), book in books.items() for (zone, lot), qty in book.qty.items()
    ]
    if balance_rows:
        await session.execute(insert(BALANCES), balance_rows)
    today = now.date()
    levels = [{"store": store, "sku": sku, "sellable": ledger.sellable(book, today), "reserved": 0}
              for (store, sku), book in sorted(books.items())]
    stmt = upsert(session)(STOCK_LEVELS)
    held = (await session.execute(
        stmt.on_conflict_do_update(index_elements=["store", "sku"], set_={"sellable": stmt.excluded.sellable})
        .returning(STOCK_LEVELS.c.store, STOCK_LEVELS.c.sku, STOCK_LEVELS.c.reserved), levels)).all()
    lot_keys = [k for k in keys if books[k].expiry]
    if lot_keys:
        await session.execute(delete(Lot).where(in_keys(Lot.store, Lot.sku, lot_keys))
                              .execution_options(synchronize_session=False))
        await session.execute(insert(LOTS), [
            {"store": store, "sku": sku, "lot": lot, "expiry": exp}
            for (store, sku) in lot_keys for lot, exp in books[(store, sku)].expiry.items()])
    holding = {(r.store, r.sku): books[(r.store, r.sku)] for r in held
               if holds.at_risk(before.get((r.store, r.sku)), books[(r.store, r.sku)], r.reserved, today)}
    settled = await holds.settle(session, holding, today, now) if holding else set()
    return len(replay), settled


async def _replay_tail(session: AsyncSession, store: str, sku: str,
                       earliest: tuple[datetime, str]) -> ledger.SkuBook:
    """The SKU's book rebuilt from its newest checkpoint older than `earliest` (the oldest new
    movement); checkpoints at or after it are no longer true and are dropped."""
    mine = (Checkpoint.store == store, Checkpoint.sku == sku)
    position = tuple_(Checkpoint.at, Checkpoint.id)
    base = (await session.execute(
        select(Checkpoint).where(*mine, position < tuple_(literal(earliest[0], UtcDateTime()),
                                                          literal(earliest[1])))
        .order_by(Checkpoint.at.desc(), Checkpoint.id.desc()).limit(1))).scalar_one_or_none()
    await session.execute(delete(Checkpoint).where(
        *mine, position >= tuple_(literal(earliest[0], UtcDateTime()), literal(earliest[1])))
        .execution_options(synchronize_session=False))
    history = select(Movement).where(Movement.store == store, Movement.sku == sku)
    book = ledger.SkuBook()
    if base is not None:
        book = ledger.SkuBook.from_json(json.loads(base.book))
        history = history.where(tuple_(Movement.occurred_at, Movement.id)
                                > tuple_(literal(base.at, UtcDateTime()), literal(base.id)))
    for m in sorted((move_of(m) for m in (await session.scalars(history)).all()), key=lambda m: m.order):
        book.apply(m)
    return book


async def _touch_gateways(session: AsyncSession, fresh: dict[tuple[str, str], list[StockDelta]],
                          now: datetime) -> None:
    """Every gateway of the group in one multi-row upsert: last batch time, highest seq, count."""
    values = [{"store": store, "gateway": gateway, "last_batch_at": now,
               "max_seq": max((d.seq for d in deltas), default=0), "deltas": len(deltas)}
              for (store, gateway), deltas in sorted(fresh.items())]
    table = GATEWAYS
    stmt = upsert(session)(table)
    greatest = func.max if dialect(session) == "sqlite" else func.greatest
    stmt = stmt.on_conflict_do_update(
        index_elements=["store", "gateway"],
        set_={"last_batch_at": stmt.excluded.last_batch_at,
              "max_seq": greatest(table.c.max_seq, stmt.excluded.max_seq),
              "deltas": table.c.deltas + stmt.excluded.deltas})
    await session.execute(stmt, values)  # one statement, executemany: compiled once


async def dead_letter(maker: async_sessionmaker[AsyncSession], topic: str, payload: bytes,
                      reason: str, aside: Sequence[seqs.SetAside] = ()) -> None:
    """Keep a refused payload with the reason; the seqs read from it (`aside`) count as received
    in the same transaction, so the gap detector does not ask for them again."""
    now = datetime.now(UTC)
    async with maker() as session, session.begin():
        await session.execute(insert(DeadLetter), [_dead_letter(topic, payload, reason, now)])
        await seqs.set_aside(session, aside, now)


def _dead_letter(topic: str, payload: bytes, reason: str, now: datetime) -> dict[str, Any]:
    return {"received_at": now, "topic": topic[:256], "reason": reason[:2000].replace("\x00", "?"),
            "payload": payload_text(payload[:1_000_000])}


def payload_text(payload: bytes) -> str:
    """Text a database can hold: the payload itself when it is clean UTF-8, else base64.

    PostgreSQL text cannot hold NUL, and a dead letter must never fail to be stored, or the
    message that caused it would block the stream forever."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return "base64:" + base64.b64encode(payload).decode()
    return text


async def refresh_sellable(maker: async_sessionmaker[AsyncSession], today: date, *,
                           now: datetime | None = None) -> set[Key]:
    """Rewrite the stock levels' sellable figures as of `today` where lots expired since they
    were written, and keep open orders' holds within them (holds.settle: re-pointed to good
    lots, or the order released). Returns the keys whose figure or holds changed.

    Run by the sweep when the UTC date changes, and by an order or a transfer that finds a
    figure gone stale before the sweep came (holds.stale). The SKUs it changes are locked and
    read again first, like ingest does, so a batch committed meanwhile is never overwritten."""
    now = now or datetime.now(UTC)
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with maker() as session, session.begin():
                books = books_of((await session.scalars(select(Balance))).all())
                stored = {(r.store, r.sku): r.sellable for r in (await session.execute(
                    select(StockLevel.store, StockLevel.sku, StockLevel.sellable))).all()}
                due = holds.stale(books, stored, today)
                if not due:
                    return set()
                await _lock_heads(session, due)
                fresh, stored = await holds.books(session, due)
                due = holds.stale(fresh, stored, today)
                if due:
                    t = STOCK_LEVELS
                    figures = [{"k_store": s, "k_sku": k, "v": ledger.sellable(fresh[(s, k)], today)}
                               for s, k in due]
                    await session.execute(update(t).where(t.c.store == bindparam("k_store"),
                                                          t.c.sku == bindparam("k_sku"))
                                          .values(sellable=bindparam("v")), figures)
                    log.info("lots expired by %s: sellable refreshed for %d store SKUs", today, len(due))
                return set(due) | await holds.settle(session, {k: fresh[k] for k in due}, today, now)
        except DBAPIError as e:
            if not is_transient(e):
                raise
            log.debug("sellable refresh, retry %d: %s", attempt + 1, e)
        await asyncio.sleep(random.uniform(0, 0.005 * 2 ** attempt))
    raise ConflictRetry(f"the sellable refresh lost {MAX_ATTEMPTS} races in a row")


def books_of(rows: Iterable[Balance]) -> dict[tuple[str, str], ledger.SkuBook]:
    """Books from balance rows; each row carries its lot's expiry for reading."""
    books: dict[tuple[str, str], ledger.SkuBook] = defaultdict(ledger.SkuBook)
    for b in rows:
        book = books[(b.store, b.sku)]
        book.qty[(b.zone, b.lot)] = b.qty
        if b.lot != ledger.NO_LOT:
            book.expiry[b.lot] = b.expiry
    return books
