"""Turn what a user hands an explainer (paths, arrays, PIL images) into a model batch and the
pictures the maps are drawn on; image files go through the one decode -> batch iterator
(:mod:`cam_keras.data.batches`), as in heatmap jobs, evaluation and training."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from PIL import Image

from cam_keras.data.batches import decode_all
from cam_keras.data.images import FittedImage, decode_fitted, to_rgb_array
from cam_keras.data.resize import Window, fit_image, fit_window
from cam_keras.errors import UsageError
from cam_keras.models.inputs import InputContract, convert_channels, warn_once
from cam_keras.render.sizing import output_size

ImageLike = str | os.PathLike | np.ndarray | Image.Image
Size = tuple[int, int]  # (height, width)

logger = logging.getLogger(__name__)


def note_assumed_resize(model: keras.Model, contract: InputContract, sizes: Iterable[tuple[int, int]]) -> None:
    """Say once per model that pictures are squashed because nobody said otherwise, when one of
    the pictures' ``(height, width)`` ``sizes`` has another aspect than the model input (then
    squash, crop and pad give different pixels)."""
    if contract.resize_assumed and any(fit_window(size, contract.size, "pad") != Window() for size in sizes):
        warn_once(
            model,
            "model %r does not record how it was trained to fit pictures of another aspect to its %dx%d input: "
            "they are squashed (aspect ignored). If it was trained on centre crops or padded pictures, pass "
            "resize crop or pad.",
            model.name,
            contract.size[1],
            contract.size[0],
            topic="resize",
        )


def as_pixels(image: np.ndarray | Image.Image) -> np.ndarray:
    """One in-memory image as ``(h, w, c)`` pixels, ``c`` in 1, 3, 4: PIL images as uint8 RGB,
    2-D arrays as one channel, arrays unchanged otherwise (float arrays become float32, never
    rounded or clipped).

    Raises:
        UsageError: not an image shape, an empty image, or NaN or infinite values.

    Example:
        >>> as_pixels(np.zeros((5, 5), np.uint8)).shape
        (5, 5, 1)
    """
    if isinstance(image, Image.Image):
        return to_rgb_array(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise UsageError(f"expected an image (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), got shape {array.shape}")
    if not array.size:
        raise UsageError(f"empty image of shape {array.shape}: pass at least one pixel")
    if array.dtype == np.uint8:
        return array
    pixels = array.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise UsageError("the array holds NaN or infinite values; pass finite pixel values in [0, 255]")
    return pixels


def _unit_range(image: ImageLike, pixels: np.ndarray) -> bool:
    """A float array whose values all lie in [0, 1] (not all zero): most likely ``x / 255``,
    which a model expecting [0, 255] would see as nearly black."""
    is_float = not isinstance(image, Image.Image) and np.asarray(image).dtype.kind == "f"
    return is_float and pixels.min() >= 0 and 0 < pixels.max() <= 1


def _warn_unit_range(count: int, total: int, contract: InputContract) -> None:
    logger.warning(
        "%d of %d image array(s) hold floats within [0, 1], but arrays are read as raw pixels in [0, 255] "
        "(then preprocessed: %s): multiply them by 255; if they already are the model's input, pass "
        'preprocess="none"',
        count,
        total,
        contract.preprocessing.name,
    )


def for_display(pixels: np.ndarray) -> np.ndarray:
    """An RGB copy ``(h, w, 3)`` to draw maps on: gray repeated, alpha dropped, float values
    clipped to [0, 255] (for the picture only; the model sees the values as given)."""
    rgb = convert_channels(pixels, 3)
    return rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255)


@dataclass(frozen=True)
class PreparedBatch:
    """Images made ready to explain.

    Attributes:
        batch: float32 ``(batch, height, width, channels)`` raw pixels at the model input size.
        pictures: the images as RGB to draw maps on (see :func:`for_display`).
        sizes: each image's ``(height, width)`` as given or as a file.
        windows: where each model input lies on its picture (the resize policy's window).
    """

    batch: np.ndarray
    pictures: list[np.ndarray]
    sizes: list[Size]
    windows: list[Window]


def prepare_batch(images: ImageLike | Sequence[ImageLike], contract: InputContract) -> PreparedBatch:
    """Fit images to the model input under the contract's resize policy, in the model's channels.

    Args:
        images: a path, an array ``(h, w[, c])``, a batch array ``(batch, h, w, c)``, a PIL
            image, or a sequence of these; raw pixel values (preprocessing comes later, in
            :meth:`InputContract.prepare`).
        contract: the model's input contract (size, channels and resize policy).

    A float array whose values all lie in [0, 1] gets a warning (it is read as [0, 255]),
    unless the user chose ``preprocess="none"``.

    Raises:
        UsageError: no images, or an image that is empty, not image-shaped, or not finite (naming its index).

    Returns:
        A :class:`PreparedBatch`: pictures are arrays and PIL images as given, files decoded at
        most ``DEFAULT_MAX_SIDE`` (1024) px on their longest side (to draw on a file at full
        resolution, pass ``load_image(path)``).

    Example:
        >>> prepare_batch(["a.jpg", "b.png"], model_contract(model).inputs).batch.shape
        (2, 224, 224, 3)
    """
    if isinstance(images, (str, os.PathLike, Image.Image)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        images = [images]
    if not len(images):
        raise UsageError("no images to explain: pass at least one path, array or PIL image")
    files = iter(_decode_files([image for image in images if isinstance(image, (str, os.PathLike))], contract))
    inputs, pictures, sizes, windows, unit_range = [], [], [], [], 0
    for index, image in enumerate(images):
        if isinstance(image, (str, os.PathLike)):
            decoded = next(files)
            inputs.append(decoded.model_input)
            pictures.append(decoded.picture)
            sizes.append(decoded.original_size)
            windows.append(decoded.window)
        else:
            try:
                pixels = as_pixels(image)
            except UsageError as error:
                raise UsageError(f"image {index}: {error}") from None
            unit_range += _unit_range(image, pixels)
            inputs.append(fit_image(pixels, contract.size, contract.resize))
            pictures.append(for_display(pixels))
            sizes.append(pixels.shape[:2])
            windows.append(fit_window(pixels.shape[:2], contract.size, contract.resize))
    if unit_range and not contract.takes_prepared_arrays:
        _warn_unit_range(unit_range, len(images), contract)
    batch = np.stack([convert_channels(image, contract.channels).astype(np.float32) for image in inputs])
    return PreparedBatch(batch, pictures, sizes, windows)


def _decode_files(paths: list[str | os.PathLike], contract: InputContract) -> list[FittedImage]:
    """Image files decoded (in threads) for the model under the contract's resize policy, and
    for pictures at most ``DEFAULT_MAX_SIDE`` px on their longest side."""

    def decode(path: str | os.PathLike) -> FittedImage:
        return decode_fitted(path, contract.size, contract.resize, lambda size: output_size(None, size, contract.size))

    return decode_all(paths, decode)
