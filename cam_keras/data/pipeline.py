"""Labeled image files as a batched tf.data pipeline.

Decoding goes through :func:`cam_keras.data.images.decode_fitted` (as explaining, heatmaps
and evaluation do: a model sees the same pixels of a file everywhere) in parallel, so
grayscale, RGBA, CMYK, 16-bit and EXIF-rotated files all become the same RGB input; a file
that breaks after the scan is logged and weighted 0, never a crash halfway through an epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from cam_keras.data.augmentation import augment
from cam_keras.data.class_folders import LabeledFiles
from cam_keras.data.images import decode_fitted
from cam_keras.errors import ImageError

logger = logging.getLogger(__name__)


def _decoder(size: tuple[int, int], policy: str) -> Callable[[bytes], tuple[np.ndarray, bool]]:
    """``path -> (float32 image at size, ok)``: a file that fails to decode gives zeros and ``False``."""

    def decode(path: bytes) -> tuple[np.ndarray, bool]:
        try:
            return decode_fitted(path.decode(), size, policy).model_input.astype(np.float32), True
        except ImageError as error:
            logger.warning("skipped during training: %s", error)
            return np.zeros((*size, 3), np.float32), False

    return decode


def make_dataset(
    files: LabeledFiles,
    image_size: tuple[int, int],
    batch_size: int,
    *,
    training: bool,
    policy: str = "squash",
    augmentation: str = "standard",
    cache: bool = False,
    seed: int = 0,
    weights_by_class: dict[int, float] | None = None,
) -> tf.data.Dataset:
    """A batched ``(images (B, H, W, 3) float32 in [0, 255], labels (B,) int32,
    sample weights (B,) float32)`` pipeline with a known number of batches.

    Training pipelines shuffle every epoch and apply ``augmentation`` (see :func:`augment`) with
    a fresh seed per image and epoch, drawn from ``seed``; both decode in parallel, keep a
    deterministic order (a seeded run repeats exactly, up to the CPU kernels' own
    nondeterminism) and prefetch.
    A file that fails to decode here (it changed after the scan) is logged and gets weight
    0, so it never counts, and the epoch length stays known. ``weights_by_class`` (see
    :func:`cam_keras.data.split.class_weights`) multiplies each sample's weight by its class weight.

    Example:
        >>> images, labels, weights = next(iter(make_dataset(files, (64, 64), 32, training=True)))
        >>> images.shape, labels.shape, weights.shape
        (TensorShape([32, 64, 64, 3]), TensorShape([32]), TensorShape([32]))
    """
    decode = _decoder(tuple(image_size), policy)
    per_class = np.ones(len(files.class_names), np.float32)
    for label, weight in (weights_by_class or {}).items():
        per_class[label] = weight

    def load(path, label):
        image, ok = tf.numpy_function(decode, [path], (tf.float32, tf.bool), stateful=False)
        image.set_shape((*image_size, 3))
        ok.set_shape(())
        weight = tf.where(ok, tf.gather(per_class, label), 0.0)
        return image, label, weight

    def augmented(example, pair):
        image, label, weight = example
        return augment(image, augmentation, pair), label, weight

    dataset = tf.data.Dataset.from_tensor_slices((list(files.paths), np.array(files.labels, np.int32)))
    if training and not cache:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:  # shuffle after the cache, or every epoch would replay the first one's order
        dataset = dataset.cache()
        if training:
            dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if training and augmentation != "none":
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
