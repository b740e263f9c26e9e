"""Models cam-keras writes load anywhere: plain ``keras.saving.load_model`` in a process that
cannot import cam_keras, ``model.export()`` and TFLite conversion; files written with the
earlier ``ApplicationPreprocessing`` layer still load."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest

import cam_keras
from cam_keras.models.applications import application_backbones
from cam_keras.models.preprocessing import ApplicationPreprocessing, application_preprocessing

RAW = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)


@pytest.mark.parametrize("module", sorted({spec.module for spec in application_backbones().values()}))
def test_keras_layers_equal_each_familys_preprocess_input(module):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, application_preprocessing(module, inputs))
    expected = getattr(keras.applications, module).preprocess_input(RAW.copy())
    np.testing.assert_allclose(model(RAW).numpy(), expected, rtol=1e-6, atol=1e-4)
    assert all(type(op).__module__.startswith("keras.") for op in model.operations)


def caffe_model():
    """A tiny classifier behind the caffe preprocessing (BGR, mean subtracted: a channel reorder)."""
    inputs = keras.Input((32, 32, 3), name="image")
    features = keras.layers.Conv2D(4, 3, name="conv")(application_preprocessing("vgg16", inputs))
    logits = keras.layers.Dense(2, name="cam_logits")(keras.layers.GlobalAveragePooling2D(name="cam_gap")(features))
    return keras.Model(inputs, logits)


LOAD_ELSEWHERE = textwrap.dedent(
    """
    import sys
    sys.modules["cam_keras"] = None  # a process without cam-keras, even where it is installed
    import numpy as np, keras, tensorflow as tf
    pixels = np.load("pixels.npy")
    loaded, converted = sys.argv[1].split(","), sys.argv[2].split(",")
    for name in loaded:
        model = keras.saving.load_model(name + ".keras")
        expected = np.load(name + ".npy")
        np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-4, atol=1e-4)
        print(name, "loaded")
        if name not in converted:
            continue
        model.export(name + "_export", verbose=False)
        exported = tf.saved_model.load(name + "_export")
        served = exported.serve(tf.constant(pixels))
        np.testing.assert_allclose(served.numpy(), expected, rtol=1e-4, atol=1e-4)
        interpreter = tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert())
        interpreter.resize_tensor_input(0, pixels.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
        interpreter.invoke()
        lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(lite, expected, rtol=1e-3, atol=1e-3)
        print(name, "converted")
    assert sys.modules["cam_keras"] is None and not [name for name in sys.modules if name.startswith("cam_keras.")]
    """
)


@pytest.mark.slow  # MobileNetV2 saved, reloaded in a fresh TensorFlow process, TFLite conversion
def test_saved_models_load_export_and_convert_without_cam_keras(tmp_path):
    models = {
        "mobilenet_v2": cam_keras.build_model("mobilenet_v2", class_names=["a", "b"], input_size=32),
        "caffe": caffe_model(),
    }
    np.save(tmp_path / "pixels.npy", RAW)
    for name, model in models.items():
        cam_keras.save_model(model, tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", model.predict(RAW, verbose=0))
        with zipfile.ZipFile(tmp_path / f"{name}.keras") as archive:
            assert "cam_keras" not in json.dumps(json.loads(archive.read("config.json")))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # export and TFLite for the small model: it has both kinds of preprocessing step (the
    # Normalization layer and the channel reorder); converting MobileNetV2 too took a minute.
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, ",".join(models), "caffe"],
        cwd=tmp_path,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    said = [line for line in result.stdout.splitlines() if line.endswith(("loaded", "converted"))]
    assert said == ["mobilenet_v2 loaded", "caffe loaded", "caffe converted"]


def test_models_saved_with_the_earlier_preprocessing_layer_still_load(tmp_path):
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3)(ApplicationPreprocessing("resnet50", name="preprocess")(inputs))
    old = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))
    cam_keras.save_model(old, tmp_path / "old.keras")
    loaded = cam_keras.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.get_layer("preprocess"), ApplicationPreprocessing)
    np.testing.assert_allclose(loaded(RAW).numpy(), old(RAW).numpy(), rtol=1e-5, atol=1e-5)
    explanation = cam_keras.explain(loaded, RAW, classes="all")
    np.testing.assert_allclose(explanation.logits, old(RAW).numpy(), rtol=1e-4, atol=1e-4)
