"""The six simulated platforms as processes, set up as channels of a running cloud (for the demo):
start them, write the channels file, list the catalogue, and check they hold the ledger's figures."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim import procs
from firmware_sim.platforms import KINDS, api_url
from firmware_sim.world import catalog


@dataclass(frozen=True)
class SimPlatforms:
    channels: Path  # the cloud's --channels file
    env: dict[str, str]  # the credentials, for the cloud's environment
    ports: dict[str, int]  # kind -> the simulator's port


def start(workdir: Path, started: list[procs.Proc]) -> SimPlatforms:
    """One `shelfsync sim platform` process per kind (appended to `started`), each a channel."""
    secret = secrets.token_hex(8)
    tables, env, ports = [], {}, {}
    for kind in KINDS:
        port = ports[kind] = procs.free_port()
        args = procs.shelfsync("sim", "platform", "--kind", kind, "--port", str(port), "--limit", "200",
                               "--log-level", "WARNING")
        proc = procs.Proc(f"platform-{kind}", args, workdir / f"platform-{kind}.log",
                          env={"SHELFSYNC_SIM_SECRET": secret})
        started.append(proc.start())
        procs.wait_port(port, proc)
        tables.append(f'[channel.{kind}]\nplatform = "{kind}"\nurl = "{api_url(kind, port)}"\n'
                      f'app_key = "sim-app"\nrate = 150\nlocation_id = "1"\nstore_id = "1"\n')
        env[f"SHELFSYNC_CHANNEL_{kind.upper()}_SECRET"] = secret
        env[f"SHELFSYNC_CHANNEL_{kind.upper()}_SESSION"] = "sim-session"
    path = workdir / "channels.toml"
    path.write_text("\n".join(tables))
    return SimPlatforms(path, env, ports)


# Each channel its own allocation rules, so the demo shows them at work (README: orders, channels).
DEMO_RULES: dict[str, dict[str, int]] = {
    "jd": {"share_pct": 80},                  # 80 % of what is free, rounded down
    "pdd": {"safety": 1},                     # each store keeps one unit back from this channel
    "douyin": {"max_qty": 10},                # never more than 10 listed
    "shopify": {"share_pct": 50, "min_qty": 1},  # half, but at least one of what exists
}


def listing_ids(n: int) -> tuple[str, str]:
    """(item_id, channel_sku) of catalogue product n: numbers, as Douyin's ids are."""
    return f"{1000 + n}", f"{500000 + n}"


async def list_catalogue(session: aiohttp.ClientSession, cloud: str, token: str, stores: list[str]) -> None:
    """Each kind a channel that every store ships for, with the whole catalogue listed."""
    headers = {"Authorization": f"Bearer {token}"}

    async def put(path: str, body: Any) -> None:
        async with session.put(cloud + path, json=body, headers=headers) as r:
            if r.status >= 300:
                raise RuntimeError(f"PUT {path}: {r.status} {await r.text()}")

    for store in stores:
        await put(f"/v1/stores/{store}", {"name": store})
    listings = [{"sku": p.gtin, "item_id": listing_ids(n)[0], "channel_sku": listing_ids(n)[1]}
                for n, p in enumerate(catalog())]
    for kind in KINDS:
        await put(f"/v1/channels/{kind}", {"platform": kind, "stores": [{"store": s} for s in stores],
                                           **DEMO_RULES.get(kind, {})})
        await put(f"/v1/channels/{kind}/listings", {"listings": listings})


async def in_sync(session: aiohttp.ClientSession, cloud: str, token: str, platforms: SimPlatforms,
                  timeout: float = 30.0) -> dict[str, dict[str, int]]:
    """Per platform: listings, how many hold the channel's figure, units listed. Waits up to
    `timeout` for the last pushes to land."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    while True:
        out = {}
        for kind, port in platforms.ports.items():
            async with session.get(f"{cloud}/v1/channels/{kind}/availability", headers=headers) as r:
                want = {i["channel_sku"]: i["qty"] for i in (await r.json())["items"]}
            async with session.get(f"http://127.0.0.1:{port}/_sim/stock") as r:
                held = {row["sku_id"].rsplit("/", 1)[-1]: row["qty"] for row in (await r.json())["stock"]}
            out[kind] = {"listings": len(want), "in_sync": sum(held.get(s) == q for s, q in want.items()),
                         "units": sum(held.get(s, 0) for s in want)}
        if all(p["in_sync"] == p["listings"] for p in out.values()) or time.monotonic() > deadline:
            return out
        await asyncio.sleep(0.5)
