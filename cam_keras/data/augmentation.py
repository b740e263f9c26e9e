"""Training-time augmentation of one image tensor, at the levels of :data:`cam_keras.choices.AUGMENTATIONS`."""

from __future__ import annotations

import tensorflow as tf

from cam_keras.choices import AUGMENTATIONS


def augment(image: tf.Tensor, level: str = "standard") -> tf.Tensor:
    """Augment one ``(H, W, 3)`` float image in [0, 255]: ``flip`` is a random horizontal
    flip; ``standard`` adds a random shift-and-crop (up to 1/8 of the side) and small
    brightness/contrast jitter; ``none`` returns the image.

    Example:
        >>> augment(tf.zeros((64, 64, 3)), "flip").shape
        TensorShape([64, 64, 3])
    """
    if level not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, not {level!r}")
    if level == "none":
        return image
    image = tf.image.random_flip_left_right(image)
    if level == "flip":
        return image
    height, width = image.shape[0], image.shape[1]
    pad_h, pad_w = height // 8, width // 8
    image = tf.image.pad_to_bounding_box(image, pad_h, pad_w, height + 2 * pad_h, width + 2 * pad_w)
    image = tf.image.random_crop(image, (height, width, 3))
    image = tf.image.random_brightness(image, 0.1 * 255.0)
    image = tf.image.random_contrast(image, 0.85, 1.15)
    return tf.clip_by_value(image, 0.0, 255.0)
