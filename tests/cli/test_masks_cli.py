"""`cam-keras masks` on a saved tiny model and generated class folders with object masks."""

import json

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import main


@pytest.fixture
def model_file(tmp_path, tiny_model):
    return cam_keras.save_model(tiny_model, tmp_path / "model.keras")


def test_masks_command_calibrates_and_writes_label_pngs(model_file, shapes_dir, tmp_path, capsys):
    out = tmp_path / "out"
    masks = shapes_dir.parent / "masks"
    code = main(["masks", "--model", str(model_file), str(shapes_dir), "--out", str(out), "--calibrate", str(masks)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "classes: each image's class folder (--class-source folders or predicted to choose)" in printed
    assert "calibrated on 48 masks" in printed and "wrote 48 of 48 masks" in printed
    report = json.loads((out / "report.json").read_text())
    chosen = report["masks"]
    assert chosen["legend"]["1"] == "circle" and chosen["thresholds"]["ground_truth"] == str(masks)
    assert f"foreground {chosen['foreground']}, background {chosen['background']}" in printed
    with Image.open(out / "square" / "square_00000.png") as mask:
        assert mask.mode == "P" and mask.size == (32, 32)
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 2, 255}  # square is class 1: index 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--foreground", "0.2", "--background", "0.5"], "masks.background (0.5) must not be above masks.foreground"),
        (["--class-source", "folders", "--size", "input"], None),
    ],
)
def test_masks_command_refuses_in_one_line(model_file, shapes_dir, tmp_path, capsys, flags, message):
    photo = tmp_path / "loose" / "x.png"
    photo.parent.mkdir()
    Image.new("RGB", (8, 8)).save(photo)
    args = ["masks", "--model", str(model_file), str(photo.parent), "--out", str(tmp_path / "o"), *flags]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert (message or "its folder 'loose' is not a class of the model") in error
    assert not (tmp_path / "o").exists()


def test_standard_input_is_read_once(model_file, shapes_dir, tmp_path, capsys, monkeypatch):
    import io

    listed = "\n".join(str(p) for p in sorted(shapes_dir.rglob("*.png"))[:3])
    base = ["masks", "--model", str(model_file), "--from-list", "-", "--quiet"]
    monkeypatch.setattr("sys.stdin", io.StringIO(listed))
    assert main([*base, "--out", str(tmp_path / "a")]) == 2  # auto would read the list before the job
    assert "--class-source folders or predicted" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(listed))
    assert main([*base, "--out", str(tmp_path / "b"), "--class-source", "folders"]) == 0
    assert "wrote 3 of 3 masks" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(listed))
    calibrated = [*base, "--out", str(tmp_path / "c"), "--class-source", "folders", "--calibrate", str(tmp_path)]
    assert main(calibrated) == 2
    assert "standard input can be read only once" in capsys.readouterr().err


def test_flip_averaged_masks_of_a_mirrored_image_are_the_mirrored_masks(model_file, tmp_path, capsys):
    photos = tmp_path / "photos" / "square"  # a folder named by a class: the class comes from it
    photos.mkdir(parents=True)
    pixels = np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photos / "a.png")
    Image.fromarray(pixels[:, ::-1]).save(photos / "b.png")
    out = tmp_path / "out"
    args = ["masks", "--model", str(model_file), str(photos.parent), "--out", str(out), "--foreground", "0.5"]
    assert main([*args, "--flip", "--background", "0.2", "--class-source", "folders", "--quiet"]) == 0, (
        capsys.readouterr()
    )
    report = json.loads((out / "report.json").read_text())
    assert report["job"]["model"]["augmentation"] == {"scales": [1.0], "flip": True, "combine": "mean"}
    with Image.open(out / "square" / "a.png") as a, Image.open(out / "square" / "b.png") as b:
        first, mirrored = np.asarray(a), np.asarray(b)[:, ::-1]
    assert len(np.unique(first)) > 1  # the rule cut the map somewhere
    assert np.mean(first == mirrored) >= 0.99  # equal up to a rounding at a threshold
