"""`shelfsync bench sync`: from a POS sale accepted at a store gateway to every sales platform
holding the new figure, on real processes.

A private Mosquitto, a cloud worker process (`shelfsync cloud --channels FILE`) and N store gateway
processes; six platform simulators (Taobao, JD, Pinduoduo, Douyin, Shopify, the mini-program)
serve in this process over HTTP, each a channel that every store ships for, with every catalogue
SKU listed. Stock is received at every store, then an open-loop offered load of one-unit POS
sales (default 200/s, spread over the stores and SKUs) is posted to the gateways' webhook.

Latency of a sale: the r-th sale of a SKU (in order of the webhook's 200) is on a platform once the
platform holds that SKU's starting figure minus r or less (figures only fall during the run); the
sale's latency is the latest of the six platforms' times minus the webhook's 200. The simulators
stamp each change as they apply it.

The sales phase runs --rounds times (each round starts from the figures the last one left), each
beside a baseline at the same offered rate: the same gateways answering `GET /healthz`. Reported:
the median round with the lowest and highest, the p99 as a ratio to the same round's baseline p99,
and the load average at the start and the end (tests/support/rounds.py says why).

`--outage S` adds a phase: every platform is down for S seconds (503) while sales go on at a low
rate; reported is how long after the platforms return every listing holds the ledger's figure,
and whether any figure is off (lost or doubled updates would leave one off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim import procs
from firmware_sim.platforms import KINDS, api_url, serving
from firmware_sim.platforms.core import Credentials, Platform
from firmware_sim.world import catalog
from tests.support.rounds import load, said, spread
from tests.support.services import scratch_ledger

ADMIN, POS = "bench-sync-admin", "bench-sync-pos"
CREDS = Credentials("bench-app", "bench-secret", "bench-session")
SKUS = [p.gtin for p in catalog()]


def _ts() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ids(n: int) -> tuple[str, str]:
    """(item_id, sku_id) of catalogue SKU n on every platform (numeric: Douyin wants numbers)."""
    return f"{1000 + n}", f"{500000 + n}"


def say(message: str) -> None:
    print(f"bench sync: {message}", file=sys.stderr, flush=True)


class Rig:
    def __init__(self, workdir: Path, db: str, stores: int, rate: float) -> None:
        self.workdir, self.db, self.n, self.rate = workdir, db, stores, rate
        self.started: list[procs.Proc] = []
        self.gateways: dict[str, int] = {}
        self.sims = {kind: Platform(kind, CREDS, rate * 1.5) for kind in KINDS}
        self.sim_ports = {kind: procs.free_port() for kind in KINDS}

    def start(self) -> None:
        broker = procs.mosquitto(self.workdir / "broker")
        self.started.append(broker)
        mqtt = f"mqtt://127.0.0.1:{broker.env['PORT']}"
        channels = self.workdir / "channels.toml"
        channels.write_text("".join(
            f'[channel.{kind}]\nplatform = "{kind}"\nurl = "{api_url(kind, self.sim_ports[kind])}"\n'
            f'app_key = "{CREDS.app_key}"\nrate = {self.rate}\nlocation_id = "1"\nstore_id = "1"\n\n'
            for kind in KINDS))
        secrets = {f"SHELFSYNC_CHANNEL_{kind.upper()}_{field}": value for kind in KINDS
                   for field, value in (("SECRET", CREDS.secret), ("SESSION", CREDS.session))}
        port = procs.free_port()
        cloud = procs.Proc("cloud", procs.shelfsync(
            "cloud", "--db", self.db, "--mqtt", mqtt, "--port", str(port), "--worker-id", "w1",
            "--log-level", "WARNING", "--channels", str(channels)), self.workdir / "cloud.log",
            env={"SHELFSYNC_ADMIN_TOKEN": ADMIN, **secrets})
        cloud.start()
        self.started.append(cloud)
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", cloud, timeout=60)
        self.cloud = f"http://127.0.0.1:{port}"
        for i in range(self.n):
            store = f"sync-{i + 1:02d}"
            gw_port = procs.free_port()
            config = procs.gateway_config(self.workdir, store, mqtt, POS, gw_port)
            self.started.append(procs.gateway(config, gw_port, f"gateway-{store}"))
            self.gateways[store] = gw_port
            say(f"gateway {i + 1}/{self.n} up")

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop()

    def held(self, kind: str, n: int) -> int | None:
        _, sku_id = _ids(n)
        for (_, s), q in self.sims[kind].stock.items():
            if s == sku_id or s.endswith("/" + sku_id):
                return q
        return None

    def all_hold(self, figures: dict[int, int]) -> bool:
        return all(self.held(kind, n) == qty for kind in KINDS for n, qty in figures.items())


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: Any, token: str) -> Any:
    async with session.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        answer = await r.json()
        if r.status >= 300:
            raise RuntimeError(f"{method} {url}: {r.status} {answer}")
        return answer


async def _wait(check: Any, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{what} not reached in {timeout:g}s")


async def setup(rig: Rig, session: aiohttp.ClientSession, stock: int) -> dict[int, int]:
    stores = list(rig.gateways)
    for store in stores:
        await _call(session, "PUT", f"{rig.cloud}/v1/stores/{store}", {"name": store}, ADMIN)
    for kind in KINDS:
        await _call(session, "PUT", f"{rig.cloud}/v1/channels/{kind}",
                    {"platform": kind, "stores": [{"store": s, "ship": True} for s in stores]}, ADMIN)
        await _call(session, "PUT", f"{rig.cloud}/v1/channels/{kind}/listings", {"listings": [
            {"sku": sku, "item_id": _ids(n)[0], "channel_sku": _ids(n)[1]} for n, sku in enumerate(SKUS)]}, ADMIN)
    for store, port in rig.gateways.items():
        await _call(session, "POST", f"http://127.0.0.1:{port}/v1/stock/movements", {
            "ref": f"recv-{store}", "at": _ts(),
            "lines": [{"sku": sku, "kind": "receipt", "qty": stock, "zone": "floor"} for sku in SKUS]}, POS)
    figures = {n: stock * len(stores) for n in range(len(SKUS))}
    say(f"waiting for every platform to hold the received stock ({len(SKUS)} SKUs x {len(KINDS)} platforms)")
    await _wait(lambda: rig.all_hold(figures), 120, "the received stock on every platform")
    return figures


async def sales(rig: Rig, session: aiohttp.ClientSession, rate: float, seconds: float,
                rng: random.Random) -> tuple[dict[int, list[float]], float]:
    """Open-loop one-unit sales; returns each SKU's webhook-200 times and the achieved rate."""
    stores = list(rig.gateways)
    total = int(rate * seconds)
    acked: dict[int, list[float]] = defaultdict(list)
    plan = [(stores[i % len(stores)], rng.randrange(len(SKUS))) for i in range(total)]
    began = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        store, n = plan[i]
        body = {"txn": f"S{uuid.uuid4().hex[:16]}", "at": _ts(), "kind": "sale",
                "lines": [{"sku": SKUS[n], "qty": 1}]}
        async with session.post(f"http://127.0.0.1:{rig.gateways[store]}/v1/pos/transactions", json=body,
                                headers={"Authorization": f"Bearer {POS}"}) as r:
            await r.read()
            if r.status == 200:
                acked[n].append(time.time())

    progress = asyncio.create_task(_progress(acked, total, began))
    try:
        await asyncio.gather(*(one(i) for i in range(total)))
    finally:
        progress.cancel()
    return acked, sum(map(len, acked.values())) / (time.monotonic() - began)


