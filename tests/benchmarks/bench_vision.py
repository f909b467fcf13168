"""`shelfsync bench vision`: speed, size, memory and accuracy of the shelf lane counter.

Speed on ONE core (onnxruntime intra-op threads = 1), medians of several rounds:
- per lane crop: one 64x128 crop through the model (batch 1);
- per 1080p frame of 20 lanes: JPEG decode + 20 perspective crops + one batch of 20;
- baseline in the same run: the same frame without the model (decode + crops + preprocessing),
  so the model's own share is visible.
Memory: RSS of a fresh process that imports the camera driver, loads the model and counts a frame
(what the camera part adds to a gateway).

Accuracy, on renders from seeds training never draws (`--seed`, `--frames` frames per set;
models/dataset.py), through the gateway's LaneCounter:
- `heldout`: random shelves in lighting/blur bands training never draws;
- `hard`: random shelves in lighting/blur beyond every training band;
- `store`: the store world's own products as the camera simulator shows them (no such scene is
  ever trained on), with the exact share per product and the worst products.
For each set: exact-count share, MAE and empty-lane recall/precision for all lanes, for lanes not
covered by a hand, and per lane class (empty, partly empty, full; unoccluded lanes).
Targets (issue 5): ≤ 10 ms per lane here, ≤ 200 MB RSS, exact ≥ 97 %, MAE ≤ 0.05, empty recall
≥ 0.995 at precision ≥ 0.99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.camera.source import (  # noqa: E402
    DEFAULT_MODEL_DIR,
    CameraError,
    LaneCounter,
    crop_lane,
    decode_jpeg,
    preprocess,
)
from firmware_sim import render as R  # noqa: E402
from models import dataset  # noqa: E402
from models.train import HELDOUT_SEED  # noqa: E402

RSS_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from edge.camera.source import LaneCounter, Lane
counter = LaneCounter()
frame = np.zeros((1080, 1920, 3), np.uint8)
counter.count(frame, [Lane(str(i), ((0, 0), (300, 0), (300, 200), (0, 200))) for i in range(20)])
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0]))
"""


def _median_ms(fn, rounds: int, inner: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - started) * 1000 / inner)
    return statistics.median(samples)


def _frame_20_lanes(seed: int) -> tuple[bytes, list[tuple[tuple[float, float], ...]]]:
    rng = np.random.default_rng(seed)
    frame = R.render_jpeg(
        R.random_shelf(rng, 20, R.CATALOG), R.random_conditions(rng, "heldout"), seed, (1920, 1080)
    )
    return frame.jpeg, [t.quad for t in frame.lanes]


def measure(rounds: int, model_dir: Path) -> dict[str, object]:
    counter = LaneCounter(model_dir, threads=1)
    jpeg, quads = _frame_20_lanes(HELDOUT_SEED + 99)
    frame = decode_jpeg(jpeg)
    one = [crop_lane(frame, quads[0])]
    counter.count_crops(one)  # warm up

    def whole_frame() -> None:
        img = decode_jpeg(jpeg)
        counter.count_crops([crop_lane(img, q) for q in quads])

    def baseline() -> None:
        img = decode_jpeg(jpeg)
        preprocess([crop_lane(img, q) for q in quads])

    speed = {
        "ms_per_lane_crop": round(_median_ms(lambda: counter.count_crops(one), rounds, 50), 3),
        "ms_per_1080p_frame_20_lanes": round(_median_ms(whole_frame, rounds, 5), 2),
        "ms_per_1080p_frame_without_model": round(_median_ms(baseline, rounds, 5), 2),
    }
    rss_kb, peak_kb = (
        int(v)
        for v in subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT.format(root=str(ROOT))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    )
    model_file = model_dir / counter.manifest.file
    return {
        "machine": "this host, onnxruntime on 1 thread",
        **speed,
        "model_bytes": model_file.stat().st_size,
        "model_sha256": counter.manifest.sha256,
        "rss_mb_with_model": round(rss_kb / 1024, 1),
        "peak_rss_mb_with_model": round(peak_kb / 1024, 1),
        "targets": {
            "ms_per_lane": 10,
            "rss_mb": 200,
            "exact": 0.97,
            "mae": 0.05,
            "empty_recall": 0.995,
            "empty_precision": 0.99,
        },
    }


