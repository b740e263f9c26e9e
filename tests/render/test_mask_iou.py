"""mIoU (evaluate/segmentation.py and the MaskIoU metric) against hand computations."""

import numpy as np
import pytest

from cam_keras.evaluate.metrics import LocalizationMetrics
from cam_keras.render.mask_iou import IoUCurve, LabelConfusion, mean_iou, named
from cam_keras.render.masks import UNSURE, MaskRule, label_mask


def test_miou_against_a_hand_computation():
    truth = np.array([[0, 1, 1, 0], [2, 2, 0, UNSURE]])
    predicted = np.array([[0, 1, 0, 0], [2, 1, 1, 3]])  # the 3 lies on an ignored pixel
    confusion = LabelConfusion()
    confusion.add(predicted, truth)
    # background: I 2, predicted 3, true 3 -> 2/4; class 1: 1/(3+2-1); class 2: 1/(1+2-1)
    assert confusion.ious() == {0: 0.5, 1: 0.25, 2: 0.5}
    assert mean_iou(confusion.ious()) == pytest.approx((0.5 + 0.25 + 0.5) / 3)
    confusion.add(np.array([[UNSURE]]), np.array([[1]]))  # a predicted unsure pixel counts against its class
    assert confusion.ious()[1] == pytest.approx(1 / 5)  # over the whole split: sums, not a mean of images
    assert named(confusion.ious(), ["cat", "dog"]) == {"background": 0.5, "cat": 0.2, "dog": 0.5}


def test_curve_agrees_with_label_images_at_every_threshold():
    rng = np.random.default_rng(1)
    thresholds = np.round(np.arange(0.0, 1.0, 0.1), 2)
    curve, confusions = IoUCurve(thresholds), [LabelConfusion() for _ in thresholds]
    for _ in range(3):
        maps = rng.random((2, 6, 5)).astype(np.float32)
        labels = [1, 3]
        truth = rng.choice([0, 1, 3, UNSURE], (6, 5))
        best = maps.argmax(axis=0)
        curve.add(maps.max(axis=0), np.array(labels)[best], truth)
        for threshold, confusion in zip(thresholds, confusions):
            confusion.add(label_mask(maps, labels, MaskRule(threshold, threshold)), truth)
    for step, confusion in enumerate(confusions):
        assert curve.ious(step) == pytest.approx(confusion.ious())
    assert curve.best_step() == int(np.argmax([mean_iou(c.ious()) for c in confusions]))


def test_metric_reports_miou_next_to_pxap():
    metrics = LocalizationMetrics(mask_threshold=0.5, class_names=("a", "b"))
    true_map = np.array([[0.9, 0.6], [0.4, 0.0]])
    mask = np.array([[True, False], [True, False]])
    metrics.update(0, [0], true_map, [true_map], [(0, 0, 1, 2)], mask)
    metrics.update(1, [1], true_map, [true_map], [(0, 0, 1, 2)], mask)
    summary = metrics.summary()
    # at 0.5 each image: predicted class at (0,0),(0,1); truth at (0,0),(1,0)
    # class a: I 1, U 3; class b the same; background: I 1 of 2 per image, U 3 per image
    assert summary["mask_iou"] == pytest.approx({"background": 1 / 3, "a": 1 / 3, "b": 1 / 3})
    assert summary["miou"] == pytest.approx(1 / 3) and summary["mask_threshold"] == 0.5
    # best: a threshold in (0.0, 0.4] labels (0,0),(0,1),(1,0): class I 2 U 3, background I 1 U 2
    assert summary["best_mask_threshold"] == 0.01
    assert summary["miou_best"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert "pxap" in summary


def test_no_masks_no_miou():
    metrics = LocalizationMetrics()
    metrics.update(0, [0], np.ones((2, 2)), [np.ones((2, 2))], [(0, 0, 1, 1)])
    assert "miou" not in metrics.summary()
