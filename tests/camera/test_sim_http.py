"""The camera simulator over real HTTP: JPEG, MJPEG, truth and the fault switches."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp
import cv2
import numpy as np
import pytest

from firmware_sim.camera import CameraServer
from tests.camera.conftest import COUNTS, LANES, SIZE


async def _get(url: str) -> bytes:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        r.raise_for_status()
        return await r.read()


def _decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


async def test_frame_jpg_is_a_jpeg_of_the_configured_size(camera: CameraServer) -> None:
    img = _decode(await _get(camera.url + "/frame.jpg"))
    assert img.shape == (SIZE[1], SIZE[0], 3)


async def test_truth_describes_the_frame_served_last(camera: CameraServer) -> None:
    await _get(camera.url + "/frame.jpg")
    async with aiohttp.ClientSession() as s, s.get(camera.url + "/truth.json") as r:
        truth = await r.json()
    assert truth["frame"] == 1
    assert [lane["count"] for lane in truth["lanes"]] == list(COUNTS)
    assert len(truth["lanes"]) == LANES and all(len(lane["quad"]) == 4 for lane in truth["lanes"])


async def test_mjpeg_stream_delivers_successive_multipart_jpegs(camera: CameraServer) -> None:
    async with aiohttp.ClientSession() as s, s.get(camera.url + "/stream.mjpg") as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        reader = aiohttp.MultipartReader.from_response(r)
        frames = []
        while len(frames) < 2:
            part = await reader.next()
            assert part is not None
            frames.append(await part.read())  # type: ignore[union-attr]
    assert all(_decode(f).shape == (SIZE[1], SIZE[0], 3) for f in frames)
    assert frames[0] != frames[1]  # fresh noise and light every frame


async def test_frozen_fault_serves_the_same_bytes_again(camera: CameraServer) -> None:
    first = await _get(camera.url + "/frame.jpg")
    await camera.set_faults(frozen=True)
    assert await _get(camera.url + "/frame.jpg") == first
    await camera.set_faults(frozen=False)
    assert await _get(camera.url + "/frame.jpg") != first


async def test_black_fault_serves_a_dark_frame_switched_over_http(camera: CameraServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(camera.url + "/faults", json={"black": True}) as r:
            assert (await r.json())["black"] is True
        async with s.post(camera.url + "/faults", json={"black": "yes"}) as r:
            assert r.status == 400
    img = _decode(await _get(camera.url + "/frame.jpg"))
    assert img.mean() < 8


async def test_disconnect_fault_refuses_connections_until_reconnected(camera: CameraServer) -> None:
    await _get(camera.url + "/frame.jpg")
    await camera.set_faults(disconnect=True)
    with pytest.raises(aiohttp.ClientError):
        await _get(camera.url + "/frame.jpg")
    await camera.set_faults(disconnect=False)
    assert _decode(await _get(camera.url + "/frame.jpg")).shape[0] == SIZE[1]


async def test_cli_serves_the_store_worlds_bins_and_stops_cleanly_on_sigterm() -> None:
    """`shelfsync sim camera --port 0 --lanes 4 --seed 7`: lanes are world bins with their GTINs."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shelfsync.cli",
        "sim",
        "camera",
        "--port",
        "0",
        "--lanes",
        "4",
        "--seed",
        "7",
        "--size",
        "640x360",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(20):
            line = (await proc.stderr.readline()).decode()
        url = re.search(r"http://\S+", line)
        assert url, line
        await _get(url.group(0) + "/frame.jpg")
        async with aiohttp.ClientSession() as s, s.get(url.group(0) + "/truth.json") as r:
            truth = await r.json()
        assert [lane["bin"] for lane in truth["lanes"]] == ["A1-1", "A1-2", "A1-3", "A1-4"]
        assert all(
            len(lane["sku"]) == 14 and lane["count"] <= lane["slots"] for lane in truth["lanes"]
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
