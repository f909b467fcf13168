"""`shelfsync check-install`: the check deploy/pi/install.sh runs on a new release before it
switches to it (issue 14). `shelfsync --help` imports none of the device libraries; this imports
what the gateway imports and, with --camera, OpenCV and onnxruntime, and loads the camera model.

A library that cannot load here is played by a subprocess whose `sys.modules` holds None for it,
which makes importing it fail as a missing or broken build does. Without the camera part (a
32-bit OS) the rest of the gateway still imports and runs; a [camera] section says why not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from edge.camera.source import DEFAULT_MODEL_DIR

CAMERA_PART = ("cv2", "numpy", "onnxruntime")


def shelfsync(*args: str | Path, missing: tuple[str, ...] = (),
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`shelfsync ARGS` in a fresh interpreter in which the modules `missing` cannot import."""
    code = (f"import sys; sys.modules.update(dict.fromkeys({list(missing)!r}))\n"
            "from shelfsync.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd)


def test_the_check_with_cameras_imports_the_device_libraries_and_loads_the_model() -> None:
    done = shelfsync("check-install", "--camera")
    assert done.returncode == 0, done.stdout + done.stderr
    for part in ("pymodbus", "sllurp", "pyserial", "OpenCV", "onnxruntime", "camera model"):
        assert f"ok   {part}" in done.stdout, done.stdout


def test_a_device_library_that_does_not_load_fails_the_check_naming_it() -> None:
    done = shelfsync("check-install", missing=("sllurp",))
    assert done.returncode == 1
    assert "FAIL sllurp" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_model_that_is_not_the_measured_one_fails_the_check(tmp_path: Path) -> None:
    model = tmp_path / "shelf_counter"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    onnx = model / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-16] + bytes(16))
    done = shelfsync("check-install", "--camera", "--model", model)
    assert done.returncode == 1
    assert "FAIL camera model" in done.stdout and "sha256" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_without_the_camera_part_the_camera_check_says_cameras_need_a_64_bit_os() -> None:
    done = shelfsync("check-install", "--camera", missing=("onnxruntime",))
    assert done.returncode == 1
    assert "FAIL onnxruntime" in done.stdout
    assert "64-bit" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_without_the_camera_part_the_rest_of_the_gateway_imports() -> None:
    done = shelfsync("check-install", missing=CAMERA_PART)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   the gateway" in done.stdout


def test_a_gateway_without_the_camera_part_refuses_a_camera_section_saying_why(
    tmp_path: Path,
) -> None:
    (tmp_path / "store.toml").write_text("""
[store]
id = "sh-0042"
data_dir = "var"

[mqtt]
url = "mqtt://127.0.0.1:1"

[http]
listen = "127.0.0.1:0"
token = "a-long-pos-token"

[camera]
[[camera.feed]]
id = "cam-a1"
url = "http://127.0.0.1:1/frame.jpg"

[[camera.lane]]
feed = "cam-a1"
id = "A1-1"
sku = "06923450000106"
roi = [0, 0, 64, 32]
""")
    done = shelfsync("gateway", "--config", tmp_path / "store.toml", missing=CAMERA_PART,
                     cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # After the start-up log of what the config holds: one line, the reason.
    assert done.stderr.strip().splitlines()[-1].startswith(
        "shelfsync gateway: cameras need a 64-bit OS"), done.stderr
