"""`evaluate --masks` scores the pseudo-masks of the true-class maps: mIoU per class and mean
in report.json next to PxAP, equal to a count over the maps the notebook API gives."""

import json

import numpy as np
import pytest

import cam_keras
from cam_keras import CAM
from cam_keras.cli import main
from cam_keras.data.images import load_image
from cam_keras.render.mask_iou import LabelConfusion, mean_iou, named
from cam_keras.render.masks import MaskRule, label_mask


def test_evaluate_masks_reports_miou_next_to_pxap(tiny_model, shapes_dir, tmp_path, capsys):
    model_file = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    masks, out = shapes_dir.parent / "masks", tmp_path / "evaluation"
    args = ["evaluate", "--model", str(model_file), str(shapes_dir), "--masks", str(masks), "--out", str(out)]
    assert main([*args, "--mask-threshold", "0.4", "--samples", "0"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "report.json").read_text())["metrics"]
    assert "pxap" in summary and summary["mask_threshold"] == 0.4
    assert "mIoU (pseudo-masks)" in printed and f"{summary['miou']:.4f}" in printed

    images = sorted(shapes_dir.rglob("*.png"))
    explanation = CAM(tiny_model)([load_image(p) for p in images], classes=[p.parent.name for p in images])
    confusion = LabelConfusion()
    for index, path in enumerate(images):
        label = ("circle", "square", "triangle").index(path.parent.name) + 1
        truth = np.where(load_image(masks / path.parent.name / path.name)[..., 0] > 127, label, 0)
        confusion.add(label_mask(explanation.maps_at(index), [label], MaskRule(0.4, 0.4)), truth)
    assert summary["miou"] == pytest.approx(mean_iou(confusion.ious()), abs=2e-3)
    assert summary["mask_iou"] == pytest.approx(named(confusion.ious(), ["circle", "square", "triangle"]), abs=5e-3)
    assert set(summary["mask_iou"]) == {"background", "circle", "square"}
    assert summary["miou_best"] >= summary["miou"] and 0.0 <= summary["best_mask_threshold"] < 1.0


def test_label_masks_are_object_masks_for_evaluate(tmp_path):
    from cam_keras.evaluate.annotations import load_mask
    from cam_keras.render.masks import UNSURE, write_label_png

    (tmp_path / "dog").mkdir()
    labels = np.array([[0, 1, 2], [UNSURE, 2, 0]], np.uint8)  # index 2 is green: no red to threshold
    write_label_png(tmp_path / "dog" / "x.png", labels)
    np.testing.assert_array_equal(load_mask(tmp_path, "dog/x.jpg", (2, 3)), [[False, True, True], [False, True, False]])


def test_mask_threshold_without_masks_is_refused(tiny_model, shapes_dir, tmp_path, capsys):
    model_file = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    args = ["evaluate", "--model", str(model_file), str(shapes_dir), "--out", str(tmp_path / "e")]
    assert main([*args, "--mask-threshold", "0.4"]) == 2
    assert "--mask-threshold cuts the maps scored against --masks" in capsys.readouterr().err
