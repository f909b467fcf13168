"""`shelfsync bench e2e`: POS webhook → outbox → MQTT → ledger, measured on real processes.

Two phases per database, on a private Mosquitto, a cloud worker process and gateway processes:

- latency: an open-loop offered load (default 500 deltas/s) of POS transactions; for every delta,
  the time from the webhook's 200 to movements.received_at, stamped as the cloud worker starts the
  transaction that applies it; the worker's own batch-transaction time (p50/p99, reported beside)
  is what remains until the commit;
- throughput: closed-loop posters as fast as the gateways take them; sustained deltas/s from the
  first request to the moment the ledger holds every accepted delta.

The latency phase runs --rounds times, each beside a baseline at the same offered rate: the same
gateways answering `GET /healthz` (their HTTP stack and event loop, nothing stored). Reported: the
median round with the lowest and highest, the p99 as a ratio to the same round's baseline p99, and
the load average at the start and the end (tests/support/rounds.py says why).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from firmware_sim.world import catalog
from tests.support.rounds import load, said, spread
from tests.support.services import scratch_ledger

ADMIN, POS = "bench-admin-token", "bench-pos-token"
SKUS = [p.gtin for p in catalog()]


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _txn(txn: str, lines: int, i: int) -> dict[str, Any]:
    return {"txn": txn, "at": _ts(datetime.now(UTC)), "kind": "sale",
            "lines": [{"sku": SKUS[(i + k) % len(SKUS)], "qty": 1} for k in range(lines)]}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Rig:
    """Broker + one cloud worker + N gateways, as separate processes."""

    def __init__(self, workdir: Path, db: str, stores: int) -> None:
        self.workdir, self.db, self.n = workdir, db, stores
        self.started: list[procs.Proc] = []
        self.gateways: dict[str, int] = {}

    def __enter__(self) -> Rig:
        broker = procs.mosquitto(self.workdir / "broker")
        self.started.append(broker)
        mqtt = f"mqtt://127.0.0.1:{broker.env['PORT']}"
        cloud, port = procs.cloud(self.workdir, self.db, mqtt, ADMIN)
        self.started.append(cloud)
        self.cloud = f"http://127.0.0.1:{port}"
        for i in range(self.n):
            store = f"bench-{i + 1:02d}"
            gw_port = procs.free_port()
            config = procs.gateway_config(self.workdir, store, mqtt, POS, gw_port)
            self.started.append(procs.gateway(config, gw_port, f"gateway-{store}"))
            self.gateways[store] = gw_port
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.started):
            proc.stop()


async def _post(session: aiohttp.ClientSession, port: int, body: dict[str, Any]) -> int:
    async with session.post(f"http://127.0.0.1:{port}/v1/pos/transactions", json=body,
                            headers={"Authorization": f"Bearer {POS}"}) as r:
        await r.read()
        return r.status


async def _ledger_count(session: aiohttp.ClientSession, rig: Rig) -> int:
    async with session.get(f"{rig.cloud}/v1/gateways", headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        body = await r.json()
    return sum(g["deltas"] for g in body["gateways"])


async def _wait_ledger(session: aiohttp.ClientSession, rig: Rig, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _ledger_count(session, rig) >= expected:
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"ledger did not reach {expected} deltas in {timeout}s")


async def _movements(session: aiohttp.ClientSession, rig: Rig, store: str) -> list[dict[str, Any]]:
    out, since = [], 0
    while True:
        async with session.get(f"{rig.cloud}/v1/stores/{store}/movements?since={since}&limit=10000",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            body = await r.json()
        if not body["movements"]:
            return out
        out.extend(body["movements"])
        since = body["next"]


async def latency_phase(rig: Rig, rate: float, seconds: float, lines: int, tag: str = "") -> dict[str, Any]:
    stores = list(rig.gateways)
    txn_rate = rate / lines
    total = int(txn_rate * seconds)
    acked: dict[str, float] = {}
    base = await _base_count(rig)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        began = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, began + i / txn_rate - time.monotonic()))
            txn = f"L{tag}{i:07d}"  # a new txn each round: a repeated one is a duplicate
            if await _post(session, rig.gateways[stores[i % len(stores)]], _txn(txn, lines, i)) == 200:
                acked[txn] = time.time()

        await asyncio.gather(*(one(i) for i in range(total)))
        offered_s = time.monotonic() - began
        await _wait_ledger(session, rig, base + len(acked) * lines, timeout=120)
        latencies = []
        for store in stores:
            for m in await _movements(session, rig, store):
                txn = (m["ref"] or "").split("/")[0]
                if txn in acked:
                    committed = datetime.fromisoformat(m["received_at"].replace("Z", "+00:00")).timestamp()
                    latencies.append((committed - acked[txn]) * 1000)
        async with session.get(f"{rig.cloud}/healthz") as r:
            ingest = (await r.json())["ingest"]
    return {"offered_deltas_per_s": rate, "achieved_deltas_per_s": round(len(acked) * lines / offered_s, 1),
            "deltas": len(latencies), "p50_ms": round(_pct(latencies, 0.5), 1),
            "p99_ms": round(_pct(latencies, 0.99), 1), "max_ms": round(max(latencies, default=0), 1),
            "batch_transaction_ms_p50": ingest["batch_ms_p50"],
            "batch_transaction_ms_p99": ingest["batch_ms_p99"]}


async def baseline_phase(rig: Rig, rate: float, seconds: float) -> dict[str, Any]:
    """GET /healthz on the gateways at `rate`, open loop: what the machine does to a request
    that does nothing."""
    stores = list(rig.gateways)
    took: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        began = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            started = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{rig.gateways[stores[i % len(stores)]]}/healthz") as r:
                await r.read()
            took.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
    return {"p50_ms": round(_pct(took, 0.5), 1), "p99_ms": round(_pct(took, 0.99), 1)}


async def _base_count(rig: Rig) -> int:
    async with aiohttp.ClientSession() as session:
        return await _ledger_count(session, rig)


async def throughput_phase(rig: Rig, seconds: float, lines: int, concurrency: int) -> dict[str, Any]:
    stores = list(rig.gateways)
    accepted = 0
    base = await _base_count(rig)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as session:
        began = time.monotonic()
        stop_at = began + seconds
        counter = iter(range(10**9))

        async def poster(k: int) -> None:
            nonlocal accepted
            port = rig.gateways[stores[k % len(stores)]]
            while time.monotonic() < stop_at:
                i = next(counter)
                if await _post(session, port, _txn(f"X{uuid.uuid4().hex[:12]}", lines, i)) == 200:
                    accepted += lines

        await asyncio.gather(*(poster(k) for k in range(concurrency)))
        webhook_s = time.monotonic() - began
        done = await _wait_ledger(session, rig, base + accepted, timeout=300)
    return {"deltas": accepted, "webhook_deltas_per_s": round(accepted / webhook_s, 1),
            "sustained_deltas_per_s": round(accepted / (done - began), 1),
            "drain_after_load_s": round(done - began - webhook_s, 2), "lines_per_txn": lines,
            "concurrency": concurrency}


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                               "stores": args.stores, "rounds": args.rounds, "load_at_start": load()}
    for backend in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        with tempfile.TemporaryDirectory(prefix="shelfsync-bench-") as tmp, \
                scratch_ledger(backend, Path(tmp), args.pg) as url:
            with Rig(Path(tmp), url, args.stores) as rig:
                rounds = []
                for r in range(args.rounds):
                    print(f"bench e2e [{backend}]: round {r + 1}/{args.rounds}: baseline and latency at "
                          f"{args.rate:g} deltas/s for {args.seconds:g}s; load {load()['1m']}", file=sys.stderr)
                    base = asyncio.run(baseline_phase(rig, args.rate / args.lines, args.seconds))
                    lat = asyncio.run(latency_phase(rig, args.rate, args.seconds, args.lines, tag=f"r{r}-"))
                    lat["baseline"] = base
                    lat["p99_over_baseline_p99"] = round(lat["p99_ms"] / max(base["p99_ms"], 0.1), 1)
                    rounds.append(lat)
                print(f"bench e2e [{backend}]: throughput, {args.concurrency} posters", file=sys.stderr)
                throughput = asyncio.run(throughput_phase(rig, args.seconds, args.burst_lines,
                                                          args.concurrency))
            latency = {"offered_deltas_per_s": args.rate,
                       **{k: spread([x[k] for x in rounds], 1) for k in (
                           "achieved_deltas_per_s", "p50_ms", "p99_ms", "batch_transaction_ms_p99",
                           "p99_over_baseline_p99")},
                       "baseline": {"request": "GET /healthz (gateways)",
                                    "p50_ms": spread([x["baseline"]["p50_ms"] for x in rounds], 1),
                                    "p99_ms": spread([x["baseline"]["p99_ms"] for x in rounds], 1)},
                       "rounds": rounds}
            results[backend] = {"latency": latency, "throughput": throughput}
    results["load_at_end"] = load()
    return results


def main(argv: list[str], prog: str = "shelfsync bench e2e") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: shelfsync bench e2e --db both --json")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG",
                                                       "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a scratch database is created and dropped")
    parser.add_argument("--stores", type=int, default=2, help="gateways (one per simulated store)")
    parser.add_argument("--rate", type=float, default=500.0, help="offered deltas/s in the latency phase")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds (median reported)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--lines", type=int, default=2, help="lines per transaction, latency phase")
    parser.add_argument("--burst-lines", type=int, default=5, help="lines per transaction, throughput phase")
    parser.add_argument("--concurrency", type=int, default=32, help="posters in the throughput phase")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--rounds, --seconds and --rate must be positive")
    try:
        results = run(args)
    except (procs.ProcessError, TimeoutError, subprocess.CalledProcessError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{args.rounds} latency rounds; median round (lowest-highest); load average "
              f"{results['load_at_start']['1m']} at the start, {results['load_at_end']['1m']} at the end")
        for backend in ("sqlite", "postgres"):
            if backend in results:
                lat, thr = results[backend]["latency"], results[backend]["throughput"]
                print(f"{backend:>8}: {thr['sustained_deltas_per_s']:>8.0f} deltas/s sustained "
                      f"(webhook {thr['webhook_deltas_per_s']:.0f}/s); at {lat['offered_deltas_per_s']:.0f}/s "
                      f"offered: p50 {said(lat['p50_ms'], ' ms')}, p99 {said(lat['p99_ms'], ' ms')}; baseline "
                      f"{lat['baseline']['request']} p99 {said(lat['baseline']['p99_ms'], ' ms')}; "
                      f"p99 / baseline p99 {said(lat['p99_over_baseline_p99'])}")
    return 0


__all__ = ["main", "statistics"]
