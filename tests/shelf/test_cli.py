"""`shelfsync shelf calibrate|watch` and `shelfsync sim shelf` end to end against the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shelfsync.cli import main as shelfsync
from shelfsync.cli import repo_root
from tests.shelf.conftest import SimProcess
from tests.shelf.helpers import DEAD_LOAD_G, SKU, UNIT_G

CONFIG = """# store sh-0042, front gondola
[store]
id = "sh-0042"   # kept as is

[shelf]
poll_hz = 20

[shelf.detector]
window_s = 0.5
settle_s = 0.2

[[shelf.bus]]
id = "bus-1"
tcp = "127.0.0.1:{port}"
map = "dini-dgt4x"
timeout_s = 0.3

[[shelf.bin]]
id = "A1-1"   # empty bin
bus = "bus-1"
device_id = 1
sku = "{sku}"
unit_g = 1.0

[[shelf.bin]]
id = "A1-2"
bus = "bus-1"
device_id = 2
sku = "{sku}"
unit_g = 1.0
tare_g = {tare}
"""


@pytest.fixture
def store_toml(
    tmp_path: Path, sim_process: SimProcess
) -> Path:
    port = sim_process.port
    path = tmp_path / "store.toml"
    path.write_text(CONFIG.format(port=port, sku=SKU, tare=DEAD_LOAD_G), encoding="utf-8")
    return path


def test_calibrate_tare_writes_the_empty_bin_weight_and_keeps_the_rest(store_toml: Path) -> None:
    before = store_toml.read_text()
    assert (
        shelfsync(["shelf", "calibrate", "--config", str(store_toml), "--bin", "A1-1", "tare"]) == 0
    )
    after = store_toml.read_text()
    doc = tomllib.loads(after)
    assert doc["shelf"]["bin"][0]["tare_g"] == pytest.approx(DEAD_LOAD_G, abs=5)
    assert "# store sh-0042, front gondola" in after and '"sh-0042"   # kept as is' in after
    assert after.replace(f"tare_g = {doc['shelf']['bin'][0]['tare_g']}\n", "") == before
    assert not [p for p in store_toml.parent.iterdir() if p.name.endswith(".tmp")]


def test_calibrate_learn_writes_the_unit_weight(store_toml: Path) -> None:
    assert (
        shelfsync(
            [
                "shelf",
                "calibrate",
                "--config",
                str(store_toml),
                "--bin",
                "A1-2",
                "learn",
                "--count",
                "3",
            ]
        )
        == 0
    )
    unit = tomllib.loads(store_toml.read_text())["shelf"]["bin"][1]["unit_g"]
    assert unit == pytest.approx(UNIT_G, abs=4)


def test_calibrate_learn_without_a_count_is_refused_and_writes_nothing(
    store_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assuming one unit would write the whole load as unit_g: a wrong weight, silently."""
    before = store_toml.read_text()
    assert shelfsync(["shelf", "calibrate", "--config", str(store_toml), "--bin", "A1-2",
                      "learn"]) == 2
    assert "learn needs --count" in capsys.readouterr().err
    assert store_toml.read_text() == before


def test_calibrate_an_unknown_bin_is_a_clear_error(
    store_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        shelfsync(["shelf", "calibrate", "--config", str(store_toml), "--bin", "Z9-9", "tare"]) == 2
    )
    assert "no [[shelf.bin]] with id 'Z9-9'" in capsys.readouterr().err


def test_a_malformed_config_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[shelf\n")
    assert shelfsync(["shelf", "watch", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_watch_prints_one_json_line_per_stable_change(
    store_toml: Path, sim_process: SimProcess
) -> None:
    # Learn the real unit weight first so counts come out whole.
    text = store_toml.read_text().replace("unit_g = 1.0", f"unit_g = {UNIT_G}")
    store_toml.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfsync.cli",
            "shelf",
            "watch",
            "--config",
            str(store_toml),
            "--json",
            "--events",
            "1",
            "--seconds",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        ready: set[str] = set()
        while ready != {"A1-1", "A1-2"}:  # each bin reports its first stable level on stderr
            line = proc.stderr.readline()
            assert line, "watch exited before the bins were stable"
            if line.startswith("bin "):
                ready.add(line.split()[1].rstrip(":"))
        sim_process.set_count("A1-2", 1, hand_s=0.4)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = out.strip().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert set(event) == {"bin", "sku", "grams", "delta_g", "count", "delta_count", "stable", "at"}
    assert (event["bin"], event["sku"], event["count"], event["delta_count"]) == (
        "A1-2",
        SKU,
        1,
        -2,
    )
    assert event["delta_g"] == pytest.approx(-2 * UNIT_G, abs=15)
    assert proc.returncode == 0


def test_sim_cli_serves_the_world_and_prints_a_gateway_config(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfsync.cli",
            "sim",
            "shelf",
            "--tcp",
            "127.0.0.1:0",
            "--bins",
            "3",
            "--map",
            "flintec-dad141",
            "--seed",
            "7",
            "--print-config",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while len([x for x in lines if x.startswith("[[shelf.bin]]")]) < 3 or lines[-1] != "":
            line = proc.stdout.readline()
            assert line, "the simulator exited early"
            lines.append(line.rstrip("\n"))
        doc = tomllib.loads("\n".join(lines))
        cfg_path = tmp_path / "store.toml"
        cfg_path.write_text("\n".join(lines))
        assert [b["device_id"] for b in doc["shelf"]["bin"]] == [1, 2, 3]
        b = doc["shelf"]["bin"][0]
        assert (
            shelfsync(
                [
                    "shelf",
                    "calibrate",
                    "--config",
                    str(cfg_path),
                    "--bin",
                    b["id"],
                    "tare",
                    "--timeout",
                    "15",
                ]
            )
            == 0
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_sim_cli_serves_rtu_on_a_new_pty_pair(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfsync.cli",
            "sim",
            "shelf",
            "--serial",
            "auto",
            "--bins",
            "2",
            "--map",
            "laumas-tlu",
            "--print-config",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while sum(x.startswith("[[shelf.bin]]") for x in lines) < 2 or lines[-1] != "":
            line = proc.stdout.readline()
            assert line, "the simulator exited early"
            lines.append(line.rstrip("\n"))
        cfg_path = tmp_path / "store.toml"
        cfg_path.write_text("\n".join(lines))
        assert tomllib.loads(cfg_path.read_text())["shelf"]["bus"][0]["serial"].startswith("/dev/")
        assert (
            shelfsync(
                [
                    "shelf",
                    "calibrate",
                    "--config",
                    str(cfg_path),
                    "--bin",
                    "A1-1",
                    "tare",
                    "--timeout",
                    "15",
                ]
            )
            == 0
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0
