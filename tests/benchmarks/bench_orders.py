"""`shelfsync bench orders`: POST /v1/orders under contention, on SQLite and PostgreSQL.

A real `shelfsync cloud` process (API only) over a scratch database; 3 stores, 20 SKUs, 80 % of the
buyers after 5 hot SKUs, so reservations race on the same stock rows. Each of --rounds rounds has
three phases of --seconds each, back to back:

- throughput: closed-loop buyers (default 32 at once); accepted orders/s and the latency
  percentiles of every POST;
- baseline: the same worker answering `GET /readyz` (the HTTP stack, the middlewares and one
  pooled `SELECT 1`) at the same open-loop rate as the next phase: what the machine's own noise
  does to a request that does almost nothing;
- latency: an open-loop offered load (default 500 orders/s); p50/p99 of each POST and the
  accepted rate actually achieved.

The buyers' own garbage collector is paused while a phase runs (its pauses were timed as the
worker's tail otherwise).

Reported per figure: the median round and the lowest and highest round, and the latency phase's
p99 as a ratio to the same round's baseline p99 (how much of the tail is the order path rather than
the machine). The load average is quoted at the start and the end. On PostgreSQL the latency
phase also samples pg_stat_activity every 10 ms: how many of the worker's sessions, on average,
wait on a row lock, on the WAL (commits), or sit idle in a transaction waiting for the worker. Then the ledger is checked: no
(store, sku) reserved beyond its stock. Stock is plentiful (100,000 units per SKU and store), so
nearly every order is accepted; the contention is on rows, not on running out
(tests/orders/test_double11.py covers running out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from firmware_sim import procs
from firmware_sim.world import make_gtin14
from tests.support.rounds import load, pct, said, spread
from tests.support.services import scratch_ledger

ADMIN = "bench-admin-token"
STORES = {"sh-1": (31.23, 121.47), "sh-2": (31.30, 121.50), "hz-1": (30.27, 120.15)}
CHANNELS = ["taobao", "jd", "pdd", "douyin", "wechat-mp"]
UNITS = 100_000


SKUS = [make_gtin14("6900010", i) for i in range(20)]
HOT = SKUS[:5]


def _pct(values: list[float], q: float) -> float:
    return round(pct(values, q), 2)


async def _seed(db: str) -> None:
    """Stock through the ledger's own write path (as counts from a stocktake)."""
    from cloud.db import engines, posting
    from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone

    engine = engines.make_engine(db)
    maker = engines.sessionmaker(engine)
    now = datetime.now(UTC)
    for store in STORES:
        deltas = tuple(StockDelta(id=str(uuid.uuid4()), seq=i + 1, sku=sku, kind=Kind.COUNT, qty=UNITS,
                                  zone=Zone.BACKROOM, occurred_at=now, source=Source.MANUAL)
                       for i, sku in enumerate(SKUS))
        await posting.apply_batch(maker, DeltaBatch(store, "gw-seed", now, deltas))
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


class Prober(Buyer):
    """The baseline: the same worker, a request that does almost nothing (readiness: one pooled
    SELECT 1), counted as an order so the figures are computed the same way."""

    async def order(self) -> None:
        started = time.perf_counter()
        async with self.session.get(self.url + "/readyz") as r:
            await r.read()
        self.latencies.append((time.perf_counter() - started) * 1000)
        status = 201 if r.status == 200 else r.status  # "accepted", like an order
        self.status[status] = self.status.get(status, 0) + 1


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


async def latency(url: str, seconds: float, rate: float, seed: int = 99, baseline: bool = False
                  ) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        buyer = (Prober if baseline else Buyer)(session, url, seed)
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


