"""`shelfsync bench vision` at a tiny scale (accuracy only, one frame per set): it measures each set
on the renders its seed names, through the gateway's LaneCounter, and bad options or a bad model
are clear errors before any rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.camera.source import LaneCounter
from models import dataset
from shelfsync import bench

SEED = 700_101  # far from every training seed (1000 x --seed) and the model card's 900001..900003


def test_bench_vision_measures_each_set_on_the_renders_its_seed_names(
    counter: LaneCounter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["vision", "--no-speed", "--frames", "1", "--seed", str(SEED), "--json"]) == 0
    acc = json.loads(capsys.readouterr().out)["accuracy"]
    assert acc["seed"] == SEED and acc["frames_per_set"] == 1
    for i, (name, profile, scene) in enumerate(
        (("heldout", "heldout", "random"), ("hard", "hard", "random"), ("store", "heldout", "store"))
    ):
        data = dataset.make_crops(SEED + i, None, profile, max_frames=1, scene=scene)
        pred = np.array([n for n, _ in counter.count_crops(list(data.images))])
        r = acc[name]
        assert (r["seed"], r["profile"], r["scene"], r["frames"]) == (SEED + i, profile, scene, 1)
        assert r["all"] == pytest.approx(dataset.metrics(pred, data.counts)), name
        assert sum(m["lanes"] for m in r["classes"].values()) == r["unoccluded"]["lanes"]
    store = acc["store"]
    assert set(store["products"]) <= {look.name for look in dataset.store_looks()}
    assert sum(p["lanes"] for p in store["products"].values()) == store["all"]["lanes"]
    assert store["worst"] == sorted(store["products"], key=lambda p: store["products"][p]["exact"])[:5]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frames", "0"], "--frames and --rounds must be at least 1"),
        (["--rounds", "0"], "--frames and --rounds must be at least 1"),
        (["--frames", "many"], "invalid int value"),
    ],
)
def test_bench_vision_refuses_bad_options_clearly(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.main(["vision", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bench_vision_with_no_model_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["vision", "--no-speed", "--model", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "manifest" in captured.err and "Traceback" not in captured.err
    assert "measuring" not in captured.err  # refused before minutes of rendering
