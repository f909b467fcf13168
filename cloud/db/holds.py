"""What open orders hold stays within what a store can sell, lot by lot (ARCHITECTURE §6).

Per (store, SKU) the rule is Σ held ≤ sellable, and each held lot has the units it names: a lot
that has not expired, holding at least what the open orders name of it (the unknown lot "" when
the book knows no lot). Orders take their lots under the row lock of their hold (orders.py), so
two orders never name the same unit. The stock under a hold still changes: a till sells units
that orders hold, a count finds fewer, a lot expires at midnight. After every such change (each
book update, and the daily refresh of `sellable`) `settle` puts the holds right, in the same
transaction:

1. While Σ held > sellable, the newest open order holding the SKU in that store is released
   (status `released`, `closed_by` `lot-expired` when a lot it could hold expired, else
   `stock-short`), its units in every store and SKU given back, and a warning logged with the
   figures. First come, first served: an earlier order keeps its units.
2. Every remaining hold keeps its lot while that lot has room for it, earliest orders first; the
   rest moves to lots with room, first-expiry-first-out (re-pointed: same store, same total).

A book update settles only the SKUs whose change could break a hold (`at_risk`: more held than
can be sold now, or a lot left with less room than its holds may name, an expired lot included);
the daily refresh settles every SKU whose figure it changes. The planning is pure (`plan`, `pick`,
`at_risk`); the rest reads and writes the holds in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cloud.db import claims, ledger
from cloud.db.engines import among
from cloud.db.models import Balance, Order, Reservation, StockLevel
from cloud.db.prepared import Runner, runner

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (store, sku)
Db = AsyncSession | AsyncConnection
RELEASED: Final = "released"
LOT_EXPIRED: Final = "lot-expired"
STOCK_SHORT: Final = "stock-short"


class Stale(Exception):
    """Stored `sellable` figures still count lots that have expired since they were written:
    refresh them (posting.refresh_sellable) before holding anything on them."""

    def __init__(self, today: date) -> None:
        super().__init__(f"sellable figures written before {today} count lots expired since")
        self.today = today


@dataclass(frozen=True, slots=True)
class Hold:
    """Units of one order line held on one lot in one store."""

    order: str
    line: int
    store: str
    sku: str
    lot: str
    qty: int
    placed_at: datetime  # the order's creation: earlier orders keep their units


@dataclass(frozen=True, slots=True)
class Plan:
    release: tuple[str, ...]  # orders to release, newest first
    holds: tuple[Hold, ...]   # the holds of the other orders, each on a lot with room for it


# --- pure ---------------------------------------------------------------------------------------

def room(book: ledger.SkuBook, today: date) -> dict[str, int]:
    """Units per lot that orders may hold `today`: lots not expired, over every zone; the unknown
    lot's units when it has some."""
    out: dict[str, int] = defaultdict(int)
    for (_, lot), q in book.qty.items():
        if lot == ledger.NO_LOT or not ledger.is_expired(book.expiry.get(lot), today):
            out[lot] += q
    return {lot: q for lot, q in out.items() if q > 0}


def fefo(lots: Iterable[str], book: ledger.SkuBook) -> list[str]:
    """Named lots earliest expiry first, lots without an expiry next, the unknown lot last."""
    return sorted(lots, key=lambda lot: (lot == ledger.NO_LOT, book.expiry.get(lot) or date.max, lot))


def pick(spare: dict[str, int], book: ledger.SkuBook, n: int) -> list[tuple[str, int]]:
    """n units FEFO from the lots' spare units (consumed); what they lack is the unknown lot's."""
    taken = []
    for lot in fefo(spare, book):
        k = min(spare[lot], n)
        if k > 0:
            taken.append((lot, k))
            spare[lot] -= k
            n -= k
    if n:
        taken.append((ledger.NO_LOT, n))
    return taken


def plan(holds: Sequence[Hold], book: ledger.SkuBook, today: date) -> Plan:
    """The orders to release and the lots the others hold, for one (store, SKU)."""
    newest_first = sorted(holds, key=lambda h: (h.placed_at, h.order), reverse=True)
    held_by: dict[str, int] = defaultdict(int)
    for h in holds:
        held_by[h.order] += h.qty
    total, limit = sum(held_by.values()), ledger.sellable(book, today)
    release: list[str] = []
    for h in newest_first:
        if total <= limit:
            break
        if h.order not in release:
            release.append(h.order)
            total -= held_by[h.order]
    kept = sorted((h for h in holds if h.order not in release), key=lambda h: (h.placed_at, h.order, h.line))
    spare = room(book, today)
    placed: list[Hold] = []
    rest: list[Hold] = []
    for h in kept:  # each keeps its own lot while it has room, earliest orders first
        k = min(h.qty, spare.get(h.lot, 0))
        if k:
            spare[h.lot] -= k
            placed.append(replace(h, qty=k))
        if h.qty - k:
            rest.append(replace(h, qty=h.qty - k))
    for h in rest:
        placed += [replace(h, lot=lot, qty=k) for lot, k in pick(spare, book, h.qty)]
    return Plan(tuple(release), tuple(_merge(placed)))


