"""A model file whose configuration asks for far more weights than it stores is refused with both
figures before Keras builds (and allocates) it."""

import json
import time
import zipfile

import keras
import pytest

import cam_keras
from cam_keras.errors import ModelError
from cam_keras.models.budget import _config_and_stored_values, implied_parameters


def small_sequential():
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, name="logits"),
        ]
    )


def rewrite_config(path, change):
    """Rewrite config.json of a .keras archive in place, the weights untouched."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    change({layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]})
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_a_config_asking_for_more_weights_than_stored_is_refused_before_building(tmp_path):
    path = tmp_path / "inflated.keras"
    small_sequential().save(path)
    rewrite_config(path, lambda layers: layers["logits"].update(units=100_000))
    start = time.perf_counter()
    with pytest.raises(
        ModelError,
        match=r"inflated.keras: its configuration asks for at least 800,216 weights .3.2 MB.* the file stores 251 ",
    ):
        cam_keras.load_model(path)
    assert time.perf_counter() - start < 5


def test_the_issue_sized_config_is_measured_without_building():
    """Conv2D(60000) then Dense(2_000_000): 120 billion weights, read from the config alone."""
    layers = [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 64, 64, 3]}},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 60_000, "kernel_size": [3, 3]}},
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2_000_000}},
    ]
    start = time.perf_counter()
    assert implied_parameters({"class_name": "Sequential", "config": {"layers": layers}}) >= 120_000_000_000
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
def test_honest_files_imply_no_more_than_they_store(backbone, tmp_path):
    model = cam_keras.build_model(backbone, num_classes=3, input_size=32, base_channels=8, head_conv=16)
    cam_keras.save_model(model, tmp_path / "model.keras")
    config, stored = _config_and_stored_values(tmp_path / "model.keras")
    assert stored == sum(weight.numpy().size for weight in model.weights)
    assert 0.9 * stored <= implied_parameters(config) <= stored