# (set name, profile, scene): the sets measured, each from its own seed (--seed + index).
SETS = (("heldout", "heldout", "random"), ("hard", "hard", "random"), ("store", "heldout", "store"))


def accuracy(seed: int, frames: int, model_dir: Path) -> dict[str, object]:
    """Every set of SETS rendered from `seed` + its index, `frames` frames each, counted by the
    gateway's LaneCounter."""
    counter = LaneCounter(model_dir, threads=1)
    out: dict[str, object] = {"seed": seed, "frames_per_set": frames}
    for i, (name, profile, scene) in enumerate(SETS):
        data = dataset.make_crops(seed + i, None, profile, max_frames=frames, scene=scene)
        pred = np.array([n for n, _ in counter.count_crops(list(data.images))])
        clear = data.occluded < 0.05
        result: dict[str, object] = {
            "seed": seed + i,
            "profile": profile,
            "scene": scene,
            "frames": data.frames,
            "all": dataset.metrics(pred, data.counts),
            "unoccluded": dataset.metrics(pred[clear], data.counts[clear]),
            "classes": dataset.by_class(pred, data, clear),
        }
        if scene == "store":
            products = dataset.by_product(pred, data)
            result["products"] = products
            result["worst"] = sorted(products, key=lambda p: products[p]["exact"])[:5]  # type: ignore[arg-type, return-value]
        out[name] = result
    return out


def _row(label: str, m: dict[str, float]) -> str:
    return (
        f"accuracy {label:<22} lanes {m['lanes']:>5}  exact {m['exact']:.4f}  "
        f"MAE {m['mae']:.4f}  empty recall {m['empty_recall']:.4f}  "
        f"precision {m['empty_precision']:.4f}"
    )


def report(result: dict[str, object]) -> list[str]:
    """The human-readable lines of a result (what --json prints as JSON)."""
    lines = []
    for key, value in result.items():
        if key == "accuracy":
            acc: dict = value  # type: ignore[assignment, type-arg]
            lines.append(f"accuracy seed {acc['seed']} (+0 heldout, +1 hard, +2 store), "
                         f"{acc['frames_per_set']} frames per set")
            for name, _, _ in SETS:
                r = acc[name]
                lines.append(_row(f"{name} all", r["all"]))
                lines.append(_row(f"{name} unoccluded", r["unoccluded"]))
                for cls, m in r["classes"].items():  # empty recall is a figure of all lanes only
                    lines.append(
                        f"accuracy {name + ' ' + cls:<22} lanes {m['lanes']:>5}  "
                        f"exact {m['exact']:.4f}  MAE {m['mae']:.4f}"
                    )
            store = acc["store"]
            for product in store["worst"]:
                p = store["products"][product]
                classes = ", ".join(
                    f"{c} {m['exact']:.4f} of {m['lanes']}" for c, m in p["classes"].items()
                )
                lines.append(
                    f"worst store product {product!r} (facings {p['facings']}): "
                    f"exact {p['exact']:.4f} of {p['lanes']} lanes ({classes}); "
                    f"wrong (truth->read: lanes) {p['wrong']}"
                )
        elif key != "targets":
            lines.append(f"{key:<34} {value}")
    return lines


def main(argv: list[str], prog: str = "shelfsync bench vision") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog=f"example: {prog} --json --seed {HELDOUT_SEED + 50} --frames 150",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=7, help="speed: rounds per median")
    parser.add_argument(
        "--seed",
        type=int,
        default=HELDOUT_SEED + 50,
        help="accuracy: the sets render from SEED, SEED+1, SEED+2 (training renders from "
        "1000 x its --seed, the model card's sets from 900001..900003)",
    )
    parser.add_argument("--frames", type=int, default=150, help="accuracy: frames per set")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    if args.frames < 1 or args.rounds < 1:
        parser.error("--frames and --rounds must be at least 1")
    try:
        LaneCounter(args.model)  # a bad model is a clear error, before minutes of rendering
    except CameraError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(
        f"measuring (rendering {3 * args.frames} held-out frames takes a few minutes) ...",
        file=sys.stderr,
        flush=True,
    )
    result = {} if args.no_speed else measure(args.rounds, args.model)
    result["accuracy"] = accuracy(args.seed, args.frames, args.model)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("\n".join(report(result)))
    return 0
