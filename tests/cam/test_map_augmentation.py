"""Map augmentation (scales and mirrors) against maps computed by hand: a 1x1-conv + GAP + Dense
model's CAM is a fixed linear combination of the (resized) image's channels, so every view's
map and their mean follow from Pillow's resizing and numpy alone."""

import keras
import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras import CAM, GradCAM, MapAugmentation
from cam_keras.errors import ModelError, UsageError
from cam_keras.models.contract import configure_model

SIZE = 12


@pytest.fixture(scope="module")
def linear_model():
    """A model whose CAM for class c is ``image @ (conv kernel @ dense kernel[:, c])`` (any size)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.layers.Conv2D(4, 1, use_bias=False, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(pooled))
    rng = np.random.default_rng(1)
    model.get_layer("features").set_weights([rng.normal(size=(1, 1, 3, 4)).astype("float32")])
    model.get_layer("logits").set_weights([rng.normal(size=(4, 2)).astype("float32"), np.array([0.5, -0.5], "float32")])
    return configure_model(model, class_names=["a", "b"], preprocess="none")


@pytest.fixture(scope="module")
def image():
    """One asymmetric image (a left-right ramp plus noise)."""
    ramp = np.linspace(0, 1, SIZE, dtype=np.float32)[None, :, None] * np.ones((SIZE, 1, 3), np.float32)
    return ramp + np.random.default_rng(2).uniform(0, 0.3, (SIZE, SIZE, 3)).astype(np.float32)


def pillow_resize(plane: np.ndarray, size: int) -> np.ndarray:
    """A float plane resized bilinearly by Pillow (antialiased when shrinking)."""
    return np.asarray(Image.fromarray(plane, "F").resize((size, size), Image.Resampling.BILINEAR))


def hand_map(model: keras.Model, image: np.ndarray, scale: float, mirror: bool, finest: int, cls: int) -> np.ndarray:
    """The CAM of class ``cls`` of ``image`` resized by ``scale`` (mirrored first), on the
    ``finest`` grid, mirrored back."""
    side = round(SIZE * scale)
    view = image[:, ::-1] if mirror else image
    resized = np.stack([pillow_resize(np.ascontiguousarray(view[..., c]), side) for c in range(3)], axis=-1)
    weights = model.get_layer("features").get_weights()[0][0, 0] @ model.get_layer("logits").get_weights()[0][:, cls]
    cam = pillow_resize(np.ascontiguousarray(resized @ weights), finest)
    return cam[:, ::-1] if mirror else cam


@pytest.mark.parametrize("scales", [(1.0, 2.0), (0.5, 1.0, 1.5, 2.0), (1.5,)])
def test_multi_scale_flip_maps_are_the_mean_of_maps_computed_by_hand(linear_model, image, scales):
    explanation = CAM(linear_model, augmentation=MapAugmentation(scales=scales, flip=True))(image, classes="all")
    finest = round(SIZE * max(scales))
    assert explanation.raw_maps.shape == (1, 2, finest, finest)
    for cls in range(2):
        views = [hand_map(linear_model, image, s, mirror, finest, cls) for s in scales for mirror in (False, True)]
        np.testing.assert_allclose(explanation.raw_maps[0, cls], np.mean(views, axis=0), rtol=1e-4, atol=1e-4)


def test_predictions_come_from_the_image_itself(linear_model, image, tiny_model, images):
    for model, batch in ((linear_model, image[None]), (tiny_model, images)):
        plain = CAM(model)(batch, top_k=2)
        augmented = CAM(model, augmentation=MapAugmentation(scales=(0.5, 2.0), flip=True))(batch, top_k=2)
        np.testing.assert_allclose(augmented.logits, model(batch).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(augmented.probabilities, plain.probabilities, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(augmented.class_indices, plain.class_indices)


def test_a_mirrored_image_gets_the_mirrored_map_from_a_flip_equivariant_model(linear_model, image):
    explainer = CAM(linear_model, augmentation=MapAugmentation(scales=(1.0, 2.0), flip=True))
    maps = explainer(image, classes="all").raw_maps
    mirrored = explainer(np.ascontiguousarray(image[:, ::-1]), classes="all").raw_maps
    np.testing.assert_allclose(mirrored, maps[..., ::-1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(maps, maps[..., ::-1], atol=1e-2)  # the image is not symmetric
    np.testing.assert_allclose(  # so the mirrors only average two equal maps
        CAM(linear_model, augmentation=MapAugmentation(flip=True))(image, classes="all").raw_maps,
        CAM(linear_model)(image, classes="all").raw_maps,
        rtol=1e-5,
        atol=1e-5,
    )


def test_a_fixed_size_model_runs_at_other_scales_and_keeps_its_size_check(tiny_model, images):
    """small_cnn's Input is 32x32: its gradient maps at 2x come at twice the feature grid."""
    explanation = GradCAM(tiny_model, augmentation=MapAugmentation(scales=(1.0, 2.0)))(images[:2], classes="all")
    assert explanation.raw_maps.shape[2:] == (16, 16) and explanation.maps.shape[2:] == (32, 32)
    # random weights: one class's Grad-CAM may be all zero after its ReLU, not every class's
    assert np.isfinite(explanation.raw_maps).all() and explanation.raw_maps.max() > 0
    with pytest.raises(ValueError, match="expected shape"):
        tiny_model(np.zeros((1, 64, 64, 3), np.float32))


def test_a_model_that_needs_its_size_is_named_with_the_fix():
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(2, 1, name="features")(inputs)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(features))
    model = configure_model(keras.Model(inputs, outputs, name="flat"), class_names=["a", "b"], preprocess="none")
    explainer = GradCAM(model, "features", augmentation=MapAugmentation(scales=(1.0, 2.0)))
    with pytest.raises(
        ModelError,
        match=r"scale 2: model .flat. cannot run at 16x16 \(Input 0 .* of layer .head. is incompatible.*\); "
        r"use scales=\(1.0,\)",
    ):
        explainer(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scales": ()}, "at least 0.1"),
        ({"scales": (1.0, 0.0)}, "at least 0.1"),
        ({"scales": (1.0, float("nan"))}, "at least 0.1"),
        ({"scales": (1.0, 1)}, "given twice"),
        ({"flip": "yes"}, "True or False"),
    ],
)
def test_bad_augmentation_settings_name_the_option(options, message):
    with pytest.raises(UsageError, match=message):
        MapAugmentation(**options)


def test_cost_and_description():
    assert MapAugmentation().passes == 1 and MapAugmentation().is_identity
    assert MapAugmentation(scales=(0.5, 1, 1.5, 2), flip=True).passes == 8
    assert MapAugmentation(scales=(2.0,)).passes == 2  # the image itself still gives the predictions
    assert MapAugmentation(scales=(1, 2), flip=True).describe() == "scales 1, 2 with mirrors, mean of 4 maps"


def test_explain_and_make_explainer_take_the_option(linear_model, image):
    augmentation = MapAugmentation(scales=(1.0, 1.5), flip=True)
    direct = CAM(linear_model, augmentation=augmentation)(image, classes="all").raw_maps
    explained = cam_keras.explain(linear_model, image, "all", augmentation=augmentation).raw_maps
    made = cam_keras.make_explainer(linear_model, "cam", augmentation=augmentation)
    np.testing.assert_allclose(explained, direct, rtol=1e-6)
    assert made.augmented(None) is made and made.augmented(MapAugmentation()).augmentation.is_identity
