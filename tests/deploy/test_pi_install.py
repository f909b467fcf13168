"""deploy/pi/install.sh installs a release, and an upgrade switches to the next one while the
outbox in /var/lib/shelfsync stays as it was; a release that does not install leaves the current
one running. Staged under SHELFSYNC_INSTALL_ROOT (no apt, users or systemctl) with stand-in
`shelfsync` wheels made here, so it runs offline in seconds rather than building the project."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "pi" / "install.sh"

pytestmark = pytest.mark.slow  # each run makes a virtualenv (~8 s on the shared machine)


def make_wheel(dist: Path, name: str, version: str, files: dict[str, str],
               metadata: str = "", entry_points: str = "") -> Path:
    """A minimal PEP 427 wheel holding `files`."""
    info = f"{name}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}",
        f"{info}/WHEEL":
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = dist / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def stub_wheel(dist: Path, version: str, *, requires: tuple[str, ...] = (),
               check_fails: bool = False) -> Path:
    """A wheel named shelfsync whose console script prints its version, and answers
    `shelfsync check-install [ARGS]` by printing its arguments; with check_fails, as a release
    whose device libraries do not load on this machine does (its --help still works)."""
    code = f"""import sys


def main():
    args = sys.argv[1:]
    if args[:1] == ["check-install"]:
        print("shelfsync {version} check-install", *args[1:])
        if {check_fails!r}:
            print("FAIL onnxruntime: libonnxruntime.so: cannot open shared object file",
                  file=sys.stderr)
            return 1
        return 0
    print('shelfsync {version}')
    return 0
"""
    # The extras the real package has (pyproject.toml): install.sh asks for [edge] or [edge,camera].
    metadata = "".join(f"Requires-Dist: {r}\n" for r in requires)
    metadata += "".join(f"Provides-Extra: {extra}\n" for extra in ("edge", "camera", "cloud", "sim", "test"))
    return make_wheel(dist, "shelfsync", version, {"shelfsync_stub.py": code}, metadata,
                      "[console_scripts]\nshelfsync = shelfsync_stub:main\n")


def install(root: Path, wheels: Path, version: str,
            arch: str | None = None, source: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHELFSYNC_INSTALL_ROOT": str(root)}
    if arch is not None:
        env["SHELFSYNC_INSTALL_ARCH"] = arch  # as `dpkg --print-architecture` names it
    return subprocess.run(
        ["nice", str(INSTALL), "--from", source or f"shelfsync=={version}", "--wheels", str(wheels)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )


def shelfsync_version(root: Path) -> str:
    current = root / "opt" / "shelfsync" / "current" / "bin" / "shelfsync"
    return subprocess.run(
        [str(current)], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def test_an_upgrade_switches_release_and_keeps_the_outbox(tmp_path: Path) -> None:
    if shutil.which("python3") is None:
        pytest.skip("python3 is not on PATH")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    stub_wheel(wheels, "0.1.0")
    stub_wheel(wheels, "0.2.0")
    root = tmp_path / "root"

    first = install(root, wheels, "0.1.0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert shelfsync_version(root) == "shelfsync 0.1.0"
    assert (root / "etc/systemd/system/shelfsync-gateway.service").read_text() == (
        REPO / "deploy/systemd/shelfsync-gateway.service"
    ).read_text()
    assert (root / "etc/systemd/journald.conf.d/shelfsync.conf").exists()
    assert "write " in first.stdout and "store.toml" in first.stdout  # the next steps

    outbox = root / "var/lib/shelfsync/outbox.sqlite3"
    outbox.write_bytes(b"deltas not yet acknowledged")
    (root / "etc/shelfsync/store.toml").write_text('store = "sh-0001"\n')

    second = install(root, wheels, "0.2.0")
    assert second.returncode == 0, second.stdout + second.stderr
    assert shelfsync_version(root) == "shelfsync 0.2.0"
    assert outbox.read_bytes() == b"deltas not yet acknowledged"
    assert (root / "etc/shelfsync/store.toml").read_text() == 'store = "sh-0001"\n'
    releases = sorted((root / "opt/shelfsync/releases").iterdir())
    assert len(releases) == 2  # the previous release stays for a rollback
    assert (root / "opt/shelfsync/current").resolve() == releases[-1]

    broken = install(root, wheels, "9.9.9")  # not in the wheel directory
    assert broken.returncode != 0
    assert shelfsync_version(root) == "shelfsync 0.2.0"
    assert sorted((root / "opt/shelfsync/releases").iterdir()) == releases  # no debris


def release_has(root: Path, module: str) -> bool:
    python = root / "opt" / "shelfsync" / "current" / "bin" / "python"
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                          timeout=30, check=False)
    return done.returncode == 0


def test_a_release_whose_device_libraries_do_not_load_is_not_switched_to(tmp_path: Path) -> None:
    """`shelfsync --help` imports no device library; the installer runs the release's own
    check (device libraries, camera model) and keeps the current release when it fails."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    stub_wheel(wheels, "0.1.0")
    stub_wheel(wheels, "0.3.0", check_fails=True)
    root = tmp_path / "root"
    assert install(root, wheels, "0.1.0").returncode == 0
    releases = sorted((root / "opt/shelfsync/releases").iterdir())

    broken = install(root, wheels, "0.3.0")
    assert broken.returncode != 0
    assert "libonnxruntime.so" in broken.stderr
    assert "unchanged" in broken.stderr
    assert shelfsync_version(root) == "shelfsync 0.1.0"
    assert sorted((root / "opt/shelfsync/releases").iterdir()) == releases  # no debris


