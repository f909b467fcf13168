"""A generated chain for the console benchmark: S stores × K SKUs × D days of movements on
PostgreSQL, built fast and kept between runs (`shelfsync bench console`).

What is in it, per store (all drawn from numpy generators seeded by (seed, store)):
- an opening delivery of every SKU into the backroom (with a lot and expiry date for food) and a
  move of a shelf's worth to the floor;
- every day, till sales between 09:00 and 21:00 local time (a Zipf-like spread over the SKUs, a
  per-store taste and size, weekends busier), deliveries into the backroom (each SKU on its own
  cycle, sized to what it sells, with lots for food), restocks to the floor of what sold the day
  before, a return or two, shrink with the evidence a gateway attaches (a door read or a weight
  event), and cycle counts of a few SKUs after closing.

How the books are made true: balances, lots, SKU heads and sellable figures are computed in the
generator from the very movements it writes, SKU by SKU, with the ledger's own pure core
(`cloud.db.ledger.replay`, the definition of a book). The cloud's rebuild
(`shelfsync cloud verify`, `reads.rebuild_mismatches`) reads every movement as an ORM object,
which for 6 million movements is hours and gigabytes; so it is run on a random sample of
(store, SKU) keys read back from the database (`verify_sample`), which must find no difference.

How it is made fast: every table goes in by COPY (asyncpg), the next store is generated in a
thread while the previous one is copied, and the movements' secondary indexes and unique
constraint are dropped during the load and created again afterwards from their own definitions
(as pg_indexes and pg_constraint give them, so whatever the migrations made is what comes back).

How it is cached: the database is named after a digest of the parameters and the generator's
VERSION (`shelfsync_bench_console_<digest>`), and a small table `bench_chain` in it records what
has been done (loaded, furnished through the API, today's sales added). A run that finds a
complete database reuses it; one that died halfway is dropped and made again.

Today: the history covers the D local days before today. The console's figures of the day (units
sold, shrink) need sales today, so each run adds today's sales, once a day, through the ledger's
write path (`posting.apply_batches`, as ingest applies a gateway's batch).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import sys
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from cloud.db import engines, ledger, posting
from firmware_sim.world import make_gtin14

VERSION = 1  # of the generator: a change to what it makes changes every cached database's name
GATEWAY = "gw-1"
COMPANY_PREFIX = "6970123"
MARKER = "bench_chain"

# category: (share, unit cost range CNY, shelf life days (0: not lot-tracked), brands, lines, sizes)
CATEGORIES: dict[str, tuple[float, tuple[float, float], int, tuple[str, ...], tuple[str, ...],
                            tuple[str, ...]]] = {
    "dry-food": (0.22, (60.0, 300.0), 450, ("Royal Canin", "Orijen", "Acana", "Purina Pro Plan", "Myfoodie"),
                 ("Indoor", "Kitten", "Adult", "Senior", "Sterilised", "Puppy"), ("1.5 kg", "2 kg", "4 kg", "10 kg")),
    "wet-food": (0.20, (4.0, 18.0), 540, ("Whiskas", "Sheba", "Ziwi Peak", "Applaws", "Cesar"),
                 ("Tuna", "Chicken", "Beef", "Salmon", "Lamb"), ("85 g", "100 g", "156 g", "400 g")),
    "treats": (0.15, (8.0, 45.0), 150, ("Greenies", "Temptations", "Dreamies", "Wanpy"),
               ("Dental", "Crunchy", "Freeze-dried", "Jerky"), ("60 g", "130 g", "180 g")),
    "chilled": (0.05, (18.0, 60.0), 30, ("Fresh Paws", "Bixbi"), ("Chicken", "Duck", "Beef"), ("300 g", "600 g")),
    "litter": (0.10, (25.0, 80.0), 0, ("Ever Clean", "Pidan", "Cature"), ("Clumping", "Tofu", "Mixed"),
               ("6 L", "10 L", "6 kg")),
    "health": (0.06, (30.0, 200.0), 540, ("Virbac", "Frontline", "Nutri-Vet"), ("Probiotic", "Vitamin", "Flea"),
               ("30 ct", "60 ct", "3 pk")),
    "toys": (0.14, (10.0, 120.0), 0, ("Kong", "Petstages", "Catit"), ("Ball", "Rope", "Wand", "Tunnel"),
             ("S", "M", "L")),
    "accessories": (0.08, (15.0, 150.0), 0, ("Hunter", "Ferplast", "Petkit"), ("Bowl", "Leash", "Carrier", "Bed"),
                    ("S", "M", "L")),
}
REGIONS = (("sh", "Shanghai", (31.23, 121.47)), ("hz", "Hangzhou", (30.27, 120.15)),
           ("sz", "Suzhou", (31.30, 120.62)), ("nj", "Nanjing", (32.06, 118.80)),
           ("bj", "Beijing", (39.90, 116.40)))
DISTRICTS = ("Jing'an", "Xuhui", "Pudong", "Minhang", "Changning", "Putuo", "Hongkou", "Yangpu", "Baoshan",
             "Songjiang", "Gubei", "Lujiazui", "Wujiaochang", "Zhongshan Park", "Xintiandi")
CHANNELS = (("taobao", "taobao"), ("jd", "jd"), ("pdd", "pdd"), ("douyin", "douyin"), ("wechat-mp", "wechat"))
OPEN_AT, CLOSE_AT = time(9, 0), time(21, 0)


@dataclass(frozen=True)
class Params:
    stores: int = 200
    skus: int = 2000
    days: int = 90
    sales_per_day: float = 150.0  # till lines per store and day, on average
    seed: int = 1
    timezone: str = "Asia/Shanghai"  # the console's "today" (its --timezone)

    def digest(self) -> str:
        blob = json.dumps({**asdict(self), "v": VERSION}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def database(self) -> str:
        return f"shelfsync_bench_console_{self.digest()}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def store_ids(self) -> list[str]:
        per = math.ceil(self.stores / len(REGIONS))
        return [f"{REGIONS[i // per][0]}-{i % per + 1:04d}" for i in range(self.stores)]


@dataclass(frozen=True)
class Catalogue:
    skus: list[str]
    names: list[str]
    categories: list[str]
    costs: np.ndarray  # CNY
    shelf_life: np.ndarray  # days; 0: no lots
    weight: np.ndarray  # popularity, sums to 1
    grams: np.ndarray  # a unit's weight on a scale


def catalogue(p: Params) -> Catalogue:
    rng = np.random.default_rng([p.seed, 0])
    cats = list(CATEGORIES)
    shares = np.array([CATEGORIES[c][0] for c in cats])
    cat_of = rng.choice(len(cats), p.skus, p=shares / shares.sum())
    names, categories = [], []
    costs = np.zeros(p.skus)
    life = np.zeros(p.skus, dtype=np.int64)
    for i, c in enumerate(cat_of):
        name = cats[c]
        _, (lo, hi), shelf_life, brands, lines, sizes = CATEGORIES[name]
        names.append(f"{brands[i % len(brands)]} {lines[(i // len(brands)) % len(lines)]} "
                     f"{sizes[(i // 7) % len(sizes)]} #{i + 1}")
        categories.append(name)
        costs[i] = round(float(rng.uniform(lo, hi)), 2)
        life[i] = shelf_life
    ranks = rng.permutation(p.skus)
    weight = 1.0 / (ranks + 8.0) ** 0.9
    return Catalogue([make_gtin14(COMPANY_PREFIX, i) for i in range(p.skus)], names, categories, costs, life,
                     weight / weight.sum(), np.round(rng.uniform(80, 2500, p.skus), 1))


# --- movements ---------------------------------------------------------------------------------

COLUMNS = ("id", "store", "gateway", "seq", "sku", "kind", "qty", "zone", "from_zone", "lot", "expiry",
           "occurred_at", "source", "confidence", "bin", "ref", "evidence", "received_at")


@dataclass
class StoreRows:
    """One store's rows for every table the generator fills."""

    store: str
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    balances: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    heads: list[tuple[Any, ...]] = field(default_factory=list)
    levels: list[tuple[Any, ...]] = field(default_factory=list)
    gateway: tuple[Any, ...] = ()


