"""Picture writers, each atomic: PNG, JPEG or WebP chosen by the file's suffix (CSV, JSON and
arrays are written by :mod:`cam_keras.records`)."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cam_keras.atomic import write_bytes_atomic
from cam_keras.errors import UsageError, option
from cam_keras.render.png import encode_png


def pillow_encode(image: np.ndarray, name: str, **settings: Any) -> bytes:
    """``image`` encoded by Pillow as format ``name`` with its ``settings`` (``quality=90``...)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=name, **settings)
    return buffer.getvalue()


@dataclass(frozen=True)
class PictureFormat:
    """A picture format: its name, an encoder of an ``(h, w, 3)`` uint8 image to bytes, and the
    longest side it stores."""

    name: str
    encode: Callable[[np.ndarray], bytes]
    max_side: int


# Picture formats by file suffix. PNG is lossless, by :func:`encode_png` (a fifth of the time of
# Pillow's encoder, a few % smaller); JPEG and WebP are Pillow's at quality 90, about a tenth of
# the PNG's size. Side limits: PNG's format, libjpeg-turbo's and libwebp's.
IMAGE_FORMATS: dict[str, PictureFormat] = {
    "png": PictureFormat("PNG", encode_png, 2**31 - 1),
    "jpg": PictureFormat("JPEG", functools.partial(pillow_encode, name="JPEG", quality=90), 65500),
    "webp": PictureFormat("WebP", functools.partial(pillow_encode, name="WEBP", quality=90, method=4), 16383),
}


def write_picture(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an ``(h, w, 3)`` uint8 image as PNG, JPEG or WebP, chosen by the suffix of ``path``
    (one of :data:`IMAGE_FORMATS`).

    Example:
        >>> write_picture("overlay.webp", explanation.overlay(0))
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise ValueError(f"{path}: pictures must end in {', '.join('.' + name for name in IMAGE_FORMATS)}")
    picture_format = IMAGE_FORMATS[suffix]
    _check_fits(path, image, picture_format)
    write_bytes_atomic(path, picture_format.encode(image))
    return Path(path)


def _check_fits(path: str | os.PathLike, image: np.ndarray, picture_format: PictureFormat) -> None:
    """Refuse, naming the fix, a picture the format cannot store (a row of many maps can be
    wider than WebP allows although each map fits)."""
    height, width = image.shape[:2]
    if max(height, width) > picture_format.max_side:
        raise UsageError(
            f"{path}: a {width}x{height} px picture is beyond {picture_format.name}'s limit of "
            f"{picture_format.max_side} px a side: "
            f"write PNG ({option('image_format', 'png')}), or fewer maps side by side ({option('top_k')}) or smaller "
            f"ones ({option('size')}, {option('max_side')})"
        )


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an ``(h, w, 3)`` uint8 image as PNG.

    Example:
        >>> write_png("overlay.png", explanation.overlay(0))
    """
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: write_png writes .png files; use write_picture for other formats")
    return write_picture(path, image)
