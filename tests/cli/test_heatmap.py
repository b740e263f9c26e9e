"""`cam-keras heatmap` on a real saved model and real files on disk."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sample_images import CLASS_NAMES

import cam_keras
from cam_keras.cli import main


@pytest.fixture
def photo_dir(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "photos"
    for relative, shape in [("a/x.jpg", (40, 50)), ("b/x.jpg", (33, 33)), ("a/x.png", (20, 64)), ("top.bmp", (32, 32))]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(root / relative)
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "notes.txt").write_text("not an image")
    return root


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_heatmap_writes_overlays_arrays_and_predictions(tmp_path, model_file, photo_dir, capsys):
    out = tmp_path / "out"
    code = main(["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(out), "--top-k", "2", "--quiet"])
    assert code == 0
    assert "wrote 4 of 5 heatmaps" in capsys.readouterr().out
    for stem, shape in [("a/x", (40, 50)), ("b/x", (33, 33)), ("a/x_png", (20, 64)), ("top", (32, 32))]:
        overlay = np.asarray(Image.open(out / f"{stem}.png"))
        assert overlay.shape[1] >= 2 * shape[1]  # two captioned maps side by side
        assert overlay.shape[0] > shape[0]  # caption strip above the image
        with np.load(out / f"{stem}.npz") as arrays:
            assert arrays["raw_maps"].shape == (2, 8, 8)
            assert tuple(arrays["image_size"]) == shape
            assert list(arrays["class_names"]) == [CLASS_NAMES[i] for i in arrays["class_indices"]]
            np.testing.assert_allclose(arrays["probabilities"].sum(), 1.0, rtol=1e-5)
    rows = read_csv(out / "predictions.csv")
    assert len(rows) == 4
    assert {row["top1"] for row in rows} <= {"circle", "square", "triangle"}
    report = json.loads((out / "report.json").read_text())
    assert report["succeeded"] == 4 and report["total"] == 5 and not report["interrupted"]
    assert [entry["path"] for entry in report["skipped"]] == [str(photo_dir / "a" / "broken.jpg")]


def test_heatmap_named_class_and_input_size_and_mat(tmp_path, model_file, photo_dir):
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model_file), str(photo_dir / "top.bmp"), "--out", str(out)]
    assert main([*args, "--class", "square", "--size", "24x16", "--format", "mat", "--quiet"]) == 0
    import scipy.io

    arrays = scipy.io.loadmat(out / "top.mat")
    assert arrays["raw_maps"].shape == (1, 8, 8)
    from cam_keras.render import caption

    strip = caption(np.zeros((1, 24, 3), np.uint8), "square  p=0.00  cam").shape[0] - 1
    assert Image.open(out / "top.png").size[1] - strip == 16  # overlay at the requested 16x24
    assert read_csv(out / "predictions.csv")[0]["explained"] == "square"


def test_heatmap_prints_top_predictions(tmp_path, model_file, photo_dir, capsys):
    main(
        [
            "heatmap",
            "--model",
            str(model_file),
            str(photo_dir / "top.bmp"),
            "--out",
            str(tmp_path / "o"),
            "--print-top",
            "3",
        ]
    )
    line = [text for text in capsys.readouterr().out.splitlines() if text.startswith(str(photo_dir))][0]
    assert line.count(",") == 2  # three ranked classes


def test_strict_fails_when_a_file_was_skipped(tmp_path, model_file, photo_dir):
    args = ["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(tmp_path / "o"), "--quiet", "--strict"]
    assert main(args) == 1


def test_no_readable_image_is_an_error(tmp_path, model_file):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"")
    assert main(["heatmap", "--model", str(model_file), str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 1


def test_existing_output_is_not_clobbered_without_overwrite(tmp_path, model_file, photo_dir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    args = ["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "precious.txt").read_text() == "keep"


def test_missing_model_file_is_a_clear_error(tmp_path, photo_dir, capsys):
    assert main(["heatmap", "--model", str(tmp_path / "nope.keras"), str(photo_dir), "--out", str(tmp_path / "o")]) == 2
    assert "nope.keras: no such model file" in capsys.readouterr().err


def test_cli_reference_covers_every_subcommand():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "build_docs.py"
    spec = importlib.util.spec_from_file_location("build_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.cli_reference()
    for command in ["demo", "train", "heatmap", "evaluate"]:
        assert f"## `cam-keras {command}`" in text
    assert "--method" in text and "--resume" in text


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_heatmap_warns_when_the_model_learned_nothing(tmp_path, tiny_model, photo_dir, capsys):
    from cam_keras.models.learning import learning_check

    at_chance = tmp_path / "at_chance.keras"
    cam_keras.save_model(tiny_model, at_chance, training=learning_check(0.34, [20, 20, 20]))
    learned = tmp_path / "learned.keras"
    cam_keras.save_model(tiny_model, learned, training=learning_check(0.9, [20, 20, 20]))

    assert main(["heatmap", "--model", str(at_chance), str(photo_dir), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "not clearly above chance" in err
    assert "backbone small_cnn" not in err and "pretrained backbone" in err  # the model is a small CNN
    assert main(["heatmap", "--model", str(learned), str(photo_dir), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert "chance" not in capsys.readouterr().err


def test_render_workers_that_cannot_start_stop_the_job_with_one_line(
    tmp_path, model_file, photo_dir, monkeypatch, capsys
):
    """Issue: a failure while the render pool started (Ctrl-C, or no interpreter to start)
    came before the job's error handling, so report.json recorded neither."""
    missing = tmp_path / "no-python-here"
    monkeypatch.setattr(sys, "executable", str(missing))
    out = tmp_path / "out"
    code = main(["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(out), "--workers", "2", "--quiet"])
    message = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in message
    assert str(missing) in message and "--workers 0" in message
    report = json.loads((out / "report.json").read_text())
    assert not report["finished"] and "workers=0" in report["error"]


@pytest.mark.slow  # a fresh TensorFlow process with two render workers
def test_a_script_without_a_main_guard_runs_once(tmp_path, model_file, photo_dir):
    """A user's script that calls the command at top level, with no `if __name__ == "__main__":`,
    must not be re-run by the render workers (as spawn or forkserver workers would)."""
    runs = tmp_path / "runs.txt"
    script = tmp_path / "explain_all.py"
    script.write_text(
        f"import os\n"
        f"with open({str(runs)!r}, 'a') as log:\n"
        f"    log.write(f'{{os.getpid()}}\\n')\n"
        f"from cam_keras.cli import main\n"
        f"code = main(['heatmap', '--model', {str(model_file)!r}, {str(photo_dir)!r}, '--out', 'out', '--workers', '2',"
        f" '--quiet'])\n"
        f"print('exit', code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.stdout.split("\n")[-2] == "exit 0", result.stderr
    assert len(runs.read_text().split()) == 1
    assert len(list((tmp_path / "out").rglob("*.png"))) == 4


def test_the_flags_defaults_are_the_librarys_and_every_flag_reaches_the_request():
    """Issue 24: the defaults were typed twice (the CLI and HeatmapOptions) and could drift."""
    from cam_keras.cam.augmentation import MapAugmentation
    from cam_keras.cli import build_parser
    from cam_keras.cli.heatmap import _request
    from cam_keras.jobs import HeatmapOptions

    args = build_parser().parse_args(["heatmap", "--model", "m.keras", "x.png", "--out", "o"])
    assert _request(args).options == HeatmapOptions()
    flags = ["--top-k", "3", "--colormap", "viridis", "--alpha", "0.25", "--normalize", "per-map", "--colorbar"]
    flags += ["--size", "40x30", "--max-side", "512", "--image-format", "webp", "--batch-size", "4"]
    flags += ["--format", "none", "--print-top", "2", "--workers", "0", "--shard", "2/3", "--resume", "--quiet"]
    flags += ["--scales", "1,2", "--flip"]
    request = _request(build_parser().parse_args(["heatmap", "--model", "m.keras", "x.png", "--out", "o", *flags]))
    changed = {name: value for name, value in vars(request.options).items() if value != getattr(HeatmapOptions(), name)}
    assert changed == {
        "top_k": 3,
        "colormap": "viridis",
        "alpha": 0.25,
        "normalize": "per-map",
        "colorbar": True,
        "size": (30, 40),
        "max_side": 512,
        "image_format": "webp",
        "batch_size": 4,
        "array_format": None,
        "report_top": 2,
        "workers": 0,
        "augmentation": MapAugmentation(scales=(1.0, 2.0), flip=True),
    }
    assert (request.shard.index, request.shard.count, request.resume, request.progress) == (2, 3, True, False)


def test_redirected_output_has_plain_progress_and_lines_as_images_finish(tmp_path, model_file, photo_dir, capsys):
    """Issue 25: into a file or pipe, no colour codes or backspaces, one final progress line,
    and each image's line printed when its files are written, before the job's progress ends."""
    Image.new("RGB", (8, 8)).save(photo_dir / ".hidden.png")  # skipped before the job: not in its count
    argv = ["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(tmp_path / "o"), "--batch-size", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(char in "\n".join(lines) for char in "\x1b\b\r")
    progress = [i for i, line in enumerate(lines) if line.startswith("explaining: ")]
    images = [i for i, line in enumerate(lines) if line.startswith(str(photo_dir))]
    assert [lines[i] for i in progress] == [lines[progress[0]]] and lines[progress[0]].startswith(
        "explaining: 5/5 images"
    )  # one skipped
    assert len(images) == 4 and max(images) < progress[0]
