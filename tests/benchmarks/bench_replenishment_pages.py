"""`shelfsync bench replenishment_pages`: the server time of the console's replenishment pages on a
chain-sized run.

The chain: --stores stores and one warehouse, --skus SKUs bought from 5 suppliers, one finished
run with a purchase suggestion per location × SKU, 2,000 transfer and 300 emergency suggestions,
and --orders sent purchase orders of 20 lines each, inserted directly (the pages read them; how a
run makes them is `bench replenish_run`'s). Then --rounds requests of each page by a signed-in
head-office console over HTTP, each page's server time read from its Server-Timing header (`app`:
wall time in the worker, `cpu`: the event loop thread's CPU meanwhile). Each page's first request,
where the worker compiles its templates, is made before the rounds and reported apart.

Baseline, measured in the same run: the reads the pages would make through the API's functions —
every suggestion of the run (`Replenishment.suggestions`) and every order with its lines and
receipts (`PurchaseOrders.find`) — which is what the pages read before they totalled in the
database and read only the rows they show.

Reported: p50 and p95 per page and per baseline read, and the load average at the start and the
end. `--db postgres` uses a scratch PostgreSQL database (tests/support/services.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from cloud.auth import Role
from cloud.db.models import (
    BuyingTerm,
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentRun,
    ReplenishmentSuggestion,
    Supplier,
)
from cloud.db.purchasing import PurchaseOrders
from cloud.keys import ORDERS, REPLENISHMENT
from tests.console.steering import Chain, serve, signed_in
from tests.orders.chain import gtin

RUN = "r-bench"
SUPPLIERS = [f"sup-{i}" for i in range(5)]


async def _seed(chain: Chain, stores: int, skus: int, orders: int) -> None:
    locations = [f"sh-{i}" for i in range(stores)] + ["wh"]
    items = [gtin(100 + i) for i in range(skus)]
    now = datetime.now(UTC)
    detail = json.dumps({"reorder_point": 10, "order_up_to": 30, "position": 4, "method": "AutoETS",
                         "limit": "none"})
    rows: list[dict[str, Any]] = []

    def add(**row: Any) -> None:
        rows.append({"run": RUN, "line": len(rows), "source": None, "supplier": None, "unit_cost": None,
                     "level": None, "detail": detail, **row})

    for loc in locations:
        for j, sku in enumerate(items):
            add(kind="purchase", sku=sku, location=loc, supplier=SUPPLIERS[j % 5], units=12, unit_cost=9.5)
    for i in range(2000):
        add(kind="transfer", sku=items[i % skus], location=locations[i % stores],
            source=locations[(i + 1) % stores], units=3)
    for i in range(300):
        add(kind="emergency", sku=items[i % skus], location="wh", units=5, level=1 + i % 3,
            detail=json.dumps({"stores": ["sh-1", "sh-2"], "warehouse_units": 0, "level": "store"}))
    async with chain.maker() as session, session.begin():
        await session.execute(insert(Supplier), [{"supplier": s, "name": s.upper()} for s in SUPPLIERS])
        await session.execute(insert(BuyingTerm), [
            {"supplier": SUPPLIERS[j % 5], "sku": sku, "lead_mean_days": 3, "lead_sd_days": 1, "pack": 6,
             "minimum": 12, "unit_cost": 9.5} for j, sku in enumerate(items)])
        session.add(ReplenishmentRun(id=RUN, trigger="api", status="done", started_at=now, finished_at=now,
                                     summary=json.dumps({"locations": len(locations), "skus": skus,
                                                         "purchases": len(locations) * skus, "transfers": 2000,
                                                         "emergencies": 300, "seconds": 0})))
        for start in range(0, len(rows), 500):
            await session.execute(insert(ReplenishmentSuggestion), rows[start:start + 500])
        for p in range(orders):
            await session.execute(insert(PurchaseOrder).values(
                id=f"po-{p:05d}", supplier=SUPPLIERS[p % 5], location=locations[p % len(locations)],
                status="sent", created_at=now, created_by="bench"))
            await session.execute(insert(PurchaseOrderLine), [
                {"po": f"po-{p:05d}", "line": n, "sku": items[n % skus], "qty": 12, "unit_cost": 9.5,
                 "received": 0} for n in range(20)])


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _timed(call: Callable[[], Awaitable[Any]], rounds: int) -> dict[str, float]:
    took = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await call()
        took.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(took), 1), "p95_ms": _p(took, 0.95)}


async def _bench(db: str, args: argparse.Namespace) -> dict[str, Any]:
    async with serve(db) as chain:
        await _seed(chain, args.stores, args.skus, args.orders)
        pages = ["/replenishment", f"/replenishment?supplier={SUPPLIERS[0]}", "/replenishment/orders",
                 "/replenishment/orders/po-00001", "/replenishment/buying"]
        result: dict[str, Any] = {"pages": {}, "baseline": {}}
        async with signed_in(chain, await chain.token("bench", Role.HQ)) as http:
            for path in pages:
                app, cpu = [], []
                for _ in range(1 + args.rounds):
                    async with http.get(chain.url + path) as r:
                        assert r.status == 200, (path, r.status)
                        size = len(await r.read())
                        timing = r.headers["Server-Timing"]
                    app.append(float(re.search(r"app;dur=([\d.]+)", timing).group(1)))  # type: ignore[union-attr]
                    cpu.append(float(re.search(r"cpu;dur=([\d.]+)", timing).group(1)))  # type: ignore[union-attr]
                # The worker's first request of a page compiles its templates and plans its statements
                # (as bench console's unmeasured first round does): reported apart, not in the rounds.
                (first, first_cpu), app, cpu = (app[0], cpu[0]), app[1:], cpu[1:]
                result["pages"][path] = {"app_p50_ms": round(statistics.median(app), 1), "app_p95_ms": _p(app, .95),
                                         "cpu_p50_ms": round(statistics.median(cpu), 1), "kib": size // 1024,
                                         "first_app_ms": first, "first_cpu_ms": first_cpu}
        rep = chain.app[REPLENISHMENT]
        result["baseline"]["every suggestion (Replenishment.suggestions)"] = await _timed(
            lambda: rep.suggestions(RUN), args.rounds)
        result["baseline"]["every order (PurchaseOrders.find)"] = await _timed(
            lambda: PurchaseOrders(chain.app[ORDERS]).find(), args.rounds)
        return result


@contextlib.contextmanager
def _database(kind: str) -> Iterator[str]:
    if kind == "postgres":
        from tests.support.services import postgres_database

        with postgres_database() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/ledger.db"


def main(argv: list[str], prog: str = "bench replenishment_pages") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with _database(args.db) as db:
        result = asyncio.run(_bench(db, args))
    result |= {"db": args.db, "stores": args.stores, "skus": args.skus, "orders": args.orders,
               "rounds": args.rounds, "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.db}: {args.stores} stores + wh × {args.skus} SKUs, {args.orders} orders, {args.rounds} rounds, "
          f"load {result['load_1min'][0]} → {result['load_1min'][1]}")
    for path, f in result["pages"].items():
        print(f"  {path:42} app p50 {f['app_p50_ms']:7.1f} p95 {f['app_p95_ms']:7.1f} ms · cpu p50 "
              f"{f['cpu_p50_ms']:6.1f} ms · {f['kib']} KiB · first request {f['first_app_ms']:g} ms "
              f"(cpu {f['first_cpu_ms']:g})")
    for name, f in result["baseline"].items():
        print(f"  baseline {name:42} p50 {f['p50_ms']:7.1f} p95 {f['p95_ms']:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
