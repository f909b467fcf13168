"""A shelf camera on HTTP: renders the store world's bins and serves JPEG and MJPEG.

Endpoints (aiohttp):
- `GET /frame.jpg`   one freshly rendered frame (what a snapshot URL of an IP camera gives);
- `GET /stream.mjpg` multipart/x-mixed-replace JPEG stream at `fps` (what OpenCV/FFmpeg, VLC and
                     browsers read as MJPEG);
- `GET /truth.json`  per-lane ROI quad, slots and true visible count of the frame served last
                     (accepted as is by `shelfsync camera count --lanes`);
- `GET|POST /faults` read or set the fault switches as JSON {"frozen", "black", "disconnect",
                     "truncated"}.

Each lane is one bin of the seeded store world (firmware_sim/world.py): its product gives the
package, colour and size; the camera sees the front row, so the visible count is
min(units in the bin, slots that fit across the lane). Without a world (`world=None`) lanes are
set directly (`CameraSim.set_counts`), which is what tests do. The shelf and camera pose are fixed
for a camera (`layout_seed`); light, a passing hand, noise and JPEG change every frame.

Fault switches: *frozen* serves the last JPEG again and again (a hung encoder); *black* serves a
dark, noisy frame (a covered lens); *disconnect* stops listening and drops every open
connection (cable pulled), until switched off again; *truncated* serves only the first half of
each /frame.jpg in a well-formed HTTP response (an encoder or a proxy that cuts frames short), so
nothing but the JPEG itself says it is incomplete.

Rendering is CPU work (about 0.2 s for 1080p here), so it runs in a one-worker executor.
This module imports nothing from edge/: it speaks only HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from aiohttp import web

from firmware_sim import render as R

log = logging.getLogger("shelfsync.sim.camera")


@dataclass(frozen=True, slots=True)
class Faults:
    frozen: bool = False
    black: bool = False
    disconnect: bool = False
    truncated: bool = False


def look_of(product: Any) -> R.Look:
    """The camera-visible fields of a world Product."""
    return R.Look(
        product.name, product.brand, product.package, tuple(product.colour), tuple(product.size_mm)
    )


class CameraSim:
    """The camera's state: lanes, light, faults, the last frame served. Not thread-safe: the
    event loop owns it; only `render` runs in the executor, on an immutable snapshot."""

    def __init__(
        self,
        lanes: int = 12,
        seed: int = 0,
        size: tuple[int, int] = (1920, 1080),
        profile: str = "heldout",
        world: Any | None = None,
        speed: float = 60.0,
        hands: float = 0.05,
    ) -> None:
        self.seed = seed
        self.size = size
        self.profile = profile
        self.world = world
        self.speed = speed
        self.hands = hands
        self.faults = Faults()
        self._rng = np.random.default_rng([seed, 99])
        self._frame_no = 0
        self._t0 = time.monotonic()
        if world is not None:
            bins = sorted(world.bins.values(), key=lambda b: b.id)[:lanes]
            self.lanes = [
                R.LaneSpec(
                    b.id,
                    look_of(world.products[b.gtin]),
                    R.slots_for(look_of(world.products[b.gtin])),
                    0,
                    b.id,
                    b.gtin,
                )
                for b in bins
            ]
        else:
            self.lanes = [
                R.LaneSpec(
                    f"L{i + 1}",
                    R.CATALOG[i % len(R.CATALOG)],
                    R.slots_for(R.CATALOG[i % len(R.CATALOG)]),
                    0,
                )
                for i in range(lanes)
            ]
            self.set_counts([lane.slots for lane in self.lanes])
        self._base = R.random_conditions(self._rng, profile)
        self.last: R.Frame | None = None
        self.last_at: datetime | None = None

    def set_counts(self, counts: Sequence[int]) -> None:
        """Tests: set each lane's visible count directly (clamped to 0..slots)."""
        if len(counts) != len(self.lanes):
            raise ValueError(f"expected {len(self.lanes)} counts, got {len(counts)}")
        self.lanes = [
            replace(lane, count=max(0, min(lane.slots, int(n))))
            for lane, n in zip(self.lanes, counts, strict=True)
        ]

    def _sync_world(self) -> datetime | None:
        if self.world is None:
            return None
        self.world.advance(
            self.world.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)
        )
        self.lanes = [
            replace(lane, count=min(lane.slots, len(self.world.bin_units(lane.bin))))
            for lane in self.lanes
        ]
        return self.world.now  # type: ignore[no-any-return]

    def _next_conditions(self) -> R.Conditions:
        # Light drifts slowly; a new scene light every ~30 frames (a door opens, clouds, a lamp).
        if self._frame_no % 30 == 0 and self._frame_no:
            self._base = replace(
                R.random_conditions(self._rng, self.profile), perspective=self._base.perspective
            )
        jitter = float(self._rng.normal(1.0, 0.02))
        return replace(
            self._base,
            brightness=self._base.brightness * jitter,
            hand=bool(self._rng.random() < self.hands),
        )

    def plan(self) -> tuple[list[R.LaneSpec], R.Conditions, int, datetime | None]:
        """Everything the next frame needs (on the loop); then `render` it in the executor."""
        at = self._sync_world()
        self._frame_no += 1
        return list(self.lanes), self._next_conditions(), int(self._rng.integers(2**31)), at

    def render(self, lanes: list[R.LaneSpec], cond: R.Conditions, frame_seed: int) -> R.Frame:
        frame = R.render_jpeg(lanes, cond, frame_seed, self.size, layout_seed=self.seed)
        if self.faults.black:
            # The lens is covered; the shelf (and so /truth.json) is still there behind it.
            rng = np.random.default_rng(frame_seed)
            dark = np.clip(rng.normal(3.0, 1.5, (self.size[1], self.size[0], 3)), 0, 255).astype(
                np.uint8
            )
            return replace(frame, jpeg=R.encode_jpeg(dark, 80))
        return frame

    def truth(self) -> dict[str, Any]:
        frame = self.last
        lanes = frame.lanes if frame is not None and frame.lanes else ()
        return {
            "frame": self._frame_no,
            "at": self.last_at.isoformat() if self.last_at else None,
            "size": list(self.size),
            "faults": asdict(self.faults),
            "conditions": asdict(frame.conditions) if frame is not None else None,
            "lanes": [
                {
                    "id": t.id,
                    "bin": t.bin,
                    "sku": t.sku,
                    "quad": [list(p) for p in t.quad],
                    "slots": t.slots,
                    "count": t.count,
                    "occluded": t.occluded,
                }
                for t in lanes
            ],
        }


