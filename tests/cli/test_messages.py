"""What reaches the user's terminal: hostile file and class names escaped on every path
(errors, warnings, per-image lines, summaries, inspect), I/O failures as one line naming the
file with exit 1 (also inside TensorFlow), and no misleading advice."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import cam_keras
from cam_keras.cli import main
from cam_keras.cli.flags import error_text
from cam_keras.errors import ModelError
from cam_keras.records import CsvWriter

ROOT = Path(__file__).resolve().parents[2]
# Each name carries a character a terminal obeys, then text that would be a forged line or screen effect.
HOSTILE = (
    "esc\x1b[2Jx",
    "cr\rFAKE: 99.9% certain",
    "nl\nFAKE: 99.9% certain",
    "c1\x9b31m",
    "del\x7fx",
    "bidi\u202etxt",
    "ls\u2028FAKE: 99.9% certain",
)
RAW = ("\x1b[2J", "\x00", "\x9b", "\x7f", "\u202e", "\u2028", "\rFAKE", "\nFAKE")
# The real text of TensorFlow's error when a TensorBoard events file cannot grow (RLIMIT_FSIZE, TF 2.21).
TF_FLUSH_ERROR = (
    "{{function_node __wrapped__WriteSummary_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
    "{path}; File too large\n\tFailed to flush 11 events to {path}\n\tCould not flush events file. [Op:WriteSummary]"
)


def assert_nothing_raw(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)
    assert not any(line.startswith("FAKE") for line in text.splitlines()), text


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"cam-keras {command}: error: "), err
    return lines[0]


def noise(path: Path, seed: int = 0) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")
    return path


SWEEP = """
import sys
from cam_keras.cli import main
for argv in {commands!r}:
    print("=== " + argv[0], flush=True)
    print("=== " + argv[0], file=sys.stderr, flush=True)
    print("=== exit", main(argv), flush=True)
