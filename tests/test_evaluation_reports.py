"""What evaluate reports: a threshold it can justify, a classification report without boxes,
overlays spread over classes and labelled, and one explainer pass that asks only for the
classes it scores."""

import csv
import json
import shutil

import numpy as np
import pytest

import cam_keras
from cam_keras import CAM, GradCAM
from cam_keras.cli import main
from cam_keras.data.images import load_image
from cam_keras.evaluate import calibrate_threshold, evaluate_localization, write_evaluation
from cam_keras.evaluate.dataset import spread_over_classes
from cam_keras.evaluate.report import tile_caption


def evaluate_args(trained_run, data, out, *extra):
    return ["evaluate", "--model", str(trained_run.files["model"]), str(data), "--out", str(out), *extra]


@pytest.fixture
def data(colors_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(colors_dir, copy)
    return copy


def test_auto_threshold_is_chosen_on_the_calibration_split(trained_run, colors_dir, data, tmp_path):
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--calibrate", str(colors_dir), "--samples", "0")) == 0
    report = json.loads((out / "report.json").read_text())
    chosen = report["threshold"]["value"]
    assert report["threshold"]["source"].startswith(f"calibrated on {colors_dir}")
    assert report["metrics"]["threshold"] == chosen
    explainer = CAM(trained_run.model)

    def gt_known(threshold):
        return evaluate_localization(explainer, colors_dir, threshold=threshold, progress=False, samples=0, extremes=0).summary[
            "gt_known_loc"
        ]

    best = gt_known(chosen)
    assert all(best >= gt_known(other) for other in (0.1, 0.2, 0.5, 0.9))
    assert calibrate_threshold(explainer, colors_dir) == chosen


def test_without_calibration_the_paper_threshold_is_named_and_the_curve_shown(trained_run, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "0")) == 0
    printed = capsys.readouterr().out
    assert "MaxBoxAccV2" in printed and "convention" in printed and "--calibrate" in printed
    assert "gt_known_loc" in printed  # the per-threshold curve
    report = json.loads((out / "report.json").read_text())
    assert report["threshold"]["value"] == 0.2 and "paper" in report["threshold"]["source"]
    with open(out / "threshold_curve.csv") as handle:
        curve = list(csv.DictReader(handle))
    assert len(curve) == 100
    at_paper = next(row for row in curve if float(row["threshold"]) == 0.2)
    assert float(at_paper["gt_known_loc"]) == pytest.approx(report["metrics"]["gt_known_loc"])
    best = max(float(row["box_acc_0.5"]) for row in curve)
    assert best >= float(at_paper["gt_known_loc"])


def test_a_set_without_boxes_gets_a_classification_report(trained_run, data, tmp_path, capsys):
    (data / "boxes.csv").unlink()
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "4")) == 0
    assert "classification report only" in capsys.readouterr().out
    labels, predicted = [], []
    for label, name in enumerate(["blue", "red"]):
        paths = sorted((data / name).glob("*.png"))
        images = np.stack([load_image(p) for p in paths]).astype(np.float32)
        predicted += np.argmax(trained_run.model.predict(images, verbose=0), axis=1).tolist()
        labels += [label] * len(paths)
    labels, predicted = np.array(labels), np.array(predicted)
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["top1_cls"] == pytest.approx(np.mean(labels == predicted))
    with open(out / "confusion.csv") as handle:
        confusion = [[int(row["blue"]), int(row["red"])] for row in csv.DictReader(handle)]
    assert confusion == [[int(np.sum((labels == t) & (predicted == p))) for p in (0, 1)] for t in (0, 1)]
    with open(out / "per_class.csv") as handle:
        recall = {row["class"]: float(row["recall"]) for row in csv.DictReader(handle)}
    assert recall["red"] == pytest.approx(np.mean(predicted[labels == 1] == 1))
    assert load_image(out / "confusion.png").shape[0] > 40
    assert len(list((out / "overlays").rglob("*.png"))) == 4


