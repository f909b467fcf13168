"""`shelfsync bench orders`: POST /v1/orders under contention, on SQLite and PostgreSQL.

A real `shelfsync cloud` process (API only) over a scratch database; 3 stores, 20 SKUs, 80 % of the
buyers after 5 hot SKUs, so reservations race on the same stock rows. Two phases per database:

- throughput: closed-loop buyers (default 32 at once) for --seconds; accepted orders/s and the
  latency percentiles of every POST;
- latency: an open-loop offered load (default 500 orders/s) for --seconds; p50/p99 of each POST
  and the accepted rate actually achieved.

Then the ledger is checked: no (store, sku) reserved beyond its stock, and reservations equal the
stock levels' held figures. Stock is plentiful (100,000 units per SKU and store), so nearly every
order is accepted; the contention is on rows, not on running out (tests/orders/test_double11.py
covers running out). The machine is shared: compare figures taken in the same command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim import procs
from firmware_sim.world import make_gtin14
from tests.support.services import scratch_ledger

ADMIN = "bench-admin-token"
STORES = {"sh-1": (31.23, 121.47), "sh-2": (31.30, 121.50), "hz-1": (30.27, 120.15)}
CHANNELS = ["taobao", "jd", "pdd", "douyin", "wechat-mp"]
UNITS = 100_000


SKUS = [make_gtin14("6900010", i) for i in range(20)]
HOT = SKUS[:5]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else float("nan")


async def _seed(db: str) -> None:
    """Stock through the ledger's own write path (as counts from a stocktake)."""
    from cloud.db import repo
    from edge.contract import DeltaBatch, Kind, Source, StockDelta, Zone

    engine = repo.make_engine(db)
    maker = repo.sessionmaker(engine)
    now = datetime.now(UTC)
    for store in STORES:
        deltas = tuple(StockDelta(id=str(uuid.uuid4()), seq=i + 1, sku=sku, kind=Kind.COUNT, qty=UNITS,
                                  zone=Zone.BACKROOM, occurred_at=now, source=Source.MANUAL)
                       for i, sku in enumerate(SKUS))
        await repo.apply_batch(maker, DeltaBatch(store, "gw-seed", now, deltas))
    await engine.dispose()


