"""Augmentation changes images: each level on its own, and through the real training pipeline."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cam_keras.data.augmentation import augment
from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.pipeline import make_dataset

SEEDS = [(seed, 0) for seed in range(8)]


def augmented(image: np.ndarray, level: str, seed: tuple[int, int]) -> np.ndarray:
    return augment(tf.constant(image), level, seed).numpy()


def matches(image: np.ndarray, originals: np.ndarray) -> bool:
    """Whether ``image`` is exactly one of ``originals`` or its left-right mirror."""
    return any(np.array_equal(image, original) or np.array_equal(image, original[:, ::-1]) for original in originals)


def test_flip_gives_the_image_or_its_exact_mirror_and_sometimes_the_mirror(images):
    image = images[0]
    assert not np.array_equal(image, image[:, ::-1])  # asymmetric, so a mirror is visible
    seen = set()
    for seed in SEEDS:
        out = augmented(image, "flip", seed)
        if np.array_equal(out, image[:, ::-1]):
            seen.add("mirror")
        else:
            np.testing.assert_array_equal(out, image)
            seen.add("original")
    assert seen == {"mirror", "original"}


def test_standard_changes_the_image_within_pixel_range_and_shape(images):
    image = images[0]
    outputs = [augmented(image, "standard", seed) for seed in SEEDS]
    for out in outputs:
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 255.0
        assert not matches(out, image[None])  # more than a flip
    assert len({out.tobytes() for out in outputs}) == len(outputs)


def test_none_returns_the_input_and_unknown_levels_are_refused(images):
    image = tf.constant(images[0])
    assert augment(image, "none") is image
    with pytest.raises(ValueError, match="augmentation must be one of"):
        augment(image, "heavy")


def image_files(root, images):
    """Write ``images`` as PNG files, half per class, and scan them."""
    for index, image in enumerate(images):
        folder = root / ("a" if index < len(images) // 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{index}.png")
    return scan_class_folders(root)


def epoch(dataset: tf.data.Dataset) -> np.ndarray:
    return np.concatenate([batch.numpy() for batch, _, _ in dataset])


def test_training_pipeline_augments_every_epoch_anew(tmp_path, images):
    keras.utils.set_random_seed(0)  # as every training run does; stateful random ops would replay epoch 1
    files = image_files(tmp_path / "data", images)
    decoded = np.stack([np.asarray(Image.open(path), np.float32) for path in files.paths])  # Pillow, not our decoder

    def by_content(batch):
        return sorted(batch, key=lambda image: image.tobytes())

    shuffled_only = make_dataset(files, (32, 32), 2, training=True, augmentation="none")
    np.testing.assert_array_equal(by_content(epoch(shuffled_only)), by_content(decoded))  # the control
    dataset = make_dataset(files, (32, 32), 2, training=True, augmentation="standard")
    first, second = epoch(dataset), epoch(dataset)
    for images_of_epoch in (first, second):
        assert images_of_epoch.shape == decoded.shape
        assert images_of_epoch.min() >= 0.0 and images_of_epoch.max() <= 255.0
        assert not any(matches(image, decoded) for image in images_of_epoch)
    assert not any(matches(image, first) for image in second)


def test_a_seeded_pipeline_repeats_its_epochs_exactly(tmp_path, images):
    files = image_files(tmp_path / "data", images)
    first = make_dataset(files, (32, 32), 2, training=True, augmentation="standard", seed=3)
    again = make_dataset(files, (32, 32), 2, training=True, augmentation="standard", seed=3)
    for _ in range(2):
        np.testing.assert_array_equal(epoch(again), epoch(first))
    other = make_dataset(files, (32, 32), 2, training=True, augmentation="standard", seed=4)
    assert not any(matches(image, epoch(first)) for image in epoch(other))


def test_validation_pipeline_is_never_augmented(tmp_path, images):
    files = image_files(tmp_path / "data", images)
    decoded = np.stack([np.asarray(Image.open(path), np.float32) for path in files.paths])
    dataset = make_dataset(files, (32, 32), 2, training=False, augmentation="standard")
    np.testing.assert_array_equal(epoch(dataset), decoded)
    np.testing.assert_array_equal(epoch(dataset), decoded)
