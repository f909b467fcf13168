"""Simulated mini-program stock endpoint. The contract is ours (README "Platform sync"); the
simulator checks it with its own code (signatures.mini_program), not the adapter's."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from firmware_sim.platforms import signatures
from firmware_sim.platforms.core import Platform
from firmware_sim.platforms.router import as_int

WINDOW_S = 300  # our contract: X-Shelfsync-Timestamp within 5 minutes of the endpoint's clock


def routes(p: Platform) -> list[web.RouteDef]:
    p.extra |= {"stale"}

    async def stock(request: web.Request) -> web.StreamResponse:
        gate = await p.gate()
        if isinstance(gate, web.Response):
            return gate
        if gate == "ratelimit":
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "1"})
        body = await request.read()
        h = request.headers
        ts = h.get("X-Shelfsync-Timestamp", "")
        expected = signatures.mini_program(p.creds.secret, ts, h.get("X-Shelfsync-Nonce", ""), request.method,
                                     request.raw_path.split("?")[0], body)
        if h.get("X-Shelfsync-App") != p.creds.app_key or \
                not signatures.matches(h.get("X-Shelfsync-Signature", ""), expected):
            p.counts["bad_signature"] += 1
            return web.json_response({"error": "bad signature"}, status=401)
        age = as_int(ts)
        if age is None or abs(p.clock() - age) > WINDOW_S:
            p.counts["bad_timestamp"] += 1
            return web.json_response({"error": "timestamp expired"}, status=401)
        sku_id = request.match_info["sku_id"]
        if request.method == "GET":
            return web.json_response({"qty": p.qty("", sku_id)})
        try:
            payload: dict[str, Any] = json.loads(body)
            qty, previous, key = payload["qty"], payload.get("previous"), str(payload["key"])
            if not isinstance(qty, int) or qty < 0 or not (previous is None or isinstance(previous, int)):
                raise ValueError("qty >= 0 and previous an integer or null")
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad body: {e}"}, status=400)
        if f"wx:{key}" in p.replies:
            p.counts["replays"] += 1
            return web.json_response(p.replies[f"wx:{key}"])
        if p.take_fault("stale"):
            p.stock[("", sku_id)] = p.qty("", sku_id) - 1
        if previous is not None and previous != p.qty("", sku_id):
            p.counts["stale"] += 1
            return web.json_response({"error": "stale", "current": p.qty("", sku_id)}, status=409)
        p.put("", sku_id, qty)
        p.replies[f"wx:{key}"] = {"qty": qty}
        return web.json_response({"qty": qty})

    return [web.get("/v1/stock/{sku_id}", stock), web.put("/v1/stock/{sku_id}", stock)]
