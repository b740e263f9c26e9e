"""Shared fixtures: tiny real models built by the real builder, and generated images."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Helpers the tests import as top-level modules (outputs_helpers, fault_hooks, keras2_zoo, ...).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))

import numpy as np
import pytest
from sample_images import CLASS_NAMES

import cam_keras


@pytest.fixture(scope="session")
def tiny_model():
    """A small_cnn classifier at 32 px with random weights and non-zero bias."""
    model = cam_keras.build_model("small_cnn", class_names=CLASS_NAMES, input_size=32, base_channels=8)
    dense = model.get_layer("cam_logits")
    dense.bias.assign(np.array([0.3, -0.2, 0.1], dtype=np.float32))
    return model


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, tiny_model):
    """:func:`tiny_model` saved once as a .keras file the CLI loads (tests only read it)."""
    return cam_keras.save_model(tiny_model, tmp_path_factory.mktemp("model") / "model.keras")


@pytest.fixture
def images():
    """Four random RGB images at 32 px, float32 in [0, 255]."""
    return np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory):
    """A generated 32 px class-per-folder dataset: circles vs squares, 24 images each."""
    from cam_keras.data.synthetic import SyntheticSpec, write_split

    root = tmp_path_factory.mktemp("shapes")
    spec = SyntheticSpec(classes=("circle", "square"), image_size=32, distractors=(0, 2))
    write_split(root / "train", root / "masks", per_class=24, spec=spec, seed=0)
    return root / "train"


@pytest.fixture
def dataset_copy(tmp_path, shapes_dir):
    """A copy of :func:`shapes_dir` that a test may change."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(shapes_dir, root)
    return root


@pytest.fixture(scope="session")
def colors_dir(tmp_path_factory):
    """32 px images whose class is the color of one square (red or blue) on noisy gray,
    with boxes.csv and masks: a task a tiny CNN learns in seconds, with a known object."""
    from PIL import Image

    from cam_keras.records import write_csv

    root = tmp_path_factory.mktemp("colors")
    rng = np.random.default_rng(0)
    rows = []
    for name, color in [("blue", (40, 60, 230)), ("red", (230, 40, 40))]:
        (root / "data" / name).mkdir(parents=True)
        (root / "masks" / name).mkdir(parents=True)
        for index in range(40):
            image = rng.normal(128, 20, (32, 32, 3))
            side = int(rng.integers(8, 14))
            x, y = rng.integers(0, 32 - side, 2)
            image[y : y + side, x : x + side] = color
            mask = np.zeros((32, 32), np.uint8)
            mask[y : y + side, x : x + side] = 255
            relative = f"{name}/{index:03d}.png"
            Image.fromarray(np.uint8(np.clip(image, 0, 255))).save(root / "data" / relative)
            Image.fromarray(mask).save(root / "masks" / relative)
            rows.append({"path": relative, "xmin": x, "ymin": y, "xmax": x + side, "ymax": y + side})
    write_csv(root / "data" / "boxes.csv", rows, ["path", "xmin", "ymin", "xmax", "ymax"])
    return root / "data"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, colors_dir):
    """A small_cnn trained on :func:`colors_dir` (validation accuracy checked by tests)."""
    from cam_keras.train import TrainConfig, fine_tune

    run = tmp_path_factory.mktemp("trained") / "run"
    config = TrainConfig(input_size=32, width=8, batch_size=8, finetune_epochs=12, finetune_lr=3e-3, snapshot_images=0)
    return fine_tune(colors_dir, run, config, verbose=0)
