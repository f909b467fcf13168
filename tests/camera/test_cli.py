"""`shelfsync camera count` on a rendered frame with the simulator's truth as lanes.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.camera.cli import main
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


def test_count_refuses_a_truncated_jpeg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenCV fills the missing part with grey and only warns on stderr; the model would count
    that grey as shelf. A frame without its end-of-image marker is an error, nothing counted."""
    image, lanes, _ = _frame_and_lanes(tmp_path)
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    assert main(["count", "--image", str(image), "--lanes", str(lanes), "--json"], "p") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "truncated JPEG" in err


def _with_first_lane_at(lanes: Path, quad: list[list[float]]) -> Path:
    doc = json.loads(lanes.read_text())
    doc["lanes"][0]["quad"] = quad
    doc["lanes"][0].pop("roi", None)
    moved = lanes.with_name("moved.json")
    moved.write_text(json.dumps(doc))
    return moved


@pytest.mark.parametrize(
    "quad",
    [
        [[2000, 2000], [2100, 2000], [2100, 2050], [2000, 2050]],  # wholly outside 960x540
        [[900, 100], [1100, 100], [1100, 160], [900, 160]],  # 70 % outside on the right
    ],
    ids=["outside", "mostly-outside"],
)
def test_count_refuses_a_lane_outside_the_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quad: list[list[float]]
) -> None:
    image, lanes, _ = _frame_and_lanes(tmp_path)
    moved = _with_first_lane_at(lanes, quad)
    assert main(["count", "--image", str(image), "--lanes", str(moved), "--json"], "p") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "lane L1" in err and "960x540" in err


def test_count_takes_a_lane_that_only_grazes_the_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, lanes, _ = _frame_and_lanes(tmp_path)
    moved = _with_first_lane_at(lanes, [[10, 100], [962, 100], [962, 160], [10, 160]])
    assert main(["count", "--image", str(image), "--lanes", str(moved), "--json"], "p") == 0
    assert next(lane["id"] for lane in json.loads(capsys.readouterr().out)["lanes"]) == "L1"
