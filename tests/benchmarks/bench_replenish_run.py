"""`shelfsync bench replenish_run`: one replenishment run on a ledger, and how the API answers meanwhile.

The chain: --stores stores and one warehouse × --skus SKUs, --days days of till sales (Poisson,
rates 0.05–6 a day per store and SKU, log-uniform), buying terms for every SKU from 5 suppliers.
The sales are inserted into `movements` directly in bulk (the run reads sale movements and nothing
of the books; booking 100,000 sales through the write path would take the bench minutes for no
figure), today's stock through the ledger's write path (a count per store and SKU).

Then --rounds rounds of: the run's parts timed on their own (read the chain from the database in one
transaction; plan it on the executor: forecast and policy), then a whole run through the real app
(`Replenishment.execute`: read, plan, store the suggestions), all while a probe awaits
`asyncio.sleep(0.005)` over and over on the same event loop. The probe's worst lateness in each part
is how long the API could not answer then; its worst over 5 s before the round, with nothing
running, is what the machine's other work costs anyway (on a loaded machine that is not zero).

Reported: the median round with the lowest and highest, per part, and the load average at the start
and the end. `--db postgres` uses $SHELFSYNC_TEST_PG (a scratch database made and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from cloud.db import engines, posting
from cloud.db.migrate import upgrade
from cloud.db.models import BuyingTerm, Movement, Store, Supplier
from cloud.db.replenishment import Replenishment, read_facts, suggestion_rows
from cloud.replenish.plan import plan
from firmware_sim.world import make_gtin14
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone


async def _fill(maker: Any, args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    stores = [f"s-{i:03d}" for i in range(args.stores)]
    skus = [make_gtin14("6900000", n) for n in range(1, args.skus + 1)]
    now = datetime.now(UTC)
    async with maker() as session, session.begin():
        await session.execute(insert(Store), [{"store": s, "name": s, "lat": 31 + rng.uniform(0, 0.5),
                                               "lon": 121 + rng.uniform(0, 0.5), "kind": "store"} for s in stores]
                              + [{"store": "wh", "name": "DC", "lat": 31.0, "lon": 121.0, "kind": "warehouse"}])
        await session.execute(insert(Supplier), [{"supplier": f"sup-{k}", "name": ""} for k in range(5)])
        await session.execute(insert(BuyingTerm), [
            {"supplier": f"sup-{j % 5}", "sku": sku, "lead_mean_days": float(rng.integers(2, 10)),
             "lead_sd_days": 1.0, "pack": int(rng.choice([1, 6, 12])), "minimum": 12, "unit_cost": 10.0}
            for j, sku in enumerate(skus)])
    rates = np.exp(rng.uniform(np.log(0.05), np.log(6.0), (args.stores, args.skus)))
    rows: list[dict[str, Any]] = []
    booked = 0
    for i, store in enumerate(stores):
        sold = rng.poisson(rates[i][:, None], (args.skus, args.days))
        for j, k in zip(*np.nonzero(sold), strict=True):
            at = now - timedelta(days=args.days - int(k)) + timedelta(hours=int(rng.integers(0, 12)))
            rows.append({"id": str(uuid.uuid4()), "store": store, "gateway": "gw-1", "seq": 0, "sku": skus[j],
                         "kind": "sale", "qty": -int(sold[j, k]), "zone": "floor", "from_zone": None, "lot": "",
                         "expiry": None, "occurred_at": at, "source": "pos", "confidence": 1.0, "bin": None,
                         "ref": None, "evidence": None, "received_at": at})
        async with maker() as session, session.begin():
            for start in range(0, len(rows), 2000):
                await session.execute(insert(Movement), rows[start:start + 2000])
        booked += len(rows)
        rows.clear()
        counts = tuple(StockDelta(id=str(uuid.uuid4()), seq=j + 1, sku=sku, kind=Kind.COUNT,
                                  qty=int(rng.integers(0, 3 * rates[i, j] * 7 + 2)), zone=Zone.FLOOR,
                                  occurred_at=now, source=Source.MANUAL) for j, sku in enumerate(skus))
        await posting.apply_batch(maker, DeltaBatch(store, "gw-1", now, counts))
    return booked


BASELINE_S = 5.0


async def _round(maker: Any, executor: Executor) -> dict[str, float]:
    late: list[tuple[float, float]] = []  # (when, how late) of each probe wake-up
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            a = time.perf_counter()
            await asyncio.sleep(0.005)
            b = time.perf_counter()
            late.append((b, b - a - 0.005))

    probing = asyncio.create_task(probe())
    base = time.perf_counter()
    await asyncio.sleep(BASELINE_S)  # the probe alone: how late it wakes on this machine anyway
    t0 = time.perf_counter()
    async with maker() as session:
        facts = await read_facts(session, datetime.now(UTC).date())
    t1 = time.perf_counter()
    result = await asyncio.get_running_loop().run_in_executor(executor, plan, facts)
    t2 = time.perf_counter()
    rows = suggestion_rows("bench", facts, result)
    rep = Replenishment(maker, executor)
    started = await rep.start("api", "bench")
    assert started is not None
    t3 = time.perf_counter()
    run = await rep.execute(started["id"])
    t4 = time.perf_counter()
    done.set()
    await probing
    assert run["status"] == "done", run

    def worst(a: float, b: float) -> float:
        return 1000 * max((x for t, x in late if a <= t <= b + 0.01), default=0.0)

    return {"read_s": t1 - t0, "plan_s": t2 - t1, "run_s": t4 - t3, "suggestions": float(len(rows)),
            "series": float(len(result.series)), "loop_late_idle_ms": worst(base, t0),
            "loop_late_read_ms": worst(t0, t1),
            "loop_late_plan_ms": worst(t1, t2), "loop_late_run_ms": worst(t3, t4),
            "loop_late_run_p99_ms": 1000 * float(np.percentile([x for t, x in late if t3 <= t <= t4], 99))}


async def _bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    engine = engines.make_engine(url)
    maker = engines.sessionmaker(engine)
    try:
        load0 = os.getloadavg()
        t = time.perf_counter()
        movements = await _fill(maker, args)
        print(f"chain: {movements:,} sale movements in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        rounds = []
        pool: Executor = ThreadPoolExecutor(1, thread_name_prefix="replenish") if args.executor == "thread" \
            else ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        with pool as executor:
            for r in range(args.rounds):
                rounds.append(await _round(maker, executor))
                print(f"round {r + 1}: {json.dumps({k: round(v, 3) for k, v in rounds[-1].items()})}",
                      file=sys.stderr)
        out: dict[str, Any] = {"stores": args.stores, "warehouses": 1, "skus": args.skus, "days": args.days,
                               "sale_movements": movements, "db": args.db, "executor": args.executor,
                               "load_start": [round(x, 2) for x in load0],
                               "load_end": [round(x, 2) for x in os.getloadavg()]}
        for key in rounds[0]:
            values = sorted(x[key] for x in rounds)
            out[key] = {"median": round(statistics.median(values), 3), "min": round(values[0], 3),
                        "max": round(values[-1], 3)}
        return out
    finally:
        await engine.dispose()


def main(argv: list[str], prog: str = "shelfsync bench replenish_run") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--skus", type=int, default=200)
    ap.add_argument("--days", type=int, default=182)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--executor", choices=["thread", "process"], default="thread",
                    help="where the planning runs (the cloud worker: a thread)")
    args = ap.parse_args(argv)
    if args.stores < 1 or args.skus < 1 or args.days < 28 or args.rounds < 1:
        ap.error("need --stores >= 1, --skus >= 1, --days >= 28, --rounds >= 1")
    if args.db == "postgres":
        from tests.support.services import postgres_database

        with postgres_database() as url:
            res = asyncio.run(_bench(args, url))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            res = asyncio.run(_bench(args, f"sqlite:///{Path(tmp) / 'ledger.db'}"))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
