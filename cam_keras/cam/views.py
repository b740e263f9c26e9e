"""Views of a batch for :class:`~cam_keras.cam.augmentation.MapAugmentation`: scaled and
mirrored images in, their maps brought back to the image's frame and combined."""

from __future__ import annotations

import tensorflow as tf


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(height, width)`` times ``scale``, rounded, at least one pixel.

    Example:
        >>> scaled_size((64, 48), 1.5)
        (96, 72)
    """
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def rescale(images: tf.Tensor, scale: float) -> tf.Tensor:
    """``images`` ``(batch, H, W, c)`` bilinearly resized by ``scale`` (antialiased when
    shrinking, so a half-size view averages pixels rather than skipping them)."""
    size = scaled_size(tuple(images.shape[1:3]), scale)
    return tf.image.resize(images, size, method="bilinear", antialias=scale < 1.0)


def with_mirrors(images: tf.Tensor) -> tf.Tensor:
    """``images`` followed by their horizontal mirrors: ``(2 * batch, H, W, c)``."""
    return tf.concat([images, tf.reverse(images, axis=[2])], axis=0)


def unmirror(maps: tf.Tensor, batch: tf.Tensor) -> list[tf.Tensor]:
    """The maps of :func:`with_mirrors` images as two views in the image's frame: the images'
    maps and the mirrors' maps mirrored back."""
    return [maps[:batch], tf.reverse(maps[batch:], axis=[2])]


def combine_views(views: list[tf.Tensor]) -> tf.Tensor:
    """The mean of maps ``(batch, h_i, w_i, n)`` of one batch, each bilinearly resized to the
    finest grid among them (the largest height and width): ``(batch, h, w, n)``."""
    size = (max(view.shape[1] for view in views), max(view.shape[2] for view in views))
    resized = [view if tuple(view.shape[1:3]) == size else tf.image.resize(view, size, "bilinear") for view in views]
    return tf.add_n(resized) / float(len(resized)) if len(resized) > 1 else resized[0]
