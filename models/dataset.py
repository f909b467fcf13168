"""Lane crops with true counts, rendered by the camera simulator: the training and test data.

numpy + OpenCV only (no torch), so tests and `shelfsync bench vision` can build held-out sets.
Crops go through edge.camera.source.crop_lane, exactly as the gateway crops them.

Recipe (also written into manifest.json): frames of 4..24 lanes at 960x540 (60 %), 1280x720
(25 %) or 1920x1080 (15 %); every lane 1..8 front-row slots, count uniform in 0..slots plus 20 %
forced-empty lanes; half the products from the built-in catalog, half random (package, colour,
size, brand text); lighting/optics from firmware_sim.render.random_conditions(profile). Training
jitters each ROI corner by up to `jitter` of the lane size (a hand-drawn ROI is never exact).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.camera.source import crop_lane, decode_jpeg
from firmware_sim import render as R

SIZES = ((960, 540), (1280, 720), (1920, 1080))
SIZE_P = (0.6, 0.25, 0.15)


@dataclass(frozen=True, slots=True)
class Crops:
    images: np.ndarray  # N x H x W x 3 uint8 BGR
    counts: np.ndarray  # N int64
    occluded: np.ndarray  # N float32, share of the ROI behind a hand
    frames: int


def frames(
    seed: int,
    profile: str,
    lanes: tuple[int, int] = (4, 24),
    sizes: tuple[tuple[int, int], ...] = SIZES,
    size_p: tuple[float, ...] = SIZE_P,
) -> Iterator[tuple[np.ndarray, tuple[R.LaneTruth, ...]]]:
    """Endless decoded frames (after JPEG, as a gateway sees them) with their truth."""
    rng = np.random.default_rng(seed)
    while True:
        n = int(rng.integers(lanes[0], lanes[1] + 1))
        shelf = R.random_shelf(rng, n, R.CATALOG)
        cond = R.random_conditions(rng, profile)
        size = sizes[int(rng.choice(len(sizes), p=size_p))]
        frame = R.render_jpeg(shelf, cond, int(rng.integers(2**31)), size)
        yield decode_jpeg(frame.jpeg), frame.lanes


def make_crops(
    seed: int,
    n: int,
    profile: str = "train",
    jitter: float = 0.0,
    progress: bool = False,
    **frame_kw: object,
) -> Crops:
    rng = np.random.default_rng(seed + 1_000_003)
    images, counts, occl = [], [], []
    used = 0
    for img, truths in frames(seed, profile, **frame_kw):  # type: ignore[arg-type]
        used += 1
        for t in truths:
            quad = np.array(t.quad, np.float32)
            if jitter:
                w = np.linalg.norm(quad[1] - quad[0])
                h = np.linalg.norm(quad[3] - quad[0])
                quad = quad + rng.uniform(-jitter, jitter, (4, 2)).astype(np.float32) * [w, h]
            images.append(crop_lane(img, quad))
            counts.append(t.count)
            occl.append(t.occluded)
        if progress and used % 50 == 0:
            print(f"  rendered {used} frames, {len(images)}/{n} crops", flush=True)
        if len(images) >= n:
            break
    return Crops(
        np.stack(images[:n]), np.array(counts[:n], np.int64), np.array(occl[:n], np.float32), used
    )


def metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Exact-count share, mean absolute error, and empty-lane recall/precision."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    empty_t, empty_p = truth == 0, pred == 0
    tp = int(np.sum(empty_t & empty_p))
    return {
        "lanes": len(truth),
        "exact": float(np.mean(pred == truth)) if len(truth) else float("nan"),
        "mae": float(np.mean(np.abs(pred - truth))) if len(truth) else float("nan"),
        "empty_lanes": int(empty_t.sum()),
        "empty_recall": tp / max(1, int(empty_t.sum())),
        "empty_precision": tp / max(1, int(empty_p.sum())),
    }