"""


@pytest.mark.slow  # 6 s of the quick run on 2 cores
def test_hostile_names_reach_no_terminal_raw(tmp_path):
    """Every command that shows names from files (heatmap, inspect, evaluate; train shares
    evaluate's folder scan) against file, folder, class and boxes.csv names carrying ESC, CR,
    NUL, DEL, CSI, bidi overrides and newlines."""
    classes = ("ok", "nul\x00?", *HOSTILE[:1], *HOSTILE[2:])  # no CR: it splits a predictions.csv row
    model = cam_keras.build_model("small_cnn", class_names=classes, input_size=16, base_channels=4)
    model_file = cam_keras.save_model(model, tmp_path / "hostile.keras")
    photos, data = tmp_path / "photos", tmp_path / "data"
    for index, name in enumerate(HOSTILE):
        if "\r" not in name:  # a CR in an explained file's path breaks predictions.csv too
            noise(photos / f"{name}.png", index)
        (photos / f"bad{name}.png").write_bytes(b"not an image")
    for label in ("ok", HOSTILE[0]):
        for index, name in enumerate(HOSTILE):
            noise(data / label / f"{name}.png", index)
        (data / label / f"bad{HOSTILE[2]}.png").write_bytes(b"junk")
    with open(data / "boxes.csv", "w", newline="") as boxes:
        rows = [("path", "xmin", "ymin", "xmax", "ymax"), (f"ok/{HOSTILE[0]}.png", 0, 0, 40, 40)]
        csv.writer(boxes).writerows(rows + [(f"ok/ghost{name}.png", 0, 0, 8, 8) for name in (HOSTILE[0], HOSTILE[2])])
    two = cam_keras.build_model("small_cnn", class_names=("ok", HOSTILE[0]), input_size=16, base_channels=4)
    two_file = cam_keras.save_model(two, tmp_path / "two.keras")
    commands = [
        ["heatmap", "--model", str(model_file), str(photos), "--out", str(tmp_path / "maps"), "--top-k", "9"],
        ["inspect", "--model", str(model_file)],
        ["evaluate", "--model", str(two_file), str(data), "--out", str(tmp_path / "eval"), "--samples", "0"],
    ]
    done = subprocess.run(
        [sys.executable, "-c", SWEEP.format(commands=commands)],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert out.count("=== exit 0") == 3, (out, err)
    assert_nothing_raw(out)
    assert_nothing_raw(err)
    assert "\\x1b[2Jx" in out and "nl\\nFAKE: 99.9% certain" in out  # inspect's classes, escaped
    assert "badnl\\nFAKE: 99.9% certain.png" in err  # the skipped-file warning names it, escaped
    assert "ghostesc\\x1b[2Jx.png" in err  # boxes.csv paths without an image
    assert "Traceback" not in err


def test_warnings_escape_their_arguments_but_keep_their_own_lines():
    from cam_keras.safe_text import TerminalFormatter, terminal_lines

    formatter = TerminalFormatter("%(levelname)s: %(message)s")
    record = logging.makeLogRecord(
        {
            "msg": "%d skipped:%s\nsee %s",
            "args": (2, terminal_lines(["a\nFAKE", "b\x1b[2J"]), "x\ry"),
            "levelname": "WARNING",
        }
    )
    assert formatter.format(record) == "WARNING: 2 skipped:\n  a\\nFAKE\n  b\\x1b[2J\nsee x\\ry"
    named = logging.makeLogRecord({"msg": "%(name)s %(n)d", "args": {"name": "a\x1b[2J", "n": 3}})
    assert formatter.format(named).endswith(": a\\x1b[2J 3")


def test_python_warnings_are_escaped_too(tmp_path, tiny_model, capsys):
    """find_images warns about a symlink loop with the folder's name."""
    photos = tmp_path / "photos"
    noise(photos / "a.png")
    (photos / "loop\x1b[2J").symlink_to(photos)
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "loop\\x1b[2J: symlink loop, skipped" in err
    assert_nothing_raw(err)


def test_hidden_image_files_in_a_folder_are_listed_not_silently_dropped(tmp_path, tiny_model, caplog):
    from cam_keras.safe_text import TerminalFormatter

    photos = tmp_path / "photos"
    for name in ("a.png", "...png", ".x\x1b[2J.jpg", ".png"):
        noise(photos / name)
    (photos / ".DS_Store").write_bytes(b"\x00")
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    with caplog.at_level(logging.WARNING):
        assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(tmp_path / "o")]) == 0
    warning = [TerminalFormatter().format(record) for record in caplog.records if "hidden" in record.getMessage()]
    assert len(warning) == 1 and "3 hidden file(s)" in warning[0], warning
    assert {line.strip() for line in warning[0].splitlines()[1:]} == {
        str(photos / name) for name in ("...png", ".png", ".x\\x1b[2J.jpg")
    }


