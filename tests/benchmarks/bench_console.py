"""`shelfsync bench console`: the console's pages and live updates on a generated 200-store chain.

The chain (tests/support/console_chain.py): by default 200 stores × 2,000 SKUs × 90 days of
movements on PostgreSQL (about 6 million), with their balances, lots, SKU heads and sellable
figures made by the ledger's own replay and a sample checked against the cloud's rebuild; stores,
products, five channels with every SKU listed (through the API), a day of platform pushes, open
orders and transfers (through the API). It is generated once per set of parameters and kept
(`--fresh` makes it again); each run adds today's till sales once a day through the ledger's write
path, so "today" has figures.

Each run starts a private Mosquitto, a real `shelfsync cloud` worker on that database (API and
console), publishes a retained online status, a shelves snapshot (48 bins and camera lanes) and
staff alerts for every store as its gateway would, through the broker into the cloud's ingest,
and waits until the worker is idle (its CPU clock stops moving: the start-up's sellable sweep reads
every balance).

Then --rounds rounds of:

- pages and partial updates: every page of the console and every partial its htmx elements
  fetch (with the HX-Request and HX-Target headers htmx sends), --requests times each, in turn
  with a baseline (`GET /healthz`, the API's liveness: the HTTP stack and nothing else). Per URL:
  p50/p95 of the server's time (the console's Server-Timing header: session, handler and
  rendering in the worker), of the worker's CPU time meanwhile (the same header: what the request
  cost, without the wait for a CPU on a busy machine) and of the client's (request sent → body
  read, on this machine);
- live updates with --consoles consoles open (signed in each with its own session; half on the
  chain overview, half on the probe store's page: 100 server-sent event streams): --sales sales
  at a real gateway process's till (POS webhook → outbox → Mosquitto → ingest → ledger → event
  hub), one at a time; per sale and console, the delay from the till's answer, and from the
  ledger's ingest transaction (the movement's `received_at`), to the stream's `stock-STORE`
  event; then the same with every console re-fetching what its page would on those events
  (the overview's row and totals, the store page's stock and movements), the browser's work
  included.

Reported: the median round with the lowest and highest, targets met or not (p95 of the server
time < 150 ms per page, < 50 ms per partial; event delay p95 < 1 s), and the load average at the
start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim import procs
from tests.support import console_chain as chain
from tests.support.rounds import load, pct, said, spread

ADMIN = "bench-console-admin"
POS = "bench-console-pos"
PROBE_GATEWAY = "gw-bench"
PAGE_TARGET_MS, PARTIAL_TARGET_MS, EVENT_TARGET_MS = 150.0, 50.0, 1000.0


@dataclass(frozen=True)
class Url:
    name: str  # what the report calls it
    path: str
    partial: bool = False
    target: str = ""  # HX-Target, for a page that answers htmx with one of its parts

    def headers(self) -> dict[str, str]:
        if not self.partial:
            return {}
        return {"HX-Request": "true", **({"HX-Target": self.target} if self.target else {})}


def urls(store: str, sku: str, channel: str) -> list[Url]:
    s = store
    return [
        Url("overview", "/"), Url("stores", "/stores"), Url("store", f"/stores/{s}"),
        Url("products", "/products"), Url("product", f"/products/{sku}"), Url("channels", "/channels"),
        Url("channel", f"/channels/{channel}"), Url("orders", "/orders"), Url("transfers", "/transfers"),
        Url("audit", "/audit"), Url("setup stores", "/setup/stores"),
        Url("setup products", "/setup/products"), Url("setup channels", "/setup/channels"),
        Url("setup listings", "/setup/listings"), Url("setup shelves", f"/setup/shelves?store={s}"),
        # partial updates: what the pages' htmx elements fetch on a live event, a filter or a page
        Url("overview row", f"/overview/rows/{s}", True), Url("overview totals", "/overview/totals", True),
        Url("overview filter", "/?q=sh&sort=sold", True, "stores-table"),
        Url("store gateways", f"/stores/{s}/gateways", True), Url("store shelves", f"/stores/{s}/shelves", True),
        Url("store stock", f"/stores/{s}/stock", True), Url("store movements", f"/stores/{s}/movements", True),
        Url("store alerts", f"/stores/{s}/alerts", True), Url("store stocktakes", f"/stores/{s}/stocktakes", True),
        Url("products search", "/products?q=royal", True, "products-table"),
        Url("product stock", f"/products/{sku}/stock", True),
        Url("product channels", f"/products/{sku}/channels", True),
        Url("channels live", "/channels", True, "channels-live"),
        Url("channel listings", f"/channels/{channel}?state=all", True, "listings"),
        Url("orders table", "/orders", True, "orders-table"),
        Url("transfers transit", "/transfers", True, "transit"),
        Url("setup shelves sync", f"/setup/shelves/sync?store={s}", True),
    ]


def say(message: str) -> None:
    chain.say(message)


# --- the chain ----------------------------------------------------------------------------------

async def ensure_chain(p: chain.Params, admin: str, fresh: bool) -> tuple[str, dict[str, Any]]:
    """The chain's database, generated when it is not cached complete; what was done."""
    url = chain.database_url(admin, p.database)
    done = await chain.marks(url)
    info: dict[str, Any] = {"database": p.database, "cached": bool(done.get("loaded")) and not fresh}
    if fresh or not done.get("loaded"):
        await chain.drop(admin, p.database)  # asked to, or a load that died halfway
        say(f"generating the chain: {p.stores} stores × {p.skus} SKUs × {p.days} days "
            f"into {p.database} (kept for the next run)")
        began = time.perf_counter()
        await chain.create(admin, p.database)
        from cloud.db.migrate import upgrade

        await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
        info["generated"] = await chain.load(url, p, datetime.now(UTC))
        info["generate_s"] = round(time.perf_counter() - began, 1)
        say(f"generated in {info['generate_s']:g} s")
    else:
        say(f"using the cached chain {p.database} (made {done['loaded'][:16]}; --fresh makes it again)")
        from cloud.db.migrate import upgrade

        await asyncio.get_running_loop().run_in_executor(None, upgrade, url)  # a newer migration
    info["rebuild_sample_mismatches"] = await chain.verify_sample(url, p)
    today = datetime.now(UTC).astimezone(p.tz).date().isoformat()
    if (await chain.marks(url)).get("today") != today:
        added = await chain.add_today(url, p, datetime.now(UTC))
        await chain.mark(url, "today", today)
        say(f"today's till sales so far added through the ledger: {added:,}")
    conn = await asyncpg.connect(url)
    try:  # the previous run's probe gateway: its last will would make its store look offline
        await conn.execute("DELETE FROM gateway_snapshots WHERE gateway = $1", PROBE_GATEWAY)
        await conn.execute("DELETE FROM gateways WHERE gateway = $1", PROBE_GATEWAY)
        info["movements"] = await conn.fetchval("SELECT count(*) FROM movements")
        info["balance_rows"] = await conn.fetchval("SELECT count(*) FROM balances")
    finally:
        await conn.close()
    return url, info


