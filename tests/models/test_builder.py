import re
import zipfile

import keras
import numpy as np
import pytest

import cam_keras
from cam_keras.errors import WeightsUnavailableError


@pytest.mark.parametrize(
    "backbone, size, feature_layer, feature_shape",
    [
        ("resnet50", 32, "conv5_block3_out", (1, 1, 2048)),
        ("inception_v3", 75, "mixed10", (1, 1, 2048)),
        ("vgg19", 32, "block5_pool", (1, 1, 512)),
        ("mobilenet_v2", 32, "out_relu", (1, 1, 1280)),
        ("small_cnn", 32, "conv7_relu", (8, 8, 128)),
    ],
)
def test_named_backbones_build_with_gap_input_as_feature_layer(backbone, size, feature_layer, feature_shape):
    model = cam_keras.build_model(backbone, num_classes=4, input_size=size)
    head = cam_keras.find_cam_head(model)
    assert cam_keras.model_info(model).feature_layer == feature_layer == head.feature_path
    assert head.feature_model.output_shape[1:] == feature_shape
    assert model.output_shape == (None, 4)
    gap = model.get_layer("cam_gap")
    assert isinstance(gap, keras.layers.GlobalAveragePooling2D)
    assert tuple(gap.input.shape[1:]) == feature_shape


def test_every_keras_application_is_registered():
    names = cam_keras.available_backbones()
    for expected in ["resnet50", "inception_v3", "vgg19", "mobilenetv3small", "efficientnetb0", "convnexttiny"]:
        assert expected in names
    model = cam_keras.build_model("mobilenetv3small", num_classes=2, input_size=32)
    assert len(cam_keras.find_cam_head(model).feature_model.output_shape) == 4


def test_vgg_cut_before_last_pool_doubles_map_resolution():
    model = cam_keras.build_model("vgg19", num_classes=2, input_size=64, drop_last_pool=True)
    head = cam_keras.find_cam_head(model)
    assert head.feature_path == "block5_conv4"
    assert head.feature_model.output_shape[1:3] == (4, 4)


def test_head_conv_becomes_the_feature_layer():
    model = cam_keras.build_model("small_cnn", num_classes=2, input_size=32, base_channels=8, head_conv=24)
    head = cam_keras.find_cam_head(model)
    assert head.feature_path == "cam_head_conv"
    assert head.feature_model.output_shape[-1] == 24


def test_preprocessing_lives_inside_the_model():
    model = cam_keras.build_model("resnet50", num_classes=2, input_size=32)
    raw = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    preprocess = keras.Model(model.input, model.get_layer("conv1_pad").input)  # the first layer of ResNet50
    expected = keras.applications.resnet50.preprocess_input(raw.copy())
    np.testing.assert_allclose(preprocess(raw).numpy(), expected, atol=1e-4)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match="resnet50"):
        cam_keras.build_model("resnet51", num_classes=2)


def test_class_names_must_match_num_classes():
    with pytest.raises(ValueError, match="3 class_names"):
        cam_keras.build_model("small_cnn", num_classes=2, class_names=["a", "b", "c"])


def test_local_weights_file_is_loaded(tmp_path):
    donor = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    for variable in donor.weights[:3]:
        variable.assign(np.full(variable.shape, 0.25, dtype="float32"))
    path = tmp_path / "mobilenet_v2_notop.weights.h5"
    donor.save_weights(path)
    model = cam_keras.build_model("mobilenet_v2", num_classes=2, input_size=32, weights=str(path))
    np.testing.assert_allclose(model.get_layer("Conv1").kernel.numpy(), 0.25)


def test_missing_weights_file_names_the_path():
    with pytest.raises(WeightsUnavailableError, match="nowhere.h5"):
        cam_keras.build_model("resnet50", num_classes=2, input_size=32, weights="/nowhere.h5")


def test_offline_imagenet_download_explains_how_to_pass_a_local_file(monkeypatch):
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/w.h5: None -- no network")

    monkeypatch.setattr(file_utils, "get_file", refuse)
    with pytest.raises(WeightsUnavailableError, match=re.escape("pass its path as weights='PATH'")):
        cam_keras.build_model("resnet50", num_classes=2, input_size=32, weights="imagenet")


def test_save_and_load_keep_class_names_and_outputs(tmp_path, tiny_model, images):
    path = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    loaded = cam_keras.load_model(path)
    assert cam_keras.model_info(loaded).class_names == ("circle", "square", "triangle")
    assert cam_keras.model_info(loaded).feature_layer == cam_keras.model_info(tiny_model).feature_layer
    np.testing.assert_allclose(loaded(images).numpy(), tiny_model(images).numpy(), atol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name != "model.keras"], "temp files left behind"


def test_model_info_saved_by_earlier_versions_still_loads(tmp_path, tiny_model):
    """The ``feature_layer`` key is the on-disk format: a file written with it keeps loading."""
    tiny_model.save(tmp_path / "old.keras")
    earlier = '{"class_names": ["a", "b", "c"], "backbone": "small_cnn", "feature_layer": "conv5_relu"}'
    with zipfile.ZipFile(tmp_path / "old.keras", "a") as archive:
        archive.writestr("cam_keras.json", earlier)
    info = cam_keras.model_info(cam_keras.load_model(tmp_path / "old.keras"))
    assert (info.class_names, info.backbone, info.feature_layer) == (("a", "b", "c"), "small_cnn", "conv5_relu")


def test_plain_keras_file_loads_with_default_class_names(tmp_path, tiny_model):
    tiny_model.save(tmp_path / "plain.keras")
    loaded = cam_keras.load_model(tmp_path / "plain.keras")
    assert cam_keras.model_info(loaded).class_names == ("class_0", "class_1", "class_2")


def test_lambda_model_is_refused_in_safe_mode(tmp_path):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Lambda(lambda t: t * 2)(inputs)))
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode=False"):
        cam_keras.load_model(tmp_path / "lambda.keras")
    assert cam_keras.load_model(tmp_path / "lambda.keras", safe_mode=False).output_shape == (None, 2)


@pytest.mark.parametrize(
    "backbone, layer",
    [("small_cnn", "Rescaling layer 'rescale'"), ("mobilenet_v2", "Normalization layer 'preprocess'")],
)
def test_built_models_take_raw_pixels_and_output_logits(backbone, layer):
    from cam_keras.models.contract import model_contract

    model = cam_keras.build_model(backbone, class_names=["a", "b"], input_size=32, base_channels=4)
    contract = model_contract(model)
    assert contract.inputs.preprocessing.name == "none"
    assert contract.inputs.source == f"the model's own {layer}"
    assert (contract.outputs.kind, contract.class_names) == ("logits", ("a", "b"))


def test_small_cnn_base_channels_set_the_feature_channels():
    model = cam_keras.build_model("small_cnn", num_classes=2, input_size=32, base_channels=4)
    assert cam_keras.find_cam_head(model).feature_model.output_shape[-1] == 16
    assert model.get_layer("conv1").filters == 4
