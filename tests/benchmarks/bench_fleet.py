"""`shelfsync bench fleet`: many store gateways against a scaled-out cloud, for minutes.

N lightweight gateways run in this one process — each a real durable Outbox (its own SQLite file,
fsync per commit) and a real Publisher (its own MQTT session) — against W cloud worker processes
on one PostgreSQL database and one Mosquitto. Each store's till appends POS sale deltas straight
into its outbox at a steady rate (the HTTP webhook is measured by `bench e2e`; leaving it out here
is what keeps 200 gateways in one process on a 2-core machine).

Reported: deltas/s into the ledger, gateway-to-ledger latency (outbox commit → the cloud's
received_at) p50/p99, outbox depth over the run, errors, and CPU (cores) and RSS per component.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from cloud.db.migrate import upgrade
from edge.delivery.outbox import Outbox
from edge.delivery.publisher import Publisher
from firmware_sim import procs
from firmware_sim.world import catalog
from shared.contract import Kind, Source, StockDelta, Zone, new_delta_id
from shared.mqtt import BrokerUrl
from tests.support.services import postgres_database

ADMIN = "bench-fleet-admin"
SKUS = [p.gtin for p in catalog()]
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    return 0.0


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Usage:
    """CPU seconds and RSS of named groups of processes, between start() and stop()."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning pids
        self.cpu0: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    def _cpu(self, name: str) -> float:
        return sum(_cpu_s(p) for p in self.groups[name]())

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {n: self._cpu(n) for n in self.groups}

    def sample_rss(self) -> None:
        for n in self.groups:
            self.rss[n] = max(self.rss.get(n, 0.0), sum(_rss_mb(p) for p in self.groups[n]()))

    def report(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        return {n: {"cores": round((self._cpu(n) - self.cpu0[n]) / wall, 3), "peak_rss_mb": round(self.rss.get(n, 0), 1)}
                for n in self.groups}


async def run(args: argparse.Namespace, work: Path, db: str) -> dict[str, Any]:
    broker = procs.mosquitto(work / "broker")
    workers: list[tuple[procs.Proc, int]] = []
    outboxes: list[Outbox] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        mqtt = BrokerUrl.parse(f"mqtt://127.0.0.1:{broker.env['PORT']}")
        await asyncio.get_running_loop().run_in_executor(None, upgrade, db)
        for w in range(args.workers):
            workers.append(procs.cloud(work, db, f"mqtt://127.0.0.1:{broker.env['PORT']}", ADMIN,
                                       worker=f"w{w + 1}", migrate=False))
        stores = [f"fleet-{i:03d}" for i in range(args.stores)]
        publishers: list[Publisher] = []
        for store in stores:
            box = Outbox(work / "gw" / f"{store}.sqlite3")
            await box.open()
            outboxes.append(box)
            pub = Publisher(box, mqtt, store, "gw-1", batch_max=500, keepalive=30, status_interval=30)
            publishers.append(pub)
            tasks.append(asyncio.create_task(pub.run()))
        print(f"bench fleet: {len(stores)} gateways, {args.workers} cloud workers; "
              f"{args.rate:g} deltas/s per store for {args.minutes:g} min", file=sys.stderr)

        appended_at: dict[str, float] = {}
        errors = 0
        stop_at = time.monotonic() + args.minutes * 60

        async def till(i: int, box: Outbox) -> None:
            nonlocal errors
            period = 1.0 / args.rate
            nxt = time.monotonic() + period * (i / len(stores))  # spread the stores over a period
            while nxt < stop_at:
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))
                nxt += period
                delta = StockDelta(id=new_delta_id(), seq=0, sku=SKUS[i % len(SKUS)], kind=Kind.SALE, qty=-1,
                                   zone=Zone.FLOOR, occurred_at=datetime.now(UTC), source=Source.POS)
                try:
                    await box.append([delta])
                    appended_at[delta.id] = time.time()
                except Exception:
                    errors += 1

        usage = Usage({
            "gateways (this process)": lambda: [os.getpid()],
            "cloud workers": lambda: [p.popen.pid for p, _ in workers if p.popen],
            "mosquitto": lambda: [broker.popen.pid] if broker.popen else [],
            "postgresql": _postgres_pids,
        })
        usage.start()
        depth_samples: list[int] = []

        async def sampler() -> None:
            last = 0.0
            while True:
                depth_samples.append(sum(b.depth for b in outboxes))
                if time.monotonic() - last > 5:
                    usage.sample_rss()
                    last = time.monotonic()
                    print(f"bench fleet: {len(appended_at)} deltas appended, outbox depth {depth_samples[-1]}",
                          file=sys.stderr)
                await asyncio.sleep(1.0)

        sampling = asyncio.create_task(sampler())
        began = time.monotonic()
        await asyncio.gather(*(till(i, b) for i, b in enumerate(outboxes)))
        load_s = time.monotonic() - began
        port = workers[0][1]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as session:
            async def in_ledger() -> int:
                async with session.get(f"http://127.0.0.1:{port}/v1/gateways") as r:
                    return sum(g["deltas"] for g in (await r.json())["gateways"])

            deadline = time.monotonic() + 300
            while await in_ledger() < len(appended_at) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            done_s = time.monotonic() - began
            usage_report = usage.report()
            sampling.cancel()
            committed = await in_ledger()
            latencies = []
            for store in stores:
                since = 0
                while True:
                    async with session.get(f"http://127.0.0.1:{port}/v1/stores/{store}/movements",
                                           params={"since": since, "limit": 10000}) as r:
                        body = await r.json()
                    for m in body["movements"]:
                        t = appended_at.get(m["id"])
                        if t is not None:
                            at = datetime.fromisoformat(m["received_at"].replace("Z", "+00:00")).timestamp()
                            latencies.append((at - t) * 1000)
                    if not body["movements"]:
                        break
                    since = body["next"]
            async with session.get(f"http://127.0.0.1:{port}/v1/dead-letters") as r:
                dead = len((await r.json())["dead_letters"])
        latencies.sort()

        def pct(q: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else -1

        return {
            "stores": len(stores), "cloud_workers": args.workers, "minutes": args.minutes,
            "offered_deltas_per_s": args.rate * len(stores),
            "appended": len(appended_at), "in_ledger": committed,
            "deltas_per_s_into_ledger": round(committed / done_s, 1),
            "load_seconds": round(load_s, 1), "drain_seconds_after_load": round(done_s - load_s, 1),
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
            "outbox_depth": {"max": max(depth_samples, default=0),
                             "median": sorted(depth_samples)[len(depth_samples) // 2] if depth_samples else 0},
            "errors": {"append": errors, "dead_letters": dead,
                       "publisher_errors_now": sum(1 for p in publishers if p.last_error)},
            "usage": usage_report,
        }
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for box in outboxes:
            await box.close()
        for proc, _ in workers:
            proc.stop()
        broker.stop()


def main(argv: list[str], prog: str = "shelfsync bench fleet") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: shelfsync bench fleet --stores 200 --minutes 10 --json")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1.0, help="deltas per second per store")
    parser.add_argument("--workers", type=int, default=2, help="cloud worker processes")
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG",
                                                       "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        try:
            db = stack.enter_context(postgres_database(args.pg, "shelfsync_fleet"))
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"{prog}: cannot create a scratch database through {args.pg}: {e}", file=sys.stderr)
            return 1
        try:
            with tempfile.TemporaryDirectory(prefix="shelfsync-fleet-") as tmp:
                result = asyncio.run(run(args, Path(tmp), db))
        except procs.ProcessError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 1
    print(json.dumps(result, indent=2) if args.json else
          f"{result['deltas_per_s_into_ledger']} deltas/s into the ledger; latency p50 {result['latency_ms']['p50']} ms, "
          f"p99 {result['latency_ms']['p99']} ms; max outbox depth {result['outbox_depth']['max']}")
    return 0