def _utc(day: date, at: time, tz: ZoneInfo) -> np.datetime64:
    moment = datetime.combine(day, at, tz).astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "ms")


@dataclass
class _Columns:
    kind: list[np.ndarray] = field(default_factory=list)
    sku: list[np.ndarray] = field(default_factory=list)
    qty: list[np.ndarray] = field(default_factory=list)
    at: list[np.ndarray] = field(default_factory=list)
    extra: list[list[dict[str, Any] | None]] = field(default_factory=list)

    def add(self, kind: int, sku: np.ndarray, qty: np.ndarray, at: np.ndarray,
            extra: list[dict[str, Any] | None] | None = None) -> None:
        n = len(sku)
        if n == 0:
            return
        self.kind.append(np.full(n, kind, dtype=np.int8))
        self.sku.append(np.asarray(sku, dtype=np.int64))
        self.qty.append(np.asarray(qty, dtype=np.int64))
        self.at.append(np.asarray(at, dtype="datetime64[ms]"))
        self.extra.append(extra if extra is not None else [None] * n)


# kind codes → (kind, zone, from_zone, source)
SALE, RECEIPT, MOVE, RETURN, SHRINK, COUNT = range(6)
KINDS = {SALE: ("sale", "floor", None, "pos"), RECEIPT: ("receipt", "backroom", None, "manual"),
         MOVE: ("move", "floor", "backroom", "manual"), RETURN: ("return", "backroom", None, "pos"),
         SHRINK: ("shrink", "floor", None, "fusion"), COUNT: ("count", "floor", None, "rfid")}


