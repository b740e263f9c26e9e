"""An evaluation's gallery columns of per_image.csv agree with the model and the boxes file,
and its gallery is written again from the folder alone."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path, PurePath

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.evaluate import evaluate_classification, evaluate_localization, write_evaluation


def per_image(folder: Path) -> list[dict]:
    with open(folder / "per_image.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def color_model():
    return cam_keras.build_model("small_cnn", class_names=["blue", "red"], input_size=32, base_channels=4)


def test_per_image_lists_the_models_probabilities_the_true_boxes_and_a_thumbnail(color_model, colors_dir, tmp_path):
    evaluation = evaluate_localization(cam_keras.CAM(color_model), colors_dir, progress=False, samples=1, extremes=0)
    write_evaluation(evaluation, tmp_path / "eval")
    rows = per_image(tmp_path / "eval")
    with open(colors_dir / "boxes.csv", newline="", encoding="utf-8") as handle:
        boxes = {
            row["path"]: [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")] for row in csv.DictReader(handle)
        }
    pictures = np.stack([np.asarray(Image.open(row["path"]), np.float32) for row in rows])
    logits = color_model.predict(pictures, verbose=0)  # the oracle: Keras on the same pixels (a logits head)
    predicted = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for row, probabilities in zip(rows, predicted):
        order = np.argsort(-probabilities)
        assert json.loads(row["top_classes"]) == [["blue", "red"][c] for c in order]
        assert json.loads(row["top_probabilities"]) == pytest.approx(probabilities[order], abs=1e-5)
        assert (row["width"], row["height"]) == ("32", "32")
        gt_numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", row["gt_boxes"])]
        assert gt_numbers == boxes[PurePath(row["path"]).relative_to(colors_dir).as_posix()]
        assert (tmp_path / "eval" / row["thumbnail"]).is_file()
    assert sum(bool(row["overlay"]) for row in rows) == 1  # the one sample drawn
    page = tmp_path / "eval" / "gallery-data.js"
    before = page.read_bytes()
    page.unlink()
    assert cam_keras.write_gallery(tmp_path / "eval") == tmp_path / "eval" / "gallery.html"
    assert page.read_bytes() == before  # per_image.csv and report.json alone give the same gallery


def test_a_classification_evaluation_gets_a_gallery_without_boxes(color_model, colors_dir, tmp_path):
    evaluation = evaluate_classification(cam_keras.CAM(color_model), colors_dir, progress=False, samples=0)
    paths = write_evaluation(evaluation, tmp_path / "eval")
    rows = per_image(tmp_path / "eval")
    assert paths["gallery"] == tmp_path / "eval" / "gallery.html"
    assert all(not row.get("gt_boxes") and row["thumbnail"] for row in rows)


def test_no_gallery_leaves_no_thumbnails(color_model, colors_dir, tmp_path):
    evaluation = evaluate_classification(cam_keras.CAM(color_model), colors_dir, progress=False, samples=0)
    paths = write_evaluation(evaluation, tmp_path / "eval", gallery=False)
    assert "gallery" not in paths and not (tmp_path / "eval" / ".thumbnails").exists()
    assert all(row["thumbnail"] == "" for row in per_image(tmp_path / "eval"))
    with pytest.raises(cam_keras.CamKerasError, match="line 2: no thumbnail listed .* gallery=True"):
        cam_keras.write_gallery(tmp_path / "eval")
