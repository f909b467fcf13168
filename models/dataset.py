"""Lane crops with true counts, rendered by the camera simulator: the training and test data.

numpy + OpenCV only (no torch), so tests and `shelfsync bench vision` can build held-out sets.
Crops go through edge.camera.source.crop_lane, exactly as the gateway crops them.

Two kinds of scene:
- `random` (training, and the held-out sets of the model card): frames of 4..48 lanes at 960x540
  (60 %), 1280x720 (25 %) or 1920x1080 (15 %); every lane 1..8 front-row slots, count uniform in
  0..slots plus 20 % forced-empty lanes; half the products from the renderer's small catalog, half
  random (package, colour, shape — over every package's whole range of shapes,
  firmware_sim.render.ASPECTS — size, brand text); lighting/optics from
  firmware_sim.render.random_conditions(profile). Training jitters each ROI corner by up to
  `jitter` of the lane size (a hand-drawn ROI is never exact).
- `store` (measurement only, never trained on): what the camera simulator shows of a store world
  (firmware_sim/camera.py): the world's own products (firmware_sim.world.catalog) in lanes of
  `slots_for(product)` facings, 12..48 lanes per camera (the camera's default 12, the trading
  world's 24, up to the 48 bins a store may have), each frame a newly mounted camera.

Lanes fall in three classes that fail differently: `empty` (count 0), `partly` (some facings
empty) and `full` (every facing filled); `by_class` and `by_product` break the metrics down so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.camera.source import crop_lane, decode_jpeg
from firmware_sim import render as R
from firmware_sim import world as W
from firmware_sim.camera import look_of

SIZES = ((960, 540), (1280, 720), (1920, 1080))
SIZE_P = (0.6, 0.25, 0.15)
LANES = (4, 48)  # a camera sees 1..48 bins (`shelfsync sim camera --lanes`); training spans it
STORE_LANES = (12, 48)
STORE_SIZES = ((960, 540), (1280, 720), (1920, 1080))
STORE_SIZE_P = (0.25, 0.5, 0.25)  # the store simulator's camera is 1280x720, the camera sim's 1080p
SCENES = ("random", "store")
LANE_CLASSES = ("empty", "partly", "full")
RANDOM_LOOK = "(random look)"


@dataclass(frozen=True, slots=True)
class Crops:
    images: np.ndarray  # N x H x W x 3 uint8 BGR
    counts: np.ndarray  # N int64
    occluded: np.ndarray  # N float32, share of the ROI behind a hand
    frames: int
    slots: np.ndarray  # N int64, the lane's front-row facings
    products: np.ndarray  # N str, the product's name (RANDOM_LOOK for a made-up product)


def store_looks() -> tuple[R.Look, ...]:
    """The store world's products as the camera simulator draws them."""
    return tuple(look_of(p) for p in W.catalog())


def store_shelf(rng: np.random.Generator, n: int, empty_share: float = 0.2) -> list[R.LaneSpec]:
    """n lanes of the world's products as the camera simulator lays out bins (each product's
    `slots_for` facings), in a shuffled planogram so every product stands anywhere on the shelf;
    counts uniform in 0..slots plus `empty_share` forced-empty lanes, as in `random_shelf`."""
    looks = store_looks()
    order = [looks[int(i)] for i in rng.permutation(len(looks))]
    lanes = []
    for i in range(n):
        look = order[i % len(order)]
        slots = R.slots_for(look)
        count = 0 if rng.random() < empty_share else int(rng.integers(0, slots + 1))
        lanes.append(R.LaneSpec(f"L{i + 1}", look, slots, count))
    return lanes


