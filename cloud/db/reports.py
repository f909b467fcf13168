"""The reports a chain runs on, from the ledger (issue 17 §5): turnover, days of cover, slow movers
and near-expiry lots, per store and category with a drill-down to SKUs.

Definitions (each row's numbers, over a period of `days` days ending now):
- turnover: units sold in the period ÷ units sellable now. The textbook divides by the period's
  average stock; the ledger keeps balances as they are now, and the history of a balance across
  counts is not kept per day, so this is the current-stock approximation (it reads high for a
  location that is running down and low for one just restocked).
- days of cover: units sellable now ÷ average units sold per day in the period (null: nothing sold).
- slow movers: location × SKU with stock and no sale in the period, with the last sale ever.
- near expiry: lots with units on hand expiring within `days` days (already expired included,
  `days_left` < 0): candidates for a promotion, or for the write-off.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Balance, Movement, Product, StockLevel

REPORTS = ("turnover", "days-of-cover", "slow-movers", "near-expiry")


async def _sold(session: AsyncSession, since: datetime, store: str | None) -> dict[tuple[str, str], int]:
    q = (select(Movement.store, Movement.sku, func.sum(Movement.qty))
         .where(Movement.kind == "sale", Movement.occurred_at >= since)
         .group_by(Movement.store, Movement.sku))
    if store is not None:
        q = q.where(Movement.store == store)
    return {(s, k): -int(q or 0) for s, k, q in (await session.execute(q)).all()}


async def _stock(session: AsyncSession, store: str | None) -> dict[tuple[str, str], int]:
    q = select(StockLevel.store, StockLevel.sku, StockLevel.sellable)
    if store is not None:
        q = q.where(StockLevel.store == store)
    return {(s, k): int(n) for s, k, n in (await session.execute(q)).all()}


async def _categories(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(Product.sku, Product.category))).all())


def _keep(category: str, wanted: str | None) -> bool:
    return wanted is None or category == wanted


async def turnover(session: AsyncSession, *, days: int, store: str | None, category: str | None,
                   by: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Rows per store × category (by="category") or store × SKU (by="sku")."""
    now = now or datetime.now(UTC)
    sold = await _sold(session, now - timedelta(days=days), store)
    stock = await _stock(session, store)
    cats = await _categories(session)
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for key in set(sold) | set(stock):
        cat = cats.get(key[1], "")
        if not _keep(cat, category):
            continue
        g = groups[(key[0], key[1] if by == "sku" else cat)]
        g[0] += sold.get(key, 0)
        g[1] += max(stock.get(key, 0), 0)
    out = []
    for (s, k), (units, held) in sorted(groups.items()):
        row: dict[str, Any] = {"store": s, **({"sku": k, "category": cats.get(k, "")} if by == "sku"
                                               else {"category": k})}
        row.update(sold=units, on_hand=held, turnover=round(units / held, 3) if held else None,
                   days_of_cover=round(held / (units / days), 1) if units else None)
        out.append(row)
    return out


async def days_of_cover(session: AsyncSession, *, days: int, store: str | None, category: str | None,
                        now: datetime | None = None) -> list[dict[str, Any]]:
    """Per store × SKU holding stock or selling, fewest days of cover first (none sold: last)."""
    rows = await turnover(session, days=days, store=store, category=category, by="sku", now=now)
    return sorted(({k: r[k] for k in ("store", "sku", "category", "on_hand", "sold", "days_of_cover")}
                   for r in rows),
                  key=lambda r: (r["days_of_cover"] is None, r["days_of_cover"] or 0.0, r["store"], r["sku"]))


async def slow_movers(session: AsyncSession, *, days: int, store: str | None, category: str | None,
                      now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    sold = await _sold(session, now - timedelta(days=days), store)
    stock = await _stock(session, store)
    cats = await _categories(session)
    q = select(Movement.store, Movement.sku, func.max(Movement.occurred_at)).where(
        Movement.kind == "sale").group_by(Movement.store, Movement.sku)
    if store is not None:
        q = q.where(Movement.store == store)
    last = {(s, k): t for s, k, t in (await session.execute(q)).all()}
    out = []
    for (s, k), held in sorted(stock.items()):
        if held <= 0 or sold.get((s, k), 0) > 0 or not _keep(cats.get(k, ""), category):
            continue
        t = last.get((s, k))
        if isinstance(t, str):  # SQLite's max() of a date-time column comes back as text
            t = datetime.fromisoformat(t).replace(tzinfo=UTC)
        elif t is not None and t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        out.append({"store": s, "sku": k, "category": cats.get(k, ""), "on_hand": held,
                    "last_sale": t.isoformat().replace("+00:00", "Z") if t is not None else None})
    return out


async def near_expiry(session: AsyncSession, *, days: int, store: str | None, category: str | None,
                      today: date | None = None) -> list[dict[str, Any]]:
    today = today or datetime.now(UTC).date()
    q = (select(Balance.store, Balance.sku, Balance.lot, Balance.expiry, func.sum(Balance.qty))
         .where(Balance.expiry.is_not(None), Balance.expiry <= today + timedelta(days=days), Balance.qty > 0)
         .group_by(Balance.store, Balance.sku, Balance.lot, Balance.expiry))
    if store is not None:
        q = q.where(Balance.store == store)
    cats = await _categories(session)
    out = [{"store": s, "sku": k, "category": cats.get(k, ""), "lot": lot or None, "expiry": e.isoformat(),
            "days_left": (e - today).days, "units": int(n)}
           for s, k, lot, e, n in (await session.execute(q)).all()
           if e is not None and _keep(cats.get(k, ""), category)]
    return sorted(out, key=lambda r: (r["expiry"], r["store"], r["sku"], r["lot"] or ""))


__all__ = ["REPORTS", "days_of_cover", "near_expiry", "slow_movers", "turnover"]
