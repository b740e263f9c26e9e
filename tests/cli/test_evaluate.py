"""evaluate on users' data: it never harms their files, turns bad flags and box rows into one
clear message, reports a threshold it can justify, a classification report without boxes,
overlays spread over classes and labelled, and asks the explainer only for the classes it scores."""

import csv
import json
import logging
import shutil

import numpy as np
import pytest
from outputs_helpers import tree_hashes
from PIL import Image

import cam_keras
from cam_keras import CAM, GradCAM
from cam_keras.cli import main
from cam_keras.data.images import load_image
from cam_keras.errors import DatasetError
from cam_keras.evaluate import calibrate_threshold, evaluate_localization, read_boxes, write_evaluation
from cam_keras.evaluate.dataset import spread_over_classes
from cam_keras.evaluate.report import tile_caption


def evaluate_args(trained_run, data, out, *extra):
    return ["evaluate", "--model", str(trained_run.files["model"]), str(data), "--out", str(out), *extra]


@pytest.fixture
def data(colors_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(colors_dir, copy)
    return copy


def test_out_inside_the_dataset_is_refused_and_nothing_changes(trained_run, data, capsys):
    before = tree_hashes(data)
    assert main(evaluate_args(trained_run, data, data / "evaluation", "--samples", "2")) == 2
    assert "inside the input" in capsys.readouterr().err
    assert tree_hashes(data) == before


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_overwrite_replaces_only_files_evaluate_wrote(trained_run, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "2")) == 0
    (out / "notes.txt").write_text("mine")
    (out / "report.json").write_text("stale")
    assert main(evaluate_args(trained_run, data, out, "--samples", "2")) == 2  # not empty, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(evaluate_args(trained_run, data, out, "--samples", "2", "--overwrite")) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "report.json").read_text().startswith("{")
    assert not (out / ".cam-keras.lock").exists()


def test_a_file_evaluate_did_not_write_is_never_replaced(trained_run, data, tmp_path, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "report.json").write_text("the user's own report")
    assert main(evaluate_args(trained_run, data, out, "--samples", "2", "--overwrite")) == 2
    assert "not written by cam-keras" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "the user's own report"


def test_same_stem_images_keep_one_overlay_each(trained_run, data, tmp_path):
    Image.open(data / "red" / "000.png").save(data / "red" / "000.jpg", quality=95)
    with open(data / "boxes.csv", "a") as handle:
        handle.write(
            next(line.replace("000.png", "000.jpg") for line in open(data / "boxes.csv") if "red/000.png" in line)
        )
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "200")) == 0
    overlays = sorted(p.relative_to(out / "overlays").as_posix() for p in (out / "overlays").rglob("*.png"))
    assert len(overlays) == 81
    assert {"red/000.png", "red/000_png.png"} <= set(overlays)  # 000.jpg sorts first and keeps the plain name