# --- gateways, as the stores' gateways report -----------------------------------------------------

def gateway_reports(p: chain.Params, cat: chain.Catalogue, now: datetime) -> list[tuple[str, bytes, bool]]:
    """(topic, payload, retained) of every store's online status, shelves snapshot and alerts."""
    from shared import contract
    from shared.contract import (
        AlertNotice,
        BinView,
        GatewayState,
        GatewayStatus,
        ShelfSnapshot,
        Source,
        Stream,
    )

    out: list[tuple[str, bytes, bool]] = []
    for i, store in enumerate(p.store_ids()):
        gw = chain.GATEWAY
        devices = {"reader:door": "online", "reader:backroom": "online", "scale-bus:bus-1": "online",
                   "camera:cam-1": "offline" if i % 17 == 5 else "online"}
        status = GatewayStatus(store, gw, GatewayState.ONLINE, now, version="0.9.0", outbox_depth=3 if i % 7 == 0 else 0,
                               last_seq=None, devices=devices, oldest_unsent_s=40.0 if i % 7 == 0 else 0.0)
        bins = []
        for b in range(48):
            aisle, slot = divmod(b, 8)
            sku = cat.skus[(i * 48 + b * 37) % len(cat.skus)]
            count = (i + b * 5) % 13
            camera = aisle == 5
            bins.append(BinView(f"A{aisle + 1}-{slot + 1}" if not camera else f"C1-{slot + 1}", sku,
                                None if (i + b) % 41 == 0 else count, (i + b) % 53 != 0,
                                Source.VISION if camera else Source.WEIGHT,
                                None if camera else round(count * float(cat.grams[(i + b) % len(cat.skus)]), 1),
                                3))
        out.append((contract.gateway_topic(store, gw, Stream.STATUS), contract.encode(status), True))
        out.append((contract.gateway_topic(store, gw, Stream.SHELVES),
                    contract.encode(ShelfSnapshot(store, gw, now, tuple(bins))), True))
        for a, state in enumerate(("open", "acked", "resolved", "open")):
            raised = now - timedelta(hours=a * 5 + 1)
            notice = AlertNotice(store, gw, f"refill:A{a + 1}-2", "refill", state, f"A{a + 1}",
                                 f"Refill A{a + 1}-2: {cat.names[a]} — 1 left on shelf",
                                 f"补货 A{a + 1}-2：{cat.names[a]} — 货架剩 1 件", a == 3, raised,
                                 raised + timedelta(minutes=10 * a))
            out.append((contract.gateway_topic(store, gw, Stream.ALERTS), contract.encode(notice), False))
    return out


