"""The camera driver against the camera simulator over real HTTP (JPEG polling and MJPEG)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera.source import (
    DEFAULT_MODEL_DIR,
    CameraConfig,
    CameraError,
    CameraSource,
    FrameHealth,
    Image,
    Lane,
    LaneCounter,
    decode_jpeg,
    parse_lanes,
    parse_section,
)
from edge.fusion.domain import CameraStatus, LaneCount, Observation
from firmware_sim.camera import CameraServer, CameraSim, print_config


def _config(camera: CameraServer, path: str = "/frame.jpg", **kw: float) -> CameraConfig:
    truth = camera.sim.truth()
    if not truth["lanes"]:  # nothing served yet: the layout is fixed, so any frame gives the ROIs
        lanes, cond, seed, _ = camera.sim.plan()
        truth = {
            "lanes": [
                {"id": t.id, "quad": t.quad, "bin": t.id}
                for t in camera.sim.render(lanes, cond, seed).lanes
            ]
        }
    lanes = parse_lanes(
        [{"id": x["id"], "quad": x["quad"], "bin": x["id"]} for x in truth["lanes"]]
    )
    return CameraConfig(
        "cam-1", camera.url + path, lanes, interval_s=0.02, frozen_after_s=0.3, timeout_s=2.0, **kw
    )


async def _until(
    source: CameraSource, done: Callable[[list[Observation]], bool], limit_s: float = 15.0
) -> list[Observation]:
    seen: list[Observation] = []
    async with asyncio.timeout(limit_s), contextlib.aclosing(source.observations()) as stream:
        async for obs in stream:
            seen.append(obs)
            if done(seen):
                break
    return seen


def _counts(seen: list[Observation]) -> list[LaneCount]:
    return [o for o in seen if isinstance(o, LaneCount)]


def _statuses(seen: list[Observation]) -> list[CameraStatus]:
    return [o for o in seen if isinstance(o, CameraStatus)]


async def test_driver_counts_every_lane_of_the_simulated_camera(
    camera: CameraServer, counter: LaneCounter
) -> None:
    source = CameraSource(_config(camera), counter)
    seen = await _until(source, lambda s: len(_counts(s)) >= 6)
    assert _statuses(seen)[0].available
    counts = _counts(seen)[:6]
    truth = {lane["id"]: lane["count"] for lane in camera.sim.truth()["lanes"]}
    assert [c.lane for c in counts] == list(truth)
    assert all(c.bin == c.lane and 0 <= c.confidence <= 1 for c in counts)
    right = sum(c.count == truth[c.lane] for c in counts)
    assert right >= 5, (counts, truth)


async def test_driver_reads_the_mjpeg_stream_through_opencv(
    camera: CameraServer, counter: LaneCounter
) -> None:
    source = CameraSource(_config(camera, "/stream.mjpg"), counter)
    seen = await _until(source, lambda s: len(_counts(s)) >= 12)
    assert len({c.lane for c in _counts(seen)}) == 6


async def test_a_black_camera_is_marked_unavailable(
    camera: CameraServer, counter: LaneCounter
) -> None:
    await camera.set_faults(black=True)
    seen = await _until(CameraSource(_config(camera), counter), lambda s: bool(_statuses(s)))
    assert _statuses(seen)[0] == replace(_statuses(seen)[0], available=False, reason="black")
    assert not _counts(seen)


async def test_a_frozen_camera_is_marked_unavailable_after_the_grace_period(
    camera: CameraServer, counter: LaneCounter
) -> None:
    source = CameraSource(_config(camera), counter)

    first = True

    def done(seen: list[Observation]) -> bool:
        nonlocal first
        if first and _counts(seen):
            first = False
            camera.sim.faults = replace(camera.sim.faults, frozen=True)
        return any(not s.available for s in _statuses(seen))

    seen = await _until(source, done)
    down = [s for s in _statuses(seen) if not s.available]
    assert down[0].reason == "frozen"


async def test_a_disconnected_camera_is_unavailable_then_recovers(
    camera: CameraServer, counter: LaneCounter
) -> None:
    config = _config(camera)
    await camera.set_faults(disconnect=True)
    reconnecting: list[asyncio.Task[object]] = []

    def done(seen: list[Observation]) -> bool:
        statuses = _statuses(seen)
        if statuses and not statuses[-1].available and not reconnecting:
            reconnecting.append(asyncio.ensure_future(camera.set_faults(disconnect=False)))
        return bool(statuses) and statuses[-1].available

    seen = await _until(CameraSource(config, counter), done)
    await asyncio.gather(*reconnecting)
    statuses = _statuses(seen)
    assert statuses[0].reason.startswith("disconnected")
    assert statuses[-1].available


class _ThreadRecordingCounter(LaneCounter):
    """The real model, noting which thread each inference ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def count(self, frame: Image, lanes: Sequence[Lane]) -> list[tuple[int, float]]:
        self.threads.add(threading.current_thread().name)
        return super().count(frame, lanes)


