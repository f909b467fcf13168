"""The reports a chain runs on, from the ledger and the orders (issue 17 §5), per category, store
and SKU over a period, with a drill-down category → store → SKU.

Every report takes a `Period` ([start, end), UTC: the last `days` days up to now, or whole UTC days
`from`..`to`) and a level `by`: `category` (a row per category), `store` (a row per store ×
category) or `sku` (a row per store × SKU, with its category). A row's ratios are those of its
summed parts, never a mean of ratios. Values (`value…`) are units × the product's `unit_cost`,
over the SKUs that have one (null when none has); the API shows them to hq and finance only.

Definitions:
- turnover: units sold in the period ÷ units sellable at its end. The textbook divides by the
  period's average stock; this is the closing-stock approximation (it reads high for a location
  that is running down and low for one just restocked).
- days of cover: units sellable at the period's end ÷ average units sold per day in it (null:
  nothing sold).
- slow movers: location × SKU with stock at the period's end and no sale in it, with the last sale
  before its end; at the category and store levels, how many of the stocked SKUs are slow
  (`slow_share`).
- near expiry: lots with units on hand expiring within `days` days (already expired included,
  `days_left` < 0), or between `from` and `to`: candidates for a promotion, or for the write-off.
- stock age: the units on hand at the period's end, aged first-in-first-out from the rises of the
  book (receipts, transfers in, returns, counts that found more): units 0–30, 31–90, 91–180 and
  over 180 days old, and their unit-weighted mean age in days.
- stock-out rate: the share of SKU × location hours in the period with nothing sellable (units on
  hand less expired lots ≤ 0), from the balance changes the ledger's movements make (each pair
  from its first movement on; reports_history.py replays them). Warehouses are left out unless
  `store` names one: the figure is about shelves.
- fill rate: online orders placed in the period that ended `fulfilled` (filled in full: an order
  ships all its lines or none) against those plus the ones `released` because the stock under
  them fell (stock-short, lot-expired): lines and units. Orders cancelled or left unpaid are the
  buyer's choice, and open ones not decided yet: neither counts. An order refused when placed
  (409, not enough stock) is never stored, so it is not in this figure.
- shrink: units lost in the period by a shrink, a negative adjustment or a count that found less
  than the book, by reason, and their value.
- sell-through per channel: units sold through a channel in the period ÷ units available in it,
  where available = units sellable at the period's start + units that arrived during it (receipts,
  transfers in, returns, counts that found more). `till` is the store's own till; an online
  channel's sales are its orders' fulfilments. The channels of a row add up to its total; a row
  that sold through no channel is one row with channel null (or the `channel` asked for) and
  sell-through 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Balance, Movement, Order, Product, Reservation, StockLevel, Store
from cloud.db.reports_history import fifo_ages, histories

REPORTS = ("turnover", "days-of-cover", "slow-movers", "near-expiry", "stock-age", "stock-out",
           "fill-rate", "shrink", "sell-through")
LEVELS = ("category", "store", "sku")
Level = Literal["category", "store", "sku"]
MAX_DAYS = 730
AGE_BUCKETS = ((30, "age_0_30"), (90, "age_31_90"), (180, "age_91_180"), (None, "age_over_180"))


class ReportError(ValueError):
    """A report asked for with parameters that cannot make one; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; `days` its length in whole days (rounded up)."""

    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return max(1, -(-int((self.end - self.start).total_seconds()) // 86400))

    @property
    def ends_now(self) -> bool:
        return self.end >= datetime.now(UTC) - timedelta(seconds=5)

    @classmethod
    def last(cls, days: int, now: datetime | None = None) -> Period:
        now = now or datetime.now(UTC)
        return cls(now - timedelta(days=days), now)

    @classmethod
    def between(cls, first: date, last: date, now: datetime | None = None) -> Period:
        """Whole UTC days `first`..`last`; a period reaching past now ends now. ReportError (naming its
        field) when `last` is before `first` or the period is longer than MAX_DAYS."""
        now = now or datetime.now(UTC)
        start = datetime.combine(first, time(), UTC)
        if start >= now:
            raise ReportError("from", f"{first} is in the future")
        if last < first:
            raise ReportError("to", f"{last} is before from ({first})")
        if (last - first).days + 1 > MAX_DAYS:
            raise ReportError("from", f"the period from it to {last} is {(last - first).days + 1} days; "
                                      f"at most {MAX_DAYS}")
        return cls(start, min(datetime.combine(last + timedelta(days=1), time(), UTC), now))


class _Groups:
    """Additive figures per row of a level; ratios are computed from the sums."""

    def __init__(self, level: Level, cats: Mapping[str, str], category: str | None) -> None:
        self.level, self.cats, self.category = level, cats, category
        self.rows: dict[tuple[str, ...], dict[str, Any]] = {}

    def key(self, store: str, sku: str) -> tuple[str, ...] | None:
        cat = self.cats.get(sku, "")
        if self.category is not None and cat != self.category:
            return None
        return (cat,) if self.level == "category" else (cat, store) if self.level == "store" else (store, sku)

    def row(self, store: str, sku: str) -> dict[str, Any] | None:
        key = self.key(store, sku)
        if key is None:
            return None
        row = self.rows.get(key)
        if row is None:
            head: dict[str, Any] = ({"category": key[0]} if self.level == "category"
                                    else {"store": key[1], "category": key[0]} if self.level == "store"
                                    else {"store": store, "sku": sku, "category": self.cats.get(sku, "")})
            row = self.rows[key] = head
        return row

    def add(self, store: str, sku: str, **figures: float) -> None:
        row = self.row(store, sku)
        if row is not None:
            for k, v in figures.items():
                row[k] = row.get(k, 0) + v

    def sorted(self) -> list[dict[str, Any]]:
        return [self.rows[k] for k in sorted(self.rows)]


def _ratio(a: float, b: float, digits: int = 4) -> float | None:
    return round(a / b, digits) if b else None


async def _costs(session: AsyncSession) -> dict[str, float]:
    return {k: float(c) for k, c in (await session.execute(select(Product.sku, Product.unit_cost))).all()
            if c is not None}


def _within(column: Any, period: Period) -> tuple[Any, Any]:
    return column >= period.start, column < period.end


async def _sold(session: AsyncSession, period: Period, store: str | None) -> dict[tuple[str, str], int]:
    q = (select(Movement.store, Movement.sku, func.sum(Movement.qty))
         .where(Movement.kind == "sale", *_within(Movement.occurred_at, period))
         .group_by(Movement.store, Movement.sku))
    if store is not None:
        q = q.where(Movement.store == store)
    return {(s, k): -int(q or 0) for s, k, q in (await session.execute(q)).all()}


async def _stock(session: AsyncSession, period: Period, store: str | None) -> dict[tuple[str, str], int]:
    """Units sellable at the period's end: the stock figure when it ends now, else the replayed book."""
    if not period.ends_now:
        return {key: h.sellable_end async for key, h in histories(session, period.start, period.end, store)}
    q = select(StockLevel.store, StockLevel.sku, StockLevel.sellable)
    if store is not None:
        q = q.where(StockLevel.store == store)
    return {(s, k): int(n) for s, k, n in (await session.execute(q)).all()}


