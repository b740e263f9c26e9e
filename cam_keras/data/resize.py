"""Fitting a decoded picture to the model's input size under a resize policy."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from cam_keras.choices import RESIZE_POLICIES


def fit_image(image: np.ndarray, size: tuple[int, int], policy: str = "squash") -> np.ndarray:
    """Resize ``(h, w, 3)`` uint8 to ``size``: ``squash`` (ignore aspect), ``crop`` (fill
    then center-crop) or ``pad`` (fit inside, pad with black).

    Example:
        >>> fit_image(np.zeros((10, 40, 3), np.uint8), (32, 32), "pad").shape
        (32, 32, 3)
    """
    target = (size[1], size[0])
    picture = Image.fromarray(image)
    if policy == "squash":
        picture = picture.resize(target, Image.Resampling.BILINEAR)
    elif policy == "crop":
        picture = ImageOps.fit(picture, target, Image.Resampling.BILINEAR)
    elif policy == "pad":
        picture = ImageOps.pad(picture, target, Image.Resampling.BILINEAR, color=(0, 0, 0))
    else:
        raise ValueError(f"resize policy must be one of {RESIZE_POLICIES}, got {policy!r}")
    return np.asarray(picture)
