"""Box protocol and metrics against answers worked out by hand."""

import numpy as np
import pytest

from cam_keras.errors import DatasetError
from cam_keras.evaluate import LocalizationMetrics, average_precision, box_from_map, component_boxes, iou, read_boxes
from cam_keras.evaluate.boxes import scale_box


def blob_map(shape, *blobs):
    heatmap = np.zeros(shape)
    for (y0, y1, x0, x1), value in blobs:
        heatmap[y0:y1, x0:x1] = value
    return heatmap


def test_iou_by_hand():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0


def test_box_is_pixel_edge_bounds_of_region():
    heatmap = blob_map((20, 20), ((3, 8, 4, 12), 1.0))
    assert box_from_map(heatmap) == (4, 3, 12, 8)


def test_largest_component_wins_over_the_brightest():
    heatmap = blob_map((30, 30), ((0, 4, 0, 4), 1.0), ((10, 25, 10, 28), 0.6))
    assert box_from_map(heatmap, 0.2) == (10, 10, 28, 25)
    assert [size for size, _ in component_boxes(heatmap, 0.2)] == [15 * 18, 16]


def test_diagonal_neighbours_are_one_component():
    heatmap = np.eye(5)
    assert box_from_map(heatmap, 0.5) == (0, 0, 5, 5)


def test_threshold_edge_is_inclusive():
    heatmap = blob_map((10, 10), ((0, 2, 0, 2), 1.0), ((5, 10, 5, 10), 0.2))
    assert box_from_map(heatmap, 0.2) == (5, 5, 10, 10)  # 0.2 >= 0.2 * 1.0 keeps the big region
    assert box_from_map(heatmap, 0.21) == (0, 0, 2, 2)


def test_box_touching_the_border():
    heatmap = blob_map((16, 16), ((10, 16, 0, 16), 1.0))
    assert box_from_map(heatmap) == (0, 10, 16, 16)


def test_flat_map_gives_the_whole_image():
    assert box_from_map(np.zeros((6, 9))) == (0, 0, 9, 6)


def test_boxes_scale_between_sizes():
    assert scale_box((10, 20, 30, 40), (100, 50), (200, 100)) == (20, 40, 60, 80)


def test_localization_metrics_by_hand():
    metrics = LocalizationMetrics(threshold=0.5)
    good = blob_map((20, 20), ((5, 15, 5, 15), 1.0))
    truth = [(5, 5, 15, 15)]
    # image 1: right class, right place
    metrics.update(0, [0, 1], good, [good, good], truth)
    # image 2: wrong class predicted, but the true class's map is right
    metrics.update(0, [1, 0], good, [np.zeros((20, 20)), good], truth)
    # image 3: right class, map on the wrong spot
    wrong = blob_map((20, 20), ((0, 4, 0, 4), 1.0))
    metrics.update(0, [0, 1], wrong, [wrong, wrong], truth)
    summary = metrics.summary()
    assert summary["top1_cls"] == pytest.approx(2 / 3)
    assert summary["top1_loc"] == pytest.approx(1 / 3)
    assert summary["top5_loc"] == pytest.approx(2 / 3)
    assert summary["gt_known_loc"] == pytest.approx(2 / 3)
    assert summary["pointing_game"] == pytest.approx(2 / 3)


def test_any_true_box_counts():
    metrics = LocalizationMetrics()
    heatmap = blob_map((20, 20), ((0, 5, 0, 5), 1.0))
    row = metrics.update(1, [1], heatmap, [heatmap], [(10, 10, 20, 20), (0, 0, 5, 5)])
    assert row["top1_loc"] and row["predicted_iou"] == 1.0


def test_maxboxacc_v2_uses_the_best_threshold_and_region():
    metrics = LocalizationMetrics()
    # a weak blob on the object and a strong one elsewhere: at a low threshold both regions
    # survive and the larger (the object) wins; all regions are considered by MaxBoxAccV2.
    heatmap = blob_map((20, 20), ((10, 20, 10, 20), 0.4), ((0, 3, 0, 3), 1.0))
    metrics.update(0, [0], heatmap, [heatmap], [(10, 10, 20, 20)])
    summary = metrics.summary()
    assert summary["maxboxacc_v2"] == 1.0
    assert summary["gt_known_loc"] == 1.0  # at 0.2 the 10x10 region is the largest
    assert (
        LocalizationMetrics(threshold=0.5).update(0, [0], heatmap, [heatmap], [(10, 10, 20, 20)])["gt_known_loc"]
        is False
    )
    assert summary["best_threshold"] <= 0.4


def test_pxap_of_perfect_and_inverted_maps():
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    assert average_precision(mask.astype(float).ravel(), mask.ravel()) == 1.0
    assert average_precision((~mask).astype(float).ravel() + np.linspace(0, 0.1, 16), mask.ravel()) < 0.5
    metrics = LocalizationMetrics()
    metrics.update(0, [0], mask.astype(float), [mask.astype(float)], [(0, 0, 4, 2)], mask=mask)
    assert metrics.summary()["pxap"] == 1.0