async def _progress(acked: dict[int, list[float]], total: int, began: float) -> None:
    while True:
        await asyncio.sleep(5)
        say(f"{sum(map(len, acked.values()))}/{total} sales posted after {time.monotonic() - began:.0f}s")


def latencies(rig: Rig, start: dict[int, int], acked: dict[int, list[float]], since: float) -> list[float]:
    """Per sale, ms from its webhook 200 until the last platform held its figure (changes stamped
    at or after `since`, the start of the load, when every platform held the starting figures)."""
    out = []
    for n, times in acked.items():
        times.sort()
        _, sku_id = _ids(n)
        series = {kind: [(t, q) for t, _, s, q in rig.sims[kind].history
                         if t >= since and (s == sku_id or s.endswith("/" + sku_id))] for kind in KINDS}
        for r, acked_at in enumerate(times, start=1):
            target = start[n] - r
            arrived = []
            for kind in KINDS:
                at = next((t for t, q in series[kind] if q <= target), None)
                if at is None:
                    raise AssertionError(f"{kind} never held {target} for SKU {n}")
                arrived.append(at)
            out.append(max(0.0, max(arrived) - acked_at) * 1000)
    return out


async def baseline(rig: Rig, session: aiohttp.ClientSession, rate: float, seconds: float) -> dict[str, float]:
    """GET /healthz on the gateways at `rate`, open loop: what the machine does to a request that
    does nothing."""
    stores = list(rig.gateways)
    took: list[float] = []
    began = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        started = time.perf_counter()
        async with session.get(f"http://127.0.0.1:{rig.gateways[stores[i % len(stores)]]}/healthz") as r:
            await r.read()
        took.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
    return {"p50_ms": round(_pct(took, 0.5), 1), "p99_ms": round(_pct(took, 0.99), 1)}


