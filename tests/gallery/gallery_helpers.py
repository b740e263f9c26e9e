"""What the gallery tests build: class folders of generated shapes and tiny classifiers whose
predictions spread out (a module of its own: test modules import it; conftest is pytest's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import cam_keras

JOB_CLASSES = ("circle", "square", "triangle")
PER_CLASS = 100


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
