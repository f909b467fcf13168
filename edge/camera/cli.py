"""`shelfsync camera count`: count the lanes of one image with the shelf model.

Output: {"lanes": [{"id", "count", "confidence"}], "ms"} with --json, else a table. `ms` is the
time to crop and count every lane (model loading excluded). Lanes come from a JSON file (see
edge/camera/source.py for the lane schema; the camera simulator's /truth.json works as is).

An image cut short (no JPEG end-of-image marker) and a lane lying outside the picture are errors
(exit 1, nothing counted): either would give confident counts of what is not there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edge.camera.source import (
    DEFAULT_MODEL_DIR,
    CameraError,
    LaneCounter,
    decode_jpeg,
    lanes_outside,
    load_lanes_file,
    require_camera_part,
)


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
        require_camera_part()
        lanes = load_lanes_file(args.lanes)
        try:
            frame = decode_jpeg(args.image.read_bytes())
        except (OSError, CameraError) as e:
            raise CameraError(f"{args.image}: not a readable image: {e}") from e
        outside = lanes_outside(frame, lanes)
        if outside:
            raise CameraError("; ".join(outside.values()))
        counter = LaneCounter(args.model)
        started = time.perf_counter()
        counts = counter.count(frame, lanes)
        ms = (time.perf_counter() - started) * 1000
    except CameraError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    rows = [{"id": lane.id, "count": n, "confidence": round(conf, 4)}
            for lane, (n, conf) in zip(lanes, counts, strict=True)]
    if args.json:
        print(json.dumps({"lanes": rows, "ms": round(ms, 2)}))
    else:
        for row in rows:
            print(f"{row['id']:<12} {row['count']:>3}  ({row['confidence']:.2f})")
        print(f"{len(lanes)} lanes in {ms:.1f} ms")
    return 0