class CameraServer:
    """The HTTP side. `async with CameraServer(sim) as server:` listens on a free port
    (`server.port`); `await server.set_faults(...)` flips the switches."""

    def __init__(
        self, sim: CameraSim, host: str = "127.0.0.1", port: int = 0, fps: float = 2.0
    ) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.fps = fps
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="camera-render")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._streams: set[web.StreamResponse] = set()
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> CameraServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/frame.jpg", self._frame)
        app.router.add_get("/stream.mjpg", self._stream)
        app.router.add_get("/truth.json", self._truth)
        app.router.add_get("/faults", self._get_faults)
        app.router.add_post("/faults", self._post_faults)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        if self.port == 0:
            server = self._site._server  # the bound port is only known after start
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def set_faults(
        self, frozen: bool | None = None, black: bool | None = None, disconnect: bool | None = None,
        truncated: bool | None = None,
    ) -> Faults:
        old = self.sim.faults
        new = Faults(
            old.frozen if frozen is None else frozen,
            old.black if black is None else black,
            old.disconnect if disconnect is None else disconnect,
            old.truncated if truncated is None else truncated,
        )
        self.sim.faults = new
        if new.disconnect and not old.disconnect and self._site is not None:
            # Cable pulled: stop listening and drop the connections that are open (streams,
            # keep-alive sockets); handlers see the flag and close their transports too.
            await self._site.stop()
            self._site = None
            for resp in list(self._streams):
                with contextlib.suppress(Exception):
                    resp.force_close()
        elif old.disconnect and not new.disconnect and self._runner is not None:
            await self._listen()
        log.info("camera faults: %s", new)
        return new

    async def next_frame(self) -> R.Frame:
        """Render (or, frozen, repeat) a frame and record it as the one served last."""
        async with self._lock:  # one render at a time; /truth.json then matches what was sent
            if self.sim.faults.frozen and self.sim.last is not None:
                return self.sim.last
            lanes, cond, seed, at = self.sim.plan()
            loop = asyncio.get_running_loop()
            frame = await loop.run_in_executor(self._pool, self.sim.render, lanes, cond, seed)
            self.sim.last, self.sim.last_at = frame, at
            return frame

    def _drop_if_disconnected(self, request: web.Request) -> None:
        if self.sim.faults.disconnect:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()

    async def _frame(self, request: web.Request) -> web.StreamResponse:
        self._drop_if_disconnected(request)
        frame = await self.next_frame()
        jpeg = frame.jpeg[: len(frame.jpeg) // 2] if self.sim.faults.truncated else frame.jpeg
        return web.Response(
            body=jpeg,
            content_type="image/jpeg",
            headers={"Cache-Control": "no-store", "X-Frame": str(self.sim._frame_no)},
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self._drop_if_disconnected(request)
        boundary = "shelfsyncframe"
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={boundary}",
                "Cache-Control": "no-store",
                "Connection": "close",
            }
        )
        await resp.prepare(request)
        self._streams.add(resp)
        try:
            while not self.sim.faults.disconnect:
                started = time.monotonic()
                frame = await self.next_frame()
                await resp.write(
                    f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(frame.jpeg)}\r\n\r\n".encode()
                    + frame.jpeg
                    + b"\r\n"
                )
                await asyncio.sleep(max(0.0, 1.0 / self.fps - (time.monotonic() - started)))
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        finally:
            self._streams.discard(resp)
        if self.sim.faults.disconnect and request.transport is not None:
            request.transport.abort()
        return resp

    async def _truth(self, request: web.Request) -> web.Response:
        self._drop_if_disconnected(request)
        if self.sim.last is None:  # nothing served yet: render one, so the ROIs are there
            await self.next_frame()
        return web.json_response(self.sim.truth())

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.sim.faults))

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if (
                not isinstance(body, dict)
                or not set(body) <= {"frozen", "black", "disconnect", "truncated"}
                or not all(isinstance(v, bool) for v in body.values())
            ):
                raise ValueError('expected {"frozen"|"black"|"disconnect"|"truncated": bool}')
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response(asdict(await self.set_faults(**body)))