def test_the_terminal_shows_real_names_not_the_csv_guard(tmp_path, monkeypatch, capsys):
    """The leading ' protects spreadsheets in predictions.csv; the per-image line shows the name."""
    from cam_keras.safe_text import for_csv_cell, from_csv_cell

    model = cam_keras.build_model("small_cnn", class_names=("=1+2", "'quoted"), input_size=16, base_channels=4)
    model_file = cam_keras.save_model(model, tmp_path / "m.keras")
    noise(tmp_path / "=evil.png")
    monkeypatch.chdir(tmp_path)
    assert main(["heatmap", "--model", str(model_file), "=evil.png", "--out", "maps", "--top-k", "2"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("=evil.png: "))
    assert {name.rsplit(" ", 1)[0] for name in line.split(": ", 1)[1].split(", ")} == {"=1+2", "'quoted"}
    table = (tmp_path / "maps" / "predictions.csv").read_text()
    assert "'=evil.png" in table and "'=1+2" in table and "''quoted" in table
    assert [from_csv_cell(for_csv_cell(name)) for name in ("=1", "'q", "''", "x")] == ["=1", "'q", "''", "x"]


def rewrite_entry(path: Path, entry: str, change) -> Path:
    """A copy of the .keras archive ``path`` with ``entry``'s text passed through ``change``."""
    target = path.with_name("edited.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as edited:
        for item in source.namelist():
            data = source.read(item)
            edited.writestr(item, change(data.decode()) if item == entry else data)
    return target


@pytest.mark.parametrize("names", ["[1, 2, 3]", '[null, "a", "b"]', '[["a"], "b", "c"]'])
def test_non_string_class_names_in_a_model_file_are_one_line(tmp_path, tiny_model, capsys, names):
    saved = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    edited = rewrite_entry(
        saved, "cam_keras.json", lambda text: json.dumps({**json.loads(text), "class_names": json.loads(names)})
    )
    assert main(["inspect", "--model", str(edited)]) == 2
    line = one_error_line(capsys, "inspect")
    assert str(edited) in line and "class_names[0]" in line and "not a string" in line


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_a_full_disk_under_tensorboard_is_an_io_error_not_a_bug(tmp_path, shapes_dir, monkeypatch, capsys):
    def full_disk(self, epoch, logs=None):
        events = Path(self.log_dir) / "train" / "events.out.tfevents.1.host.7.0.v2"
        raise tf.errors.OutOfRangeError(None, None, TF_FLUSH_ERROR.format(path=events))

    monkeypatch.setattr(keras.callbacks.TensorBoard, "on_epoch_end", full_disk)
    run = tmp_path / "run"
    args = ["--backbone", "small_cnn", "--input-size", "16", "--width", "4", "--head-epochs", "1", "--batch-size", "16"]
    assert main(["train", str(shapes_dir), "--out", str(run), *args, "--finetune-epochs", "0"]) == 1
    line = one_error_line(capsys, "train")
    assert f"{run}/logs/train/events.out.tfevents.1.host.7.0.v2" in line and "File too large" in line


def test_other_tensorflow_errors_are_still_reported_as_bugs(tmp_path, tiny_model, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise tf.errors.InvalidArgumentError(None, None, "Incompatible shapes: [2] vs. [3]")

    monkeypatch.setattr("cam_keras.api.describe", broken)
    assert main(["inspect", "--model", str(cam_keras.save_model(tiny_model, tmp_path / "m.keras"))]) == 70
    assert "this is a bug in cam-keras" in capsys.readouterr().err


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EFBIG])
@pytest.mark.parametrize("target", ["report.json", "predictions.csv"])
def test_a_failed_write_names_the_file_and_exits_1(tmp_path, tiny_model, monkeypatch, capsys, code, target):
    """The OS reports a failed write() without a file name ("File too large"): the message
    still names the output file."""

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if target == "report.json":
        real = Path.write_bytes
        monkeypatch.setattr(
            Path, "write_bytes", lambda self, data: (fail if self.name.endswith(target) else real)(self, data)
        )
    else:
        monkeypatch.setattr(CsvWriter, "write_record", fail)
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(noise(tmp_path / "a.png")), "--out", str(out)]) == 1
    line = one_error_line(capsys, "heatmap")
    assert str(out / target) in line and os.strerror(code) in line


def test_a_full_temporary_folder_while_loading_is_not_called_a_corrupt_model(tmp_path, tiny_model, monkeypatch, capsys):
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")

    def full_tmp(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.saving, "load_model", full_tmp)
    assert main(["inspect", "--model", str(model_file)]) == 1
    line = one_error_line(capsys, "inspect")
    assert str(model_file) in line and "No space left on device" in line and "TMPDIR" in line
    assert "corrupt" not in line


class Doubling(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2


@pytest.mark.parametrize(
    "module, suggested", [("subprocess", False), ("os.path", False), ("a;b", False), ("my_layers", True)]
)
def test_a_model_naming_a_module_gets_import_advice_only_for_a_plausible_one(tmp_path, module, suggested):
    keras.saving.register_keras_serializable("test_messages")(Doubling)
    try:
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(Doubling()(inputs))))
        model.save(tmp_path / "m.keras")
    finally:
        del keras.saving.get_custom_objects()["test_messages>Doubling"]
    edited = rewrite_entry(
        tmp_path / "m.keras", "config.json", lambda text: text.replace(f'"{__name__}"', json.dumps(module))
    )
    assert module in (zipfile.ZipFile(edited).read("config.json").decode())
    with pytest.raises(ModelError) as raised:
        cam_keras.load_model(edited)
    message = str(raised.value)
    assert "'Doubling'" in message and "import the module of your own that defines 'Doubling'" in message
    assert (f"(import {module} before loading)" in message) == suggested
    assert suggested or "(import MODULE_OR_FILE before loading)" in message
    assert f"(--import {module if suggested else 'MODULE_OR_FILE'})" in error_text(raised.value)  # the CLI's line


