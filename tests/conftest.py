"""Shared fixtures: tiny real models built by the real builder, and generated images."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import cam_keras

CLASS_NAMES = ("circle", "square", "triangle")


@pytest.fixture(scope="session")
def tiny_model():
    """A small_cnn classifier at 32 px with random weights and non-zero bias."""
    model = cam_keras.build_model("small_cnn", class_names=CLASS_NAMES, input_size=32, width=8)
    dense = model.get_layer("cam_logits")
    dense.bias.assign(np.array([0.3, -0.2, 0.1], dtype=np.float32))
    return model


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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, shapes_dir):
    """A small_cnn trained for a few epochs on the 32 px circles-vs-squares set."""
    from cam_keras.train import TrainConfig, fine_tune

    run = tmp_path_factory.mktemp("trained") / "run"
    config = TrainConfig(input_size=32, width=8, batch_size=8, finetune_epochs=8, finetune_lr=3e-3, snapshot_images=0)
    return fine_tune(shapes_dir, run, config, verbose=0)
