"""Pure TensorFlow helpers on class maps shaped ``(batch, height, width, n_maps)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def normalize_maps(maps: tf.Tensor) -> tf.Tensor:
    """Min-max scale each map of ``(batch, h, w, n)`` to [0, 1]; constant maps become 0.

    Example:
        >>> normalize_maps(tf.constant([[[[1.0], [3.0]]]])).numpy().ravel().tolist()
        [0.0, 1.0]
    """
    low = tf.reduce_min(maps, axis=[1, 2], keepdims=True)
    high = tf.reduce_max(maps, axis=[1, 2], keepdims=True)
    return tf.math.divide_no_nan(maps - low, high - low)


def upsample_and_normalize(maps: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """Bilinearly resize ``(batch, h, w, n)`` maps to ``size = (H, W)``, then min-max scale.

    Returns ``(batch, H, W, n)`` float32 in [0, 1].

    Example:
        >>> upsample_and_normalize(tf.random.uniform((2, 7, 7, 1)), (224, 224)).shape
        TensorShape([2, 224, 224, 1])
    """
    if tuple(maps.shape[1:3]) != tuple(size):
        maps = tf.image.resize(maps, size, method="bilinear")
    return normalize_maps(maps)


def scale_maps(raw: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """One image's raw maps ``(n, h, w)`` resized to ``size = (H, W)`` and scaled to [0, 1]:
    ``(n, H, W)`` float32, computed exactly as :func:`upsample_and_normalize`.

    Example:
        >>> scale_maps(np.eye(7, dtype=np.float32)[None], (480, 640)).shape
        (1, 480, 640)
    """
    scaled = upsample_and_normalize(tf.constant(np.transpose(raw, (1, 2, 0))[None]), size)
    return np.transpose(scaled[0].numpy(), (2, 0, 1))
