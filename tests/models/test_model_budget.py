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


def with_config_text(source, target, text: str):
    """A copy of the .keras archive ``source`` whose config.json is ``text``."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as copy:
        for name in archive.namelist():
            copy.writestr(name, text if name == "config.json" else archive.read(name))
    return target


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "small.keras"
    small_sequential().save(path)
    return path


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[1, 2]", "Keras could not load it"),
        ('"model"', "Keras could not load it"),
        ('{"class_name": "Sequential", "config": {"layers": [5, "x"]}}', "custom class 'Sequential'"),
        ('{"module": "os", "class_name": "system", "config": "touch PWNED"}', "Keras could not load it"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply to read"),
    ],
)
def test_a_config_of_another_shape_is_one_model_error(small_file, tmp_path, text, reason):
    """Hostile sweep (issue 27): the weights budget met a list, a string or a non-object layer
    with AttributeError, and deep nesting raised RecursionError: both exit 70 in the CLI."""
    hostile = with_config_text(small_file, tmp_path / "hostile.keras", text)
    with pytest.raises(ModelError, match=f"hostile.keras: .*{reason}"):
        cam_keras.load_model(hostile)
    assert not (tmp_path / "PWNED").exists()


def test_a_damaged_archive_entry_is_one_model_error(small_file, tmp_path):
    """A flipped bit in a stored entry failed the zip checksum (BadZipFile): exit 70."""
    data = bytearray(small_file.read_bytes())
    with zipfile.ZipFile(small_file) as archive:
        entry = archive.getinfo("config.json")
    data[entry.header_offset + 30 + len(entry.filename) + 5] ^= 0x10  # inside the entry's data
    (tmp_path / "flipped.keras").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="flipped.keras: Keras could not load it .*BadZipFile"):
        cam_keras.load_model(tmp_path / "flipped.keras")


def test_an_oversized_config_is_refused_before_it_is_parsed(small_file, tmp_path, monkeypatch):
    """A config.json of 300 MB of spaces took 37 s and 1.3 GB to refuse."""
    monkeypatch.setattr("cam_keras.models.reading.MAX_CONFIG_BYTES", 1000)
    hostile = with_config_text(small_file, tmp_path / "big.keras", " " * 2000 + "{}")
    with pytest.raises(ModelError, match=r"big.keras: its config.json unpacks to 2,002 bytes, over the 1,000"):
        cam_keras.load_model(hostile)


def test_a_pipe_or_a_link_loop_as_model_is_named_as_not_a_file(tmp_path, capsys):
    """They were "no such model file", as if missing."""
    import os

    from cam_keras.cli import main

    os.mkfifo(tmp_path / "pipe.keras")
    os.symlink("b.keras", tmp_path / "a.keras")
    os.symlink("a.keras", tmp_path / "b.keras")
    for name in ("pipe.keras", "a.keras"):
        assert main(["inspect", "--model", str(tmp_path / name)]) == 2
        assert f"{tmp_path / name}: not a regular file" in capsys.readouterr().err


def test_a_model_asking_for_giant_images_is_refused_before_any_resize(small_file, tmp_path, capsys):
    """Hostile sweep (issue 27): a batch_shape of 10^9 x 10^9 loaded (it holds no weights), then
    `heatmap` resized a picture to it: MemoryError, exit 70."""
    import numpy as np
    from PIL import Image

    from cam_keras.cli import main

    with zipfile.ZipFile(small_file) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, 10**9, 10**9, 3]
    hostile = with_config_text(small_file, tmp_path / "giant.keras", json.dumps(config))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    args = ["heatmap", "--model", str(hostile), str(tmp_path / "a.png"), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "takes fixed 1000000000x1000000000 images, over the 16,384 px" in capsys.readouterr().err