async def test_inference_runs_in_the_cameras_executor_never_on_the_event_loop(
    camera: CameraServer,
) -> None:
    counter = _ThreadRecordingCounter()
    await _until(CameraSource(_config(camera), counter), lambda s: len(_counts(s)) >= 12)
    assert counter.threads and all(name.startswith("cam-cam-1") for name in counter.threads)
    assert threading.main_thread().name not in counter.threads


def test_frame_health_flags_black_and_repeated_frames_but_not_a_noisy_live_one() -> None:
    health = FrameHealth(frozen_after_s=1.0, black_level=12.0)
    rng = np.random.default_rng(0)
    shelf = rng.integers(0, 255, (90, 160, 3)).astype(np.uint8)
    live = [
        np.clip(shelf + rng.normal(0, 1.0, shelf.shape), 0, 255).astype(np.uint8) for _ in range(3)
    ]
    assert [health.check(f, t).ok for t, f in enumerate(live)] == [True, True, True]
    assert health.check(live[2], 3.0).ok  # repeated, but not yet for 1 s
    assert health.check(live[2], 4.5).reason == "frozen"
    assert health.check(np.zeros_like(shelf), 5.0).reason == "black"
    assert health.check(live[0], 6.0).ok


async def test_the_simulators_printed_config_drives_the_driver(camera: CameraServer) -> None:
    """`--print-config` TOML -> parse_section -> CameraSource counts every lane it names."""
    await camera.next_frame()
    section = tomllib.loads(print_config(camera.sim, camera.url))["camera"]
    (config,) = parse_section({"model": str(DEFAULT_MODEL_DIR), **section})
    assert config.url.endswith("/frame.jpg") and len(config.lanes) == 6
    config = replace(config, interval_s=0.02)
    seen = await _until(CameraSource(config), lambda s: len(_counts(s)) >= 6)
    assert [c.lane for c in _counts(seen)] == [lane.id for lane in config.lanes]


def test_a_lane_naming_an_unknown_feed_is_a_config_error() -> None:
    section = {
        "feed": [{"id": "cam-1", "url": "x"}],
        "lane": [{"feed": "cam-2", "id": "a", "roi": [0, 0, 20, 20]}],
    }
    with pytest.raises(CameraError, match="unknown feed"):
        parse_section(section)


async def test_driver_reads_a_video_file_through_opencv(
    tmp_path: Path, counter: LaneCounter
) -> None:
    sim = CameraSim(lanes=4, seed=2, size=(640, 360), hands=0.0)
    frames = [sim.render(*sim.plan()[:3]) for _ in range(3)]
    video = tmp_path / "shelf.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (640, 360))
    for f in frames:
        writer.write(decode_jpeg(f.jpeg))
    writer.release()
    lanes = parse_lanes([{"id": t.id, "quad": t.quad} for t in frames[0].lanes])
    config = CameraConfig("cam-file", str(video), lanes, interval_s=0.0)
    seen = await _until(CameraSource(config, counter), lambda s: len(_counts(s)) >= 8)
    assert [c.lane for c in _counts(seen)[:4]] == ["L1", "L2", "L3", "L4"]