def _merge(holds: Iterable[Hold]) -> list[Hold]:
    merged: dict[tuple[str, int, str, str], Hold] = {}
    for h in holds:
        key = (h.order, h.line, h.store, h.lot)
        merged[key] = replace(merged[key], qty=merged[key].qty + h.qty) if key in merged else h
    return list(merged.values())


# --- in the database --------------------------------------------------------------------------

def _in(keys: Sequence[Key]) -> Any:
    return tuple_(Reservation.store, Reservation.sku).in_(list(keys))


async def open_holds(db: Db, keys: Sequence[Key]) -> dict[Key, list[Hold]]:
    """The holds of open orders on these (store, sku)."""
    out: dict[Key, list[Hold]] = defaultdict(list)
    if keys:
        rows = (await db.execute(
            select(Reservation.order, Reservation.line, Reservation.store, Reservation.sku, Reservation.lot,
                   Reservation.qty, Order.created_at)
            .join(Order, Order.id == Reservation.order)
            .where(Order.status == "reserved", _in(keys)))).all()
        for r in rows:
            out[(r.store, r.sku)].append(Hold(r.order, r.line, r.store, r.sku, r.lot, r.qty, r.created_at))
    return out


_HELD_BY_LOT = {pg: select(Reservation.store, Reservation.sku, Reservation.lot, func.sum(Reservation.qty))
                .join(Order, Order.id == Reservation.order)
                .where(Order.status == "reserved", among(pg, Reservation.store, "stores"),
                       among(pg, Reservation.sku, "skus"))
                .group_by(Reservation.store, Reservation.sku, Reservation.lot)
                for pg in (True, False)}


async def held_by_lot(db: Db | Runner, keys: Sequence[Key]) -> dict[Key, dict[str, int]]:
    """Units the open orders hold on each lot of these (store, sku), summed by the database.

    What an order reads under its hold's row lock: on a promotion day thousands of open orders
    hold one SKU, and fetching each of their holds (open_holds) made every order slower than the
    one before it (bench orders: 5 ms of CPU an order after 10 s at 500 orders/s, 9 ms after 20)."""
    out: dict[Key, dict[str, int]] = defaultdict(dict)
    if keys:
        run, wanted = runner(db), set(keys)
        where = {"stores": sorted({s for s, _ in keys}), "skus": sorted({k for _, k in keys})}
        for store, sku, lot, qty in await run.rows(_HELD_BY_LOT[run.pg], where):
            if (store, sku) in wanted:
                out[(store, sku)][lot] = int(qty)
    return out


# Built once: every order runs them, and building a statement costs about what running it does
# (one of each for PostgreSQL and for SQLite: engines.among).
_BALANCES = {pg: select(Balance.store, Balance.sku, Balance.zone, Balance.lot, Balance.qty, Balance.expiry)
             .where(among(pg, Balance.store, "stores"), among(pg, Balance.sku, "skus"))
             for pg in (True, False)}
_SELLABLE = {pg: select(StockLevel.store, StockLevel.sku, StockLevel.sellable)
             .where(among(pg, StockLevel.store, "stores"), among(pg, StockLevel.sku, "skus"))
             for pg in (True, False)}


async def books(db: Db | Runner, keys: Sequence[Key], *, sellable: Mapping[Key, int] | None = None
                ) -> tuple[dict[Key, ledger.SkuBook], dict[Key, int]]:
    """The books of these (store, sku) from the balances, and their stored `sellable` figures
    (read here unless the caller has them: an order's hold returns them, one query fewer while
    it holds the rows' locks)."""
    wanted = set(keys)
    out: dict[Key, ledger.SkuBook] = {k: ledger.SkuBook() for k in wanted}
    stored: dict[Key, int] = {}
    if not keys:
        return out, stored
    run = runner(db)
    where = {"stores": sorted({s for s, _ in keys}), "skus": sorted({k for _, k in keys})}
    for store, sku, zone, lot, qty, expiry in await run.rows(_BALANCES[run.pg], where):
        if (store, sku) in wanted:
            book = out[(store, sku)]
            book.qty[(zone, lot)] = qty
            if lot != ledger.NO_LOT:
                book.expiry[lot] = expiry
    if sellable is not None:
        return out, {k: v for k, v in sellable.items() if k in wanted}
    for store, sku, figure in await run.rows(_SELLABLE[run.pg], where):
        if (store, sku) in wanted:
            stored[(store, sku)] = int(figure)
    return out, stored


def stale(books: Mapping[Key, ledger.SkuBook], stored: Mapping[Key, int], today: date) -> list[Key]:
    """Keys whose stored `sellable` still counts a lot that has expired since it was written
    (the date changed after the last write and the daily refresh has not run yet)."""
    return sorted(k for k, b in books.items() if k in stored and stored[k] != ledger.sellable(b, today))