def publish(port: int, messages: list[tuple[str, bytes, bool]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1, retain=retained) for topic, payload, retained in messages]
        for info in sent:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


async def wait_recorded(url: str, stores: int, since: datetime, timeout: float = 120.0) -> None:
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = await conn.fetchval("SELECT count(*) FROM gateway_snapshots WHERE gateway = $1 AND shelves_at >= $2",
                                    chain.GATEWAY, since.replace(tzinfo=None, microsecond=0))
            if n >= stores:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the cloud recorded {n} of {stores} shelves snapshots in {timeout:g} s")
    finally:
        await conn.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settled(pid: int, timeout: float = 300.0) -> float:
    """Seconds until the worker is idle: under 5 % of a core over 2 s."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = _cpu_s(pid)
        await asyncio.sleep(2.0)
        if _cpu_s(pid) - before < 0.1:
            break
    return round(time.monotonic() - began, 1)


# --- consoles -------------------------------------------------------------------------------------

async def sign_in(http: aiohttp.ClientSession, api: str, token: str) -> str:
    async with http.get(api + "/signin") as r:
        form = r.cookies["shelfsync_signin"].value
    async with http.post(api + "/signin", allow_redirects=False, data={"csrf": form, "token": token, "next": "/"},
                         headers={"Cookie": f"shelfsync_signin={form}"}) as r:
        if r.status != 303 or "shelfsync_session" not in r.cookies:
            raise RuntimeError(f"sign-in refused: {r.status} {await r.text()}")
        return str(r.cookies["shelfsync_session"].value)


async def time_urls(http: aiohttp.ClientSession, api: str, cookie: str, targets: list[Url],
                    requests: int) -> dict[str, dict[str, list[float]]]:
    """Each URL and the baseline, `requests` times in turn: server and client milliseconds."""
    out: dict[str, dict[str, list[float]]] = {u.name: {"server": [], "cpu": [], "client": []} for u in targets}
    out["baseline"] = {"server": [], "cpu": [], "client": []}
    for _ in range(requests):
        for u in [*targets, Url("baseline", "/healthz")]:
            started = time.perf_counter()
            async with http.get(api + u.path, headers={"Cookie": f"shelfsync_session={cookie}", **u.headers()},
                                allow_redirects=False) as r:
                await r.read()
                took = (time.perf_counter() - started) * 1000
                if r.status != 200:
                    raise RuntimeError(f"GET {u.path}: {r.status}")
                timing = r.headers.get("Server-Timing", "")
            out[u.name]["client"].append(took)
            parts = dict(part.strip().split(";dur=") for part in timing.split(",") if ";dur=" in part)
            if "app" in parts:
                out[u.name]["server"].append(float(parts["app"]))
                out[u.name]["cpu"].append(float(parts.get("cpu", "nan")))
    return out


@dataclass
class Console:
    """One open console: its event stream, the events it saw and when."""

    cookie: str
    page: str  # "overview" or "store"
    store: str
    seen: dict[str, float] = field(default_factory=dict)  # event name → perf_counter, for the current sale
    wall: dict[str, float] = field(default_factory=dict)  # the same, wall clock
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    refreshed: asyncio.Event = field(default_factory=asyncio.Event)
    refetch: bool = False
    refreshed_at: float = 0.0
    refreshing: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def stream_path(self) -> str:
        return "/events" if self.page == "overview" else f"/events?store={self.store}"

    def refetches(self) -> list[str]:
        if self.page == "overview":
            return [f"/overview/rows/{self.store}", "/overview/totals"]
        return [f"/stores/{self.store}/stock", f"/stores/{self.store}/movements"]

    def clear(self, refetch: bool) -> None:
        self.seen.clear()
        self.wall.clear()
        self.arrived.clear()
        self.refreshed.clear()
        self.refetch = refetch

    async def listen(self, http: aiohttp.ClientSession, api: str) -> None:
        wanted = f"stock-{self.store}"
        async with http.get(api + self.stream_path, headers={"Cookie": f"shelfsync_session={self.cookie}"},
                            timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
            if r.status != 200:
                raise RuntimeError(f"GET {self.stream_path}: {r.status}")
            async for raw in r.content:
                line = raw.decode().strip()
                if not line.startswith("event:"):
                    continue
                name = line.removeprefix("event:").strip()
                if name == "ready":
                    self.ready.set()
                    continue
                self.seen.setdefault(name, time.perf_counter())
                self.wall.setdefault(name, time.time())
                if name == wanted and not self.arrived.is_set():
                    self.arrived.set()
                    if self.refetch:
                        task = asyncio.ensure_future(self._refresh(http, api))
                        self.refreshing.add(task)
                        task.add_done_callback(self.refreshing.discard)

    async def _refresh(self, http: aiohttp.ClientSession, api: str) -> None:
        """What htmx does on the page's events: fetch each partial it shows (all at once)."""
        async def one(path: str) -> None:
            async with http.get(api + path, headers={"Cookie": f"shelfsync_session={self.cookie}",
                                                     "HX-Request": "true"}) as r:
                await r.read()

        await asyncio.gather(*(one(p) for p in self.refetches()))
        self.refreshed_at = time.perf_counter()
        self.refreshed.set()


