"""Fixtures for the shelf-camera tests: the camera simulator on a free port, the committed model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.camera.source import DEFAULT_MODEL_DIR, LaneCounter
from firmware_sim.camera import CameraServer, CameraSim

# Small frames keep rendering at a few ms; 6 lanes of the built-in catalog, fixed counts.
SIZE = (800, 450)
LANES = 6
COUNTS = (2, 0, 1, 1, 0, 3)  # slots of CATALOG[0..5]: 2, 2, 2, 1, 5, 3


@pytest.fixture(scope="session")
def counter() -> LaneCounter:
    return LaneCounter(DEFAULT_MODEL_DIR)


@pytest.fixture
def model_dir() -> Path:
    return DEFAULT_MODEL_DIR


@pytest.fixture
async def camera() -> AsyncIterator[CameraServer]:
    sim = CameraSim(lanes=LANES, seed=3, size=SIZE, profile="heldout", hands=0.0)
    sim.set_counts(COUNTS)
    async with CameraServer(sim, fps=20.0) as server:
        yield server
