"""`shelfsync camera count`: count the lanes of one image with the shelf model.

Output: {"lanes": [{"id", "count", "confidence"}], "ms"} with --json, else a table. `ms` is the
time to crop and count every lane (model loading excluded). Lanes come from a JSON file (see
edge/sources/camera.py for the lane schema; the camera simulator's /truth.json works as is).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.sources.camera import DEFAULT_MODEL_DIR, CameraError, LaneCounter, load_lanes_file


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Shelf cameras. `count`: count the units in each lane of one image.",
        epilog="examples:\n"
        f"  {prog} count --image shelf.jpg --lanes lanes.json --json\n"
        "  # with the simulator: shelfsync sim camera --port 8081 --no-world &\n"
        "  curl -s localhost:8081/frame.jpg > f.jpg\n"
        "  curl -s localhost:8081/truth.json > lanes.json\n"
        f"  {prog} count --image f.jpg --lanes lanes.json\n"
        'lanes.json: {"lanes": [{"id": "A1-1", "roi": [x, y, w, h]}, '
        '{"id": "A1-2", "quad": [[x,y],[x,y],[x,y],[x,y]]}]}',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    count = sub.add_parser("count", help="count the lanes of one image")
    count.add_argument("--image", type=Path, required=True, help="a JPEG/PNG frame")
    count.add_argument("--lanes", type=Path, required=True, help="JSON with the lanes' ROIs")
    count.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory")
    count.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv: list[str], prog: str = "shelfsync camera") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        lanes = load_lanes_file(args.lanes)
        raw = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if raw is None:
            raise CameraError(f"{args.image}: not a readable image")
        frame = np.asarray(raw, np.uint8)
        counter = LaneCounter(args.model)
        started = time.perf_counter()
        counts = counter.count(frame, lanes)
        ms = (time.perf_counter() - started) * 1000
    except CameraError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    result = {
        "lanes": [
            {"id": lane.id, "count": n, "confidence": round(conf, 4)}
            for lane, (n, conf) in zip(lanes, counts, strict=True)
        ],
        "ms": round(ms, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for row in result["lanes"]:  # type: ignore[attr-defined]
            print(f"{row['id']:<12} {row['count']:>3}  ({row['confidence']:.2f})")
        print(f"{len(lanes)} lanes in {ms:.1f} ms")
    return 0