async def sale_at_till(http: aiohttp.ClientSession, till: str, sku: str) -> tuple[str, float]:
    txn = f"B{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    async with http.post(till + "/v1/pos/transactions", headers={"Authorization": f"Bearer {POS}"},
                         json={"txn": txn, "at": at, "kind": "sale", "lines": [{"sku": sku, "qty": 1}]}) as r:
        if r.status != 200:
            raise RuntimeError(f"the till's sale was refused: {r.status} {await r.text()}")
    return txn, started


async def live_round(http: aiohttp.ClientSession, api: str, till: str, db: str, consoles: list[Console],
                     store: str, skus: list[str], sales: int, refetch: bool) -> dict[str, Any]:
    """`sales` sales one at a time; per sale and console: till → event, ledger → event (ms)."""
    till_ms: list[float] = []
    ledger_ms: list[float] = []
    refreshed_ms: list[float] = []
    missed = 0
    conn = await asyncpg.connect(db)
    try:
        for n in range(sales):
            for c in consoles:
                c.clear(refetch)
            txn, started = await sale_at_till(http, till, skus[n % len(skus)])
            waits = [c.refreshed.wait() if refetch else c.arrived.wait() for c in consoles]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), 15)
            received = await conn.fetchval(
                "SELECT received_at FROM movements WHERE store = $1 AND gateway = $2 AND ref = $3",
                store, PROBE_GATEWAY, f"{txn}/1")
            for c in consoles:
                at = c.seen.get(f"stock-{store}")
                if at is None:
                    missed += 1
                    continue
                till_ms.append((at - started) * 1000)
                if received is not None:
                    ledger_ms.append((c.wall[f"stock-{store}"] - received.replace(tzinfo=UTC).timestamp()) * 1000)
                if refetch and c.refreshed.is_set():
                    refreshed_ms.append((c.refreshed_at - started) * 1000)
            await asyncio.sleep(0.3)  # the streams' pacing (live.PACE_S) and the refetches settle
    finally:
        await conn.close()
    out = {"sales": sales, "consoles": len(consoles), "missed": missed,
           "till_to_event_p50_ms": round(pct(till_ms, 0.5), 1), "till_to_event_p95_ms": round(pct(till_ms, 0.95), 1),
           "ledger_to_event_p50_ms": round(pct(ledger_ms, 0.5), 1),
           "ledger_to_event_p95_ms": round(pct(ledger_ms, 0.95), 1)}
    if refetch:
        out |= {"till_to_refreshed_p50_ms": round(pct(refreshed_ms, 0.5), 1),
                "till_to_refreshed_p95_ms": round(pct(refreshed_ms, 0.95), 1)}
    return out