def test_top_k_above_the_class_count_is_said_once(tiny_model, images, caplog):
    explainer = cam_keras.CAM(tiny_model)
    with caplog.at_level(logging.WARNING):
        first = explainer.explain_batch(images[:2], top_k=5)
        explainer.explain_batch(images[:2], top_k=5)
    assert first["maps"].shape[1] == 3
    said = [record.getMessage() for record in caplog.records if "top_k" in record.getMessage()]
    assert said == ["top_k 5 is more than the model's 3 classes: 3 class(es) mapped per image"]


EARLY = """
import sys, time
from cam_keras.cli import main
start = time.perf_counter()
codes = [main(argv) for argv in {commands!r}]
print(codes, "tensorflow" in sys.modules, round(time.perf_counter() - start, 2))
"""


def test_a_missing_model_or_input_is_refused_before_tensorflow_loads(tmp_path):
    noise(tmp_path / "a.png")
    missing, image = str(tmp_path / "typo.keras"), str(tmp_path / "a.png")
    commands = [
        ["heatmap", "--model", missing, image, "--out", str(tmp_path / "o")],
        ["evaluate", "--model", missing, str(tmp_path)],
        ["inspect", "--model", missing],
        ["heatmap", "--model", str(tmp_path / "a.png"), str(tmp_path / "nothing.png"), "--out", str(tmp_path / "o")],
    ]
    done = subprocess.run(
        [sys.executable, "-c", EARLY.format(commands=commands)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    codes, loaded, seconds = done.stdout.rsplit(" ", 2)
    assert (codes, loaded) == ("[2, 2, 2, 2]", "False"), done.stderr
    assert (
        done.stderr.count("typo.keras: no such model file") == 3
        and "nothing.png: no such file or folder" in done.stderr
    )
    assert float(seconds) < 1.0


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_resuming_a_finished_run_keeps_its_model_loading_silently(tmp_path, shapes_dir, capsys):
    """The resumed run saves model.keras again; its optimizer was never built, and every later
    load printed Keras's "Skipping variable loading for optimizer"."""
    run = tmp_path / "run"
    args = ["--backbone", "small_cnn", "--input-size", "16", "--width", "4", "--head-epochs", "1", "--batch-size", "16"]
    assert main(["train", str(shapes_dir), "--out", str(run), *args, "--finetune-epochs", "0"]) == 0
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    before = cam_keras.load_model(run / "model.keras").predict(pixels, verbose=0)
    assert "nothing to train" not in capsys.readouterr().out
    assert main(["train", str(shapes_dir), "--out", str(run), "--resume"]) == 0
    said = capsys.readouterr().out  # issue 25: it did nothing and exited 0 without saying so
    assert f"{run} had already trained every epoch: nothing to train, model.keras written again" in said
    with open(run / "history.csv", newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]  # as "Epoch 1/1" and epoch_001.png
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        after = cam_keras.load_model(run / "model.keras").predict(pixels, verbose=0)
    assert not [str(warning.message) for warning in caught if "Skipping variable loading" in str(warning.message)]
    np.testing.assert_allclose(after, before, atol=1e-5)


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_hidden_image_files_are_listed_in_the_report_once_per_job(tmp_path, tiny_model):
    """Issue 27: hidden files were named in a warning only, not in report.json's skipped."""
    from cam_keras.data.images import HIDDEN_REASON

    photos = tmp_path / "photos"
    for name in ("a.png", "b.png", "...png", ".x.jpg", "._x.jpg"):
        noise(photos / name)
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    hidden = sorted(str(photos / name) for name in ("...png", ".x.jpg", "._x.jpg"))
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(whole), "--quiet"]) == 0
    for index in (1, 2):
        args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(shards), "--quiet", "--shard"]
        assert main([*args, f"{index}/2"]) == 0
    assert main(["merge", str(shards)]) == 0
    for out in (whole, shards):
        skipped = json.loads((out / "report.json").read_text())["skipped"]
        assert sorted(entry["path"] for entry in skipped) == hidden
        assert {entry["reason"] for entry in skipped} == {HIDDEN_REASON}
