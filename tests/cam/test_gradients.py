"""Gradient methods against CAM and hand-derived forms on models with known weights."""

import keras
import numpy as np
import pytest

import cam_keras
from cam_keras import CAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, make_explainer
from cam_keras.cli import main


def features_and_kernel(model, images):
    """The small CNN's last feature map and Dense kernel, read from the model by layer name
    (not through the explainer under test)."""
    features = keras.Model(model.inputs, model.get_layer("conv7_relu").output)(images).numpy()
    return features, model.get_layer("cam_logits").kernel.numpy()


def test_gradcam_times_hw_equals_relu_cam(tiny_model, images):
    cam = CAM(tiny_model)(images, classes="all")
    grad = GradCAM(tiny_model)(images, classes="all")
    hw = cam.raw_maps.shape[2] * cam.raw_maps.shape[3]
    np.testing.assert_allclose(grad.raw_maps * hw, np.maximum(cam.raw_maps, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad.logits, cam.logits, rtol=1e-5, atol=1e-5)


def test_layercam_on_gap_dense_uses_positive_weights(tiny_model, images):
    features, kernel = features_and_kernel(tiny_model, images)
    explanation = LayerCAM(tiny_model)(images, classes=[0, 1, 2, 0])
    hw = features.shape[1] * features.shape[2]
    for b, c in enumerate([0, 1, 2, 0]):
        expected = np.maximum(features[b] @ np.maximum(kernel[:, c], 0), 0) / hw
        np.testing.assert_allclose(explanation.raw_maps[b, 0], expected, rtol=1e-4, atol=1e-6)


def test_gradcam_plus_plus_matches_closed_form(tiny_model, images):
    features, kernel = (array.astype(np.float64) for array in features_and_kernel(tiny_model, images))
    explanation = GradCAMPlusPlus(tiny_model)(images, classes="square")
    hw = features.shape[1] * features.shape[2]
    gradient = kernel[:, 1] / hw  # constant over space for each channel
    for b in range(len(images)):
        total = features[b].sum(axis=(0, 1))
        denominator = 2 * gradient**2 + total * gradient**3
        ratio = np.where(gradient != 0, gradient**2 / np.where(denominator == 0, 1e-7, denominator), 0)
        weights = hw * ratio * np.maximum(gradient, 0)
        expected = np.maximum(features[b] @ weights, 0)
        np.testing.assert_allclose(explanation.raw_maps[b, 0], expected, rtol=1e-3, atol=1e-6)


def test_scorecam_weights_channels_by_masked_scores(tiny_model, images):
    explanation = ScoreCAM(tiny_model, mask_batch_size=48)(images[:2], classes="circle")
    features, _ = features_and_kernel(tiny_model, images[:2])
    import tensorflow as tf

    upsampled = tf.image.resize(features, (32, 32)).numpy()  # bilinear, as the paper's upsampling
    low, high = upsampled.min(axis=(1, 2), keepdims=True), upsampled.max(axis=(1, 2), keepdims=True)
    masks = np.where(high > low, (upsampled - low) / np.where(high > low, high - low, 1), 0)  # min-max per channel
    for b in range(2):
        masked = images[b][None] * np.transpose(masks[b], (2, 0, 1))[..., None]
        scores = tiny_model(masked).numpy()[:, 0]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected = np.maximum(features[b] @ weights, 0)
        np.testing.assert_allclose(explanation.raw_maps[b, 0], expected, rtol=1e-3, atol=1e-6)


def _flatten_classifier():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(x))


def test_softmax_in_dense_is_bypassed_for_logits(images):
    model = _flatten_classifier()
    explainer = GradCAM(model)
    assert explainer.target_layer_name == "conv_b"
    assert (explainer.logits_tap.kind, explainer.logits_tap.dense.name) == ("softmax", "probs")
    explanation = explainer(images)
    np.testing.assert_allclose(explanation.probabilities, model(images).numpy(), rtol=1e-4, atol=1e-6)
    assert explanation.raw_maps.shape == (4, 1, 28, 28)


def test_target_layer_by_name_and_nested_path(images):
    backbone = cam_keras.build_model("small_cnn", num_classes=2, input_size=32, base_channels=8)
    inner = keras.Model(backbone.input, backbone.get_layer("conv4_relu").output, name="backbone")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="extra")(inner(inputs))
    outputs = keras.layers.Activation("softmax")(keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    model = keras.Model(inputs, outputs)
    assert GradCAM(model).target_layer_name == "extra"
    explanation = GradCAM(model, target_layer="backbone/conv4_relu")(images)
    assert explanation.raw_maps.shape == (4, 1, 8, 8)
    assert np.isfinite(explanation.raw_maps).all() and explanation.raw_maps.max() > 0
    with pytest.raises(ValueError, match="no layer 'nope'"):
        GradCAM(model, target_layer="nope")


@pytest.mark.slow
def test_nested_transfer_model_resolves_automatically(images):
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    explainer = GradCAM(model)
    assert explainer.target_layer_name == "out_relu"
    cam = CAM(model)(images, classes="all")
    grad = explainer(images, classes="all")
    np.testing.assert_allclose(grad.raw_maps, np.maximum(cam.raw_maps, 0), rtol=1e-3, atol=1e-5)


def test_auto_method_falls_back_to_gradcam(tiny_model):
    assert isinstance(make_explainer(tiny_model), CAM)
    assert isinstance(make_explainer(_flatten_classifier()), GradCAM)
    with pytest.raises(ValueError, match="unknown method"):
        make_explainer(tiny_model, "magic")


def test_heatmap_cli_gradcam_on_a_model_without_gap(tmp_path, images):
    from PIL import Image

    model = _flatten_classifier()
    model.save(tmp_path / "flat.keras")
    Image.fromarray(images[0].astype(np.uint8)).save(tmp_path / "x.png")
    args = ["heatmap", "--model", str(tmp_path / "flat.keras"), str(tmp_path / "x.png"), "--out", str(tmp_path / "o")]
    args.append("--quiet")
    assert main([*args, "--method", "cam"]) == 2  # CAM refuses, suggesting Grad-CAM
    assert main([*args, "--overwrite", "--method", "gradcam++"]) == 0
    assert (tmp_path / "o" / "x.png").is_file()