def frames(
    seed: int,
    profile: str,
    lanes: tuple[int, int] = LANES,
    sizes: tuple[tuple[int, int], ...] = SIZES,
    size_p: tuple[float, ...] = SIZE_P,
    scene: str = "random",
) -> Iterator[tuple[np.ndarray, tuple[R.LaneTruth, ...], tuple[str, ...]]]:
    """Endless decoded frames (after JPEG, as a gateway sees them) with their truth and the name
    of each lane's product."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}: expected one of {SCENES}")
    rng = np.random.default_rng(seed)
    known = {look.name for look in (*R.CATALOG, *store_looks())}
    while True:
        n = int(rng.integers(lanes[0], lanes[1] + 1))
        shelf = R.random_shelf(rng, n, R.CATALOG) if scene == "random" else store_shelf(rng, n)
        cond = R.random_conditions(rng, profile)
        size = sizes[int(rng.choice(len(sizes), p=size_p))]
        # A store camera is mounted: its shelf and pose come from a layout seed (as in CameraSim).
        layout = int(rng.integers(2**31)) if scene == "store" else None
        frame = R.render_jpeg(shelf, cond, int(rng.integers(2**31)), size, layout_seed=layout)
        names = tuple(s.look.name if s.look.name in known else RANDOM_LOOK for s in shelf)
        yield decode_jpeg(frame.jpeg), frame.lanes, names


def make_crops(
    seed: int,
    n: int | None,
    profile: str = "train",
    jitter: float = 0.0,
    progress: bool = False,
    max_frames: int | None = None,
    **frame_kw: object,
) -> Crops:
    """n lane crops (None: every lane of `max_frames` frames) from the frames of `frames`."""
    if n is None and max_frames is None:
        raise ValueError("give n crops, max_frames frames, or both")
    rng = np.random.default_rng(seed + 1_000_003)
    images, counts, occl, slots, names = [], [], [], [], []
    used = 0
    for img, truths, products in frames(seed, profile, **frame_kw):  # type: ignore[arg-type]
        used += 1
        for t, product in zip(truths, products, strict=True):
            quad = np.array(t.quad, np.float32)
            if jitter:
                w = np.linalg.norm(quad[1] - quad[0])
                h = np.linalg.norm(quad[3] - quad[0])
                quad = quad + rng.uniform(-jitter, jitter, (4, 2)).astype(np.float32) * [w, h]
            images.append(crop_lane(img, quad))
            counts.append(t.count)
            occl.append(t.occluded)
            slots.append(t.slots)
            names.append(product)
        if progress and used % 50 == 0:
            print(f"  rendered {used} frames, {len(images)}/{n} crops", flush=True)
        if (n is not None and len(images) >= n) or used == max_frames:
            break
    n = len(images) if n is None else n
    return Crops(
        np.stack(images[:n]),
        np.array(counts[:n], np.int64),
        np.array(occl[:n], np.float32),
        used,
        np.array(slots[:n], np.int64),
        np.array(names[:n]),
    )


def lane_classes(counts: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Each lane's class: `empty` (0), `partly` (0 < count < slots) or `full` (count == slots)."""
    counts, slots = np.asarray(counts), np.asarray(slots)
    return np.where(counts == 0, "empty", np.where(counts < slots, "partly", "full"))


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


def by_class(pred: np.ndarray, crops: Crops, keep: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """`metrics` per lane class (empty, partly, full), over the lanes `keep` selects (all)."""
    keep = np.ones(len(crops.counts), bool) if keep is None else keep
    cls = lane_classes(crops.counts, crops.slots)
    return {c: metrics(pred[keep & (cls == c)], crops.counts[keep & (cls == c)]) for c in LANE_CLASSES}


def by_product(pred: np.ndarray, crops: Crops) -> dict[str, dict[str, object]]:
    """Exact share per product, overall and per lane class, with its facings and the wrong
    readings it got (truth -> read: lanes)."""
    out: dict[str, dict[str, object]] = {}
    cls = lane_classes(crops.counts, crops.slots)
    for name in sorted(set(crops.products.tolist())):
        sel = crops.products == name
        wrong: dict[str, int] = {}
        for t, p in zip(crops.counts[sel], pred[sel], strict=True):
            if t != p:
                wrong[f"{t}->{p}"] = wrong.get(f"{t}->{p}", 0) + 1
        right = pred == crops.counts
        out[name] = {
            "lanes": int(sel.sum()),
            "exact": float(np.mean(right[sel])),
            "classes": {
                c: {"lanes": int((sel & (cls == c)).sum()), "exact": float(np.mean(right[sel & (cls == c)]))}
                for c in LANE_CLASSES
                if (sel & (cls == c)).any()
            },
            "facings": sorted({int(s) for s in crops.slots[sel]}),
            "wrong": dict(sorted(wrong.items(), key=lambda kv: -kv[1])),
        }
    return out
