"""Frames and lanes the camera cannot count are unavailable, never counted (issue 14): a JPEG
cut short, a lane that lies outside the picture. The driver against the camera simulator over
real HTTP; the shelves snapshot through the gateway's Shelves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from edge.camera.source import CameraConfig, CameraError, CameraSource, LaneCounter, decode_jpeg, parse_lanes
from edge.fusion.domain import CameraStatus, LaneCount, Observation
from edge.shelves import Shelves
from firmware_sim.camera import CameraServer
from shared import contract
from shared.contract import Stream

SKU = "06923450000106"


def _config(camera: CameraServer, *, extra: tuple[dict[str, object], ...] = ()) -> CameraConfig:
    lanes, cond, seed, _ = camera.sim.plan()
    frame = camera.sim.render(lanes, cond, seed)
    lane_list = [{"id": t.id, "quad": t.quad, "bin": t.id, "sku": SKU} for t in frame.lanes]
    return CameraConfig("cam-1", camera.url + "/frame.jpg", parse_lanes([*lane_list, *extra]),
                        interval_s=0.02, frozen_after_s=5.0, timeout_s=2.0)


async def _until(source: CameraSource, done: Callable[[list[Observation]], bool],
                 limit_s: float = 15.0) -> list[Observation]:
    seen: list[Observation] = []
    async with asyncio.timeout(limit_s), contextlib.aclosing(source.observations()) as stream:
        async for obs in stream:
            seen.append(obs)
            if done(seen):
                break
    return seen


def _counts(seen: list[Observation]) -> list[LaneCount]:
    return [o for o in seen if isinstance(o, LaneCount)]


def test_a_jpeg_without_its_end_of_image_marker_is_refused(camera: CameraServer) -> None:
    lanes, cond, seed, _ = camera.sim.plan()
    jpeg = camera.sim.render(lanes, cond, seed).jpeg
    assert decode_jpeg(jpeg + bytes(8)).shape[:2] == (450, 800)  # zero padding after EOI is fine
    for cut in (len(jpeg) // 2, len(jpeg) - 2):
        with pytest.raises(CameraError, match="truncated JPEG"):
            decode_jpeg(jpeg[:cut])


async def test_a_truncated_frame_is_never_counted_and_the_camera_says_why(
    camera: CameraServer, counter: LaneCounter
) -> None:
    await camera.set_faults(truncated=True)
    seen = await _until(CameraSource(_config(camera), counter),
                        lambda s: any(isinstance(o, CameraStatus) for o in s) or len(s) > 12)
    assert not _counts(seen)
    status = next(o for o in seen if isinstance(o, CameraStatus))
    assert not status.available and "truncated JPEG" in status.reason

    await camera.set_faults(truncated=False)
    seen = await _until(CameraSource(_config(camera), counter), lambda s: len(_counts(s)) >= 6)
    assert next(o for o in seen if isinstance(o, CameraStatus)).available


OUTSIDE = {"id": "OUT", "bin": "OUT", "sku": SKU,
           "quad": [[820, 100], [1000, 100], [1000, 160], [820, 160]]}  # right of an 800x450 frame


async def test_a_lane_outside_the_picture_is_unavailable_and_never_counted(
    camera: CameraServer, counter: LaneCounter
) -> None:
    config = _config(camera, extra=(OUTSIDE,))
    seen = await _until(CameraSource(config, counter), lambda s: len(_counts(s)) >= 12)
    counted = {c.lane for c in _counts(seen)}
    assert "OUT" not in counted
    assert counted == {lane.id for lane in config.lanes} - {"OUT"}
    from edge.fusion.domain import LaneUnavailable

    (gone,) = [o for o in seen if isinstance(o, LaneUnavailable)]  # once, not every frame
    assert gone.lane == "OUT" and "800x450" in gone.reason


async def test_a_counted_lane_that_leaves_the_picture_turns_unavailable_in_the_snapshot(
    camera: CameraServer,
) -> None:
    """The camera's resolution is changed on the camera: lanes drawn for the old picture now
    lie partly outside the new one. Their last count must not stand as if still seen."""
    config = _config(camera)
    published: asyncio.Queue[contract.ShelfSnapshot] = asyncio.Queue()

    def publish(stream: Stream, payload: bytes, retain: bool) -> None:
        published.put_nowait(contract.decode_snapshot(payload))

    shelves = Shelves(None, [config], "sh-1", "gw-1", publish, debounce_s=0.05)
    running = asyncio.create_task(shelves.run())
    try:
        async with asyncio.timeout(20):
            while True:
                first = await published.get()
                if len(first.bins) == 6 and all(b.available for b in first.bins):
                    break
            # In 400x225, L1 (46..280 x 26..213) is still wholly inside; L2 is half outside,
            # the others wholly.
            camera.sim.size = (400, 225)
            expected = {"L1": True} | {f"L{i}": False for i in range(2, 7)}
            while {b.bin: b.available for b in (await published.get()).bins} != expected:
                pass
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
