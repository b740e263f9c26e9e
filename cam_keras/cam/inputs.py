"""Turn what a user hands an explainer (paths, arrays, PIL images) into a model batch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image

from cam_keras.data.images import load_image, resize_image, to_rgb_array

ImageLike = Union[str, os.PathLike, np.ndarray, Image.Image]


def as_rgb(image: ImageLike) -> np.ndarray:
    """One image as ``(h, w, 3)`` RGB in [0, 255]: uint8 arrays, files and PIL images as
    uint8, other arrays as float32 (never rounded). Paths go through :func:`load_image`.

    Example:
        >>> as_rgb(np.zeros((5, 5), np.uint8)).shape
        (5, 5, 3)
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(Path(image))
    if isinstance(image, Image.Image):
        return to_rgb_array(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image (h, w, 3), got an array of shape {array.shape}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.float32)
    return array[..., :3]


def prepare_batch(
    images: ImageLike | Sequence[ImageLike], size: tuple[int, int]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Resize images to the model input.

    Args:
        images: a path, an array ``(h, w, 3)``, a batch array ``(batch, h, w, 3)``, a PIL
            image, or a sequence of these. Pixel values are RGB in [0, 255].
        size: model input ``(height, width)``.

    Returns:
        ``(batch, originals)``: float32 ``(batch, height, width, 3)`` and the original RGB
        images (see :func:`as_rgb`).

    Example:
        >>> batch, originals = prepare_batch(["a.jpg", "b.png"], (224, 224))
        >>> batch.shape
        (2, 224, 224, 3)
    """
    if isinstance(images, (str, os.PathLike, Image.Image)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        images = [images]
    originals = [as_rgb(image) for image in images]
    if not originals:
        raise ValueError("no images to explain")
    batch = np.stack([resize_image(image, size) for image in originals]).astype(np.float32)
    return batch, originals