def store_rows(p: Params, cat: Catalogue, index: int, first_day: date, now: datetime) -> StoreRows:
    """Every movement of one store over the history, and the books they make (ledger.replay).

    The shop is simulated per day on arrays over its SKUs (floor and backroom units): deliveries
    come when the backroom runs under a few days' sales, staff refill a shelf that is half empty,
    a till sells only what the shelf holds, counts find what is there give or take one."""
    store = p.store_ids()[index]
    rng = np.random.default_rng([p.seed, index + 1])
    tz = p.tz
    k = p.skus
    size = float(rng.lognormal(0.0, 0.3))
    taste = cat.weight * rng.lognormal(0.0, 0.5, k)
    chance = taste / taste.sum()
    units_per_day = p.sales_per_day * size * chance * 1.25  # 1.25 units per till line on average
    level = np.clip(np.ceil(units_per_day * 3), 2, 40).astype(np.int64)  # a full shelf
    cover = np.clip(np.ceil(units_per_day * 10), 4, 400).astype(np.int64)  # what a delivery brings
    cols = _Columns()

    def lot_of(sku: np.ndarray, day: date, age_days: np.ndarray | int = 0) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        ages = np.broadcast_to(age_days, sku.shape)
        for s, age in zip(sku.tolist(), ages.tolist(), strict=True):
            life = int(cat.shelf_life[s])
            out.append({"lot": f"L{day:%y%m%d}", "expiry": day + timedelta(days=life - age)} if life else None)
        return out

    everything = np.arange(k)
    backroom = cover + level
    cols.add(RECEIPT, everything, backroom.copy(), np.full(k, _utc(first_day, time(7, 0), tz)),
             lot_of(everything, first_day, (rng.random(k) * cat.shelf_life / 4).astype(np.int64)))
    cols.add(MOVE, everything, level, np.full(k, _utc(first_day, time(8, 0), tz)))
    backroom = backroom - level
    floor = level.copy()
    for d in range(p.days):
        day = first_day + timedelta(days=d)
        opens = _utc(day, OPEN_AT, tz)
        span_ms = int((datetime.combine(day, CLOSE_AT) - datetime.combine(day, OPEN_AT)).total_seconds() * 1000)
        if d > 0:  # the morning: deliveries, then the shelves refilled
            due = np.nonzero(backroom < np.ceil(units_per_day * 4))[0]
            cols.add(RECEIPT, due, cover[due], np.full(len(due), _utc(day, time(7, 30), tz)), lot_of(due, day))
            backroom[due] += cover[due]
            refill = np.minimum(level - floor, np.maximum(backroom, 0))
            due = np.nonzero((floor * 2 < level) & (refill > 0))[0]
            cols.add(MOVE, due, refill[due], np.full(len(due), _utc(day, time(8, 30), tz)))
            floor[due] += refill[due]
            backroom[due] -= refill[due]
        busy = 1.3 if day.weekday() >= 5 else 1.0
        n = int(rng.poisson(p.sales_per_day * size * busy))
        wanted = rng.choice(k, n, p=chance)
        qty = rng.choice([1, 2, 3], n, p=[0.8, 0.15, 0.05])
        at = opens + np.sort(rng.integers(0, span_ms, n)).astype("timedelta64[ms]")
        # a till sells only what the shelf holds: each SKU's lines in time order, while they fit
        order = np.lexsort((np.arange(n), wanted))
        cum = np.cumsum(qty[order])
        first = np.searchsorted(wanted[order], wanted[order], side="left")
        before = np.concatenate(([0], cum))[first]
        fits = np.zeros(n, dtype=bool)
        fits[order] = cum - before <= floor[wanted[order]]
        sold, qty, at = wanted[fits], qty[fits], at[fits]
        cols.add(SALE, sold, -qty, at, [{"txn": f"T{day:%m%d}{i:05d}"} for i in range(len(sold))])
        floor -= np.bincount(sold, weights=qty, minlength=k).astype(np.int64)
        if len(sold):
            back = rng.choice(sold, min(len(sold), int(rng.poisson(1.0))))
            cols.add(RETURN, back, np.ones(len(back), dtype=np.int64),
                     opens + rng.integers(3_600_000, span_ms, len(back)).astype("timedelta64[ms]"))
            np.add.at(backroom, back, 1)
        stolen = np.unique(rng.choice(k, int(rng.poisson(2.0)), p=chance))
        stolen = stolen[floor[stolen] > 0]
        when = opens + rng.integers(0, span_ms, len(stolen)).astype("timedelta64[ms]")
        cols.add(SHRINK, stolen, -np.ones(len(stolen), dtype=np.int64), when,
                 [_shrink_evidence(rng, int(s), w, j) for j, (s, w) in enumerate(zip(stolen, when, strict=True))])
        floor[stolen] -= 1
        counted = rng.choice(k, min(k, 15), replace=False)
        found = np.maximum(0, floor[counted] + rng.choice([-1, 0, 1], len(counted), p=[0.05, 0.9, 0.05]))
        cols.add(COUNT, counted, found, np.full(len(counted), _utc(day, time(21, 30), tz)))
        floor[counted] = found
    return _rows(p, cat, store, cols, now)