class Buyer:
    def __init__(self, session: aiohttp.ClientSession, url: str, seed: int) -> None:
        self.session, self.url = session, url
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.status: dict[int, int] = {}

    def body(self) -> dict[str, Any]:
        rng = self.rng
        skus = [rng.choice(HOT) if rng.random() < 0.8 else rng.choice(SKUS) for _ in range(rng.randint(1, 2))]
        lat, lon = rng.choice(list(STORES.values()))
        return {"channel": rng.choice(CHANNELS), "order_id": uuid.uuid4().hex,
                "lines": [{"sku": s, "qty": rng.randint(1, 2)} for s in dict.fromkeys(skus)],
                "fulfilment": {"type": "ship", "address": {"lat": lat, "lon": lon}}}

    async def order(self) -> None:
        started = time.perf_counter()
        async with self.session.post(self.url + "/v1/orders", json=self.body(),
                                     headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            await r.read()
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.status[r.status] = self.status.get(r.status, 0) + 1


async def throughput(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        buyers = [Buyer(session, url, i) for i in range(concurrency)]
        deadline = time.perf_counter() + seconds
        began = time.perf_counter()

        async def loop(b: Buyer) -> None:
            while time.perf_counter() < deadline:
                await b.order()

        await asyncio.gather(*(loop(b) for b in buyers))
        took = time.perf_counter() - began
    return _figures(buyers, took, {"concurrency": concurrency})


async def latency(url: str, seconds: float, rate: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        buyer = Buyer(session, url, 99)
        tasks = []
        began = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):  # open loop: the schedule does not wait for answers
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(buyer.order()))
        await asyncio.gather(*tasks)
        took = time.perf_counter() - began
    return _figures([buyer], took, {"offered_orders_per_s": rate})


def _figures(buyers: list[Buyer], took: float, extra: dict[str, Any]) -> dict[str, Any]:
    lat = [x for b in buyers for x in b.latencies]
    status: dict[int, int] = {}
    for b in buyers:
        for k, v in b.status.items():
            status[k] = status.get(k, 0) + v
    accepted = status.get(201, 0)
    return {**extra, "orders": len(lat), "accepted": accepted, "status": {str(k): v for k, v in status.items()},
            "accepted_per_s": round(accepted / took, 1), "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None}


async def _check(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        over = 0
        for store in STORES:
            async with session.get(f"{url}/v1/stores/{store}/stock",
                                   headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                for item in (await r.json())["items"]:
                    over += item["reserved"] > item["on_hand"]
    return {"skus_reserved_beyond_stock": over}


async def _configure(url: str) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as s:
        for store, (lat, lon) in STORES.items():
            async with s.put(f"{url}/v1/stores/{store}", json={"name": store, "lat": lat, "lon": lon}) as r:
                assert r.status == 200, await r.text()
        for i, ch in enumerate(CHANNELS):
            async with s.put(f"{url}/v1/channels/{ch}", json={
                    "platform": "none", "split": i % 2 == 0, "hold_s": 3600,
                    "stores": [{"store": st, "ship": True} for st in STORES]}) as r:
                assert r.status == 200, await r.text()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(pids: list[int], phase: Any) -> dict[str, Any]:
    """Run a phase and add the cloud workers' CPU per order: robust on a shared machine, where
    wall-clock rates move with whatever else runs."""
    before = sum(_cpu_s(p) for p in pids)
    result: dict[str, Any] = asyncio.run(phase)
    used = sum(_cpu_s(p) for p in pids) - before
    result["server_cpu_ms_per_order"] = round(used * 1000 / max(1, result["orders"]), 3)
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    for backend in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        with tempfile.TemporaryDirectory(prefix="shelfsync-bench-") as tmp, \
                scratch_ledger(backend, Path(tmp), args.pg) as url:
            work = Path(tmp)
            workers: list[procs.Proc] = []
            try:
                proc, port = procs.cloud(work, url, "none", ADMIN, reuse_port=args.workers > 1)
                workers.append(proc)
                for n in range(2, args.workers + 1):  # more workers on the same port (SO_REUSEPORT)
                    more, _ = procs.cloud(work, url, "none", ADMIN, port=port, worker=f"w{n}", migrate=False,
                                          reuse_port=True)
                    workers.append(more)
                api = f"http://127.0.0.1:{port}"
                asyncio.run(_seed(url))
                asyncio.run(_configure(api))
                print(f"bench orders [{backend}]: throughput, {args.concurrency} buyers, {args.seconds:g}s",
                      file=sys.stderr)
                pids = [w.popen.pid for w in workers if w.popen is not None]
                thr = _measured(pids, throughput(api, args.seconds, args.concurrency))
                print(f"bench orders [{backend}]: latency at {args.rate:g} orders/s, {args.seconds:g}s",
                      file=sys.stderr)
                lat = _measured(pids, latency(api, args.seconds, args.rate))
                results[backend] = {"workers": args.workers, "throughput": thr, "latency": lat,
                                    **asyncio.run(_check(api))}
            finally:
                for w in workers:
                    w.stop()
    return results


def main(argv: list[str], prog: str = "shelfsync bench orders") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: shelfsync bench orders --db postgres --json")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG",
                                                       "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a scratch database is created and dropped")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop buyers")
    parser.add_argument("--rate", type=float, default=500.0, help="offered orders/s in the latency phase")
    parser.add_argument("--workers", type=int, default=1,
                        help="cloud worker processes sharing the port (SO_REUSEPORT), as on a multi-core host")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        results = run(args)
    except (procs.ProcessError, TimeoutError, subprocess.CalledProcessError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for backend in ("sqlite", "postgres"):
            if backend in results:
                t, lat = results[backend]["throughput"], results[backend]["latency"]
                print(f"{backend:>8}: {results[backend]['workers']} worker(s), "
                      f"{t['accepted_per_s']:>7.1f} accepted orders/s "
                      f"({t['concurrency']} buyers, p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, "
                      f"{t['server_cpu_ms_per_order']} ms CPU/order in the worker); "
                      f"at {lat['offered_orders_per_s']:g}/s offered: {lat['accepted_per_s']}/s accepted, "
                      f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms; "
                      f"over-reserved SKUs: {results[backend]['skus_reserved_beyond_stock']}")
    return 0
