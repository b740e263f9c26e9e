"""The command line's front door: fast help without TensorFlow, quiet runs, one method list."""

import os
import subprocess
import sys

import numpy as np
import pytest

import cam_keras
from cam_keras.cam.methods import METHODS
from cam_keras.cli import build_parser
from cam_keras.quiet_import import TENSORFLOW_NOISE

COMMANDS = ("demo", "train", "heatmap", "evaluate")


def run_python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as on a user's machine
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)


def test_help_imports_no_tensorflow_and_prints_nothing_on_stderr():
    script = (
        "import sys\n"
        "from cam_keras.cli import main\n"
        f"for argv in [['--help'], *[[c, '--help'] for c in {COMMANDS!r}]]:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, argv\n"
        "import cam_keras, cam_keras.errors\n"
        "print('LOADED', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "LOADED []"
    assert result.stderr == ""


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_from_the_module_entry_point_is_clean(command):
    result = run_python("-m", "cam_keras.cli", *([command] if command else []), "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "usage: cam-keras" in result.stdout


def test_module_entry_point_help_imports_no_tensorflow():
    result = run_python("-X", "importtime", "-m", "cam_keras.cli", "--help")
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines}
    assert "cam_keras.cli" in imported
    assert not {name for name in imported if name.split(".")[0] in ("tensorflow", "keras")}


@pytest.mark.slow
def test_a_run_prints_no_tensorflow_noise(tmp_path, tiny_model, images):
    from PIL import Image

    cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    Image.fromarray(images[0].astype(np.uint8)).save(tmp_path / "x.png")
    result = run_python(
        "-m",
        "cam_keras.cli",
        "heatmap",
        "--model",
        str(tmp_path / "m.keras"),
        str(tmp_path / "x.png"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--method",
        "xgradcam",
        "--target-layer",
        "conv5_relu",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "out" / "x.png").is_file()


@pytest.mark.slow  # a fresh Python that imports TensorFlow: ~6 CPU-s
def test_a_script_that_loads_tensorflow_through_cam_keras_prints_no_framework_noise():
    script = (
        "import sys, cam_keras\n"
        "model = cam_keras.build_model('small_cnn', num_classes=2, input_size=32, weights=None)\n"
        "print('a line of my own', file=sys.stderr)\n"
        "print(model.name)\n"
    )
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "small_cnn_cam"
    assert result.stderr == "a line of my own\n"


@pytest.mark.slow  # a fresh Python that imports TensorFlow: ~6 CPU-s
def test_tensorflow_loads_when_standard_error_is_closed():
    script = "import cam_keras; print(cam_keras.build_model('small_cnn', num_classes=2, weights=None).name)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" 2>&-', sys.executable, script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "small_cnn_cam")


def test_noise_filter_keeps_real_errors():
    assert TENSORFLOW_NOISE.match("I0000 00:00:1795492649.918253    6439 port.cc:153] oneDNN custom operations are on.")
    assert TENSORFLOW_NOISE.match("E0000 00:00:1795492624.603699 6029 cuda_platform.cc:52] failed call to cuInit")
    assert not TENSORFLOW_NOISE.match("E0000 00:00:1795492624.603699 6029 bfc_allocator.cc:1] Out of memory")


def test_method_choices_come_from_the_registry():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    choices = {
        name: next(action.choices for action in subcommands[name]._actions if action.dest == "method")
        for name in ("heatmap", "evaluate")
    }
    assert list(choices["heatmap"]) == ["auto", *METHODS]
    assert list(choices["evaluate"]) == list(METHODS)


@pytest.mark.slow  # a fresh Python that imports TensorFlow: ~6 CPU-s
def test_submodules_are_reachable_from_a_plain_import():
    script = "import cam_keras; print(cam_keras.train.fine_tune.__name__, cam_keras.evaluate.iou.__name__)"
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fine_tune", "iou"]