# --- command line -------------------------------------------------------------------------


def print_config(sim: CameraSim, url: str) -> str:
    """The gateway's `[camera]` section for this camera (schema: edge/camera/source.py)."""
    if sim.last is None:
        raise RuntimeError("render a frame first: the ROIs come from the shelf layout")
    lines = [
        "[[camera.feed]]",
        'id = "sim-cam"',
        f'url = "{url}/frame.jpg"',
        "interval_s = 1.0",
        "",
    ]
    for t in sim.last.lanes:
        lines += ["[[camera.lane]]", 'feed = "sim-cam"', f'id = "{t.id}"']
        lines += [f'bin = "{t.bin}"'] if t.bin else []
        lines += [f'sku = "{t.sku}"'] if t.sku else []
        quad = ", ".join(f"[{x:.1f}, {y:.1f}]" for x, y in t.quad)
        lines += [f"facings = {t.slots}", f"quad = [{quad}]", ""]
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1920x1080, got {text!r}") from e
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise argparse.ArgumentTypeError("width and height must be 64..4096")
    return w, h


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="A shelf camera: renders the seeded store world's bins (lighting, shadows, "
        "glare, a passing hand, blur, noise, JPEG) and serves /frame.jpg, "
        "/stream.mjpg, /truth.json and /faults over HTTP.",
        epilog="examples:\n"
        f"  {prog} --port 8081 --lanes 20 --seed 7 --print-config   # TOML for a gateway\n"
        f"  curl -s localhost:8081/frame.jpg > f.jpg\n"
        f"  curl -s localhost:8081/truth.json > lanes.json   # the truth of that frame\n"
        f"  shelfsync camera count --image f.jpg --lanes lanes.json\n"
        f"  {prog} --port 8081 --fault frozen --fault-after 30 --fault-for 20\n"
        f"  curl -X POST -d '{{\"black\": true}}' localhost:8081/faults",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081, help="TCP port (0: any free; printed)")
    p.add_argument("--lanes", type=int, default=12, help="lanes = world bins in view (1..48)")
    p.add_argument("--seed", type=int, default=0, help="world seed; also fixes the shelf layout")
    p.add_argument("--store", default="sh-0001")
    p.add_argument(
        "--size", type=_size, default=(1920, 1080), help="frame size WxH (default 1920x1080)"
    )
    p.add_argument("--fps", type=float, default=2.0, help="MJPEG frames per second")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument(
        "--profile",
        default="heldout",
        choices=("train", "heldout", "hard"),
        help="lighting/optics ranges (see firmware_sim/render.py)",
    )
    p.add_argument("--hands", type=float, default=0.05, help="share of frames with a passing hand")
    p.add_argument("--no-world", action="store_true", help="fixed full lanes instead of the world")
    p.add_argument(
        "--fault",
        choices=("frozen", "black", "disconnect", "truncated"),
        action="append",
        default=[],
        help="switch a fault on (repeatable); see --fault-after/--fault-for",
    )
    p.add_argument("--fault-after", type=float, default=0.0, help="seconds before the faults start")
    p.add_argument(
        "--fault-for", type=float, default=0.0, help="seconds the faults last (0: forever)"
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the [camera] TOML (feed and lane ROIs) for a gateway, then serve",
    )
    return p


