"""Models from the wild: files written by real Keras 2 (tf_keras, in a subprocess: see
keras2_zoo.py), each explained with probabilities equal to Keras 2's own ``predict`` on the same
pixels, and exact CAM where the head is affine after pooling: the maps (with the folded bias)
average to logits whose softmax is Keras 2's own probabilities."""

import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from oracles import assert_exact_cam
from sample_images import write_images

import cam_keras

pytest.importorskip("tf_keras")
from keras2_zoo import APPLICATIONS  # noqa: E402  (imports tf_keras)

# Every test reads files that tf_keras writes in a fresh process first (about 8 s together).
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parents[1] / "support"
#: zoo model -> file name, and whether its head folds into an exact CAM
SMALL = {
    "sequential_adam_lr": ("sequential_adam_lr.h5", True),
    "sequential_keras": ("sequential_keras.keras", True),
    "head_bn_mse": ("head_bn_mse.h5", True),
    "head_ln": ("head_ln.keras", True),
    "head_dropout_savedmodel": ("head_dropout_savedmodel", True),
    "custom_layer": ("custom_layer.h5", True),
    "mixed_precision_keras": ("mixed_precision_keras.keras", True),
    "app_mobilenetv2": ("app_mobilenetv2.h5", True),
}
LARGE = {
    **{f"app_{name}": (f"app_{name}.h5", True) for name in APPLICATIONS if name != "mobilenetv2"},
    "app_mobilenetv2_keras": ("app_mobilenetv2_keras.keras", True),
}


@keras.saving.register_keras_serializable(package="zoo")
class Doubling(keras.layers.Layer):
    """The Keras 3 twin of keras2_zoo.Doubling, registered under the same name."""

    def call(self, inputs):
        return inputs * 2.0


def write_zoo(folder: Path, names) -> Path:
    """Run keras2_zoo.py in its own process (Keras 2 there, Keras 3 here)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "keras2_zoo.py"), str(folder), *names],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    print(f"keras2 zoo {names}: written in {time.perf_counter() - start:.1f}s")
    return folder


@pytest.fixture(scope="session")
def small_zoo(tmp_path_factory):
    return write_zoo(tmp_path_factory.mktemp("keras2_small"), SMALL)


@pytest.fixture(scope="session")
def large_zoo(tmp_path_factory):
    return write_zoo(tmp_path_factory.mktemp("keras2_large"), LARGE)


def assert_explained_like_keras2(folder: Path, name: str, file_name: str, exact: bool) -> None:
    model = cam_keras.load_model(folder / file_name)
    expected = np.load(folder / f"{name}.npz")
    explanation = cam_keras.explain(model, expected["pixels"], classes="all")
    np.testing.assert_allclose(explanation.probabilities, expected["probabilities"], rtol=1e-4, atol=1e-4)
    if exact:
        assert explanation.method == "cam"
        assert_exact_cam(model, expected["pixels"], expected["probabilities"])


@pytest.mark.parametrize("name", SMALL)
def test_keras2_file_is_explained_with_keras2s_own_probabilities(small_zoo, name):
    assert_explained_like_keras2(small_zoo, name, *SMALL[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_keras2_application_backbones_are_explained_with_keras2s_own_probabilities(large_zoo, name):
    assert_explained_like_keras2(large_zoo, name, *LARGE[name])


def test_keras2_savedmodel_without_tf_keras_says_how_to_install(small_zoo, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf_keras", None)  # import tf_keras raises ModuleNotFoundError
    with pytest.raises(
        cam_keras.errors.ModelError, match=r"Keras 2 SavedModel folder.*pip install 'cam-keras\[keras2\]'"
    ):
        cam_keras.load_model(small_zoo / "head_dropout_savedmodel")


def test_keras_warnings_do_not_reach_the_user_while_loading(small_zoo, recwarn, caplog):
    for name in ("sequential_adam_lr", "head_bn_mse", "app_mobilenetv2", "head_dropout_savedmodel"):
        cam_keras.load_model(small_zoo / SMALL[name][0])
    assert not [str(w.message) for w in recwarn]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= 30]


@pytest.mark.slow  # runs cam-keras heatmap in a fresh process: ~8 CPU-s
def test_heatmap_quiet_on_a_keras2_h5_prints_nothing_but_its_own_lines(small_zoo, tmp_path):
    images = write_images(tmp_path / "in", np.load(small_zoo / "sequential_adam_lr.npz")["pixels"])
    result = subprocess.run(
        [sys.executable, "-m", "cam_keras.cli", "heatmap", "--model", small_zoo / "sequential_adam_lr.h5", images]
        + ["--out", tmp_path / "out", "--quiet"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = [line.split()[:2] for line in result.stdout.splitlines()]
    assert lines == [["wrote", "2"], ["gallery:", str(tmp_path / "out" / "gallery.html")]], result.stdout
    assert len(list((tmp_path / "out").glob("*.npz"))) == 2


@pytest.mark.slow  # a fresh Python that imports TensorFlow: ~6 CPU-s
def test_a_script_that_imports_keras_first_gets_no_tensorflow_lines_from_cam_keras(small_zoo):
    """TensorFlow's import lines are written before cam_keras exists (nothing cam-keras can do);
    the failed cuInit of the first device listing comes later, and cam-keras filters it."""
    script = (
        "import sys, keras\n"
        "print('MARK', file=sys.stderr, flush=True)\n"
        "import cam_keras\n"
        f"print(cam_keras.describe({str(small_zoo / 'sequential_keras.keras')!r}).rows[0])\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.split("MARK\n", 1)[1] == ""


def test_weights_of_a_translated_h5_are_checked_by_name_against_the_file(small_zoo):
    from cam_keras.errors import ModelError
    from cam_keras.models.reading import _check_weights_as_stored

    path = small_zoo / "app_mobilenetv2.h5"
    model = cam_keras.load_model(path)
    _check_weights_as_stored(model, path)  # as loaded: every array where the file says
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    kernel = inner.get_layer("Conv1").kernel
    kernel.assign(kernel.numpy() + 1.0)  # as if a translation had put another array there
    with pytest.raises(ModelError, match=r"weight 'Conv1/kernel:0' of layer 'mobilenetv2_0.35_32' did not load"):
        _check_weights_as_stored(model, path)


def test_keras2_savedmodel_with_damaged_variables_is_named(small_zoo, tmp_path):
    """Hostile sweep (issue 27): unreadable variables raised TensorFlow's DataLossError, exit 70."""
    import shutil

    folder = shutil.copytree(small_zoo / "head_dropout_savedmodel", tmp_path / "damaged")
    for variables in (folder / "variables").iterdir():
        variables.write_bytes(b"x")
    with pytest.raises(cam_keras.errors.ModelError, match="damaged: Keras could not load it"):
        cam_keras.load_model(folder)