def test_on_a_64_bit_os_the_camera_part_is_installed_and_checked(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    stub_wheel(wheels, "0.1.0")
    done = install(tmp_path / "root", wheels, "0.1.0", arch="arm64")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shelfsync 0.1.0 check-install --camera" in done.stdout


def test_on_32_bit_arm_it_installs_the_gateway_without_cameras_and_says_why(
    tmp_path: Path
) -> None:
    """Raspberry Pi OS 32-bit (armhf): onnxruntime has no build for it (nor has PyPI OpenCV or
    numpy), so the wheel directory here lacks them as that index does. The rest installs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    camera_part = ("onnxruntime>=1.17", "opencv-python-headless>=4.9", "numpy>=1.26")
    stub_wheel(wheels, "0.4.0",
               requires=(*(f'{r}; extra == "camera"' for r in camera_part), 'stub-dep>=1.0; extra == "edge"',
                         'pytest>=8; extra == "test"'))
    make_wheel(wheels, "stub_dep", "1.0", {"stub_dep.py": "READY = True\n"})
    root = tmp_path / "root"

    on_64_bit = install(root, wheels, "0.4.0", arch="arm64")
    assert on_64_bit.returncode != 0  # the camera part is required there, and missing here
    assert "onnxruntime" in on_64_bit.stderr

    done = install(root, wheels, "0.4.0", arch="armhf")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cameras need a 64-bit OS" in done.stdout
    assert "shelfsync 0.4.0 check-install\n" in done.stdout  # checked without --camera
    assert shelfsync_version(root) == "shelfsync 0.4.0"
    assert release_has(root, "stub_dep")
    assert not release_has(root, "onnxruntime")


def test_a_wheel_file_installs_with_the_gateways_part(tmp_path: Path) -> None:
    """--from a wheel file (or a checkout): the extras follow its path, as pip spells it."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = stub_wheel(wheels, "0.5.0", requires=('stub-dep>=1.0; extra == "edge"',
                                                  'onnxruntime>=1.17; extra == "camera"'))
    make_wheel(wheels, "stub_dep", "1.0", {"stub_dep.py": "READY = True\n"})
    root = tmp_path / "root"
    done = install(root, wheels, "0.5.0", arch="armhf", source=str(wheel))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shelfsync[edge] from" in done.stdout
    assert release_has(root, "stub_dep") and not release_has(root, "onnxruntime")