def _shrink_evidence(rng: np.random.Generator, sku: int, at: np.datetime64, j: int) -> dict[str, Any]:
    moment = at.astype("datetime64[ms]").item().replace(tzinfo=UTC)
    bin_id = f"A{sku % 6 + 1}-{sku % 8 + 1}"
    if j % 2 == 0:  # a unit read leaving by the door antenna that no sale paid for
        epc = f"3034{rng.integers(0, 2 ** 63):016X}{sku:08X}"[:24]
        return {"evidence": {"exit_epc": epc, "exit_at": _ts(moment + timedelta(seconds=40)), "bin": bin_id},
                "bin": bin_id, "source": "rfid"}
    return {"evidence": {"bin": bin_id, "delta": -1, "pick_at": _ts(moment - timedelta(minutes=25))},
            "bin": bin_id, "source": "weight"}


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rows(p: Params, cat: Catalogue, store: str, cols: _Columns, now: datetime) -> StoreRows:
    kind = np.concatenate(cols.kind)
    sku = np.concatenate(cols.sku)
    qty = np.concatenate(cols.qty)
    at = np.concatenate(cols.at)
    extra = [x for part in cols.extra for x in part]
    order = np.lexsort((np.arange(len(at)), at))
    moments = at[order].tolist()  # datetime64[ms] → naive UTC datetimes
    out = StoreRows(store)
    moves: dict[int, list[ledger.Move]] = defaultdict(list)
    seq = 0
    for i, occurred in zip(order.tolist(), moments, strict=True):
        seq += 1
        code = int(kind[i])
        kind_name, zone, from_zone, source = KINDS[code]
        s = int(sku[i])
        n = int(qty[i])
        more = extra[i] or {}
        lot = more.get("lot", ledger.NO_LOT)
        expiry = more.get("expiry")
        evidence = more.get("evidence")
        ref = f"{more['txn']}/1" if "txn" in more else None
        mid = str(uuid.uuid4())
        out.movements.append((mid, store, GATEWAY, seq, cat.skus[s], kind_name, n, zone, from_zone, lot, expiry,
                              occurred, more.get("source", source), 0.9 if code == SHRINK else 1.0,
                              more.get("bin"), ref, json.dumps(evidence) if evidence else None,
                              occurred + timedelta(seconds=2)))
        moves[s].append(ledger.Move(mid, kind_name, n, zone, occurred.replace(tzinfo=UTC), lot, expiry,
                                    from_zone))
    today = now.date()
    for s, history in moves.items():
        book = ledger.replay(history)
        gtin = cat.skus[s]
        out.balances += [(store, gtin, z, lot, q, book.expiry.get(lot)) for (z, lot), q in book.qty.items()]
        out.lots += [(store, gtin, lot, e) for lot, e in book.expiry.items()]
        head = max(history, key=lambda m: m.order)
        out.heads.append((store, gtin, 1, head.occurred_at.replace(tzinfo=None), head.id, len(history)))
        out.levels.append((store, gtin, ledger.sellable(book, today), 0))
    last = out.movements[-1][-1]
    out.gateway = (store, GATEWAY, "online", now.replace(tzinfo=None), last, seq, seq)
    return out


