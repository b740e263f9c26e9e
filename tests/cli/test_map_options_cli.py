"""`--scales`, `--flip` and the post-processing flags on the command line: accepted by heatmap
and evaluate, recorded in their report.json, refused in one line when wrong."""

import json

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import main


def evaluate_args(trained_run, data, out, *extra):
    return [
        "evaluate",
        "--model",
        str(trained_run.files["model"]),
        str(data),
        "--out",
        str(out),
        "--samples",
        "0",
        *extra,
    ]


def test_evaluate_records_augmentation_and_postprocessing(trained_run, colors_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    extra = ("--scales", "1,2", "--flip", "--clamp-negative-weights", "--percentile", "99")
    assert main(evaluate_args(trained_run, colors_dir, out, *extra)) == 0
    printed = capsys.readouterr().out
    assert "maps: cam, scales 1, 2 with mirrors, mean of 4 maps; negative class weights clamped; " in printed
    assert "maps scaled by their 99th percentile" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["maps"] == {
        "method": "cam",
        "augmentation": {"scales": [1.0, 2.0], "flip": True, "combine": "mean"},
        "clamp_negative_weights": True,
        "percentile": 99.0,
    }
    assert report["metrics"]["top1_cls"] >= 0.9  # predictions come from the image itself


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--scales", "1,x"), "argument --scales: scales must be comma-separated numbers"),
        (("--scales", "1,0"), "augmentation scales must be factors of at least 0.1"),
        (("--percentile", "0"), "percentile must be a number above 0 and at most 100"),
        (("--clamp-negative-weights", "--method", "gradcam"), "clamps CAM's class weights; method gradcam"),
    ],
)
def test_bad_map_options_are_one_line(trained_run, colors_dir, tmp_path, capsys, extra, message):
    try:
        code = main(evaluate_args(trained_run, colors_dir, tmp_path / "eval", *extra))
    except SystemExit as exit:  # argparse's own checks exit
        code = exit.code
    assert code == 2
    assert not (tmp_path / "eval").exists()  # refused before the output folder is made
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1 or err.startswith("usage:")  # argparse's own errors come after the usage


@pytest.mark.parametrize("command", ["heatmap", "evaluate", "masks"])
def test_help_states_the_cost(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "each scale and each mirror costs one more forward pass" in text and "--scales" in text


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_heatmap_maps_the_views_and_a_resume_keeps_them(tmp_path, tiny_model, capsys):
    model = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(2):
        pixels = np.random.default_rng(index).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"{index}.png")
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model), str(photos), "--out", str(out), "--quiet", "--method", "gradcam"]
    assert main([*args, "--scales", "1,2", "--flip", "--workers", "0"]) == 0
    with np.load(out / "0.npz") as arrays:
        assert arrays["raw_maps"].shape == (1, 16, 16)  # the 2x view's grid
    report = json.loads((out / "report.json").read_text())
    assert report["job"]["model"]["augmentation"] == {"scales": [1.0, 2.0], "flip": True, "combine": "mean"}
    capsys.readouterr()
    assert main([*args, "--resume", "--workers", "0"]) == 2
    assert "started with other settings" in capsys.readouterr().err