async def _categories(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(Product.sku, Product.category))).all())


def _utc(t: datetime | str | None) -> datetime | None:
    if isinstance(t, str):  # SQLite's max() of a date-time column comes back as text
        return datetime.fromisoformat(t).replace(tzinfo=UTC)
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


async def turnover(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                   by: Level) -> list[dict[str, Any]]:
    sold = await _sold(session, period, store)
    stock = await _stock(session, period, store)
    g = _Groups(by, await _categories(session), category)
    for key in set(sold) | set(stock):
        g.add(*key, sold=sold.get(key, 0), on_hand=max(stock.get(key, 0), 0))
    for row in g.sorted():
        units, held = row["sold"], row["on_hand"]
        row.update(turnover=_ratio(units, held, 3),
                   days_of_cover=round(held / (units / period.days), 1) if units else None)
    return g.sorted()


async def days_of_cover(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                        by: Level) -> list[dict[str, Any]]:
    """Fewest days of cover first (none sold: last)."""
    rows = await turnover(session, period=period, store=store, category=category, by=by)
    keep = [k for k in ("category", "store", "sku") if k in (rows[0] if rows else {})]
    return sorted(({**{k: r[k] for k in keep}, "on_hand": r["on_hand"], "sold": r["sold"],
                    "days_of_cover": r["days_of_cover"]} for r in rows),
                  key=lambda r: (r["days_of_cover"] is None, r["days_of_cover"] or 0.0,
                                 *(r[k] for k in keep)))


async def slow_movers(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                      by: Level) -> list[dict[str, Any]]:
    sold = await _sold(session, period, store)
    stock = await _stock(session, period, store)
    q = select(Movement.store, Movement.sku, func.max(Movement.occurred_at)).where(
        Movement.kind == "sale", Movement.occurred_at < period.end).group_by(Movement.store, Movement.sku)
    if store is not None:
        q = q.where(Movement.store == store)
    last = {(s, k): _utc(t) for s, k, t in (await session.execute(q)).all()}
    g = _Groups(by, await _categories(session), category)
    for key, held in sorted(stock.items()):
        if held <= 0:
            continue
        slow = sold.get(key, 0) <= 0
        if by == "sku":
            if slow:
                g.add(*key, on_hand=held)
                row = g.row(*key)
                if row is not None:
                    row["last_sale"] = _iso(last.get(key))
        else:
            g.add(*key, stocked=1, slow=int(slow), on_hand=held if slow else 0)
    rows = g.sorted()
    if by != "sku":
        for r in rows:
            r["slow_share"] = _ratio(r["slow"], r["stocked"])
    return rows