@contextlib.contextmanager
def _client_collector_paused() -> Iterator[None]:
    """This process's garbage collector off while a phase runs, and run between phases. With a few
    thousand requests in flight, its full collections stopped the buyers' event loop for 30-90 ms
    about every 10 s, and every answer that arrived meanwhile was timed late: the order path's p99
    at 500/s was this client's pauses (12 s at 500 orders/s: 103 requests over 20 ms with it on,
    none with it off). The worker's collector is the worker's (cloud/__main__.py)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _measured(pids: list[int], phase: Any) -> dict[str, Any]:
    """Run a phase and add the cloud workers' CPU per order: robust on a shared machine, where
    wall-clock rates move with whatever else runs."""
    before = sum(_cpu_s(p) for p in pids)
    with _client_collector_paused():
        result: dict[str, Any] = asyncio.run(phase)
    used = sum(_cpu_s(p) for p in pids) - before
    result["server_cpu_ms_per_order"] = round(used * 1000 / max(1, result["orders"]), 3)
    return result


_ACTIVITY = ("SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
             "WHERE datname = $1 AND pid <> pg_backend_pid() AND state <> 'idle'")


def _waiting_on(state: str, kind: str | None, event: str | None) -> str:
    if state.startswith("idle in transaction"):
        return "idle_in_transaction"  # holding its locks while the worker gets round to it
    if kind == "Lock":
        return "row_lock"
    if kind == "IO" or event in ("WALWrite", "WALSync", "WALInsert"):
        return "wal"
    return "running" if kind is None else "other"


async def _sampled(phase: Coroutine[Any, Any, dict[str, Any]], admin: str, database: str) -> dict[str, Any]:
    """Run a phase while sampling what the database's sessions wait on, every 10 ms."""
    conn = await asyncpg.connect(admin)
    counts: Counter[str] = Counter()
    samples = 0
    task = asyncio.ensure_future(phase)
    try:
        while not task.done():
            for r in await conn.fetch(_ACTIVITY, database):
                counts[_waiting_on(r["state"], r["wait_event_type"], r["wait_event"])] += 1
            samples += 1
            await asyncio.wait({task}, timeout=0.01)
    finally:
        await conn.close()
    result: dict[str, Any] = task.result()
    result["db_sessions"] = {k: round(counts[k] / max(1, samples), 3)
                             for k in ("running", "row_lock", "wal", "idle_in_transaction", "other")}
    return result


def _say(message: str) -> None:
    print(f"bench orders: {message}", file=sys.stderr, flush=True)


def rounds(api: str, pids: list[int], args: argparse.Namespace, backend: str, url: str) -> dict[str, Any]:
    """Warm up, then --rounds rounds of throughput, baseline and latency; summaries beside the
    rounds themselves."""
    asyncio.run(latency(api, 1.0, args.rate, seed=7))  # pools, caches, the first plans: not measured
    per_round: list[dict[str, Any]] = []
    for r in range(args.rounds):
        _say(f"[{backend}] round {r + 1}/{args.rounds}: throughput ({args.concurrency} buyers), "
             f"baseline and orders at {args.rate:g}/s, {args.seconds:g}s each; load {load()['1m']}")
        thr = _measured(pids, throughput(api, args.seconds, args.concurrency))
        base = _measured(pids, latency(api, args.seconds, args.rate, seed=1000 + r, baseline=True))
        phase = latency(api, args.seconds, args.rate, seed=100 + r)
        lat = _measured(pids, _sampled(phase, args.pg, url.rsplit("/", 1)[1]) if backend == "postgres" else phase)
        per_round.append({"throughput": thr, "baseline": base, "latency": lat,
                          "p99_over_baseline_p99": round(lat["p99_ms"] / max(base["p99_ms"], 0.01), 1)})
    thr_rounds = [x["throughput"] for x in per_round]
    lat_rounds = [x["latency"] for x in per_round]
    base_rounds = [x["baseline"] for x in per_round]
    return {
        "throughput": {"concurrency": args.concurrency,
                       "accepted_per_s": spread([t["accepted_per_s"] for t in thr_rounds], 1),
                       "p50_ms": spread([t["p50_ms"] for t in thr_rounds]),
                       "p99_ms": spread([t["p99_ms"] for t in thr_rounds]),
                       "server_cpu_ms_per_order": spread([t["server_cpu_ms_per_order"] for t in thr_rounds], 3)},
        "latency": {"offered_orders_per_s": args.rate,
                    "accepted_per_s": spread([t["accepted_per_s"] for t in lat_rounds], 1),
                    "p50_ms": spread([t["p50_ms"] for t in lat_rounds]),
                    "p99_ms": spread([t["p99_ms"] for t in lat_rounds]),
                    "p99_over_baseline_p99": spread([x["p99_over_baseline_p99"] for x in per_round], 1),
                    # below 95 % of the offered rate the worker fell behind: the latencies are its queue
                    "rounds_behind": sum(t["accepted_per_s"] < 0.95 * args.rate for t in lat_rounds),
                    **({"db_sessions": {k: spread([t["db_sessions"][k] for t in lat_rounds], 3)
                                        for k in lat_rounds[0]["db_sessions"]}}
                       if "db_sessions" in lat_rounds[0] else {})},
        "baseline": {"request": "GET /readyz", "offered_per_s": args.rate,
                     "p50_ms": spread([t["p50_ms"] for t in base_rounds]),
                     "p99_ms": spread([t["p99_ms"] for t in base_rounds])},
        "rounds": per_round,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                               "rounds": args.rounds, "seconds_per_phase": args.seconds,
                               "load_at_start": load()}
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
                pids = [w.popen.pid for w in workers if w.popen is not None]
                results[backend] = {"workers": args.workers, **rounds(api, pids, args, backend, url),
                                    **asyncio.run(_check(api))}
            finally:
                for w in workers:
                    w.stop()
    results["load_at_end"] = load()
    return results


