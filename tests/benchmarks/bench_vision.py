"""`shelfsync bench vision`: speed, size, memory and accuracy of the shelf lane counter.

Speed on ONE core (onnxruntime intra-op threads = 1), medians of several rounds:
- per lane crop: one 64x128 crop through the model (batch 1);
- per 1080p frame of 20 lanes: JPEG decode + 20 perspective crops + one batch of 20;
- baseline in the same run: the same frame without the model (decode + crops + preprocessing),
  so the model's own share is visible.
Memory: RSS of a fresh process that imports the camera driver, loads the model and counts a frame
(what the camera part adds to a gateway). Accuracy: held-out renders (models/dataset.py; seed and
lighting/blur bands never used in training), exact-count share, MAE and empty-lane
recall/precision, for all lanes and for lanes not covered by a hand. Targets (issue 5): ≤ 10 ms per
lane here, ≤ 200 MB RSS, exact ≥ 97 %, MAE ≤ 0.05, empty recall ≥ 0.995 at precision ≥ 0.99.
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


def measure(rounds: int, crops: int, model_dir: Path) -> dict[str, object]:
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
    accuracy: dict[str, object] = {}
    for i, profile in enumerate(("heldout", "hard")):
        data = dataset.make_crops(HELDOUT_SEED + 50 + i, crops, profile)
        pred = np.array([n for n, _ in counter.count_crops(list(data.images))])
        clear = data.occluded < 0.05
        accuracy[profile] = {
            "all": dataset.metrics(pred, data.counts),
            "unoccluded": dataset.metrics(pred[clear], data.counts[clear]),
        }
    return {
        "machine": "this host, onnxruntime on 1 thread",
        **speed,
        "model_bytes": model_file.stat().st_size,
        "model_sha256": counter.manifest.sha256,
        "rss_mb_with_model": round(rss_kb / 1024, 1),
        "peak_rss_mb_with_model": round(peak_kb / 1024, 1),
        "accuracy": accuracy,
        "targets": {
            "ms_per_lane": 10,
            "rss_mb": 200,
            "exact": 0.97,
            "mae": 0.05,
            "empty_recall": 0.995,
            "empty_precision": 0.99,
        },
    }


def main(argv: list[str], prog: str = "shelfsync bench vision") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog=f"example: {prog} --json --crops 3000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--crops", type=int, default=2000, help="held-out lane crops per profile")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    print(
        f"measuring (rendering {2 * args.crops} held-out crops takes a minute) ...",
        file=sys.stderr,
        flush=True,
    )
    result = measure(args.rounds, args.crops, args.model)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        if key == "accuracy":
            for profile, sets in value.items():  # type: ignore[attr-defined]
                for name, m in sets.items():
                    print(
                        f"accuracy {profile:<8} {name:<10} lanes {m['lanes']:>5}  "
                        f"exact {m['exact']:.4f}  "
                        f"MAE {m['mae']:.4f}  empty recall {m['empty_recall']:.4f}  "
                        f"precision {m['empty_precision']:.4f}"
                    )
        elif key != "targets":
            print(f"{key:<34} {value}")
    return 0