async def near_expiry(session: AsyncSession, *, store: str | None, category: str | None, by: Level,
                      until: date, since: date | None = None, today: date | None = None,
                      ) -> list[dict[str, Any]]:
    """Lots expiring by `until` (from `since` on, when given)."""
    today = today or datetime.now(UTC).date()
    q = (select(Balance.store, Balance.sku, Balance.lot, Balance.expiry, func.sum(Balance.qty))
         .where(Balance.expiry.is_not(None), Balance.expiry <= until, Balance.qty > 0)
         .group_by(Balance.store, Balance.sku, Balance.lot, Balance.expiry))
    if since is not None:
        q = q.where(Balance.expiry >= since)
    if store is not None:
        q = q.where(Balance.store == store)
    cats = await _categories(session)
    costs = await _costs(session)
    found = [(s, k, lot, e, int(n)) for s, k, lot, e, n in (await session.execute(q)).all()
             if e is not None and (category is None or cats.get(k, "") == category)]
    if by == "sku":
        out = [{"store": s, "sku": k, "category": cats.get(k, ""), "lot": lot or None,
                "expiry": e.isoformat(), "days_left": (e - today).days, "units": n,
                "value": round(n * costs[k], 2) if k in costs else None}
               for s, k, lot, e, n in found]
        return sorted(out, key=lambda r: (r["expiry"], r["store"], r["sku"], r["lot"] or ""))
    g = _Groups(by, cats, category)
    for s, k, _lot, e, n in found:
        g.add(s, k, lots=1, units=n)
        row = g.row(s, k)
        if row is not None:
            row["first_expiry"] = min(row.get("first_expiry", e.isoformat()), e.isoformat())
            if k in costs:
                row["value"] = round(row.get("value", 0.0) + n * costs[k], 2)
    rows = g.sorted()
    for r in rows:
        r.setdefault("value", None)
    return rows


async def stock_age(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                    by: Level) -> list[dict[str, Any]]:
    g = _Groups(by, await _categories(session), category)
    costs = await _costs(session)
    async for (s, k), h in histories(session, period.start, period.end, store):
        ages = fifo_ages(h, period.end)
        units = sum(n for _, n in ages)
        if not units or g.key(s, k) is None:
            continue
        figures = {name: 0 for _, name in AGE_BUCKETS}
        for age, n in ages:
            name = next(name for hi, name in AGE_BUCKETS if hi is None or age < hi + 1)
            figures[name] += n
        g.add(s, k, units=units, unit_days=sum(age * n for age, n in ages), **figures)
        if k in costs:
            g.add(s, k, value=units * costs[k])
    rows = g.sorted()
    for r in rows:
        r["mean_age_days"] = round(r.pop("unit_days") / r["units"], 1)
        r["value"] = round(r["value"], 2) if "value" in r else None
    return rows


async def stock_out(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                    by: Level) -> list[dict[str, Any]]:
    g = _Groups(by, await _categories(session), category)
    # A shelf's availability: warehouses are left out unless asked for by name.
    warehouses = set() if store is not None else set(
        (await session.scalars(select(Store.store).where(Store.kind == "warehouse"))).all())
    async for (s, k), h in histories(session, period.start, period.end, store):
        if h.ranged_s > 0 and s not in warehouses:
            g.add(s, k, pairs=1, hours=h.ranged_s / 3600, empty_hours=h.empty_s / 3600)
    rows = g.sorted()
    for r in rows:
        r["stock_out_rate"] = _ratio(r["empty_hours"], r["hours"])
        r["hours"], r["empty_hours"] = round(r["hours"], 2), round(r["empty_hours"], 2)
    return rows


