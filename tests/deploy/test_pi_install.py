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


def stub_wheel(dist: Path, version: str) -> Path:
    """A minimal PEP 427 wheel named shelfsync whose console script prints its version."""
    files = {
        "shelfsync_stub.py": f"def main():\n    print('shelfsync {version}')\n    return 0\n",
        f"shelfsync-{version}.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: shelfsync\nVersion: {version}\n",
        f"shelfsync-{version}.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"shelfsync-{version}.dist-info/entry_points.txt":
            "[console_scripts]\nshelfsync = shelfsync_stub:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"shelfsync-{version}.dist-info/RECORD,,")
    files[f"shelfsync-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = dist / f"shelfsync-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return wheel


def install(root: Path, wheels: Path, version: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHELFSYNC_INSTALL_ROOT": str(root)}
    return subprocess.run(
        ["nice", str(INSTALL), "--from", f"shelfsync=={version}", "--wheels", str(wheels)],
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