# --- the run --------------------------------------------------------------------------------------

def _probe_config(work: Path, store: str, mqtt: str, port: int) -> Path:
    path = work / "probe.toml"
    path.write_text(f'[store]\nid = "{store}"\ngateway = "{PROBE_GATEWAY}"\ndata_dir = "{work / "probe"}"\n\n'
                    f'[mqtt]\nurl = "{mqtt}"\nkeepalive = 10\nstatus_interval = 5\n\n'
                    f'[http]\nlisten = "127.0.0.1:{port}"\ntoken = "{POS}"\n')
    return path


async def measure(args: argparse.Namespace, p: chain.Params, db: str, api: str, till: str, broker_port: int,
                  pid: int, info: dict[str, Any]) -> dict[str, Any]:
    cat = chain.catalogue(p)
    store = p.store_ids()[0]
    top = sorted(range(len(cat.skus)), key=lambda i: -cat.weight[i])
    sku = cat.skus[top[0]]
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                     connector=aiohttp.TCPConnector(limit=0)) as http:
        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, api + path, json=body,
                                    headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                return r.status, await r.json(content_type=None)

        if not (await chain.marks(db)).get("furnished"):
            info["furnished"] = await chain.furnish(call, db, p, orders=args.orders, transfers=args.transfers)
            await chain.mark(db, "furnished", datetime.now(UTC).isoformat())
        since = datetime.now(UTC)
        await asyncio.get_running_loop().run_in_executor(None, publish, broker_port, gateway_reports(p, cat, since))
        await wait_recorded(db, p.stores, since)
        say("every store's gateway status, shelves and alerts recorded; waiting for the worker to be idle")
        info["worker_settle_s"] = await settled(pid)
        targets = urls(store, sku, chain.CHANNELS[0][0])
        cookie = await sign_in(http, api, ADMIN)
        await time_urls(http, api, cookie, targets, 1)  # plans, caches, templates: not measured
        cookies = [await sign_in(http, api, ADMIN) for _ in range(args.consoles)]
        consoles = [Console(c, "overview" if i % 2 == 0 else "store", store) for i, c in enumerate(cookies)]
        listeners = [asyncio.create_task(c.listen(http, api)) for c in consoles]
        rounds: list[dict[str, Any]] = []
        try:
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in consoles)), 60)
            say(f"{len(consoles)} consoles open (event streams ready)")
            for r in range(args.rounds):
                say(f"round {r + 1}/{args.rounds}: {len(targets)} pages and partials × {args.requests}, "
                    f"then {args.sales} sales with {len(consoles)} consoles open; load {load()['1m']}")
                at_start = load()
                times = await time_urls(http, api, cookie, targets, args.requests)
                events = await live_round(http, api, till, db, consoles, store, [cat.skus[i] for i in top[1:40]],
                                          args.sales, refetch=False)
                refreshing = await live_round(http, api, till, db, consoles, store,
                                              [cat.skus[i] for i in top[40:80]], args.sales, refetch=True)
                rounds.append({"times": times, "events": events, "refreshing": refreshing,
                               "load_1m": [at_start["1m"], load()["1m"]]})
        finally:
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
    return summarise(targets, rounds)