def test_localization_flags_without_boxes_are_refused(trained_run, data, tmp_path, capsys):
    (data / "boxes.csv").unlink()
    assert main(evaluate_args(trained_run, data, tmp_path / "eval", "--threshold", "0.5")) == 2
    assert "has no boxes.csv" in capsys.readouterr().err


def test_samples_are_spread_round_robin_over_classes(trained_run, data):
    for path in sorted((data / "blue").glob("*.png"))[5:]:
        path.unlink()
    evaluation = evaluate_localization(CAM(trained_run.model), data, progress=False, samples=4)
    shown = [evaluation.rows[index]["true_class"] for index, _ in evaluation.kept.samples]
    assert shown == [0, 1, 0, 1]
    assert spread_over_classes([0, 0, 0, 1, 2, 2], 5) == [0, 3, 4, 1, 5]


def test_best_and_worst_rows_are_the_extremes_and_labelled(trained_run, data):
    evaluation = evaluate_localization(CAM(trained_run.model), data, progress=False, extremes=3)
    ious = sorted(row["true_class_iou"] for row in evaluation.rows)
    assert [evaluation.rows[i]["true_class_iou"] for i, _ in evaluation.kept.best] == ious[::-1][:3]
    assert [evaluation.rows[i]["true_class_iou"] for i, _ in evaluation.kept.worst] == ious[:3]
    row = evaluation.rows[evaluation.kept.best[0][0]]
    text = tile_caption(evaluation, row, "best: ", true_class=True)
    assert text.startswith(f"best: {evaluation.class_names[row['true_class']]} IoU {row['true_class_iou']:.2f}")


@pytest.fixture(scope="module")
def twelve_classes(tmp_path_factory):
    """A 12-class small CNN with random weights and a boxed 12-class folder, 2 images each."""
    from PIL import Image

    names = [f"c{i:02d}" for i in range(12)]
    model = cam_keras.build_model("small_cnn", class_names=names, input_size=32, width=8)
    root = tmp_path_factory.mktemp("twelve")
    rng = np.random.default_rng(1)
    rows = ["path,xmin,ymin,xmax,ymax"]
    for name in names:
        (root / name).mkdir()
        for index in range(2):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
            rows.append(f"{name}/{index}.png,4,4,20,20")
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    return model, root


def test_gradcam_asks_only_for_the_classes_it_scores(twelve_classes, tmp_path, monkeypatch):
    model, root = twelve_classes
    explainer = GradCAM(model)
    computed: dict[int, set] = {}
    requests = []
    real = explainer.explain_batch

    def spy(batch, classes=None, **options):
        requests.append(classes)
        result = real(batch, classes, **options)
        assert result["class_indices"].shape[1] <= 5  # never one map per class of the model
        key = hash(batch.tobytes())
        for i, indices in enumerate(result["class_indices"]):
            computed.setdefault((key, i), set()).update(indices.tolist())
        return result

    monkeypatch.setattr(explainer, "explain_batch", spy)
    evaluation = evaluate_localization(explainer, root, progress=False, batch_size=8, samples=3, extremes=2)
    assert "all" not in [r for r in requests if isinstance(r, str)]
    assert evaluation.summary["images"] == 24
    assert max(len(classes) for classes in computed.values()) <= 6  # top-5 and the true class
    calls = len(requests)
    monkeypatch.setattr(explainer, "explain_batch", lambda *a, **k: pytest.fail("report re-ran the explainer"))
    monkeypatch.setattr(type(explainer), "__call__", lambda *a, **k: pytest.fail("report re-ran the explainer"))
    paths = write_evaluation(evaluation, tmp_path / "eval")
    assert calls <= 2 * 3  # 3 batches: top-5, then the true class only if some image missed it
    assert len(list(paths["overlays"].rglob("*.png"))) == 3 and paths["best_worst"].is_file()
