"""Post-processing from Bae et al. (ECCV 2020): CAM with clamped class weights against numpy,
percentile normalization against numpy.percentile, and both as evaluation options."""

import keras
import numpy as np
import pytest

from cam_keras import CAM, GradCAM, MapPostprocessing
from cam_keras.errors import UsageError
from cam_keras.evaluate import evaluate_localization
from cam_keras.models.contract import configure_model


@pytest.fixture(scope="module")
def mixed_sign_model():
    """1x1 conv + GAP + Dense with class weights of both signs: its CAM is ``image @ K @ W``."""
    inputs = keras.Input((6, 6, 3))
    features = keras.layers.Conv2D(4, 1, use_bias=False, name="features")(inputs)
    logits = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, logits)
    model.get_layer("features").set_weights([np.random.default_rng(3).normal(size=(1, 1, 3, 4)).astype("float32")])
    weights = np.array([[1.0, -2.0], [-0.5, 0.7], [0.3, -0.1], [-1.2, 0.4]], np.float32)
    model.get_layer("logits").set_weights([weights, np.array([0.2, -0.3], np.float32)])
    return configure_model(model, class_names=["a", "b"], preprocess="none")


def test_clamped_cam_sums_channels_with_non_negative_class_weights(mixed_sign_model):
    image = np.random.default_rng(4).uniform(-1, 1, (2, 6, 6, 3)).astype(np.float32)
    features = image @ mixed_sign_model.get_layer("features").get_weights()[0][0, 0]
    weights = mixed_sign_model.get_layer("logits").get_weights()[0]
    clamped = CAM(mixed_sign_model, clamp_negative_weights=True)(image, classes="all")
    plain = CAM(mixed_sign_model)(image, classes="all")
    np.testing.assert_allclose(
        clamped.raw_maps, np.einsum("bhwk,kc->bchw", features, np.maximum(weights, 0)), atol=1e-5
    )
    np.testing.assert_allclose(plain.raw_maps, np.einsum("bhwk,kc->bchw", features, weights), atol=1e-5)
    np.testing.assert_allclose(clamped.logits, plain.logits)  # predictions do not change
    twin = CAM(mixed_sign_model).clamped()
    np.testing.assert_allclose(twin(image, classes="all").raw_maps, clamped.raw_maps, atol=1e-6)


def test_percentile_normalization_divides_each_map_by_its_percentile():
    maps = np.random.default_rng(5).uniform(0, 1, (3, 2, 9, 7)).astype(np.float32)
    maps[0, 0] = 0.0  # a map all at its minimum keeps its maximum scale (nothing to divide by)
    normalized = MapPostprocessing(percentile=90).normalize(maps)
    for index in np.ndindex(*maps.shape[:2]):
        level = np.percentile(maps[index], 90)
        expected = np.clip(maps[index] / level, 0, 1) if level > 0 else maps[index]
        np.testing.assert_allclose(normalized[index], expected, rtol=1e-6)
    assert normalized.dtype == np.float32
    assert MapPostprocessing().normalize(maps) is maps
    np.testing.assert_allclose(
        MapPostprocessing(percentile=100).normalize(maps[1:]),
        maps[1:] / maps[1:].max(axis=(2, 3), keepdims=True),
        rtol=1e-6,
    )


@pytest.mark.parametrize("value", [0, -5, 101, float("nan"), "99"])
def test_a_percentile_outside_0_to_100_is_refused(value):
    with pytest.raises(UsageError, match="percentile must be a number above 0 and at most 100"):
        MapPostprocessing(percentile=value)


def test_clamping_is_for_cam_only(tiny_model, colors_dir):
    with pytest.raises(UsageError, match="clamp_negative_weights clamps CAM's class weights; method gradcam"):
        evaluate_localization(GradCAM(tiny_model), colors_dir, postprocessing=MapPostprocessing(True), progress=False)


def test_evaluation_records_and_applies_the_options(trained_run, colors_dir):
    explainer = CAM(trained_run.model)
    options = {"progress": False, "samples": 0, "extremes": 0}
    plain = evaluate_localization(explainer, colors_dir, **options)
    changed = evaluate_localization(
        explainer, colors_dir, postprocessing=MapPostprocessing(clamp_negative_weights=True, percentile=50), **options
    )
    assert changed.maps == {
        "method": "cam",
        "augmentation": {"scales": [1.0], "flip": False, "combine": "mean"},
        "clamp_negative_weights": True,
        "percentile": 50,
    }
    assert [row["true_class_iou"] for row in changed.rows] != [row["true_class_iou"] for row in plain.rows]
    assert changed.summary["top1_cls"] == plain.summary["top1_cls"]
