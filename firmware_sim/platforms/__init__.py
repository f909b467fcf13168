"""`shelfsync sim platform`: a sales platform's stock API on HTTP, for tests, benchmarks and demos.

One aiohttp server per platform kind (taobao, jd, pdd, douyin, shopify, wechat) that checks
signatures, timestamps and parameters as the platform documents them, with its own code
(signatures.py; nothing here imports the cloud's adapters), answers with the platform's own error
codes, enforces a rate limit, keeps stock, injects faults through /_sim/faults (core.py) and can
run simulated buyers that post orders into the cloud's order API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from firmware_sim.platforms import douyin, jd, pdd, shopify, taobao, wechat
from firmware_sim.platforms.core import BuyerConfig, Credentials, Platform, buyers_ctx

ROUTES: dict[str, Callable[[Platform], list[web.RouteDef]]] = {
    "taobao": taobao.routes, "jd": jd.routes, "pdd": pdd.routes, "douyin": douyin.routes,
    "shopify": shopify.routes, "wechat": wechat.routes,
}
# Where each kind's API lives on the simulator (the channel's `url` setting). Shopify: Admin API
# 2026-04, the first version in which changeFromQuantity and @idempotent are required (they exist
# from 2026-01; shopify.py says what the simulator does with older versions).
API_PATH = {"taobao": "/router/rest", "jd": "/routerjson", "pdd": "/api/router", "douyin": "",
            "shopify": "/admin/api/2026-04/graphql.json", "wechat": ""}
KINDS = tuple(ROUTES)

EPILOG = """examples:
  shelfsync sim platform --kind taobao --port 9101
  shelfsync sim platform --kind shopify --port 9105 --limit 20 --fault-rate 0.05
  SHELFSYNC_CLOUD_TOKEN=t shelfsync sim platform --kind pdd --port 9103 \\
      --buyers http://127.0.0.1:8080 --channel pdd --rate 2
  curl -X POST localhost:9101/_sim/faults -d '{"next": ["5xx", "ratelimit"], "down_for": 30}'
  curl localhost:9101/_sim/stock
"""


def api_url(kind: str, port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}{API_PATH[kind]}"


def make_app(platform: Platform, buyers: BuyerConfig | None = None) -> web.Application:
    app = web.Application()
    app.add_routes(ROUTES[platform.kind](platform) + platform.routes())
    if buyers is not None:
        app.cleanup_ctx.append(buyers_ctx(platform, buyers))
    return app


@contextlib.asynccontextmanager
async def serving(platform: Platform, port: int, host: str = "127.0.0.1",
                  buyers: BuyerConfig | None = None) -> AsyncIterator[web.AppRunner]:
    """Run a simulated platform in this event loop (tests and benchmarks)."""
    runner = web.AppRunner(make_app(platform, buyers), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield runner
    finally:
        await runner.cleanup()


def main(argv: list[str], prog: str = "shelfsync sim platform") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--app-key", default="sim-app")
    parser.add_argument("--secret", default=os.environ.get("SHELFSYNC_SIM_SECRET", "sim-secret"),
                        help="the app secret requests are signed with (default: $SHELFSYNC_SIM_SECRET "
                             "or sim-secret)")
    parser.add_argument("--session", default=os.environ.get("SHELFSYNC_SIM_SESSION", "sim-session"),
                        help="session / access token (default: $SHELFSYNC_SIM_SESSION or sim-session)")
    parser.add_argument("--limit", type=float, default=50.0, help="API requests/s allowed (default 50)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests answered 502")
    parser.add_argument("--buyers", metavar="URL", help="the cloud's base URL: post simulated buyers' orders")
    parser.add_argument("--token", default=os.environ.get("SHELFSYNC_CLOUD_TOKEN", ""),
                        help="bearer token for the order API (default: $SHELFSYNC_CLOUD_TOKEN)")
    parser.add_argument("--rate", type=float, default=1.0, help="buyers' orders per second (default 1)")
    parser.add_argument("--channel", help="the channel name orders are posted under (default: --kind)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.limit <= 0 or args.rate <= 0 or not 0 <= args.fault_rate < 1:
        parser.error("--limit and --rate must be positive, --fault-rate in [0, 1)")
    if args.buyers and not args.token:
        parser.error("--buyers needs --token (or $SHELFSYNC_CLOUD_TOKEN)")
    platform = Platform(args.kind, Credentials(args.app_key, args.secret, args.session), args.limit,
                        fault_rate=args.fault_rate)
    buyers = BuyerConfig(args.buyers, args.token, args.rate, args.channel or args.kind) \
        if args.buyers else None
    return asyncio.run(_serve(platform, args.host, args.port, buyers))


async def _serve(platform: Platform, host: str, port: int, buyers: BuyerConfig | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serving(platform, port, host, buyers):
            print(f"sim platform {platform.kind}: API at {api_url(platform.kind, port, host)}, "
                  f"admin at http://{host}:{port}/_sim/stock", file=sys.stderr, flush=True)
            await stop.wait()
    except OSError as e:
        print(f"sim platform: cannot listen on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0