# --- the database ----------------------------------------------------------------------------

def say(message: str) -> None:
    print(f"bench console: {message}", file=sys.stderr, flush=True)


def database_url(admin: str, name: str) -> str:
    return f"{admin.rsplit('/', 1)[0]}/{name}"


async def marks(url: str) -> dict[str, str]:
    """What has been done to a cached chain ({} when there is no such database or no marker)."""
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return {}
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER):
            return {}
        return {r["key"]: r["value"] for r in await conn.fetch(f"SELECT key, value FROM {MARKER}")}
    finally:
        await conn.close()


async def mark(url: str, key: str, value: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"INSERT INTO {MARKER} (key, value) VALUES ($1, $2) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
    finally:
        await conn.close()


async def drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _without_indexes(conn: asyncpg.Connection, table: str) -> list[str]:
    """Drop a table's secondary indexes and unique constraints; return the statements that make
    them again exactly as they were."""
    again: list[str] = []
    for r in await conn.fetch("SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
                              "WHERE conrelid = $1::regclass AND contype = 'u'", table):
        await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{r["conname"]}"')
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{r["conname"]}" {r["def"]}')
    for r in await conn.fetch("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = $1 "
                              "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                              table):
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        again.append(r["indexdef"])
    return again


async def load(url: str, p: Params, now: datetime) -> dict[str, int]:
    """Fill a migrated, empty database with the chain's history; the books from ledger.replay."""
    cat = catalogue(p)
    today_local = now.astimezone(p.tz).date()
    first_day = today_local - timedelta(days=p.days)
    conn = await asyncpg.connect(url)
    counts: dict[str, int] = defaultdict(int)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        again = await _without_indexes(conn, "movements")
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(None, store_rows, p, cat, 0, first_day, now)
        for index in range(p.stores):
            rows = await pending
            if index + 1 < p.stores:  # the next store is drawn while this one is copied
                pending = loop.run_in_executor(None, store_rows, p, cat, index + 1, first_day, now)
            await conn.copy_records_to_table("movements", records=rows.movements, columns=list(COLUMNS))
            await conn.copy_records_to_table("balances", records=rows.balances,
                                             columns=["store", "sku", "zone", "lot", "qty", "expiry"])
            await conn.copy_records_to_table("lots", records=rows.lots, columns=["store", "sku", "lot", "expiry"])
            await conn.copy_records_to_table("sku_heads", records=rows.heads, columns=[
                "store", "sku", "version", "head_at", "head_id", "since_checkpoint"])
            await conn.copy_records_to_table("stock_levels", records=rows.levels,
                                             columns=["store", "sku", "sellable", "reserved"])
            await conn.copy_records_to_table("gateways", records=[rows.gateway], columns=[
                "store", "gateway", "state", "status_at", "last_batch_at", "max_seq", "deltas"])
            for name in ("movements", "balances", "lots"):
                counts[name] += len(getattr(rows, name))
            if (index + 1) % 10 == 0 or index + 1 == p.stores:
                say(f"generated {index + 1}/{p.stores} stores, {counts['movements']:,} movements, "
                    f"{counts['balances']:,} balance rows")
        say(f"indexing {counts['movements']:,} movements ({len(again)} indexes and constraints)")
        for statement in again:
            await conn.execute(statement)
        say("vacuum and analyze")
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute(f"CREATE TABLE {MARKER} (key text PRIMARY KEY, value text NOT NULL)")
        await conn.execute(f"INSERT INTO {MARKER} VALUES ('params', $1), ('loaded', $2)",
                           json.dumps(asdict(p), sort_keys=True), now.isoformat())
    finally:
        await conn.close()
    return dict(counts)


async def verify_sample(url: str, p: Params, keys: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """The cloud's rebuild on a random sample of (store, SKU): each sampled book replayed from the
    movements read back from the database (posting.move_of, ledger.replay: what
    reads.rebuild_mismatches does for every key) must equal the stored balances; the differences."""
    from sqlalchemy import select, tuple_

    from cloud.db.models import Balance, Movement

    cat = catalogue(p)
    rng = random.Random(seed)
    stores = p.store_ids()
    sample = sorted({(rng.choice(stores), rng.choice(cat.skus)) for _ in range(keys)})
    engine = engines.make_engine(url)
    try:
        async with engines.sessionmaker(engine)() as session:
            history = (await session.scalars(select(Movement).where(
                tuple_(Movement.store, Movement.sku).in_(sample)))).all()
            cached = (await session.scalars(select(Balance).where(
                tuple_(Balance.store, Balance.sku).in_(sample)))).all()
    finally:
        await engine.dispose()
    moves: dict[tuple[str, str], list[ledger.Move]] = defaultdict(list)
    for m in history:
        moves[(m.store, m.sku)].append(posting.move_of(m))
    stored: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(dict)
    for b in cached:
        stored[(b.store, b.sku)][(b.zone, b.lot)] = b.qty
    out = []
    for key in sample:
        rebuilt = ledger.replay(moves.get(key, [])).qty
        if rebuilt != stored.get(key, {}):
            out.append({"store": key[0], "sku": key[1], "rebuilt": str(rebuilt), "stored": str(stored.get(key))})
    return out


# --- through the API: the chain's settings, orders and transfers --------------------------------

Call = Callable[[str, str, Any], Awaitable[tuple[int, Any]]]


async def _in_parallel(jobs: Iterable[Awaitable[Any]], width: int = 8) -> list[Any]:
    gate = asyncio.Semaphore(width)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


async def furnish(call: Call, url: str, p: Params, orders: int = 600, transfers: int = 60) -> dict[str, int]:
    """Stores, products, channels and listings through the API (so the audit has them too),
    platform push records as the sync driver writes them, then open orders and transfers."""
    cat = catalogue(p)
    stores = p.store_ids()
    per = math.ceil(p.stores / len(REGIONS))
    rng = random.Random(p.seed)

    def store_body(i: int) -> dict[str, Any]:
        _, city, (lat, lon) = REGIONS[i // per]
        return {"name": f"{city} {DISTRICTS[i % len(DISTRICTS)]} {i % per + 1}",
                "lat": round(lat + rng.uniform(-0.2, 0.2), 4), "lon": round(lon + rng.uniform(-0.2, 0.2), 4)}

    async def put(path: str, body: Any) -> None:
        status, answer = await call("PUT", path, body)
        if status not in (200, 201):
            raise RuntimeError(f"PUT {path}: {status} {answer}")

    await _in_parallel(put(f"/v1/stores/{s}", store_body(i)) for i, s in enumerate(stores))
    say(f"{len(stores)} stores registered")
    await _in_parallel(put(f"/v1/products/{sku}", {
        "name": cat.names[i], "category": cat.categories[i], "unit_cost": float(cat.costs[i]),
        "min_stock": 2}) for i, sku in enumerate(cat.skus))
    say(f"{len(cat.skus)} products in the catalogue")
    for name, platform in CHANNELS:
        await put(f"/v1/channels/{name}", {
            "platform": platform, "safety": 1, "share_pct": 80, "min_qty": 0, "max_qty": 200,
            "split": name == "jd", "hold_s": 30 * 86400,
            "stores": [{"store": s, "ship": True, "pickup": i % 3 == 0} for i, s in enumerate(stores)]})
        listings = [{"channel_sku": f"{name[:2].upper()}{i:06d}", "item_id": f"{name[:2].upper()}I{i // 4:05d}",
                     "sku": sku} for i, sku in enumerate(cat.skus)]
        for i in range(0, len(listings), 5000):
            await put(f"/v1/channels/{name}/listings", {"listings": listings[i:i + 5000]})
    say(f"{len(CHANNELS)} channels, {len(CHANNELS) * len(cat.skus):,} listings")
    pushes = await _push_records(url, p, cat)
    placed = await _orders(call, p, cat, orders, rng)
    moved = await _transfers(call, stores, cat, transfers, rng)
    return {"pushes": pushes, "orders": placed, "transfers": moved}


async def _push_records(url: str, p: Params, cat: Catalogue) -> int:
    """The last day of platform pushes, as the sync driver's PushLog writes them (channels/records.py):
    one per listing and hour for the busiest tenth, one for the rest, 2 % failed with the platform's error."""
    rng = np.random.default_rng([p.seed, 99])
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for name, _ in CHANNELS:
        for i, sku in enumerate(cat.skus):
            times = 24 if cat.weight[i] > np.quantile(cat.weight, 0.9) else 1
            for h in range(times):
                started = now - timedelta(hours=h, seconds=float(rng.uniform(0, 3600)))
                failed = rng.random() < 0.02
                rows.append((name, sku, f"{name[:2].upper()}I{i // 4:05d}", f"{name[:2].upper()}{i:06d}",
                             int(rng.integers(0, 200)), None, f"{name}:{sku}:{h}:{rng.integers(1 << 30)}",
                             "event" if h else "reconcile", "failed" if failed else "ok", 5 if failed else 1,
                             "isv.item-not-exist: the item is not on sale" if failed else None,
                             started, started + timedelta(milliseconds=float(rng.uniform(40, 400)))))
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("platform_pushes", records=rows, columns=[
            "channel", "sku", "item_id", "sku_id", "qty", "previous", "key", "reason", "result", "attempts",
            "error", "started_at", "finished_at"])
    finally:
        await conn.close()
    say(f"{len(rows):,} platform push records")
    return len(rows)


async def _orders(call: Call, p: Params, cat: Catalogue, n: int, rng: random.Random) -> int:
    skus = [cat.skus[i] for i in np.argsort(-cat.weight)[:200].tolist()]

    async def one(i: int) -> int:
        name = CHANNELS[i % len(CHANNELS)][0]
        lat, lon = REGIONS[i % len(REGIONS)][2]
        status, _ = await call("POST", "/v1/orders", {
            "channel": name, "order_id": f"B{i:06d}",
            "lines": [{"sku": rng.choice(skus), "qty": 1}],
            "fulfilment": {"type": "ship", "address": {"lat": lat, "lon": lon}}})
        return status

    statuses = await _in_parallel(one(i) for i in range(n))
    placed = sum(1 for s in statuses if s in (200, 201))
    say(f"{placed} open orders placed")
    return placed


async def _transfers(call: Call, stores: Sequence[str], cat: Catalogue, n: int, rng: random.Random) -> int:
    made = 0
    for i in range(n):
        a, b = rng.sample(list(stores), 2)
        status, body = await call("POST", "/v1/transfers", {
            "from": a, "to": b, "lines": [{"sku": cat.skus[rng.randrange(len(cat.skus) // 10)], "qty": 1}]})
        if status in (200, 201):
            made += 1
            if i % 3 == 1:
                await call("POST", f"/v1/transfers/{body['id']}/receive", {})
            elif i % 7 == 2:
                await call("POST", f"/v1/transfers/{body['id']}/cancel", {})
    say(f"{made} transfers (a third received, some cancelled)")
    return made


# --- today -------------------------------------------------------------------------------------

async def add_today(url: str, p: Params, now: datetime) -> int:
    """Today's till sales so far in every store, through the ledger's write path (one batch per
    store, as ingest applies a gateway's batch); once a day."""
    from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone

    today = now.astimezone(p.tz).date()
    cat = catalogue(p)
    engine = engines.make_engine(url)
    maker = engines.sessionmaker(engine)
    conn = await asyncpg.connect(url)
    try:
        seqs = {r["store"]: int(r["max_seq"]) for r in await conn.fetch(
            "SELECT store, max_seq FROM gateways WHERE gateway = $1", GATEWAY)}
    finally:
        await conn.close()
    opens = datetime.combine(today, OPEN_AT, p.tz)
    start = opens if now > opens + timedelta(hours=1) else datetime.combine(today, time(0, 0), p.tz)
    span = max(60.0, (now - timedelta(minutes=1) - start).total_seconds())
    share = min(1.0, span / (12 * 3600))
    added = 0
    try:
        for index, store in enumerate(p.store_ids()):
            rng = np.random.default_rng([p.seed, index + 1, today.toordinal()])
            n = max(10, int(rng.poisson(p.sales_per_day * share)))
            sold = rng.choice(len(cat.skus), n, p=cat.weight)
            offsets = np.sort(rng.uniform(0, span, n))
            seq = seqs.get(store, 0)
            deltas = tuple(StockDelta(id=str(uuid.uuid4()), seq=seq + j + 1, sku=cat.skus[int(s)], kind=Kind.SALE,
                                      qty=-1, zone=Zone.FLOOR, occurred_at=start + timedelta(seconds=float(o)),
                                      source=Source.POS, ref=f"T{today:%m%d}{j:05d}/1")
                           for j, (s, o) in enumerate(zip(sold, offsets, strict=True)))
            await posting.apply_batches(maker, [DeltaBatch(store, GATEWAY, now, deltas)])
            added += n
    finally:
        await engine.dispose()
    return added


__all__ = ["CHANNELS", "GATEWAY", "Catalogue", "Params", "add_today", "catalogue", "create", "database_url",
           "drop", "furnish", "load", "mark", "marks", "say", "store_rows", "verify_sample"]
