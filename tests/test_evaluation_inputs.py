"""evaluate never harms the user's files and turns bad flags and box rows into one clear message."""

import hashlib
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from cam_keras import CAM
from cam_keras.cli import main
from cam_keras.errors import DatasetError
from cam_keras.evaluate import evaluate_localization, read_boxes


def tree_hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


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
        handle.write(next(line.replace("000.png", "000.jpg") for line in open(data / "boxes.csv") if "red/000.png" in line))
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
    [("--threshold", "1.5"), ("--threshold", "-1"), ("--threshold", "nan"), ("--faithfulness", "-5"),
     ("--batch-size", "0"), ("--samples", "-1")],
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
    with pytest.raises(DatasetError, match=r"boxes.csv, row for blue/003.png: box \(100, 100, 120, 120\) lies outside the 32x32"):
        evaluate_localization(CAM(trained_run.model), data, progress=False, samples=0)


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