def unsettled(per_lot: Mapping[str, int], book: ledger.SkuBook, today: date) -> bool:
    """Whether holds of these units per lot break the rule: more than can be sold, or a lot held
    beyond its room (`plan` changes nothing otherwise)."""
    if not per_lot:
        return False
    lots = room(book, today)
    return (sum(per_lot.values()) > max(ledger.sellable(book, today), 0)
            or any(q > lots.get(lot, 0) for lot, q in per_lot.items()))


def at_risk(before: ledger.SkuBook | None, after: ledger.SkuBook, reserved: int, today: date) -> bool:
    """Whether holds that fitted `before` might not fit `after` (so `settle` must read them): the
    open orders hold `reserved` units in all, more than can be sold now, or some lot has less room
    now than the holds on it may name. Holds fit their book after every update, so a hold on lot L
    names at most min(reserved, L's units before) units; a lot that expired since has no room. No
    book before (a replayed SKU): assume so. Everything else (a sale of units nobody holds, a
    receipt, a count that leaves enough) reads no hold, however many orders are open."""
    if reserved <= 0:
        return False
    if before is None or reserved > ledger.sellable(after, today):
        return True
    lots = room(after, today)
    units: dict[str, int] = defaultdict(int)
    for (_, lot), q in before.qty.items():
        units[lot] += q
    return any(lots.get(lot, 0) < min(reserved, q) for lot, q in units.items() if q > 0)


async def settle(session: AsyncSession, books: Mapping[Key, ledger.SkuBook], today: date,
                 now: datetime) -> set[Key]:
    """Put the holds on these books right (see the module docstring). `books` are the books as
    this transaction has just written them. Returns the keys whose holds changed.

    Runs in every book update that touches a SKU orders hold, so it first reads the holds summed
    per lot (a few rows however many orders are open) and fetches single holds only for a SKU
    whose holds no longer fit."""
    keys = sorted(books)
    per_lot = await held_by_lot(session, keys)
    due = [k for k in keys if unsettled(per_lot.get(k, {}), books[k], today)]
    if not due:
        return set()
    held = await open_holds(session, due)
    changed: set[Key] = set()
    released: set[str] = set()
    for key in sorted(held):
        book = books[key]
        holds = [h for h in held[key] if h.order not in released]
        p = plan(holds, book, today)
        for order in p.release:
            changed |= await _release(session, order, key, holds, book, today, now)
            released.add(order)
        before = sorted((h.order, h.line, h.lot, h.qty) for h in holds if h.order not in released)
        if sorted((h.order, h.line, h.lot, h.qty) for h in p.holds) != before:
            await _repoint(session, key, [h for h in holds if h.order not in released], p.holds)
            changed.add(key)
    return changed


async def _release(session: AsyncSession, order: str, key: Key, holds: Sequence[Hold], book: ledger.SkuBook,
                   today: date, now: datetime) -> set[Key]:
    expired = sorted({h.lot for h in holds if h.lot != ledger.NO_LOT
                      and ledger.is_expired(book.expiry.get(h.lot), today)})
    why = LOT_EXPIRED if expired else STOCK_SHORT
    won = await session.execute(update(Order).where(Order.id == order, Order.status == "reserved")
                                .values(status=RELEASED, closed_at=now, closed_by=why)
                                .execution_options(synchronize_session=False))
    # rowcount: DML gives a CursorResult, but AsyncSession.execute() is typed Result
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return set()
    store, sku = key
    cause = f"lot {', '.join(expired)} expired" if expired else "stock fell (a till sale, a count or shrink)"
    log.warning("order %s released (%s): store %s holds %d of %s but only %d can be sold now that %s; "
                "no other unit is free there", order, why, store, sum(h.qty for h in holds), sku,
                ledger.sellable(book, today), cause)
    return await claims.release_reservations(session, order)


async def _repoint(session: AsyncSession, key: Key, old: Sequence[Hold], new: Sequence[Hold]) -> None:
    """Rewrite the reservation rows of the order lines whose lots changed."""
    def lots(holds: Iterable[Hold]) -> dict[tuple[str, int], dict[str, int]]:
        out: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        for h in holds:
            out[(h.order, h.line)][h.lot] = out[(h.order, h.line)].get(h.lot, 0) + h.qty
        return out

    was, now = lots(old), lots(new)
    store, sku = key
    for (order, line) in sorted(set(was) | set(now)):
        if was.get((order, line)) == now.get((order, line)):
            continue
        log.info("order %s line %d in %s: holds of %s moved from lots %s to %s", order, line + 1, store, sku,
                 was.get((order, line)), now.get((order, line)))
        await session.execute(delete(Reservation).where(Reservation.order == order, Reservation.line == line,
                                                        Reservation.store == store)
                              .execution_options(synchronize_session=False))
        rows = [{"order": order, "line": line, "store": store, "lot": lot, "sku": sku, "qty": q}
                for lot, q in sorted(now.get((order, line), {}).items())]
        if rows:
            await session.execute(insert(Reservation), rows)


__all__ = ["Hold", "Plan", "Stale", "at_risk", "books", "held_by_lot", "open_holds", "pick", "plan", "room",
           "settle", "stale"]
