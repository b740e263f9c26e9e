import keras
import numpy as np
import pytest

import cam_keras
from cam_keras import CAM, HeadNotFoundError, MapAugmentation
from cam_keras.errors import ModelError, UsageError


def numpy_cam(features: np.ndarray, kernel: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Reference CAM: M[b, n] = sum_k kernel[k, classes[b, n]] * features[b, :, :, k]."""
    return np.stack([[features[b] @ kernel[:, c] for c in row] for b, row in enumerate(classes)])


def test_cam_mean_plus_bias_equals_logit(tiny_model, images):
    explanation = CAM(tiny_model)(images, classes="all")
    bias = tiny_model.get_layer("cam_logits").bias.numpy()
    logits = tiny_model(images).numpy()
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)) + bias, logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(explanation.logits, logits, rtol=1e-4, atol=1e-4)


def test_cam_with_bias_has_the_logit_as_its_mean(tiny_model, images):
    explanation = CAM(tiny_model, include_bias=True)(images, classes="all")
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)), tiny_model(images).numpy(), rtol=1e-4, atol=1e-4)


def test_tf_function_matches_numpy_reference(tiny_model, images):
    cam = CAM(tiny_model)
    explanation = cam(images, top_k=2)
    features = keras.Model(tiny_model.inputs, tiny_model.get_layer("conv7_relu").output)(images).numpy()
    kernel = tiny_model.get_layer("cam_logits").kernel.numpy()
    expected = numpy_cam(features, kernel, explanation.class_indices)
    np.testing.assert_allclose(explanation.raw_maps, expected, rtol=1e-4, atol=1e-4)


def test_top_k_explains_the_highest_logits_in_order(tiny_model, images):
    explanation = CAM(tiny_model)(images, top_k=3)
    expected = np.argsort(-tiny_model(images).numpy(), axis=1)
    np.testing.assert_array_equal(explanation.class_indices, expected)


def test_classes_by_name_and_index_per_image(tiny_model, images):
    explanation = CAM(tiny_model)(images, classes=["triangle", 0, "square", ["circle", "triangle"][0]])
    np.testing.assert_array_equal(explanation.class_indices[:, 0], [2, 0, 1, 0])
    assert explanation.labels(0) == ["triangle"]
    both = CAM(tiny_model)(images[:2], classes=[["circle", "square"], [2, 1]])
    np.testing.assert_array_equal(both.class_indices, [[0, 1], [2, 1]])


def test_one_class_for_every_image(tiny_model, images):
    explanation = CAM(tiny_model)(images, classes="square")
    np.testing.assert_array_equal(explanation.class_indices, [[1]] * 4)


@pytest.mark.parametrize(
    "classes, message",
    [("hexagon", "unknown class 'hexagon'"), (7, "out of range"), ([0, 1], "classes for 2 images")],
)
def test_bad_class_requests_are_explained(tiny_model, images, classes, message):
    with pytest.raises(ValueError, match=message):
        CAM(tiny_model)(images, classes=classes)


@pytest.mark.parametrize("classes", [[], [[0], []]])
def test_an_empty_class_request_is_an_error_not_an_empty_explanation(tiny_model, images, classes):
    batch = images[: max(1, len(classes))]
    with pytest.raises(UsageError, match="leaves an image without a class to map"):
        CAM(tiny_model)(batch, classes=classes)


@pytest.mark.parametrize(
    "given, message",
    [
        (np.zeros((0, 32, 3), np.float32), "image 0: empty image of shape \\(0, 32, 3\\)"),
        (np.zeros((0, 32, 32, 3), np.float32), "no images to explain"),
        ([], "no images to explain"),
        (np.full((32, 32, 3), np.nan, np.float32), "image 0: the array holds NaN or infinite values"),
        ([np.zeros((32, 32, 3)), np.full((32, 32, 3), np.inf)], "image 1: the array holds NaN or infinite"),
    ],
)
def test_empty_and_non_finite_arrays_are_refused(tiny_model, given, message):
    with pytest.raises(UsageError, match=message):
        CAM(tiny_model)(given)


def _unit_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "hold floats within [0, 1]" in r.getMessage()]


def test_float_arrays_within_zero_to_one_warn_once_per_call_naming_the_fix(tiny_model, images, caplog):
    cam = CAM(tiny_model)
    with caplog.at_level("WARNING"):
        cam(np.full((32, 32, 3), 0.5))
        assert len(_unit_warnings(caplog)) == 1 and "multiply them by 255" in _unit_warnings(caplog)[0]
        cam(np.stack([images[0] / 255.0, images[1], images[2] / 255.0]))
        assert "2 of 3 image array(s)" in _unit_warnings(caplog)[1]
        cam(images)  # [0, 255]
        cam(np.zeros((32, 32, 3)))  # black, whatever the scale
        cam((images[0] / 255.0).round().astype(np.uint8))  # integers 0 and 1: pixel values, not a scale
    assert len(_unit_warnings(caplog)) == 2


def test_arrays_in_zero_to_one_do_not_warn_when_the_user_said_they_are_the_model_input(tiny_model, images, caplog):
    unit = cam_keras.build_model("small_cnn", class_names=["a", "b"], input_size=32, base_channels=4)
    with caplog.at_level("WARNING"):
        cam_keras.explain(unit, images / 255.0, preprocess="none")
    assert _unit_warnings(caplog) == []


def test_normalized_maps_span_zero_to_one_at_input_size(tiny_model, images):
    explanation = CAM(tiny_model)(images, top_k=1)
    assert explanation.maps.shape == (4, 1, 32, 32)
    assert explanation.raw_maps.shape == (4, 1, 8, 8)
    np.testing.assert_allclose(explanation.maps.min(axis=(2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(explanation.maps.max(axis=(2, 3)), 1.0, atol=1e-6)
    coarse = CAM(tiny_model)(images, top_k=1, upsample=False)
    assert coarse.maps.shape == (4, 1, 8, 8)


def test_images_of_any_size_give_maps_at_their_original_size(tiny_model):
    rng = np.random.default_rng(3)
    photos = [rng.integers(0, 255, (45, 70, 3), dtype=np.uint8), rng.integers(0, 255, (20, 20), dtype=np.uint8)]
    explanation = CAM(tiny_model)(photos)
    assert explanation.maps_at(0).shape == (1, 45, 70)
    assert explanation.maps_at(1).shape == (1, 20, 20)
    assert explanation.overlay(0).shape == (45, 70, 3)
    assert explanation.maps_at(0, (10, 12)).shape == (1, 10, 12)


def test_maps_survive_save_and_load(tmp_path, tiny_model, images):
    loaded = cam_keras.load_model(cam_keras.save_model(tiny_model, tmp_path / "m.keras"))
    before = CAM(tiny_model)(images, classes="all")
    after = CAM(loaded)(images, classes="all")
    np.testing.assert_allclose(after.raw_maps, before.raw_maps, rtol=1e-5, atol=1e-5)
    assert after.class_names == ("circle", "square", "triangle")


def _nested_transfer_model(output_softmax: str) -> keras.Model:
    backbone = cam_keras.build_model("small_cnn", num_classes=2, input_size=32, base_channels=8)
    feature_layer = cam_keras.model_info(backbone).feature_layer
    features = keras.Model(backbone.input, backbone.get_layer(feature_layer).output, name="backbone")
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(features(inputs))
    if output_softmax == "dense":
        return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(pooled))
    head = keras.Sequential([keras.Input((32,)), keras.layers.Dropout(0.3), keras.layers.Dense(5)], name="head")
    return keras.Model(inputs, keras.layers.Softmax()(head(pooled)))


@pytest.mark.parametrize("output_softmax", ["dense", "nested_head"])
def test_nested_transfer_learning_models_get_maps(output_softmax, images):
    model = _nested_transfer_model(output_softmax)
    cam = CAM(model)
    inner = cam_keras.model_info(cam_keras.build_model("small_cnn", 2, 32)).feature_layer
    assert cam.head.feature_path == "backbone/" + inner
    assert cam.head.output.kind == "softmax"
    explanation = cam(images, classes="all")
    np.testing.assert_allclose(explanation.probabilities, model(images).numpy(), rtol=1e-4, atol=1e-5)
    bias = cam.head.dense.bias.numpy()
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)) + bias, explanation.logits, rtol=1e-4, atol=1e-4)


def test_model_without_gap_dense_head_points_to_gradcam():
    inputs = keras.Input((16, 16, 3))
    flat = keras.layers.Flatten(name="flatten")(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(flat))
    with pytest.raises(HeadNotFoundError, match=r"'flatten' \(Flatten\).*GradCAM"):
        CAM(model)


def test_model_ending_in_conv_is_rejected_by_name():
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="seg")(inputs))
    with pytest.raises(
        ModelError, match="'seg' \\(Conv2D\\) with output shape \\(None, 14, 14, 2\\), not class scores"
    ):
        CAM(model)


def test_explain_one_liner_from_a_saved_file(tmp_path, tiny_model, images):
    path = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    explanation = cam_keras.explain(path, images[:2], top_k=2)
    assert explanation.class_indices.shape == (2, 2)
    picture = explanation.grid(columns=2)
    assert picture.ndim == 3 and picture.shape[2] == 3
    assert explanation._repr_png_().startswith(b"\x89PNG")


def test_flip_augmentation_is_the_mean_of_the_image_and_its_mirror(tiny_model, images):
    plain = CAM(tiny_model)
    averaged = CAM(tiny_model, augmentation=MapAugmentation(flip=True))(images, top_k=2)
    classes = averaged.class_indices.tolist()
    direct = plain(images, classes).raw_maps
    mirrored = plain(images[:, :, ::-1].copy(), classes).raw_maps[..., ::-1]
    np.testing.assert_allclose(averaged.raw_maps, (direct + mirrored) / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(averaged.logits, tiny_model(images).numpy(), rtol=1e-4, atol=1e-5)


def test_one_pixel_maps_get_a_warning_naming_the_layer(caplog):
    model = cam_keras.build_model("small_cnn", class_names=["a", "b"], input_size=4, base_channels=4)
    cam = CAM(model)
    with caplog.at_level("WARNING"):
        explanation = cam(np.zeros((2, 4, 4, 3), np.float32))
        cam(np.zeros((1, 4, 4, 3), np.float32))
    assert explanation.raw_maps.shape[2:] == (1, 1)
    warnings = [record.getMessage() for record in caplog.records if "cannot localize" in record.getMessage()]
    assert len(warnings) == 1 and "1x1 at input size 4x4" in warnings[0]  # once per explainer