def test_boxes_csv_errors_name_file_and_row(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("path,xmin,ymin,xmax,ymax\na/1.png,1,2,3,4\na/1.png,5,5,9,9\n")
    assert read_boxes(path) == {"a/1.png": [(1, 2, 3, 4), (5, 5, 9, 9)]}
    path.write_text("path,xmin,ymin,xmax,ymax\na/1.png,1,2,3,4\na/2.png,1,x,3,4\n")
    with pytest.raises(DatasetError, match=r"boxes.csv:3: coordinates must be numbers"):
        read_boxes(path)
    path.write_text("path,xmin,ymin,xmax,ymax\na/1.png,5,2,3,4\n")
    with pytest.raises(DatasetError, match=r"boxes.csv:2: empty box"):
        read_boxes(path)
    path.write_text("file,x0,y0\n")
    with pytest.raises(DatasetError, match="header lacks path"):
        read_boxes(path)


def test_empty_metrics_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        LocalizationMetrics().summary()


def test_classification_metrics_by_hand():
    from cam_keras.evaluate import ClassificationMetrics

    metrics = ClassificationMetrics(("cat", "dog", "fox"))
    for true, ranked in [(0, [0, 1]), (0, [1, 0]), (1, [1, 0]), (1, [1, 2]), (2, [0, 1])]:
        metrics.update(true, ranked)
    assert metrics.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    per_class = {row["class"]: row for row in metrics.per_class()}
    assert per_class["cat"]["precision"] == 0.5 and per_class["cat"]["recall"] == 0.5
    assert per_class["dog"]["precision"] == pytest.approx(2 / 3) and per_class["dog"]["recall"] == 1.0
    assert per_class["fox"]["precision"] is None and per_class["fox"]["recall"] == 0.0
    summary = metrics.summary()
    assert summary["top1_cls"] == 0.6 and summary["top5_cls"] == 0.8
    assert summary["mean_class_recall"] == pytest.approx(0.5)


def test_threshold_curve_matches_the_box_protocol():
    heatmap = blob_map((20, 20), ((10, 20, 10, 20), 0.4), ((0, 3, 0, 3), 1.0))
    metrics = LocalizationMetrics()
    metrics.update(0, [0], heatmap, [heatmap], [(10, 10, 20, 20)])
    curve = {round(row["threshold"], 2): row for row in metrics.threshold_curve()}
    assert len(curve) == 100
    assert curve[0.3]["gt_known_loc"] == 1.0  # the 10x10 region is the largest
    assert curve[0.5]["gt_known_loc"] == 0.0  # only the 3x3 blob survives
    assert curve[0.5]["box_acc_0.5"] == 0.0 and curve[0.4]["box_acc_0.5"] == 1.0


def test_the_curve_counts_top1_and_top5_localization_as_the_box_protocol_does_at_each_threshold():
    heatmap = blob_map((20, 20), ((10, 20, 10, 20), 0.4), ((0, 3, 0, 3), 1.0))
    other = blob_map((20, 20), ((0, 5, 0, 5), 1.0))
    images = [  # (true class, ranked classes, maps by class)
        (0, [0, 1], {0: heatmap, 1: other}),  # right, box good at 0.3 only
        (1, [0, 1], {0: other, 1: heatmap}),  # wrong first, true class second
        (1, [2, 0], {2: other, 0: other, 1: heatmap}),  # true class not in the top 2
    ]
    curve_metrics = LocalizationMetrics()
    for true_class, ranked, maps in images:
        curve_metrics.update(true_class, ranked, maps[true_class], [maps[c] for c in ranked], [(10, 10, 20, 20)])
    curve = {round(row["threshold"], 2): row for row in curve_metrics.threshold_curve()}
    for threshold in (0.2, 0.3, 0.5, 0.9):
        direct = LocalizationMetrics(threshold=threshold)
        for true_class, ranked, maps in images:
            direct.update(true_class, ranked, maps[true_class], [maps[c] for c in ranked], [(10, 10, 20, 20)])
        summary = direct.summary()
        for key in ("top1_loc", "top5_loc", "gt_known_loc", "mean_iou_gt_known"):
            assert curve[threshold][key] == pytest.approx(summary[key]), (threshold, key)
    assert [curve[0.3][key] for key in ("top1_loc", "top5_loc", "gt_known_loc")] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_a_metric_added_to_the_registry_reaches_the_report_the_csv_and_the_summary(colors_dir, tmp_path, monkeypatch):
    import csv
    import json

    import cam_keras
    from cam_keras import CAM
    from cam_keras.evaluate import evaluate_localization, format_summary, metrics, write_evaluation

    class BrightestPixel:
        """A toy metric: the true-class map's maximum, per image and on average."""

        fields = ("map_peak",)
        labels = {"mean_map_peak": "mean map peak"}

        def __init__(self, settings):
            self.peaks = []

        def update(self, image):
            self.peaks.append(float(image.true_map.max()))
            return {"map_peak": self.peaks[-1]}

        def summary(self):
            return {"mean_map_peak": float(np.mean(self.peaks))}

    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, BrightestPixel])
    model = cam_keras.build_model("small_cnn", class_names=["blue", "red"], input_size=32, base_channels=4)
    evaluation = evaluate_localization(CAM(model), colors_dir, progress=False, samples=0, extremes=0)
    write_evaluation(evaluation, tmp_path / "eval")
    with open(tmp_path / "eval" / "per_image.csv") as handle:
        peaks = [float(row["map_peak"]) for row in csv.DictReader(handle)]
    assert len(peaks) == 80
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["metrics"]["mean_map_peak"] == pytest.approx(np.mean(peaks))
    assert "mean map peak" in format_summary(evaluation.summary)