def main(argv: list[str], prog: str = "shelfsync bench orders") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: shelfsync bench orders --db postgres --json")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG",
                                                       "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a scratch database is created and dropped")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three phases (median reported)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase of a round")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop buyers")
    parser.add_argument("--rate", type=float, default=500.0, help="offered orders/s in the latency phase")
    parser.add_argument("--workers", type=int, default=1,
                        help="cloud worker processes sharing the port (SO_REUSEPORT), as on a multi-core host")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--rounds, --seconds and --rate must be positive")
    try:
        results = run(args)
    except TimeoutError as e:  # aiohttp's 5-minute total: the worker fell that far behind
        print(f"{prog}: timed out: {e or 'a request had no answer within 5 minutes'}", file=sys.stderr)
        return 1
    except (procs.ProcessError, subprocess.CalledProcessError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{args.rounds} rounds of {args.seconds:g}s per phase; median round (lowest-highest); "
              f"load average {results['load_at_start']['1m']} at the start, {results['load_at_end']['1m']} at the end")
        for backend in ("sqlite", "postgres"):
            if backend in results:
                r = results[backend]
                t, lat, base = r["throughput"], r["latency"], r["baseline"]
                print(f"{backend:>8}: {r['workers']} worker(s); {said(t['accepted_per_s'])} accepted orders/s with "
                      f"{t['concurrency']} buyers (p99 {said(t['p99_ms'], ' ms')}, "
                      f"{said(t['server_cpu_ms_per_order'], ' ms')} CPU/order in the worker)")
                print(f"{'':>8}  at {lat['offered_orders_per_s']:g}/s offered: {said(lat['accepted_per_s'])}/s "
                      f"accepted, p50 {said(lat['p50_ms'], ' ms')}, p99 {said(lat['p99_ms'], ' ms')}; "
                      f"baseline {base['request']} p50 {said(base['p50_ms'], ' ms')}, "
                      f"p99 {said(base['p99_ms'], ' ms')}; p99 / baseline p99 "
                      f"{said(lat['p99_over_baseline_p99'])}; over-reserved SKUs: "
                      f"{r['skus_reserved_beyond_stock']}")
                if lat["rounds_behind"]:
                    print(f"{'':>8}  in {lat['rounds_behind']} of {args.rounds} rounds the worker could not keep up "
                          f"with {lat['offered_orders_per_s']:g}/s: those latencies are its queue")
                if "db_sessions" in lat:
                    print(f"{'':>8}  database sessions (mean per sample, median round): " + ", ".join(
                        f"{k.replace('_', ' ')} {v['median']:g}" for k, v in lat["db_sessions"].items()))
    return 0
