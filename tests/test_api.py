"""Bring your own model: Keras classifiers built the way the Keras guides build them, at tiny
sizes, each explained exactly (CAM identity; Grad-CAM against a hand-written GradientTape) with
the model's own probabilities, or refused with one clear line.

The keras.applications models with their own tops are in models/test_applications.py (slow).
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from oracles import assert_cam_identity, assert_matches_reference, gradcam_reference
from sample_images import SIZE, pixels, write_images

import cam_keras
from cam_keras.cli import main
from cam_keras.errors import ModelError, UsageError
from cam_keras.models.contract import model_contract
from cam_keras.models.outputs import read_output


def run_cli(*argv):
    return main([str(arg) for arg in argv])


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ---------------------------------------------------------------- models


def gap_head(x, units, activation=None, dropout=0.0):
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(units, activation=activation, name="head")(x)


@pytest.fixture(scope="module")
def sequential_softmax():
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax", name="head"),
        ],
        name="sequential",  # named: Keras numbers unnamed models in the order tests build them
    )


def transfer_model(units):
    """The Keras transfer-learning guide: augmentation, Rescaling to [-1, 1], a nested
    MobileNetV2 called with training=False, GAP, Dropout, Dense(units)."""
    augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1)])
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(64, 64, 3), alpha=0.35)
    inputs = keras.Input((64, 64, 3))
    x = augmentation(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)
    x = base(x, training=False)
    return keras.Model(inputs, gap_head(x, units, dropout=0.2))


@pytest.fixture(scope="module")
def transfer_binary():
    return transfer_model(1)


@pytest.fixture(scope="module")
def transfer_multiclass():
    return transfer_model(3)


def small_cnn(inputs, channels=8):
    x = keras.layers.Conv2D(channels, 3, activation="relu", name="conv1")(inputs)
    return keras.layers.Conv2D(channels, 3, activation="relu", name="conv2")(x)


# ---------------------------------------------------------------- softmax, binary, multi-label


def test_sequential_softmax_cam_is_exact_and_probabilities_are_the_models(sequential_softmax, tmp_path, capsys):
    images = pixels()
    explanation = cam_keras.explain(sequential_softmax, images, classes="all")
    assert explanation.method == "cam"
    assert_cam_identity(sequential_softmax, explanation)
    expected = sequential_softmax.predict(images, verbose=0)
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-4, atol=1e-6)

    path = tmp_path / "seq.keras"
    sequential_softmax.save(path)
    out = tmp_path / "out"
    assert run_cli("heatmap", "--model", path, write_images(tmp_path / "in", images), "--out", out, "--quiet") == 0
    for index in range(len(images)):
        with np.load(out / f"im{index}.npz") as arrays:
            uint8_input = images[index].astype(np.uint8)[None].astype(np.float32)
            np.testing.assert_allclose(
                arrays["probabilities"], sequential_softmax.predict(uint8_input, verbose=0)[0], rtol=1e-4, atol=1e-6
            )


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_binary_dense1_is_two_classes_with_sigmoid_probabilities(transfer_binary):
    images = pixels(size=64, seed=1)
    explanation = cam_keras.explain(transfer_binary, images, classes="all")
    z = transfer_binary.predict(images, verbose=0)[:, 0]
    positive = 1 / (1 + np.exp(-z))
    expected = np.stack([1 - positive, positive], axis=1)
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(explanation.logits, np.stack([-z, z], axis=1), rtol=1e-4, atol=1e-5)
    assert explanation.class_names == ("class_0", "class_1")
    assert_cam_identity(transfer_binary, explanation)
    np.testing.assert_allclose(explanation.raw_maps[:, 0], -explanation.raw_maps[:, 1], rtol=1e-5, atol=1e-6)
    top = cam_keras.explain(transfer_binary, images)
    np.testing.assert_array_equal(top.class_indices[:, 0], (z > 0).astype(int))


def test_binary_sigmoid_gradcam_differentiates_the_logit_of_each_class():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = small_cnn(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, gap_head(features, 1, "sigmoid"))
    images = pixels(4, seed=2)
    output = read_output(model)
    assert (output.kind, output.applied) == ("binary", True)
    explanation = cam_keras.explain(model, images, classes="all")
    positive = model.predict(images, verbose=0)[:, 0]
    np.testing.assert_allclose(explanation.probabilities[:, 1], positive, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explanation.probabilities[:, 0], 1 - positive, rtol=1e-4, atol=1e-6)
    gradcam = cam_keras.make_explainer(model, "gradcam", "conv1")  # gradients vary over space here
    maps = np.concatenate([gradcam(images, classes=c).raw_maps[:, 0] for c in (0, 1)])
    references = [gradcam_reference(model, model.get_layer("conv1").output, images, c) for c in (0, 1)]
    assert_matches_reference(maps, np.concatenate(references))


def test_binary_class_names_from_one_or_two_names(transfer_binary):
    configured = cam_keras.open_model(transfer_binary, class_names=["dog"])
    assert model_contract(configured).class_names == ("not dog", "dog")
    configured = cam_keras.open_model(transfer_binary, class_names=["cat", "dog"])
    assert model_contract(configured).class_names == ("cat", "dog")
    with pytest.raises(UsageError, match="the negative and the positive class"):
        cam_keras.open_model(transfer_binary, class_names=["a", "b", "c"])


def test_transfer_guide_multiclass_detects_its_rescaling_and_gets_exact_cam(transfer_multiclass):
    report = cam_keras.describe(transfer_multiclass)
    text = str(report)
    assert "the model's own Rescaling layer" in text and "cam (exact: mean of the map + bias = logit)" in text
    assert "mobilenetv2_0.35_64/out_relu" in text
    explanation = cam_keras.explain(transfer_multiclass, pixels(size=64, seed=3), top_k=2)
    assert_cam_identity(transfer_multiclass, explanation)
    np.testing.assert_allclose(explanation.probabilities, tf.nn.softmax(explanation.logits).numpy(), rtol=1e-5)


def test_sigmoid_multilabel_has_independent_probabilities_and_gradcam_on_the_logit():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = small_cnn(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, gap_head(features, 4, "sigmoid"))
    model.get_layer("head").bias.assign([2.0, -2.0, 0.5, 0.0])
    images = pixels(seed=4)
    explanation = cam_keras.explain(model, images, top_k=2)
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(explanation.probabilities, probabilities, rtol=1e-4, atol=1e-6)
    assert not np.allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(explanation.class_indices, np.argsort(-probabilities, axis=1)[:, :2])
    assert_cam_identity(model, explanation)
    gradcam = cam_keras.make_explainer(model, "gradcam", "conv1")(images, classes=1)
    reference = gradcam_reference(model, model.get_layer("conv1").output, images, 1)
    assert_matches_reference(gradcam.raw_maps[:, 0], reference)
    assert model_contract(model).outputs.kind == "sigmoid"


def test_softmax_activation_layer_in_float32_under_mixed_precision():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255, dtype="mixed_float16")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", dtype="mixed_float16")(x)
    x = keras.layers.GlobalAveragePooling2D(dtype="mixed_float16")(x)
    x = keras.layers.Dense(3, dtype="mixed_float16", name="head")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", dtype="float32")(x))
    images = pixels(seed=5)
    explanation = cam_keras.explain(model, images, classes="all")
    assert model_contract(model).outputs.kind == "softmax"
    assert_cam_identity(model, explanation)
    np.testing.assert_allclose(explanation.probabilities, model.predict(images, verbose=0), atol=2e-3)


# ---------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def grayscale_model():
    inputs = keras.Input((28, 28, 1))
    x = small_cnn(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, gap_head(x, 10, "softmax"))


def test_grayscale_model_takes_paths_2d_and_1_channel_arrays(grayscale_model, tmp_path):
    gray = pixels(2, size=28, channels=1, seed=6).round()
    expected = grayscale_model.predict(gray, verbose=0)
    for images in (gray, [g[..., 0] for g in gray]):
        explanation = cam_keras.explain(grayscale_model, images, classes="all")
        np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-4, atol=1e-6)
        assert_cam_identity(grayscale_model, explanation)
        assert explanation.images[0].shape == (28, 28, 3)  # drawn on an RGB copy
    folder = write_images(tmp_path / "gray", gray)
    from_files = cam_keras.explain(grayscale_model, sorted(folder.iterdir()), classes="all")
    np.testing.assert_allclose(from_files.probabilities, expected, rtol=1e-4, atol=1e-6)
    rgb = np.repeat(gray, 3, axis=-1)
    from_rgb = cam_keras.explain(grayscale_model, rgb)
    np.testing.assert_allclose(from_rgb.probabilities, expected, rtol=1e-3, atol=1e-5)


def test_grayscale_model_in_the_cli(grayscale_model, tmp_path, capsys):
    path = tmp_path / "mnist.keras"
    grayscale_model.save(path)
    gray = pixels(2, size=28, channels=1, seed=7).round()
    out = tmp_path / "out"
    assert run_cli("heatmap", "--model", path, write_images(tmp_path / "in", gray), "--out", out, "--quiet") == 0
    with np.load(out / "im0.npz") as arrays:
        np.testing.assert_allclose(arrays["probabilities"], grayscale_model.predict(gray[:1], verbose=0)[0], rtol=1e-4)


def test_user_arrays_are_not_clipped_and_an_assumed_range_warns_once(caplog):
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(small_cnn(inputs), 3))
    images = pixels(seed=8) / 127.5 - 1.0  # already preprocessed to [-1, 1]
    with caplog.at_level("WARNING"):
        first = cam_keras.explain(model, images, classes="all")
        cam_keras.explain(model, images)
    assert sum("assuming it takes raw pixels" in r.message for r in caplog.records) == 1
    assert "pass preprocess unit, symmetric" in caplog.records[0].message
    np.testing.assert_allclose(first.logits, model.predict(images, verbose=0), rtol=1e-4, atol=1e-5)
    assert "assumed" in str(cam_keras.describe(model))


def _count(caplog, fragment):
    return sum(fragment in record.getMessage() for record in caplog.records)


def test_the_raw_pixels_warning_comes_once_per_model_file_however_often_it_is_loaded(tmp_path, caplog):
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(small_cnn(inputs), 3))
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    model.save(first)
    model.save(second)
    images = pixels(1, seed=30)
    with caplog.at_level("WARNING"):
        cam_keras.explain(first, images)
        cam_keras.explain(first, images)
        assert _count(caplog, "assuming it takes raw pixels") == 1
        cam_keras.explain(second, images)  # another file: its own warning
    assert _count(caplog, "assuming it takes raw pixels") == 2


@pytest.mark.slow  # 6 s of the quick run on 2 cores
def test_preprocessing_inferred_from_a_nested_backbone_name_is_said_once(transfer_multiclass, caplog):
    backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), alpha=0.35)
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(backbone(inputs), 3))
    images = pixels(2, seed=31)
    fragment = "inferred from the name of its keras.applications model 'mobilenetv2_0.35_32'"
    with caplog.at_level("WARNING"):
        explanation = cam_keras.explain(model, images, classes="all")
        cam_keras.explain(model, images)
        assert _count(caplog, fragment) == 1
        assert "keras.applications.mobilenet_v2.preprocess_input" in caplog.text
        assert "pass preprocess none, unit" in caplog.text
        expected = model.predict(keras.applications.mobilenet_v2.preprocess_input(images.copy()), verbose=0)
        np.testing.assert_allclose(explanation.logits, expected, rtol=1e-4, atol=1e-4)
        assert "inferred from its name" in str(cam_keras.describe(model))
        caplog.clear()
        cam_keras.explain(model, images, preprocess="mobilenet_v2")  # chosen: nothing assumed
        cam_keras.explain(transfer_multiclass, pixels(1, size=64, seed=32))  # its own Rescaling layer says
    assert "assuming" not in caplog.text


def test_duplicate_class_names_are_refused(sequential_softmax, tmp_path, capsys):
    with pytest.raises(UsageError, match="'a' named more than once; class names must be unique"):
        cam_keras.open_model(sequential_softmax, class_names=["a", "a", "c"])
    path = tmp_path / "m.keras"
    sequential_softmax.save(path)
    classes = tmp_path / "classes.txt"
    classes.write_text("a\na\nc\n")
    folder = write_images(tmp_path / "in", pixels(1, seed=33))
    argv = ["--model", path, "--classes", classes]
    assert run_cli("heatmap", *argv, folder, "--out", tmp_path / "out", "--class", "a") == 2
    one_line_error(capsys, f"--classes {classes}: 'a' named more than once")
    assert run_cli("inspect", *argv) == 2
    one_line_error(capsys, f"--classes {classes}: 'a' named more than once")


def test_four_channel_model_takes_four_channel_arrays_and_refuses_files(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 4))
    model = keras.Model(inputs, gap_head(small_cnn(keras.layers.Rescaling(1 / 255)(inputs)), 2, "softmax"))
    images = pixels(2, channels=4, seed=17)
    explanation = cam_keras.explain(model, images, classes="all")
    np.testing.assert_allclose(explanation.probabilities, model.predict(images, verbose=0), rtol=1e-4, atol=1e-6)
    assert explanation.images[0].shape == (SIZE, SIZE, 3)
    folder = write_images(tmp_path / "rgb", pixels(1, seed=18))
    with pytest.raises(UsageError, match="takes 4-channel images; pass \\(h, w, 4\\) arrays"):
        cam_keras.explain(model, folder / "im0.png")


@pytest.mark.parametrize(
    "choice, function",
    [
        ("unit", lambda x: x / 255.0),
        ("symmetric", lambda x: x / 127.5 - 1.0),
        ("torch", lambda x: keras.applications.imagenet_utils.preprocess_input(x.copy(), mode="torch")),
    ],
)
def test_preprocess_choice_is_applied_exactly(choice, function):
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(small_cnn(inputs), 3))
    images = pixels(seed=9)
    explanation = cam_keras.explain(model, images, classes="all", preprocess=choice)
    np.testing.assert_allclose(explanation.logits, model.predict(function(images), verbose=0), rtol=1e-4, atol=1e-4)
    callable_choice = cam_keras.explain(model, images, classes="all", preprocess=function)
    np.testing.assert_allclose(callable_choice.logits, explanation.logits, rtol=1e-5, atol=1e-5)


def test_preprocess_and_input_size_flags_in_the_cli(tmp_path, capsys):
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(small_cnn(inputs), 3, "softmax"))
    path = tmp_path / "plain.keras"
    model.save(path)
    images = pixels(1, seed=19).round()
    folder = write_images(tmp_path / "in", images)
    out = tmp_path / "out"
    assert run_cli("heatmap", "--model", path, folder, "--out", out, "--preprocess", "symmetric", "--quiet") == 0
    with np.load(out / "im0.npz") as arrays:
        expected = model.predict(images / 127.5 - 1.0, verbose=0)[0]
        np.testing.assert_allclose(arrays["probabilities"], expected, rtol=1e-4, atol=1e-6)
    assert run_cli("inspect", "--model", path, "--preprocess", "nonsense") == 2
    one_line_error(capsys, "unknown preprocessing 'nonsense'; choose one of: none, unit")
    with pytest.raises(SystemExit):
        run_cli("inspect", "--model", path, "--input-size", "0x3")
    assert "input size must be N or WxH" in capsys.readouterr().err


def test_unknown_preprocess_names_the_choices(sequential_softmax, capsys, tmp_path):
    with pytest.raises(UsageError, match="choose one of: none, unit, symmetric, caffe, torch, .*resnet50"):
        cam_keras.open_model(sequential_softmax, preprocess="imagenet")


def test_dynamic_size_model_runs_at_the_chosen_size(tmp_path, capsys):
    inputs = keras.Input((None, None, 3))
    features = small_cnn(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, gap_head(features, 3, "softmax"))
    images = pixels(2, size=40, seed=10)
    explanation = cam_keras.explain(model, images, classes="all", input_size=40)
    assert explanation.raw_maps.shape == (2, 3, 36, 36) and explanation.maps.shape[2:] == (40, 40)
    assert_cam_identity(model, explanation)
    np.testing.assert_allclose(explanation.probabilities, model.predict(images, verbose=0), rtol=1e-4, atol=1e-6)
    assert cam_keras.make_explainer(cam_keras.open_model(model), "cam").input_size == (224, 224)
    assert "dynamic, run at 224x224" in str(cam_keras.describe(model))

    path = tmp_path / "dynamic.keras"
    model.save(path)
    out = tmp_path / "out"
    folder = write_images(tmp_path / "in", images)
    assert run_cli("heatmap", "--model", path, folder, "--out", out, "--input-size", "40x40", "--quiet") == 0
    with np.load(out / "im0.npz") as arrays:
        assert arrays["raw_maps"].shape == (1, 36, 36)
    fixed = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    with pytest.raises(UsageError, match="takes fixed 8x8 images; input_size is only for models with a dynamic"):
        cam_keras.open_model(fixed, input_size=40)


# ---------------------------------------------------------------- loading


def test_legacy_h5_loads_in_api_and_cli_with_class_names_from_a_file(sequential_softmax, tmp_path, capsys):
    path = tmp_path / "legacy.h5"
    sequential_softmax.save(path)
    images = pixels(seed=11).round()
    explanation = cam_keras.explain(path, images, classes="all", class_names=["cat", "dog", "fox"])
    assert explanation.class_names == ("cat", "dog", "fox")
    np.testing.assert_allclose(explanation.probabilities, sequential_softmax.predict(images, verbose=0), rtol=1e-4)
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\n\nfox\n")
    out = tmp_path / "out"
    folder = write_images(tmp_path / "in", images)
    assert run_cli("heatmap", "--model", path, folder, "--out", out, "--classes", classes, "--quiet") == 0
    with np.load(out / "im0.npz") as arrays:
        assert set(arrays["class_names"]) <= {"cat", "dog", "fox"}
    classes.write_text("cat\ndog\n")
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "o2", "--classes", classes) == 2
    one_line_error(capsys, "2 class names for a model with 3 classes")


CUSTOM_LAYER = """
import keras

