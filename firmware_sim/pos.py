"""`shelfsync sim pos`: a store's tills and back office, posting the world's trade to a gateway.

It runs a StoreWorld in (optionally accelerated) time and tells the gateway what a real store's
systems would: the opening stocktake (absolute counts per zone and lot), every sale and return
through the POS webhook, deliveries received into the backroom, transfers from other stores
and shelf restocks as staff movements. Shoppers who pick and put back, misplace or steal are
not reported: only sensors can see those. At the end it can write the world's ground truth for
comparison with the ledger.

It speaks HTTP only (imports nothing from edge or cloud), so it tests any gateway that implements
the webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim.world import (
    BACKROOM,
    FLOOR,
    Delivery,
    Event,
    Restock,
    Return,
    Sale,
    SaleLine,
    StoreWorld,
    Transfer,
    WorldConfig,
)

log = logging.getLogger(__name__)


def world_start(minutes: float, speed: float, now: datetime, lead: timedelta = timedelta(0)) -> datetime:
    """When an accelerated world starts so that its clock never passes the wall clock: it runs
    `speed` times faster for `minutes`, and ends now + `minutes` (`lead` earlier, if the shop's
    clock must stay behind the wall clock for that long after trading). A till's times then never
    lie in the gateway's future, which the gateway refuses (it would sort after every later count),
    nor what the gateway books after trading in the cloud's (which refuses it too)."""
    return now - timedelta(minutes=minutes * max(speed - 1.0, 0.0)) - lead


