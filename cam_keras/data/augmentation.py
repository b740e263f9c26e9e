"""Training-time augmentation of one image tensor, at the levels of :data:`cam_keras.choices.AUGMENTATIONS`.

Every random draw is stateless, a function of the seed passed in: the training pipeline gives each
image a fresh seed every epoch (:func:`cam_keras.data.pipeline.make_dataset`), so the same image is
augmented differently each epoch and a seeded run repeats exactly, whatever order parallel workers
finish in. (TensorFlow's stateful random ops restart their sequence with every new iterator of a
seeded dataset, so each epoch would replay the first one's draws.)
"""

from __future__ import annotations

import tensorflow as tf

from cam_keras.choices import AUGMENTATIONS

Seed = tf.Tensor | tuple[int, int]
"""A stateless seed: two integers (int32 or int64)."""


def augment(image: tf.Tensor, level: str = "standard", seed: Seed | None = None) -> tf.Tensor:
    """Augment one ``(H, W, 3)`` float image in [0, 255]: ``flip`` is a random horizontal
    flip; ``standard`` adds a random shift-and-crop (up to 1/8 of the side) and small
    brightness/contrast jitter; ``none`` returns the image.

    ``seed`` (two integers) fixes every draw: the same seed gives the same result. ``None``
    draws one from TensorFlow's global generator.

    Example:
        >>> augment(tf.zeros((64, 64, 3)), "flip", seed=(1, 2)).shape
        TensorShape([64, 64, 3])
    """
    if level not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, not {level!r}")
    if level == "none":
        return image
    if seed is None:
        seed = tf.random.uniform((2,), maxval=tf.int32.max, dtype=tf.int32)
    flip, crop, brightness, contrast = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    image = tf.image.stateless_random_flip_left_right(image, flip)
    if level == "flip":
        return image
    height, width = image.shape[0], image.shape[1]
    pad_h, pad_w = height // 8, width // 8
    image = tf.image.pad_to_bounding_box(image, pad_h, pad_w, height + 2 * pad_h, width + 2 * pad_w)
    image = tf.image.stateless_random_crop(image, (height, width, 3), crop)
    image = tf.image.stateless_random_brightness(image, 0.1 * 255.0, brightness)
    image = tf.image.stateless_random_contrast(image, 0.85, 1.15, contrast)
    return tf.clip_by_value(image, 0.0, 255.0)