@keras.saving.register_keras_serializable(package="zoo_custom")
class Doubling(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x
"""


def test_custom_layer_loads_in_the_cli_after_import(tmp_path, capsys):
    module = tmp_path / "zoo_layers.py"
    module.write_text(CUSTOM_LAYER)
    from cam_keras.models.io import import_user_code

    import_user_code([str(module)])
    doubling = keras.saving.get_custom_objects()["zoo_custom>Doubling"]
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, gap_head(doubling()(small_cnn(keras.layers.Rescaling(1 / 255)(inputs))), 2))
    path = tmp_path / "custom.keras"
    model.save(path)
    model.save(tmp_path / "custom.h5")
    del keras.saving.get_custom_objects()["zoo_custom>Doubling"]  # as in a fresh process

    folder = write_images(tmp_path / "in", pixels(1, seed=12))
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "a", "--quiet") == 2
    err = one_line_error(capsys, "custom class 'Doubling' (module 'zoo_layers') that is not registered", "--import")
    assert "Full object config" not in err and len(err) < 400  # the hint, not Keras's whole layer config
    assert run_cli("inspect", "--model", tmp_path / "custom.h5") == 2
    one_line_error(capsys, "custom layer 'zoo_custom>Doubling' that is not registered", "--import MODULE_OR_FILE")
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "b", "--import", module, "--quiet") == 0
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "c", "--import", "no_such_zoo_module") == 2
    one_line_error(capsys, "--import no_such_zoo_module: ModuleNotFoundError")


def test_lambda_layer_needs_unsafe_and_safe_mode_false(tmp_path, capsys):
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inputs)
    model = keras.Model(inputs, gap_head(small_cnn(x), 2, "softmax"))
    path = tmp_path / "lambda.keras"
    model.save(path)
    images = pixels(2, seed=13)
    with pytest.raises(ModelError, match="safe_mode=False"):
        cam_keras.explain(path, images)
    explanation = cam_keras.explain(path, images, classes="all", safe_mode=False)
    np.testing.assert_allclose(explanation.probabilities, model.predict(images, verbose=0), rtol=1e-4, atol=1e-6)
    folder = write_images(tmp_path / "in", images)
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "a") == 2
    one_line_error(capsys, "--unsafe")
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "b", "--unsafe", "--quiet") == 0


def test_two_image_inputs_are_refused_clearly(tmp_path, capsys):
    first, second = keras.Input((SIZE, SIZE, 3), name="left"), keras.Input((SIZE, SIZE, 3), name="right")
    merged = keras.layers.Concatenate()([small_cnn(first), keras.layers.Conv2D(8, 5)(second)])
    path = tmp_path / "two_inputs.keras"
    keras.Model([first, second], gap_head(merged, 2)).save(path)
    folder = write_images(tmp_path / "in", pixels(1, seed=14))
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "out") == 2
    one_line_error(capsys, "takes 2 inputs (left, right)", "one image input")
    assert run_cli("inspect", "--model", path) == 1
    assert "cannot explain: model" in capsys.readouterr().out


def test_two_outputs_need_output_name(tmp_path, capsys):
    inputs = keras.Input((SIZE, SIZE, 3))
    features = small_cnn(keras.layers.Rescaling(1 / 255)(inputs))
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    classes = keras.layers.Dense(3, activation="softmax", name="class_out")(pooled)
    box = keras.layers.Dense(4, name="box_out")(pooled)
    model = keras.Model(inputs, [classes, box])
    path = tmp_path / "two_outputs.keras"
    model.save(path)
    images = pixels(2, seed=15).round()
    folder = write_images(tmp_path / "in", images)
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "a") == 2
    one_line_error(capsys, "2 outputs (class_out, box_out)", "--output NAME")
    out = tmp_path / "b"
    assert run_cli("heatmap", "--model", path, folder, "--out", out, "--output", "class_out", "--quiet") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["succeeded"] == 2 and report["error"] is None
    explanation = cam_keras.explain(model, images, classes="all", output="class_out")
    assert explanation.method == "cam"
    np.testing.assert_allclose(explanation.probabilities, model.predict(images, verbose=0)[0], rtol=1e-4, atol=1e-6)
    with pytest.raises(UsageError, match="has no output 'scores'; its outputs are: class_out, box_out"):
        cam_keras.open_model(model, output="scores")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--output", "nope"], "--output nope: model 'sequential' has no output 'nope'; its outputs are: head"),
        (["--output", "nope", "--classes", "two.txt"], "has no output 'nope'"),
        (["--classes", "two.txt"], "2 class names for a model with 3 classes (--classes)"),
    ],
)
def test_inspect_stops_on_the_flags_heatmap_stops_on(sequential_softmax, tmp_path, capsys, flags, message):
    path = tmp_path / "m.keras"
    sequential_softmax.save(path)
    (tmp_path / "two.txt").write_text("cat\ndog\n")
    flags = [tmp_path / flag if flag.endswith(".txt") else flag for flag in flags]
    folder = write_images(tmp_path / "in", pixels(1, seed=20))
    assert run_cli("heatmap", "--model", path, folder, "--out", tmp_path / "out", *flags) == 2
    heatmap_error = one_line_error(capsys, message)
    assert run_cli("inspect", "--model", path, *flags) == 2
    inspect_error = one_line_error(capsys, message)
    assert inspect_error.split(": error: ")[1] == heatmap_error.split(": error: ")[1]


def test_savedmodel_export_folder_is_refused_with_the_fix(sequential_softmax, tmp_path, capsys):
    folder = tmp_path / "exported"
    sequential_softmax.export(folder, verbose=False)
    assert run_cli("inspect", "--model", folder) == 2
    one_line_error(capsys, "SavedModel export", "no layers to read", "model.save('model.keras')")


def test_corrupt_files_and_metadata_say_so(sequential_softmax, tmp_path):
    path = tmp_path / "model.keras"
    cam_keras.save_model(cam_keras.open_model(sequential_softmax, class_names=["a", "b", "c"]), path)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="not a valid .keras archive"):
        cam_keras.load_model(truncated)
    import zipfile

    broken = tmp_path / "broken_info.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.namelist():
            target.writestr(item, b"{not json" if item == "cam_keras.json" else source.read(item))
    with pytest.raises(ModelError, match="cam_keras.json entry .* is unreadable"):
        cam_keras.load_model(broken)
    with pytest.raises(ModelError, match="unknown model format '.onnx'"):
        (tmp_path / "m.onnx").write_bytes(b"x")
        cam_keras.load_model(tmp_path / "m.onnx")


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_inspect_cli_prints_what_was_understood(transfer_binary, tmp_path, capsys):
    path = tmp_path / "binary.keras"
    transfer_binary.save(path)
    assert run_cli("inspect", "--model", path) == 0
    out = capsys.readouterr().out
    assert "channels       3 (RGB), fixed 64x64" in out
    assert "binary" in out and "[Dense 'head', no activation]" in out
    assert "features 'mobilenetv2_0.35_64/out_relu' -> GlobalAveragePooling2D -> Dense 'head'" in out


def test_faithfulness_uses_the_output_contract(transfer_binary):
    from cam_keras.evaluate.faithfulness import perturbation_curves

    images = pixels(2, size=64, seed=16)
    explanation = cam_keras.explain(transfer_binary, images, classes=[0, 1])
    maps = explanation.maps[:, 0]
    deletion, _ = perturbation_curves(transfer_binary, images, maps, np.array([0, 1]), steps=2)
    np.testing.assert_allclose(deletion[:, 0], explanation.probabilities[[0, 1], [0, 1]], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_readme_your_own_model_examples_run_as_written(tmp_path, monkeypatch):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Your own model", 1)[1].split("\n## ", 1)[0]
    python_blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    (shell_block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}  # one namespace, in README order, as in a notebook
    for block in python_blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    script = Path(sys.executable).parent / "cam-keras"  # the console script of this environment
    shell = shell_block.replace("cam-keras ", f"{script} ")
    result = subprocess.run(["bash", "-e", "-c", shell], capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert "binary" in result.stdout and "unit: pixels / 255" in result.stdout
    with np.load(tmp_path / "digit_maps" / "digit.npz") as arrays:
        assert set(arrays["class_names"]) <= {"other", "seven"}


def test_unresolvable_function_in_the_config_is_a_clean_model_error(tmp_path):
    @keras.saving.register_keras_serializable(package="zoo_functions")
    def shifted_relu(x):
        return keras.ops.relu(x - 0.1)

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation=shifted_relu)(inputs)
    path = tmp_path / "function.keras"
    keras.Model(inputs, gap_head(x, 2)).save(path)
    del keras.saving.get_custom_objects()["zoo_functions>shifted_relu"]
    with pytest.raises(ModelError, match=r"shifted_relu.*\(import MODULE_OR_FILE before loading\)"):
        cam_keras.load_model(path)