async def _serve(args: argparse.Namespace) -> int:
    world = None
    if not args.no_world:
        from firmware_sim.world import StoreWorld, WorldConfig

        world = StoreWorld(store=args.store, seed=args.seed, config=WorldConfig(bins=args.lanes))
    sim = CameraSim(args.lanes, args.seed, args.size, args.profile, world, args.speed, args.hands)
    async with CameraServer(sim, args.host, args.port, args.fps) as server:
        if args.print_config:
            await server.next_frame()
            print(print_config(sim, server.url), flush=True)
        print(
            f"camera sim: {len(sim.lanes)} lanes, {args.size[0]}x{args.size[1]} on {server.url} "
            "(/frame.jpg /stream.mjpg /truth.json /faults); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def schedule() -> None:
            on = {name: True for name in args.fault}
            await asyncio.sleep(args.fault_after)
            await server.set_faults(**on)
            print(f"camera sim: faults on: {', '.join(args.fault)}", file=sys.stderr, flush=True)
            if args.fault_for > 0:
                await asyncio.sleep(args.fault_for)
                await server.set_faults(**{name: False for name in args.fault})
                print("camera sim: faults off", file=sys.stderr, flush=True)

        faults = asyncio.create_task(schedule()) if args.fault else None
        try:
            await stop.wait()
        finally:
            if faults is not None:
                faults.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await faults
    return 0


def main(argv: list[str], prog: str = "shelfsync sim camera") -> int:
    args = _parser(prog).parse_args(argv)
    if not 1 <= args.lanes <= 48:
        print(f"{prog}: --lanes must be 1..48", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return asyncio.run(_serve(args))
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
