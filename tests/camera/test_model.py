"""The committed model: its integrity check, its config parsing, and its accuracy on renders it
never saw (held-out seed and lighting/blur bands — see models/dataset.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.camera.source import (
    CameraError,
    LaneCounter,
    ModelIntegrityError,
    crop_lane,
    parse_camera,
    preprocess,
    sha256_file,
)
from models import dataset
from models.train import HELDOUT_SEED


def test_manifest_sha256_matches_the_committed_model(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert sha256_file(model_dir / manifest["file"]) == manifest["sha256"]


def test_a_tampered_model_is_refused_before_loading(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match manifest"):
        LaneCounter(copy)


def test_a_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="manifest"):
        LaneCounter(tmp_path)


def test_preprocessing_gives_the_manifest_input_shape(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    frame = np.full((360, 640, 3), 128, np.uint8)
    crop = crop_lane(frame, ((10, 10), (200, 12), (198, 150), (12, 148)))
    x = preprocess([crop])
    assert list(x.shape) == manifest["input"]["shape"] and x.dtype == np.float32
    assert np.isfinite(x).all()  # a flat crop is not divided by zero


def test_camera_config_accepts_roi_or_quad_and_names_the_bad_field() -> None:
    cfg = parse_camera(
        {
            "id": "cam-a1",
            "url": "http://cam/frame.jpg",
            "interval_s": 2,
            "lanes": [
                {"id": "A1-1", "bin": "A1-1", "roi": [0, 0, 100, 50], "facings": 2},
                {
                    "id": "A1-2",
                    "sku": "06923450000108",
                    "quad": [[100, 0], [200, 0], [200, 50], [100, 50]],
                },
            ],
        }
    )
    assert cfg.lanes[0].quad == ((0, 0), (100, 0), (100, 50), (0, 50)) and cfg.interval_s == 2.0
    assert cfg.lanes[1].sku == "06923450000108"
    bad = [
        ({"id": "c", "url": "x", "lanes": []}, "non-empty list"),
        ({"id": "c", "url": "x", "lanes": [{"id": "a"}]}, "roi"),
        ({"id": "c", "url": "x", "lanes": [{"id": "a", "roi": [0, 0, 2, 2]}]}, "smaller"),
        ({"id": "c", "url": "x", "lanes": [{"id": "a", "roi": [0, 0, 20, 20]}] * 2}, "duplicate"),
        (
            {
                "id": "c",
                "url": "x",
                "interval_s": -1,
                "lanes": [{"id": "a", "roi": [0, 0, 20, 20]}],
            },
            "interval_s",
        ),
        ({"url": "x"}, "camera.feed.id"),
    ]
    for section, message in bad:
        with pytest.raises(CameraError, match=message):
            parse_camera(section)


def test_counts_held_out_renders_accurately(counter: LaneCounter) -> None:
    """A small held-out sample (seed and lighting never trained on); the full measurement is in
    MODEL_CARD.md and `shelfsync bench vision`. Bounds leave room for sampling noise."""
    crops = dataset.make_crops(
        HELDOUT_SEED + 11, 400, "heldout", sizes=((960, 540),), size_p=(1.0,)
    )
    clear = crops.occluded < 0.05
    pred = np.array([n for n, _ in counter.count_crops(list(crops.images))])
    m = dataset.metrics(pred[clear], crops.counts[clear])
    assert m["exact"] >= 0.93 and m["mae"] <= 0.12, m
    assert m["empty_recall"] >= 0.97 and m["empty_precision"] >= 0.97, m