async def shrink(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                 by: Level) -> list[dict[str, Any]]:
    g = _Groups(by, await _categories(session), category)
    costs = await _costs(session)
    reasons: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async for (s, k), h in histories(session, period.start, period.end, store):
        key = g.key(s, k)
        if key is None or not h.losses:
            continue
        lost = sum(h.losses.values())
        g.add(s, k, units=lost)
        if k in costs:
            g.add(s, k, value=lost * costs[k])
        for why, n in h.losses.items():
            reasons[key][why] += n
    rows = []
    for key in sorted(g.rows):
        r = g.rows[key]
        r["value"] = round(r["value"], 2) if "value" in r else None
        r["reasons"] = dict(sorted(reasons[key].items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append(r)
    return sorted(rows, key=lambda r: (-r["units"], *(str(r.get(c, "")) for c in LEVELS)))


async def _order_lines(session: AsyncSession, period: Period, store: str | None, channel: str | None,
                       statuses: Iterable[str]) -> list[Any]:
    q = (select(Order.id, Order.channel, Order.status, Reservation.line, Reservation.store, Reservation.sku,
                func.sum(Reservation.qty))
         .join(Reservation, Reservation.order == Order.id)
         .where(*_within(Order.created_at, period), Order.status.in_(list(statuses)))
         .group_by(Order.id, Order.channel, Order.status, Reservation.line, Reservation.store,
                   Reservation.sku))
    if store is not None:
        q = q.where(Reservation.store == store)
    if channel is not None:
        q = q.where(Order.channel == channel)
    return list((await session.execute(q)).all())


async def fill_rate(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                    by: Level, channel: str | None = None) -> list[dict[str, Any]]:
    g = _Groups(by, await _categories(session), category)
    lines: dict[tuple[str, ...], dict[tuple[str, int], bool]] = defaultdict(dict)
    for oid, _ch, status, line, s, k, qty in await _order_lines(
            session, period, store, channel, ("fulfilled", "released")):
        key = g.key(s, k)
        if key is None:
            continue
        filled = status == "fulfilled"
        g.add(s, k, units_asked=int(qty), units_filled=int(qty) if filled else 0)
        lines[key][(oid, line)] = filled  # a line split over stores counts once per row it is in
    rows = g.sorted()
    for r, key in zip(rows, sorted(g.rows), strict=True):
        asked = lines[key]
        r["lines_asked"], r["lines_filled"] = len(asked), sum(asked.values())
        r["line_fill_rate"] = _ratio(r["lines_filled"], r["lines_asked"])
        r["unit_fill_rate"] = _ratio(r["units_filled"], r["units_asked"])
    return rows


TILL = "till"


async def sell_through(session: AsyncSession, *, period: Period, store: str | None, category: str | None,
                       by: Level, channel: str | None = None) -> list[dict[str, Any]]:
    """A row per group × channel that sold in it (`till`: the store's own till)."""
    cats = await _categories(session)
    g = _Groups(by, cats, category)
    available: dict[tuple[str, ...], int] = defaultdict(int)
    async for (s, k), h in histories(session, period.start, period.end, store):
        key = g.key(s, k)
        if key is not None:
            g.row(s, k)
            available[key] += max(h.sellable_start, 0) + h.arrived
    q = (select(Movement.store, Movement.sku, Movement.ref, func.sum(Movement.qty))
         .where(Movement.kind == "sale", *_within(Movement.occurred_at, period))
         .group_by(Movement.store, Movement.sku, Movement.ref))
    if store is not None:
        q = q.where(Movement.store == store)
    sales = (await session.execute(q)).all()
    oids = {ref.split(":")[1] for _s, _k, ref, _q in sales if ref and ref.startswith("order:")}
    channel_of: dict[str, str] = {}
    for part in [sorted(oids)[i:i + 500] for i in range(0, len(oids), 500)]:
        found = await session.execute(select(Order.id, Order.channel).where(Order.id.in_(part)))
        channel_of.update(found.all())
    sold: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for s, k, ref, qty in sales:
        key = g.key(s, k)
        if key is None:
            continue
        g.row(s, k)
        ch = channel_of.get(ref.split(":")[1], TILL) if ref and ref.startswith("order:") else TILL
        if channel is None or ch == channel:
            sold[(key, ch)] += -int(qty or 0)
    rows = []
    for key in sorted(g.rows):
        channels: list[tuple[str | None, int]] = sorted((c, n) for (k, c), n in sold.items() if k == key)
        # a group that sold nothing keeps a row (channel null, or the one asked for): its sell-through is 0
        for named, units in channels or [(channel, 0)]:
            rows.append({**g.rows[key], "channel": named, "sold": units, "available": available[key],
                         "sell_through": _ratio(units, available[key])})
    return rows


async def choices(session: AsyncSession, store: str | None = None) -> tuple[list[str], list[str]]:
    """The stores (only `store` when given) and the categories a report can be narrowed to."""
    stores = [store] if store is not None else list(
        (await session.scalars(select(Store.store).order_by(Store.store))).all())
    categories = list((await session.scalars(select(Product.category).where(Product.category != "")
                                             .distinct().order_by(Product.category))).all())
    return stores, categories


__all__ = ["LEVELS", "REPORTS", "Level", "Period", "ReportError", "choices", "days_of_cover", "fill_rate",
           "near_expiry", "sell_through", "shrink", "slow_movers", "stock_age", "stock_out", "turnover"]
