"""Picture writers, each atomic: PNG, JPEG or WebP chosen by the file's suffix (CSV, JSON and
arrays are written by :mod:`cam_keras.records`)."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cam_keras.atomic import write_bytes_atomic
from cam_keras.errors import UsageError
from cam_keras.render.png import encode_png


def _pillow_encode(image: np.ndarray, name: str, **settings: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=name, **settings)
    return buffer.getvalue()


# Picture formats by file suffix: each an encoder of an ``(h, w, 3)`` uint8 image to bytes.
# PNG is lossless, by :func:`encode_png` (a fifth of the time of Pillow's encoder, a few % smaller); JPEG
# and WebP are Pillow's at quality 90, about a tenth of the PNG's size.
IMAGE_FORMATS: dict[str, Callable[[np.ndarray], bytes]] = {
    "png": encode_png,
    "jpg": functools.partial(_pillow_encode, name="JPEG", quality=90),
    "webp": functools.partial(_pillow_encode, name="WEBP", quality=90, method=4),
}
#: Each format's name and the longest side it stores (libjpeg-turbo's and libwebp's limits).
FORMAT_LIMITS = {"png": ("PNG", 2**31 - 1), "jpg": ("JPEG", 65500), "webp": ("WebP", 16383)}


def write_picture(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an ``(h, w, 3)`` uint8 image as PNG, JPEG or WebP, chosen by the suffix of ``path``
    (one of :data:`IMAGE_FORMATS`).

    Example:
        >>> write_picture("overlay.webp", explanation.overlay(0))
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise ValueError(f"{path}: pictures must end in {', '.join('.' + name for name in IMAGE_FORMATS)}")
    _check_fits(path, image, *FORMAT_LIMITS[suffix])
    write_bytes_atomic(path, IMAGE_FORMATS[suffix](image))
    return Path(path)


def _check_fits(path: str | os.PathLike, image: np.ndarray, name: str, limit: int) -> None:
    """Refuse, naming the fix, a picture the format cannot store (a row of many maps can be
    wider than WebP allows although each map fits)."""
    height, width = image.shape[:2]
    if max(height, width) > limit:
        raise UsageError(
            f"{path}: a {width}x{height} px picture is beyond {name}'s limit of {limit} px a side: "
            "write PNG (--image-format png), or fewer maps side by side (--top-k) or smaller ones (--size, --max-side)"
        )


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an ``(h, w, 3)`` uint8 image as PNG.

    Example:
        >>> write_png("overlay.png", explanation.overlay(0))
    """
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: write_png writes .png files; use write_picture for other formats")
    return write_picture(path, image)
