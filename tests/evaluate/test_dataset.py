"""Dataset evaluation, the evaluate CLI and the demo, on generated data."""

import ast
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cam_keras import CAM
from cam_keras.cli import main
from cam_keras.errors import DatasetError, UsageError
from cam_keras.evaluate import evaluate_localization


def test_the_trained_fixture_really_learned(trained_run):
    assert trained_run.val_accuracy >= 0.9, trained_run.history["val_accuracy"]


def test_evaluate_localization_on_boxed_data(trained_run, colors_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(colors_dir, data)
    lines = (data / "boxes.csv").read_text().splitlines()
    (data / "boxes.csv").write_text("\n".join(lines[:-2]) + "\n")  # two images lose their boxes
    (data / "red" / "broken.png").write_bytes(b"")
    evaluation = evaluate_localization(
        CAM(trained_run.model), data, masks_dir=colors_dir.parent / "masks", progress=False
    )
    summary = evaluation.summary
    assert summary["images"] == 78 and summary["skipped"] == 2
    assert 0.0 <= summary["top1_loc"] <= summary["top1_cls"] <= 1.0
    assert summary["top1_loc"] <= summary["gt_known_loc"] + 1e-9
    assert 0.0 < summary["pxap"] <= 1.0
    assert [s["reason"] for s in evaluation.skipped] == ["no box in boxes.csv"] * 2


def test_one_evaluation_reads_the_box_metrics_of_other_thresholds_as_evaluations_at_them(trained_run, colors_dir):
    explainer = CAM(trained_run.model)
    evaluation = evaluate_localization(explainer, colors_dir, threshold=0.5, progress=False)
    keys = ("top1_loc", "top5_loc", "gt_known_loc", "mean_iou_gt_known")
    for threshold in (0.2, 0.35, 0.7):
        direct = evaluate_localization(explainer, colors_dir, threshold=threshold, progress=False).summary
        assert evaluation.at_threshold(threshold) == pytest.approx(
            {"threshold": threshold, **{k: direct[k] for k in keys}}
        )
    with pytest.raises(UsageError, match="0.00 to 0.99 in steps of 0.01"):
        evaluation.at_threshold(0.205)


def test_a_short_last_batch_is_filled_so_the_explainer_traces_once_and_answers_the_same(trained_run, colors_dir):
    explainer = CAM(trained_run.model)
    short_last = evaluate_localization(explainer, colors_dir, batch_size=32, progress=False)  # 80 = 32 + 32 + 16
    assert explainer._traced.experimental_get_tracing_count() == 1
    whole = evaluate_localization(CAM(trained_run.model), colors_dir, batch_size=80, progress=False)
    assert [row["relative_path"] for row in short_last.rows] == [row["relative_path"] for row in whole.rows]
    for key in ("top1_loc", "mean_iou_gt_known", "maxboxacc_v2", "top1_cls"):
        assert short_last.summary[key] == pytest.approx(whole.summary[key], abs=1e-6), key


def test_class_folders_unknown_to_the_model_are_an_error(trained_run, colors_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(colors_dir, data)
    (data / "hexagon").mkdir()
    with pytest.raises(DatasetError, match="hexagon.*not classes of the model"):
        evaluate_localization(CAM(trained_run.model), data, progress=False)


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_evaluate_cli_writes_report_overlays_and_figure(trained_run, colors_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    model = trained_run.files["model"]
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                str(colors_dir),
                "--out",
                str(out),
                "--samples",
                "4",
                "--faithfulness",
                "8",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "top-1 localization" in printed and "deletion AUC" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["class_names"] == ["blue", "red"]
    assert {"top1_loc", "gt_known_loc", "maxboxacc_v2", "deletion_auc"} <= set(report["metrics"])
    assert len(list((out / "overlays").rglob("*.png"))) == 4
    from PIL import Image  # issue 25: 32 px images were drawn at 32 px under a caption five times wider

    assert min(Image.open(path).size[1] for path in (out / "overlays").rglob("*.png")) >= 160
    assert (out / "best_worst.png").is_file()
    assert len((out / "per_image.csv").read_text().splitlines()) == 81
    # issue 25: the box columns say which map drew them, and the ground truth has its own column
    with open(out / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"predicted_class_map_box", "true_class_map_box", "gt_boxes"} <= set(rows[0])
    with open(colors_dir / "boxes.csv", newline="") as handle:
        truth = {
            row["path"]: [tuple(float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))]
            for row in csv.DictReader(handle)
        }
    found = {Path(row["path"]).relative_to(colors_dir).as_posix(): ast.literal_eval(row["gt_boxes"]) for row in rows}
    assert found == truth
    assert report["metrics"]["pointing_game"] >= 0.5  # chance is about 0.14 for these squares


@pytest.mark.slow  # the whole demo through the CLI: it generates data and trains
def test_demo_quick_run_reports_both_thresholds(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--fill", "flat", "--scales", "1,2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["plan"]["fill"] == "flat"
    assert report["augmentation"] == {"scales": [1.0, 2.0], "flip": True, "combine": "mean"}
    assert 0.0 <= report["top1_loc"] <= 1.0
    assert report["metrics_paper_threshold"]["threshold"] == 0.2
    assert report["metrics_calibrated_threshold"]["threshold"] == report["threshold"]
    assert 0.0 <= report["metrics_plain_cam_calibrated"]["top1_loc"] <= 1.0
    assert set(report["timings_s"]) == {"data", "train", "calibrate", "evaluate", "render", "total"}
    assert (out / "demo_grid.png").is_file() and (out / "run" / "model.keras").is_file()
    printed = capsys.readouterr().out
    assert "demo_grid.png" in printed and "(flat shapes), CAM, scales 1, 2 with mirrors, mean of 4 maps" in printed
    # issue 25: each stage says what it does before doing it, training's before the first epoch
    stages = [line.split()[1] for line in printed.splitlines() if line.startswith("demo: ")]
    assert stages == ["generating", "training", "calibrating", "scoring"]
    assert printed.index("demo: training") < printed.index("Epoch 1/")
    assert not any(char in printed for char in "\x1b\b\r")  # Keras' epochs as plain lines off a terminal
    assert main(["demo", "--quick", "--out", str(out)]) == 2  # not clobbered without --overwrite


@pytest.mark.slow  # 25 s of the quick run on 2 cores
def test_large_photos_evaluate_like_small_ones_and_draw_small(trained_run, colors_dir, tmp_path):
    """Each image enlarged 40x (1280 px, boxes too): the model sees the same pixels (a PNG box-
    reduced right after decoding), so the metrics match the 32 px evaluation, and the overlays
    are drawn at most 1024 px with the boxes where the enlarged boxes are."""
    from PIL import Image

    from cam_keras.evaluate import write_evaluation
    from cam_keras.records import write_csv

    rows = []
    for line in (colors_dir / "boxes.csv").read_text().splitlines()[1:][::8]:
        relative, *box = line.split(",")
        (tmp_path / "big" / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.open(colors_dir / relative).resize((1280, 1280), Image.NEAREST).save(tmp_path / "big" / relative)
        rows.append(dict(zip(["path", "xmin", "ymin", "xmax", "ymax"], [relative, *(40 * int(v) for v in box)])))
        (tmp_path / "small" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(colors_dir / relative, tmp_path / "small" / relative)
    fields = ["path", "xmin", "ymin", "xmax", "ymax"]
    write_csv(tmp_path / "big" / "boxes.csv", rows, fields)
    write_csv(
        tmp_path / "small" / "boxes.csv", [{**r, **{k: int(r[k]) // 40 for k in fields[1:]}} for r in rows], fields
    )
    explainer = CAM(trained_run.model)
    big = evaluate_localization(explainer, tmp_path / "big", samples=2, extremes=1, progress=False)
    small = evaluate_localization(explainer, tmp_path / "small", progress=False)
    assert [r["predicted_class"] for r in big.rows] == [r["predicted_class"] for r in small.rows]
    ious = [(b["true_class_iou"], s["true_class_iou"]) for b, s in zip(big.rows, small.rows)]
    np.testing.assert_allclose(*zip(*ious), atol=0.1)  # maps thresholded at 1280 px instead of 32
    written = write_evaluation(big, tmp_path / "report")
    overlay = next(written["overlays"].rglob("*.png"))
    picture = np.asarray(Image.open(overlay).convert("RGB")).astype(int)
    assert picture.shape[1] == 1024  # not 1280
    relative = overlay.relative_to(written["overlays"]).with_suffix(".png").as_posix()
    xmin, ymin, xmax, ymax = (round(v * 1024 / 1280) for v in big.boxes[relative][0])
    caption_height = picture.shape[0] - 1024
    red = (picture[..., 0] > 200) & (picture[..., 1] < 60) & (picture[..., 2] < 60)
    assert red[caption_height + (ymin + ymax) // 2, xmin : xmin + 3].any()  # the true box's left edge
