"""Issue 24: the library names options by their Python names; only cli/ speaks in flags,
through the one table in cam_keras/cli/flags.py."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import build_parser, main
from cam_keras.cli.flags import FLAGS, error_text, flag_spelling, with_flags
from cam_keras.errors import OutputFolderError, UsageError, option

PACKAGE = Path(cam_keras.__file__).parent
FLAG_TEXT = re.compile(r"--[a-z]")


def library_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "cli" not in path.relative_to(PACKAGE).parts[:1])


def test_no_flag_text_outside_cli():
    """Code, strings, docstrings and comments alike: a flag named outside cli/ reaches a
    notebook user who has no flags."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in library_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FLAG_TEXT.search(line)
    ]
    assert len(library_files()) > 50 and found == [], "\n".join(found)


def library_names() -> set[str]:
    """Every option name a library caller can write: fields of the option classes and the
    parameters of the public calls the command line wraps."""
    from cam_keras.cam.factory import make_explainer
    from cam_keras.data.class_folders import scan_class_folders
    from cam_keras.demo import run_demo
    from cam_keras.evaluate.dataset import evaluate_localization
    from cam_keras.jobs.request import HeatmapOptions, HeatmapRequest
    from cam_keras.models.io import import_user_code
    from cam_keras.train import TrainConfig, fine_tune

    calls = (cam_keras.open_model, cam_keras.explain, cam_keras.write_heatmaps, make_explainer, fine_tune, run_demo)
    calls += (evaluate_localization, scan_class_folders)
    names = {name for call in calls for name in inspect.signature(call).parameters}
    names |= {field.name for cls in (HeatmapOptions, HeatmapRequest, TrainConfig) for field in dataclasses.fields(cls)}
    return names | {import_user_code.__name__}


def command_line_flags() -> set[str]:
    subcommands = build_parser()._subparsers._group_actions[0].choices.values()
    return {flag for parser in subcommands for action in parser._actions for flag in action.option_strings}


def test_the_flag_table_maps_real_names_to_real_flags():
    names = library_names()
    flags = command_line_flags()
    for spelling, flag in FLAGS.items():
        name, _, value = spelling.partition("=")
        assert name in names, f"{spelling}: no such library option"
        assert flag in flags, f"{spelling} -> {flag}: no subcommand has this flag"
        assert value in ("", "False"), spelling  # switches that turn something off: safe_mode=False -> --unsafe
    assert {"--max-side", "--print-top", "--format", "--class", "--unsafe", "--finetune-epochs"} <= set(FLAGS.values())


def test_every_option_the_library_names_has_a_flag():
    named = {
        found
        for path in library_files()
        for found in re.findall(r"\boption\(['\"]([a-z_]+)['\"]", path.read_text(encoding="utf-8"))
    }
    with_flag = {spelling.partition("=")[0] for spelling in FLAGS}
    assert len(named) > 20 and sorted(named - with_flag) == []


def test_an_option_reads_as_python_in_the_library_and_as_a_flag_on_the_command_line():
    error = UsageError(
        f"pass {option('overwrite', True)}, {option('max_side')} 3, {option('method', 'gradcam')}, "
        f"{option('safe_mode', False)}, {option('import_user_code', 'lib', python='import lib')}, {option('nope')}"
    )
    assert str(error) == "pass overwrite=True, max_side 3, method='gradcam', safe_mode=False, import lib, nope"
    assert error_text(error) == "pass --overwrite, --max-side 3, --method gradcam, --unsafe, --import lib, nope"
    again = pickle.loads(pickle.dumps(error))  # as a render worker's error crosses processes
    assert error_text(again) == error_text(error) and str(again) == str(error)
    assert error_text(FileNotFoundError("x.keras: no such model file")) == "x.keras: no such model file"
    assert with_flags(f"without {option('val_dir')}") == "without --val-dir"
    assert flag_spelling("top_k", "top_k=2", "2") == "--top-k 2"


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photos" / "a.png"
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def model_file(tmp_path, tiny_model):
    return cam_keras.save_model(tiny_model, tmp_path / "model.keras")


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_bad_max_side_names_max_side_in_python_and_the_flag_on_the_command_line(
    tmp_path, tiny_model, model_file, photo, capsys
):
    """The issue's example: ``write_heatmaps(max_side=...)`` told a notebook user about ``--max-side``."""
    with pytest.raises(UsageError) as raised:
        cam_keras.write_heatmaps(
            cam_keras.CAM(tiny_model), [photo], tmp_path / "py", cam_keras.HeatmapOptions(max_side=0)
        )
    assert str(raised.value).startswith("max_side 0: expected a longest side from 1 to 16383 px")
    assert "--" not in str(raised.value)
    assert (
        main(["heatmap", "--model", str(model_file), str(photo), "--out", str(tmp_path / "cli"), "--max-side", "0"])
        == 2
    )
    line = one_error_line(capsys)
    assert line.startswith("cam-keras heatmap: error: --max-side 0: expected a longest side from 1 to 16383 px")
    assert "max_side" not in line
    assert not (tmp_path / "py").exists() and not (tmp_path / "cli").exists()  # refused before any file


def test_a_full_output_folder_asks_for_overwrite_true_in_python_and_the_flag_on_the_command_line(
    tmp_path, tiny_model, model_file, photo, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    with pytest.raises(OutputFolderError) as raised:
        cam_keras.write_heatmaps(cam_keras.CAM(tiny_model), [photo], out, progress=False)
    assert f"out {out} is not empty; pass overwrite=True to replace" in str(raised.value)
    assert main(["heatmap", "--model", str(model_file), str(photo), "--out", str(out), "--quiet"]) == 2
    assert f"--out {out} is not empty; pass --overwrite to replace" in one_error_line(capsys)
    assert sorted(path.name for path in out.iterdir()) == ["mine.txt"]


def test_inspect_names_the_output_flag_where_describe_names_the_argument(tmp_path, capsys):
    """A model's own problem goes into the report, not an error: the report names options too."""
    import keras

    inputs = keras.Input((None, None, 3))  # dynamic size: the row names how to choose it
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    heads = [keras.layers.Dense(2, name="a")(pooled), keras.layers.Dense(3, name="b")(pooled)]
    two_outputs = keras.Model(inputs, heads)
    described = cam_keras.describe(two_outputs)
    (problem,) = described.problems
    assert "has 2 outputs (a, b); pick the class scores with output NAME;" in problem
    assert "dynamic, run at 224x224 (input_size)" in str(cam_keras.describe(two_outputs, output="a"))
    path = tmp_path / "two.keras"
    two_outputs.save(path)
    assert main(["inspect", "--model", str(path)]) == 1
    assert "has 2 outputs (a, b); pick the class scores with --output NAME;" in capsys.readouterr().out
    assert main(["inspect", "--model", str(path), "--output", "a"]) == 0
    assert "dynamic, run at 224x224 (--input-size)" in capsys.readouterr().out