def test_help_states_the_default_output_folder(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "default: ./evaluation" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--threshold", "1.5"),
        ("--threshold", "-1"),
        ("--threshold", "nan"),
        ("--faithfulness", "-5"),
        ("--batch-size", "0"),
        ("--samples", "-1"),
    ],
)
def test_out_of_range_flags_are_one_clear_message(trained_run, data, tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(evaluate_args(trained_run, data, tmp_path / "eval", flag, value))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err
    assert not (tmp_path / "eval").exists()


def test_library_refuses_a_threshold_outside_zero_to_one(trained_run, data):
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate_localization(CAM(trained_run.model), data, threshold=5, progress=False)


def test_boxes_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_bytes("path,xmin,ymin,xmax,ymax\na/1.png,1,2,3,4\n".encode("utf-8-sig"))
    assert read_boxes(path) == {"a/1.png": [(1, 2, 3, 4)]}


@pytest.mark.parametrize("value", ["inf", "1e300", "nan"])
def test_boxes_that_are_not_finite_name_file_and_row(tmp_path, value):
    path = tmp_path / "boxes.csv"
    path.write_text(f"path,xmin,ymin,xmax,ymax\na/1.png,1,2,3,4\na/2.png,1,2,{value},4\n")
    with pytest.raises(DatasetError, match=r"boxes.csv:3: coordinates must be finite"):
        read_boxes(path)


def test_normalized_boxes_are_refused_saying_boxes_are_in_pixels(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("path,xmin,ymin,xmax,ymax\na/1.png,0,0,1,1\na/2.png,0.1,0.1,0.5,0.5\n")
    with pytest.raises(DatasetError, match=r"boxes.csv:3: coordinates .* look like fractions .* boxes are in pixels"):
        read_boxes(path)
    path.write_text("path,xmin,ymin,xmax,ymax\na/1.png,0,0,1,1\n")  # a one-pixel box is a box
    assert read_boxes(path) == {"a/1.png": [(0, 0, 1, 1)]}


def test_boxes_reaching_outside_the_image_are_clipped_with_a_warning(trained_run, data, caplog):
    with open(data / "boxes.csv", "a") as handle:
        handle.write("red/001.png,-5,-5,60,60\n")
    with caplog.at_level(logging.WARNING):
        evaluation = evaluate_localization(CAM(trained_run.model), data, progress=False, samples=0)
    assert "red/001.png" in caplog.text and "clipped" in caplog.text
    assert (0, 0, 32, 32) in evaluation.boxes["red/001.png"]


def test_a_box_entirely_outside_its_image_is_refused_naming_the_row(trained_run, data):
    with open(data / "boxes.csv", "a") as handle:
        handle.write("blue/003.png,100,100,120,120\n")
    with pytest.raises(
        DatasetError, match=r"boxes.csv, row for blue/003.png: box \(100, 100, 120, 120\) lies outside the 32x32"
    ):
        evaluate_localization(CAM(trained_run.model), data, progress=False, samples=0)


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_box_rows_for_missing_files_are_named(trained_run, data, caplog):
    with open(data / "boxes.csv", "a") as handle:
        handle.write("red/ghost.png,1,1,5,5\n")
    with caplog.at_level(logging.WARNING):
        evaluation = evaluate_localization(CAM(trained_run.model), data, progress=False, samples=0)
    assert "red/ghost.png" in caplog.text
    assert evaluation.boxes_without_image == ["red/ghost.png"]
    assert evaluation.summary["images"] == 80


def test_masks_that_match_no_image_are_an_error(trained_run, data, tmp_path, capsys):
    (tmp_path / "wrong_masks" / "red").mkdir(parents=True)
    assert main(evaluate_args(trained_run, data, tmp_path / "eval", "--masks", str(tmp_path / "wrong_masks"))) == 2
    assert "no mask matches any image" in capsys.readouterr().err
    assert np.all([not p.name.endswith(".json") for p in (tmp_path / "eval").glob("*")])


# --- what evaluate reports ---


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_auto_threshold_is_chosen_on_the_calibration_split(trained_run, colors_dir, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--calibrate", str(colors_dir), "--samples", "0")) == 0
    printed = capsys.readouterr().out.splitlines()  # issue 25: calibrating was silent, then scoring
    said = [line.split(":")[0] for line in printed if line.startswith(("calibrating", "explaining"))]
    assert said == [f"calibrating the box threshold on {colors_dir}", "explaining", "explaining"]
    report = json.loads((out / "report.json").read_text())
    chosen = report["threshold"]["value"]
    assert report["threshold"]["source"].startswith(f"calibrated on {colors_dir}")
    assert report["metrics"]["threshold"] == chosen
    explainer = CAM(trained_run.model)

    def gt_known(threshold):
        return evaluate_localization(
            explainer, colors_dir, threshold=threshold, progress=False, samples=0, extremes=0
        ).summary["gt_known_loc"]

    best = gt_known(chosen)
    assert all(best >= gt_known(other) for other in (0.1, 0.2, 0.5, 0.9))
    assert calibrate_threshold(explainer, colors_dir) == chosen
    # the paper's threshold beside the calibrated one, read from the same pass
    assert chosen != 0.2
    paper = evaluate_localization(explainer, data, threshold=0.2, progress=False, samples=0, extremes=0).summary
    expected = f"at the CAM paper's threshold 0.20: top-1 loc {paper['top1_loc']:.4f}, GT-known loc "
    assert any(line.startswith(expected) for line in printed), printed


def test_a_calibration_split_sharing_the_scored_images_warns(trained_run, data, tmp_path, caplog):
    calibration = tmp_path / "calibration"
    shutil.copytree(data, calibration)
    for path in sorted((calibration / "red").iterdir())[:30]:  # replace 30 of the 80 images
        Image.fromarray(np.full((32, 32, 3), 90 + len(path.stem), np.uint8)).save(path)
    with caplog.at_level(logging.WARNING):
        assert (
            main(evaluate_args(trained_run, data, tmp_path / "eval", "--calibrate", str(calibration), "--samples", "0"))
            == 0
        )
    assert "--calibrate shares 50 of its 80 images with DATA_DIR" in caplog.text and "flatters them" in caplog.text


def test_without_calibration_the_paper_threshold_is_named_and_the_curve_shown(trained_run, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "0")) == 0
    printed = capsys.readouterr().out
    assert "MaxBoxAccV2" in printed and "convention" in printed and "--calibrate" in printed
    assert "gt_known_loc" in printed  # the per-threshold curve
    # the scores that need no threshold come first, then those at the paper's guess, said to be one
    order = [printed.index(text) for text in ("MaxBoxAccV2", "gt_known_loc", "CAM paper's threshold 0.20", "top-1 loc")]
    assert order == sorted(order)
    assert "a few labelled boxes" in printed
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


def test_a_folder_of_one_class_the_model_knows_is_evaluated(trained_run, data, tmp_path, capsys):
    shutil.rmtree(data / "blue")
    lines = (data / "boxes.csv").read_text().splitlines()
    (data / "boxes.csv").write_text("\n".join([lines[0], *(line for line in lines if line.startswith("red/"))]) + "\n")
    out = tmp_path / "eval"
    assert main(evaluate_args(trained_run, data, out, "--samples", "0", "--faithfulness", "4")) == 0
    paths = sorted((data / "red").glob("*.png"))
    images = np.stack([load_image(p) for p in paths]).astype(np.float32)
    predicted = np.argmax(trained_run.model.predict(images, verbose=0), axis=1)
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["top1_cls"] == pytest.approx(np.mean(predicted == 1))
    with open(out / "per_image.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(paths) == 40


def test_images_without_class_folders_are_refused_saying_how_to_arrange_them(trained_run, tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for index in range(3):
        Image.fromarray(np.full((32, 32, 3), 40 * index, np.uint8)).save(flat / f"{index}.png")
    assert main(evaluate_args(trained_run, flat, tmp_path / "eval")) == 2
    err = capsys.readouterr().err
    assert "no class subfolder with readable images; expected one subfolder per class" in err
    assert "3 image(s) sit directly in" in err and err.count("\n") == 1


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

    names = [f"c{i:02d}" for i in range(12)]
    model = cam_keras.build_model("small_cnn", class_names=names, input_size=32, base_channels=8)
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


@pytest.mark.slow  # 2 s of the quick run on 2 cores
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