def summarise(targets: list[Url], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for u in [*targets, Url("baseline", "/healthz")]:
        per = [r["times"][u.name] for r in rounds]
        row: dict[str, Any] = {"path": u.path, "kind": "baseline" if u.name == "baseline"
                               else "partial" if u.partial else "page"}
        for side in ("server", "cpu", "client"):
            if all(x[side] for x in per):
                row[f"{side}_p50_ms"] = spread([pct(x[side], 0.5) for x in per], 1)
                row[f"{side}_p95_ms"] = spread([pct(x[side], 0.95) for x in per], 1)
        if u.name != "baseline":
            target = PARTIAL_TARGET_MS if u.partial else PAGE_TARGET_MS
            row["target_p95_ms"] = target
            row["meets_target"] = row["server_p95_ms"]["median"] < target
        figures[u.name] = row
    live: dict[str, Any] = {}
    for phase in ("events", "refreshing"):
        per = [r[phase] for r in rounds]
        keys = [k for k in per[0] if k.endswith("_ms")]
        live[phase] = {"sales_per_round": per[0]["sales"], "consoles": per[0]["consoles"],
                       "missed": sum(x["missed"] for x in per),
                       **{k: spread([x[k] for x in per], 1) for k in keys}}
    live["events"]["meets_target"] = live["events"]["till_to_event_p95_ms"]["median"] < EVENT_TARGET_MS
    return {"urls": figures, "live": live,
            "load_1m_per_round": [r["load_1m"] for r in rounds],
            "missed_targets": [n for n, f in figures.items() if f.get("meets_target") is False]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    p = chain.Params(stores=args.stores, skus=args.skus, days=args.days, sales_per_day=args.sales_per_day,
                     seed=args.seed)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                               "chain": {"stores": p.stores, "skus": p.skus, "days": p.days,
                                         "sales_per_day": p.sales_per_day, "seed": p.seed},
                               "rounds": args.rounds, "requests_per_url": args.requests,
                               "load_at_start": load()}
    db, info = asyncio.run(ensure_chain(p, args.pg, args.fresh))
    results["chain"] |= info
    started: list[procs.Proc] = []
    try:
        with tempfile.TemporaryDirectory(prefix="shelfsync-bench-console-") as tmp:
            work = Path(tmp)
            broker = procs.mosquitto(work / "broker")
            started.append(broker)
            mqtt = f"mqtt://127.0.0.1:{broker.env['PORT']}"
            say("starting the cloud worker (its start-up sweep reads every balance)")
            cloud, port = procs.cloud(work, db, mqtt, ADMIN, extra=("--timezone", p.timezone))
            started.append(cloud)
            till_port = procs.free_port()
            started.append(procs.gateway(_probe_config(work, p.store_ids()[0], mqtt, till_port), till_port,
                                         "probe-gateway"))
            assert cloud.popen is not None
            results |= asyncio.run(measure(args, p, db, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{till_port}",
                                           int(broker.env["PORT"]), cloud.popen.pid, results["chain"]))
    finally:
        for proc in reversed(started):
            proc.stop()
        if not args.keep:
            asyncio.run(chain.drop(args.pg, p.database))
    results["load_at_end"] = load()
    return results


def report(results: dict[str, Any]) -> None:
    c = results["chain"]
    print(f"chain: {c['stores']} stores × {c['skus']} SKUs × {c['days']} days, {c['movements']:,} movements, "
          f"{c['balance_rows']:,} balance rows ({'cached' if c['cached'] else 'generated'}; rebuild sample: "
          f"{len(c['rebuild_sample_mismatches'])} mismatches); worker idle after {c.get('worker_settle_s')} s")
    print(f"{results['rounds']} rounds, {results['requests_per_url']} requests per URL per round; median round "
          f"(lowest-highest); load average {results['load_at_start']['1m']} at the start, "
          f"{results['load_at_end']['1m']} at the end")
    print(f"{'ms':<20} {'server p50':>18} {'server p95':>20} {'cpu p95':>18} {'client p95':>20}  target")
    for name, f in results["urls"].items():
        server = (said(f["server_p50_ms"]), said(f["server_p95_ms"]), said(f["cpu_p95_ms"])) \
            if "server_p50_ms" in f else ("-", "-", "-")
        verdict = "" if "target_p95_ms" not in f else \
            f"< {f['target_p95_ms']:g} {'ok' if f['meets_target'] else 'MISSED'}"
        print(f"{name:<20} {server[0]:>18} {server[1]:>20} {server[2]:>18} {said(f['client_p95_ms']):>20}  {verdict}")
    for phase, lv in results["live"].items():
        extra = f", refreshed p95 {said(lv['till_to_refreshed_p95_ms'], ' ms')}" if phase == "refreshing" else ""
        print(f"live ({phase}): {lv['consoles']} consoles, {lv['sales_per_round']} sales a round: till → event "
              f"p50 {said(lv['till_to_event_p50_ms'], ' ms')}, p95 {said(lv['till_to_event_p95_ms'], ' ms')}; "
              f"ledger → event p95 {said(lv['ledger_to_event_p95_ms'], ' ms')}{extra}; missed {lv['missed']}")


def main(argv: list[str], prog: str = "shelfsync bench console") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n  shelfsync bench console --json\n"
                                            "  shelfsync bench console --stores 3 --skus 40 --days 2 --rounds 1 "
                                            "--consoles 4 --no-keep   (a smoke run)")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sales-per-day", type=float, default=150.0, help="till lines per store and day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", default=os.environ.get("SHELFSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; the chain's database is made beside it and kept")
    parser.add_argument("--fresh", action="store_true", help="generate the chain again even when it is cached")
    parser.add_argument("--keep", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the chain's database for the next run (default; --no-keep drops it)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10, help="requests per page or partial per round")
    parser.add_argument("--consoles", type=int, default=100, help="consoles open (event streams)")
    parser.add_argument("--sales", type=int, default=10, help="till sales per round and live phase")
    parser.add_argument("--orders", type=int, default=600, help="open orders placed when the chain is furnished")
    parser.add_argument("--transfers", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.stores, args.skus, args.days, args.rounds, args.requests, args.consoles, args.sales) < 1:
        parser.error("--stores, --skus, --days, --rounds, --requests, --consoles and --sales must be positive")
    if args.skus < 80:
        parser.error("--skus must be at least 80 (the live phases sell the 80 best sellers)")
    try:
        results = run(args)
    except (procs.ProcessError, RuntimeError, TimeoutError, OSError, asyncpg.PostgresError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        report(results)
    return 0

