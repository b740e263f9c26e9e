"""Turn what a user hands an explainer (paths, arrays, PIL images) into a model batch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cam_keras.data.images import load_image, resize_image, to_rgb_array
from cam_keras.models.inputs import InputContract, convert_channels

ImageLike = str | os.PathLike | np.ndarray | Image.Image


def as_pixels(image: ImageLike) -> np.ndarray:
    """One image as ``(h, w, c)`` pixels, ``c`` in 1, 3, 4: files and PIL images as uint8 RGB
    (see :func:`load_image`), 2-D arrays as one channel, arrays unchanged otherwise (float
    arrays become float32, never rounded or clipped).

    Example:
        >>> as_pixels(np.zeros((5, 5), np.uint8)).shape
        (5, 5, 1)
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(Path(image))
    if isinstance(image, Image.Image):
        return to_rgb_array(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), got shape {array.shape}")
    return array if array.dtype == np.uint8 else array.astype(np.float32)


def for_display(pixels: np.ndarray) -> np.ndarray:
    """An RGB copy ``(h, w, 3)`` to draw maps on: gray repeated, alpha dropped, float values
    clipped to [0, 255] (for the picture only; the model sees the values as given)."""
    rgb = convert_channels(pixels, 3)
    return rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255)


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if pixels.shape[-1] == 3 or pixels.shape[:2] == tuple(size):
        return resize_image(pixels, size)
    return resize_image(pixels.astype(np.float32), size)  # per channel, float


def prepare_batch(
    images: ImageLike | Sequence[ImageLike], contract: InputContract
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Resize images to the model input, in the model's channels.

    Args:
        images: a path, an array ``(h, w[, c])``, a batch array ``(batch, h, w, c)``, a PIL
            image, or a sequence of these; raw pixel values (preprocessing comes later, in
            :meth:`InputContract.prepare`).
        contract: the model's input contract (size and channels).

    Returns:
        ``(batch, originals)``: float32 ``(batch, height, width, channels)`` raw pixels and
        the original images as RGB for display (see :func:`for_display`).

    Example:
        >>> batch, originals = prepare_batch(["a.jpg", "b.png"], model_contract(model).inputs)
        >>> batch.shape
        (2, 224, 224, 3)
    """
    if isinstance(images, (str, os.PathLike, Image.Image)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        images = [images]
    pixels = [as_pixels(image) for image in images]
    if not pixels:
        raise ValueError("no images to explain")
    batch = np.stack(
        [convert_channels(_resize(image, contract.size), contract.channels).astype(np.float32) for image in pixels]
    )
    return batch, [for_display(image) for image in pixels]
