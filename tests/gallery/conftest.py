"""Fixtures of the gallery tests: a headless Chromium (skipped, saying why, where the system
has none) and a real heatmap job over class folders, so the true class of every image is known."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cam_keras

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench_gallery.py"
JOB_CLASSES = ("circle", "square", "triangle")
PER_CLASS = 100


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gallery", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_gallery():
    """scripts/bench_gallery.py as a module: the browser and the synthetic galleries."""
    return _bench()


@pytest.fixture(scope="session")
def browser(bench_gallery):
    if not os.path.exists(bench_gallery.CHROMIUM) or not os.path.exists(bench_gallery.CHROMEDRIVER):
        pytest.skip(
            f"the gallery browser tests need {bench_gallery.CHROMIUM} and {bench_gallery.CHROMEDRIVER} "
            "(Debian/Ubuntu: apt-get install chromium chromium-driver)"
        )
    pytest.importorskip("selenium", reason="the gallery browser tests need selenium (pip install -e .[test])")
    with bench_gallery.chromium() as driver:
        yield driver


def shape_folders(root: Path, per_class: int = PER_CLASS) -> Path:
    """``root/<class>/...png``: generated 32 px shapes, one folder per class (and boxes.csv)."""
    from cam_keras.data.synthetic import SyntheticSpec, write_split

    spec = SyntheticSpec(classes=JOB_CLASSES, image_size=32, distractors=(0, 2))
    return write_split(root, root.parent / "masks", per_class=per_class, spec=spec, seed=0)


def spread_model(class_names=JOB_CLASSES, input_size: int = 16):
    """A tiny random classifier whose Dense kernel is scaled up, so probabilities spread out."""
    model = cam_keras.build_model("small_cnn", class_names=class_names, input_size=input_size, base_channels=4)
    dense = model.get_layer("cam_logits")
    dense.kernel.assign(dense.kernel.numpy() * 40)
    return model


def briefly_trained(data: Path, input_size: int = 16):
    """A tiny classifier fitted for a few seconds on the class folders under ``data``: some of
    its predictions right, some wrong, with spread-out probabilities."""
    import keras

    model = cam_keras.build_model("small_cnn", class_names=JOB_CLASSES, input_size=input_size, base_channels=8)
    pictures, labels = [], []
    for label, name in enumerate(JOB_CLASSES):
        for path in sorted((data / name).glob("*.png")):
            pictures.append(np.asarray(Image.open(path).convert("RGB").resize((input_size, input_size)), np.float32))
            labels.append(label)
    keras.utils.set_random_seed(0)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(np.stack(pictures), np.array(labels), epochs=4, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def heatmap_job(tmp_path_factory):
    """A finished heatmap job (top-2 maps, render worker processes) over 300 images in class
    folders; its output folder holds the gallery."""
    root = tmp_path_factory.mktemp("gallery-job")
    data = shape_folders(root / "data")
    options = cam_keras.HeatmapOptions(top_k=2, workers=1, array_format=None)
    cam_keras.write_heatmaps(cam_keras.CAM(briefly_trained(data)), [data], root / "maps", options, progress=False)
    return root / "maps"
