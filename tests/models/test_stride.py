"""Finer feature maps (``build_model(output_stride=...)``): dilation must compute exactly what
the strided backbone computes, on a denser grid, with the same weights."""

import keras
import numpy as np
import pytest

import cam_keras
from cam_keras import CAM
from cam_keras.models.applications import application_backbones
from cam_keras.models.backbones import small_cnn
from cam_keras.models.stride import output_stride, with_output_stride

RNG = np.random.default_rng(7)


def _pixels(size: int, count: int = 2) -> np.ndarray:
    return RNG.uniform(0, 255, (count, size, size, 3)).astype("float32")


def _assert_denser_grid_of(original: keras.Model, dilated: keras.Model, size: int) -> None:
    """A dilated net's map, read every ``ratio`` cells, is the strided net's map."""
    pixels = _pixels(size)
    coarse = original.predict(pixels, verbose=0)
    fine = dilated.predict(pixels, verbose=0)
    ratio = fine.shape[1] // coarse.shape[1]
    assert fine.shape[1:3] == (coarse.shape[1] * ratio, coarse.shape[2] * ratio) and ratio > 1
    np.testing.assert_allclose(fine[:, ::ratio, ::ratio], coarse, atol=1e-4 * np.abs(coarse).max())


def test_small_cnn_at_stride_2_is_the_stride_4_map_on_a_denser_grid():
    image = keras.Input((32, 32, 3))
    original = keras.Model(image, small_cnn(image, base_channels=8))
    dilated, change = with_output_stride(original, 2)
    assert (change.how, change.before, change.after, output_stride(dilated)) == ("dilated", 4, 2, 2)
    _assert_denser_grid_of(original, dilated, 32)
    by_name = {layer.name: layer for layer in original.layers}
    for layer in dilated.layers:  # every weight carried over
        for mine, theirs in zip(layer.get_weights(), by_name[layer.name].get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("target", [16, 8])
def test_resnet50_dilated_last_stages_compute_the_strided_features(target):
    image = keras.Input((64, 64, 3))
    original = application_backbones()["resnet50"].constructor(include_top=False, weights=None, input_tensor=image)
    dilated, change = with_output_stride(original, target)
    assert change.how == "dilated" and output_stride(dilated) == target
    _assert_denser_grid_of(original, dilated, 64)


def test_built_model_at_a_finer_stride_keeps_the_cam_identity(tmp_path):
    model = cam_keras.build_model("small_cnn", num_classes=3, input_size=32, base_channels=8, output_stride=2)
    head = cam_keras.find_cam_head(model)
    assert head.feature_model.output_shape[1:3] == (16, 16)  # stride 4 gives 8 x 8
    pixels = _pixels(32)
    explanation = CAM(model)(pixels, classes="all")
    bias = model.get_layer("cam_logits").bias.numpy()
    logits = model.predict(pixels, verbose=0)
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)) + bias, logits, rtol=1e-4, atol=1e-4)
    path = tmp_path / "fine.keras"
    model.save(path)  # dilated convolutions are plain Keras: loads without cam-keras' help
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), logits, atol=1e-5)


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_inception_is_cut_at_mixed_6e_where_its_valid_branches_cannot_dilate():
    model = cam_keras.build_model("inception_v3", num_classes=2, input_size=75, output_stride=16)
    assert cam_keras.model_info(model).feature_layer == "mixed7"  # Keras' name of Mixed_6e


@pytest.mark.parametrize(
    "stride, message",
    [(3, "power of two"), (8, "coarser than the backbone's own stride 4"), (0, "power of two")],
)
def test_impossible_strides_are_refused_by_name(stride, message):
    with pytest.raises(ValueError, match=message):
        cam_keras.build_model("small_cnn", num_classes=2, input_size=32, base_channels=8, output_stride=stride)
