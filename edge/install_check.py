"""`shelfsync check-install`: does this install of the gateway work on this machine?

deploy/pi/install.sh runs it on a new release before switching `/opt/shelfsync/current` to it.
`shelfsync --help` imports none of the device libraries, so a release whose pymodbus, sllurp,
pyserial, OpenCV or onnxruntime cannot load here (a build for another architecture, a missing
system library) would pass that and fail at the gateway's start, after the switch. This imports
what the gateway imports and, with --camera, the camera libraries, then loads the shelf-counting
model (its sha256 checked against the manifest) and counts one blank crop with it.

One line per check ("ok   NAME  detail" or "FAIL NAME: reason"); exit 0 when every check passed,
1 when one failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

EPILOG = """examples:
  shelfsync check-install             the gateway without cameras (a 32-bit OS)
  shelfsync check-install --camera    and OpenCV, onnxruntime and the camera model
"""

# (what the gateway uses it for, module to import, distribution whose version to show)
DEVICE_LIBRARIES = (
    ("the gateway", "edge.runtime", "shelfsync"),
    ("pymodbus", "pymodbus.client", "pymodbus"),  # weight shelves (Modbus RTU/TCP)
    ("sllurp", "sllurp.llrp", "sllurp"),  # RFID readers (LLRP)
    ("pyserial", "serial", "pyserial"),  # Modbus RTU and serial scanners
)
CAMERA_LIBRARIES = (
    ("OpenCV", "cv2", "opencv-python-headless"),
    ("onnxruntime", "onnxruntime", "onnxruntime"),
)
CAMERA_HINT = "cameras need a 64-bit OS (onnxruntime and OpenCV have no 32-bit builds)"


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _import(module: str, distribution: str) -> Callable[[], str]:
    def check() -> str:
        importlib.import_module(module)
        return _version(distribution)
    return check


def _model(model_dir: Path) -> Callable[[], str]:
    def check() -> str:
        from edge.camera.source import INPUT_H, INPUT_W, LaneCounter, require_camera_part

        require_camera_part()  # says why, rather than which module is missing
        import numpy as np

        counter = LaneCounter(model_dir)
        counter.count_crops([np.zeros((INPUT_H, INPUT_W, 3), np.uint8)])
        return f"{model_dir} (sha256 {counter.manifest.sha256[:12]}…)"
    return check


def run_checks(camera: bool, model_dir: Path | None, out: Callable[[str], None]) -> bool:
    """Run every check, reporting each through `out`; True when all passed."""
    checks: list[tuple[str, Callable[[], str], str]] = [
        (name, _import(module, dist), "") for name, module, dist in DEVICE_LIBRARIES
    ]
    if camera:
        from edge.camera.source import DEFAULT_MODEL_DIR

        checks += [(name, _import(module, dist), CAMERA_HINT) for name, module, dist in CAMERA_LIBRARIES]
        checks.append(("camera model", _model(model_dir or DEFAULT_MODEL_DIR), ""))
    passed = True
    for name, check, hint in checks:
        try:
            detail = check()
        # Whatever a broken build raises on import (ImportError, OSError from a shared library,
        # CameraError from the model) is the answer to report, never a traceback.
        except Exception as e:
            passed = False
            out(f"FAIL {name}: {e}" + (f"; {hint}" if hint else ""))
        else:
            out(f"ok   {name}  {detail}".rstrip())
    return passed


def main(argv: list[str] | None = None, prog: str = "shelfsync check-install") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--camera", action="store_true",
                        help="also OpenCV, onnxruntime and the camera model")
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="the model directory to load (default: the bundled shelf_counter)")
    args = parser.parse_args(argv)
    ok = run_checks(args.camera, args.model, print)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
