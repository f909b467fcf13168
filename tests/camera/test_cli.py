"""`shelfsync camera count` on a rendered frame with the simulator's truth as lanes.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.camera_cli import main
from firmware_sim.camera import CameraSim


def _frame_and_lanes(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    sim = CameraSim(lanes=4, seed=5, size=(960, 540), hands=0.0)
    sim.set_counts([0, 2, 1, 2])
    lanes, cond, seed, _ = sim.plan()
    sim.last = sim.render(lanes, cond, seed)
    image, lanes_json = tmp_path / "f.jpg", tmp_path / "lanes.json"
    image.write_bytes(sim.last.jpeg)
    lanes_json.write_text(json.dumps(sim.truth()))
    return image, lanes_json, [t.count for t in sim.last.lanes]


def test_count_prints_json_with_every_lane_and_the_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, lanes, truth = _frame_and_lanes(tmp_path)
    assert (
        main(["count", "--image", str(image), "--lanes", str(lanes), "--json"], "shelfsync camera")
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [lane["id"] for lane in out["lanes"]] == ["L1", "L2", "L3", "L4"]
    assert all(set(lane) == {"id", "count", "confidence"} for lane in out["lanes"])
    assert out["ms"] > 0
    assert sum(lane["count"] == t for lane, t in zip(out["lanes"], truth, strict=True)) >= 3


def test_count_reports_an_unreadable_image_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lanes, _ = _frame_and_lanes(tmp_path)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    assert main(["count", "--image", str(tmp_path / "bad.jpg"), "--lanes", str(lanes)], "p") == 1
    assert "not a readable image" in capsys.readouterr().err


def test_count_reports_malformed_lanes_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _, _ = _frame_and_lanes(tmp_path)
    (tmp_path / "lanes.json").write_text('{"lanes": [{"id": "x"}]}')
    assert main(["count", "--image", str(image), "--lanes", str(tmp_path / "lanes.json")], "p") == 1
    assert "roi" in capsys.readouterr().err