def ts(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _lines(lines: Iterable[SaleLine]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        item: dict[str, Any] = {"sku": line.gtin, "qty": line.qty}
        if line.lot:
            item["lot"] = line.lot
        if line.expiry:
            item["expiry"] = line.expiry.isoformat()
        out.append(item)
    return out


def opening_count(world: StoreWorld) -> dict[str, Any]:
    """The opening stocktake: one absolute count per (SKU, zone, lot)."""
    expiry = world.lot_expiry()
    lines = []
    for (gtin, zone, lot), qty in sorted(world.stock_by_lot().items(), key=str):
        line: dict[str, Any] = {"sku": gtin, "kind": "count", "qty": qty, "zone": zone}
        if lot:
            line["lot"] = lot
            if expiry.get(lot):
                line["expiry"] = expiry[lot].isoformat()  # type: ignore[union-attr]
        lines.append(line)
    return {"ref": f"open-{world.store}-{world.start:%Y%m%dT%H%M%S}", "at": ts(world.start), "lines": lines}


def requests_for(event: Event, world: StoreWorld) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) the store's systems send for one world event; [] for what only sensors see."""
    if isinstance(event, Sale | Return):
        kind = "sale" if isinstance(event, Sale) else "return"
        return [("/v1/pos/transactions",
                 {"txn": event.txn, "at": ts(event.at), "kind": kind, "lines": _lines(event.lines)})]
    if isinstance(event, Delivery):
        line: dict[str, Any] = {"sku": event.gtin, "kind": "receipt", "qty": len(event.uids),
                                "zone": BACKROOM, "lot": event.lot}
        if event.expiry:
            line["expiry"] = event.expiry.isoformat()
        return [("/v1/stock/movements", {"ref": f"dlv-{event.lot}", "at": ts(event.at), "lines": [line]})]
    if isinstance(event, Transfer):  # booked from the transfer note, as it is carried in
        line = {"sku": event.gtin, "kind": "transfer_in", "qty": len(event.uids), "zone": BACKROOM,
                "lot": event.lot}
        if event.expiry:
            line["expiry"] = event.expiry.isoformat()
        return [("/v1/stock/movements", {"ref": event.ref, "at": ts(event.at), "lines": [line]})]
    if isinstance(event, Restock):
        by_lot: dict[str | None, int] = {}
        for uid in event.uids:
            lot = world.units[uid].lot
            by_lot[lot] = by_lot.get(lot, 0) + 1
        lines = [{"sku": event.gtin, "kind": "move", "qty": n, "zone": FLOOR, "from_zone": BACKROOM,
                  **({"lot": lot} if lot else {})} for lot, n in sorted(by_lot.items(), key=str)]
        return [("/v1/stock/movements",
                 {"ref": f"rst-{event.bin}-{event.at:%Y%m%dT%H%M%S%f}", "at": ts(event.at), "lines": lines})]
    return []


@dataclass
class PosStats:
    transactions: int = 0
    movements: int = 0
    deltas: int = 0
    retries: int = 0
    rejected: int = 0
    picks: int = 0  # handheld scans (firmware_sim/handheld.py)


class PosClient:
    """Posts to a gateway, retrying on connection errors and 5xx (a real till queues offline)."""

    def __init__(self, session: aiohttp.ClientSession, gateway: str, token: str) -> None:
        self.session = session
        self.gateway = gateway.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stats = PosStats()

    async def post(self, path: str, body: dict[str, Any], deadline_s: float = 120.0) -> dict[str, Any]:
        give_up = time.monotonic() + deadline_s
        delay = 0.05
        while True:
            try:
                async with self.session.post(self.gateway + path, json=body, headers=self.headers) as r:
                    if r.status == 200:
                        result: dict[str, Any] = await r.json()
                        if path.endswith("transactions"):
                            self.stats.transactions += 1
                        elif path.endswith("picks"):
                            self.stats.picks += 1
                        else:
                            self.stats.movements += 1
                        if not result.get("duplicate"):
                            self.stats.deltas += int(result.get("accepted", 0))
                        return result
                    text = await r.text()
                    if r.status < 500:
                        self.stats.rejected += 1
                        raise ValueError(f"gateway rejected {path}: {r.status} {text}")
            except (aiohttp.ClientError, TimeoutError) as e:
                log.debug("post %s: %s", path, e)
            self.stats.retries += 1
            if time.monotonic() > give_up:
                raise TimeoutError(f"gateway {self.gateway} unreachable for {deadline_s}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def run_pos(world: StoreWorld, gateway: str, token: str, *, minutes: float, speed: float,
                  progress: bool = False) -> PosStats:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        client = PosClient(session, gateway, token)
        await client.post("/v1/stock/movements", opening_count(world))
        began = time.monotonic()
        end = world.start + timedelta(minutes=minutes * speed)
        last_report = began
        while world.now < end:
            elapsed = time.monotonic() - began
            target = min(end, world.start + timedelta(seconds=elapsed * speed))
            for event in world.advance(target):
                for path, body in requests_for(event, world):
                    await client.post(path, body)
            if progress and time.monotonic() - last_report >= 5:
                last_report = time.monotonic()
                print(f"sim pos {world.store}: {world.now:%H:%M} simulated, "
                      f"{client.stats.transactions} transactions, {client.stats.deltas} deltas",
                      file=sys.stderr)
            if world.now < end:
                await asyncio.sleep(0.05)
        return client.stats


EPILOG = """examples:
  shelfsync sim pos --gateway http://127.0.0.1:8081 --token $POS_TOKEN --store sh-0042
  shelfsync sim pos --gateway http://127.0.0.1:8081 --token T --minutes 5 --speed 60 --truth-out truth.json
"""


def main(argv: list[str], prog: str = "shelfsync sim pos") -> int:
    parser = argparse.ArgumentParser(prog=prog, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Post a simulated store's sales, returns, deliveries "
                                                 "and restocks to a gateway.")
    parser.add_argument("--gateway", required=True, help="the gateway's base URL")
    parser.add_argument("--token", required=True, help="the gateway's POS bearer token")
    parser.add_argument("--store", default="sh-0001", help="store id (seeds the world with --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bins", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=1.0, help="wall-clock minutes to run")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    parser.add_argument("--shoppers", type=float, default=120.0, help="shoppers per simulated hour")
    parser.add_argument("--start", help="world start, RFC 3339 (default: so that the simulated clock "
                                         "reaches the wall clock at the end, never passing it)")
    parser.add_argument("--truth-out", type=Path, help="write the world's ground truth here at the end")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    start = (datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start
             else world_start(args.minutes, args.speed, datetime.now(UTC).replace(microsecond=0)))
    world = StoreWorld(store=args.store, seed=args.seed, start=start,
                       config=WorldConfig(bins=args.bins, shoppers_per_hour=args.shoppers))
    try:
        stats = asyncio.run(run_pos(world, args.gateway, args.token, minutes=args.minutes,
                                    speed=args.speed, progress=not args.quiet))
    except (TimeoutError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    summary = {"store": args.store, **stats.__dict__, "truth": world.truth()}
    if args.truth_out:
        args.truth_out.write_text(json.dumps(summary, indent=1))
    if not args.quiet:
        print(json.dumps({k: v for k, v in summary.items() if k != "truth"}))
    return 0