async def run_async(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    async with contextlib.AsyncExitStack() as stack:
        for kind in KINDS:
            await stack.enter_async_context(serving(rig.sims[kind], rig.sim_ports[kind]))
        await asyncio.get_running_loop().run_in_executor(None, rig.start)
        session = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=400)))
        figures = await setup(rig, session, args.stock)
        before = {kind: rig.sims[kind].counts["updates"] for kind in KINDS}
        rounds = []
        for r in range(args.rounds):
            say(f"round {r + 1}/{args.rounds}: baseline and {args.rate:g} sales/s for {args.seconds:g}s over "
                f"{len(rig.gateways)} stores; load {load()['1m']}")
            base = await baseline(rig, session, args.rate, args.seconds)
            since = time.time()
            acked, achieved = await sales(rig, session, args.rate, args.seconds, rng)
            final = {n: figures[n] - len(acked.get(n, [])) for n in figures}
            await _wait(lambda f=final: rig.all_hold(f), 120, "every platform holding the final figures")
            lat = latencies(rig, figures, acked, since)
            figures = final
            p99 = round(_pct(lat, 0.99), 1)
            rounds.append({"achieved_sales_per_s": round(achieved, 1), "sales": len(lat),
                           "p50_ms": round(_pct(lat, 0.5), 1), "p99_ms": p99,
                           "max_ms": round(max(lat, default=0.0), 1), "baseline": base,
                           "p99_over_baseline_p99": round(p99 / max(base["p99_ms"], 0.1), 1)})
        final = figures
        pushes = {kind: rig.sims[kind].counts["updates"] - before[kind] for kind in KINDS}
        result: dict[str, Any] = {
            "offered_sales_per_s": args.rate,
            **{k: spread([x[k] for x in rounds], 1) for k in (
                "achieved_sales_per_s", "p50_ms", "p99_ms", "max_ms", "p99_over_baseline_p99")},
            "baseline": {"request": "GET /healthz (gateways)",
                         "p50_ms": spread([x["baseline"]["p50_ms"] for x in rounds], 1),
                         "p99_ms": spread([x["baseline"]["p99_ms"] for x in rounds], 1)},
            "rounds": rounds, "pushes_per_platform": pushes, "platform_rate_limit_per_s": args.platform_rate}
        if args.outage:
            result["outage"] = await outage(rig, session, final, args.outage, rng)
        async with session.get(f"{rig.cloud}/healthz") as r:
            result["sync"] = (await r.json()).get("sync")
        return result


async def outage(rig: Rig, session: aiohttp.ClientSession, figures: dict[int, int], seconds: float,
                 rng: random.Random) -> dict[str, Any]:
    say(f"outage: every platform down for {seconds:g}s while sales go on at 5/s")
    for kind in KINDS:
        rig.sims[kind].down_until = time.time() + seconds
    returns_at = time.monotonic() + seconds
    acked, _ = await sales(rig, session, 5.0, seconds, rng)
    final = {n: figures[n] - len(acked.get(n, [])) for n in figures}
    await asyncio.sleep(max(0.0, returns_at - time.monotonic()))
    say("outage: platforms are back; waiting for convergence")
    done = await _wait(lambda: rig.all_hold(final), max(120.0, seconds), "convergence after the outage")
    off = {f"{kind}/{n}": rig.held(kind, n) for kind in KINDS for n in final if rig.held(kind, n) != final[n]}
    return {"down_s": seconds, "sales_while_down": sum(map(len, acked.values())),
            "converged_after_return_s": round(done - returns_at, 2), "listings_off": off}


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                               "stores": args.stores, "skus": len(SKUS), "platforms": list(KINDS),
                               "rounds": args.rounds, "load_at_start": load()}
    with tempfile.TemporaryDirectory(prefix="shelfsync-bench-sync-") as tmp, \
            scratch_ledger(args.db, Path(tmp), args.pg) as url:
        rig = Rig(Path(tmp), url, args.stores, args.platform_rate)
        try:
            results[args.db] = asyncio.run(run_async(rig, args))
        finally:
            rig.stop()
    results["load_at_end"] = load()
    return results


def main(argv: list[str], prog: str = "shelfsync bench sync") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n  shelfsync bench sync --json\n"
                                            "  shelfsync bench sync --db sqlite --outage 600   (a 10-minute outage)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG",
                                                       "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a scratch database is created and dropped")
    parser.add_argument("--stores", type=int, default=20, help="store gateways (processes)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered POS sales/s")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the sales phase (median reported)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round's sales")
    parser.add_argument("--stock", type=int, default=1000, help="units of each SKU received at each store")
    parser.add_argument("--platform-rate", type=float, default=200.0,
                        help="requests/s each platform allows (the driver paces to it)")
    parser.add_argument("--outage", type=float, default=0.0, help="then: every platform down this many seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--rounds, --seconds and --rate must be positive")
    try:
        results = run(args)
    except (procs.ProcessError, TimeoutError, RuntimeError, AssertionError, subprocess.CalledProcessError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        r = results[args.db]
        print(f"{args.rounds} rounds; median round (lowest-highest); load average "
              f"{results['load_at_start']['1m']} at the start, {results['load_at_end']['1m']} at the end")
        print(f"{args.db}: {said(r['achieved_sales_per_s'])} sales/s over {args.stores} stores; sale accepted -> "
              f"all {len(KINDS)} platforms hold the figure: p50 {said(r['p50_ms'], ' ms')}, "
              f"p99 {said(r['p99_ms'], ' ms')}; baseline {r['baseline']['request']} p99 "
              f"{said(r['baseline']['p99_ms'], ' ms')}; p99 / baseline p99 {said(r['p99_over_baseline_p99'])}")
        if "outage" in r:
            o = r["outage"]
            print(f"outage {o['down_s']:g}s: converged {o['converged_after_return_s']} s after the platforms "
                  f"returned; listings off: {len(o['listings_off'])}")
    return 0
