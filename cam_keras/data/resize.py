"""The one way cam-keras resizes a picture: fitted to a size under a resize policy, with the
window the fitted picture shows of the original, so maps computed on it go back to their place.

Training (:mod:`cam_keras.data.pipeline`), snapshots, explaining, heatmaps and evaluation all
fit pictures through :func:`fit_image` (files through :func:`cam_keras.data.images.decode_fitted`),
so a model sees the same pixels of the same file wherever it meets it; pictures to draw on are
resized by it too (the default ``squash``: to a size, aspect as the caller chose it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from cam_keras.choices import check_resize_policy

Size = tuple[int, int]  # (height, width)
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels, as Pillow takes it
Region = tuple[int, int, int, int]  # (top, bottom, left, right) rows and columns of a picture


class Window(NamedTuple):
    """Where a fitted picture lies on its original, in fractions of the original's height and
    width: rows ``top .. top + height``, columns ``left .. left + width``. Squash covers the
    original exactly ``(0, 0, 1, 1)``; crop covers its centre (inside it); pad reaches beyond
    it (negative ``top`` or ``left``: the padding).

    Example:
        >>> fit_window((10, 40), (20, 20), "crop")
        Window(top=0.0, left=0.375, height=1.0, width=0.25)
    """

    top: float = 0.0
    left: float = 0.0
    height: float = 1.0
    width: float = 1.0

    def box(self, size: Size) -> Box:
        """This window on a picture of ``size`` as a Pillow box ``(left, top, right, bottom)``."""
        height, width = size
        return (
            self.left * width,
            self.top * height,
            (self.left + self.width) * width,
            (self.top + self.height) * height,
        )

    def region(self, size: Size) -> Region:
        """``(top, bottom, left, right)``: the rows and columns of a picture of ``size`` this
        window shows (at least one pixel), the part a map computed on the fitted picture covers."""
        left, top, right, bottom = self.box(size)
        top, left = min(max(0, round(top)), size[0] - 1), min(max(0, round(left)), size[1] - 1)
        return top, max(top + 1, min(size[0], round(bottom))), left, max(left + 1, min(size[1], round(right)))

    def placement(self, size: Size, map_size: Size) -> tuple[Region, Box] | None:
        """Where a ``map_size`` map computed on the fitted picture goes on a picture of ``size``:
        ``(region of the picture, box of the map)`` (what :func:`cam_keras.render.pictures.scale_maps_to`
        takes), or ``None`` when the map covers the whole picture (squash)."""
        if self == Window():
            return None
        left, top, right, bottom = self.box(size)
        rows, columns = map_size[0] / (bottom - top), map_size[1] / (right - left)
        shown_top, shown_bottom, shown_left, shown_right = region = self.region(size)
        return region, (
            max(0.0, (shown_left - left) * columns),
            max(0.0, (shown_top - top) * rows),
            min(float(map_size[1]), (shown_right - left) * columns),
            min(float(map_size[0]), (shown_bottom - top) * rows),
        )


def fit_window(original: Size, size: Size, policy: str) -> Window:
    """The :class:`Window` :func:`fit_image` shows of a picture of ``original`` size."""
    check_resize_policy(policy)
    (height, width), (target_height, target_width) = original, size
    if policy == "squash":
        return Window()
    if policy == "crop":
        scale = max(target_height / height, target_width / width)
        shown = (target_height / scale / height, target_width / scale / width)
        return Window((1 - shown[0]) / 2, (1 - shown[1]) / 2, *shown)
    (content_height, content_width), (top, left) = _padded_content(original, size)
    return Window(
        -top / content_height, -left / content_width, target_height / content_height, target_width / content_width
    )


def _padded_content(original: Size, size: Size) -> tuple[Size, Size]:
    """``pad``: the size of the picture inside the padding and its ``(top, left)`` offset."""
    scale = min(size[0] / original[0], size[1] / original[1])
    content = tuple(max(1, min(side, round(have * scale))) for have, side in zip(original, size))
    return content, ((size[0] - content[0]) // 2, (size[1] - content[1]) // 2)


def fit_image(image: np.ndarray, size: Size, policy: str = "squash") -> np.ndarray:
    """Resize ``(h, w, c)`` pixels to ``size = (height, width)`` (bilinear, antialiased):
    ``squash`` ignores the aspect, ``crop`` fills the size and cuts the centre out, ``pad``
    fits inside and pads with black (see :func:`fit_window` for where the result lies).

    uint8 RGB stays uint8; any other picture is resized per channel in float32, unrounded.

    Example:
        >>> fit_image(np.zeros((10, 40, 3), np.uint8), (32, 32), "pad").shape
        (32, 32, 3)
    """
    size = (int(size[0]), int(size[1]))
    if policy != "pad":
        window = fit_window(image.shape[:2], size, policy)
        return _resize(image, size, None if policy == "squash" else window.box(image.shape[:2]))
    content, (top, left) = _padded_content(image.shape[:2], size)
    inside = _resize(image, content)
    padded = np.zeros((*size, image.shape[-1]), inside.dtype)
    padded[top : top + content[0], left : left + content[1]] = inside
    return padded


def _resize(image: np.ndarray, size: Size, box: Box | None = None) -> np.ndarray:
    """Resize an ``(h, w, c)`` picture (or its ``box``) to ``size = (height, width)``
    (bilinear, antialiased); uint8 RGB stays uint8, other pictures are resized per channel in
    float32, without rounding."""
    if box is None and image.shape[:2] == tuple(size):
        return image
    target = (int(size[1]), int(size[0]))
    if image.dtype == np.uint8 and image.shape[-1] == 3:
        return np.asarray(Image.fromarray(image).resize(target, Image.Resampling.BILINEAR, box=box))
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(
                target, Image.Resampling.BILINEAR, box=box
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)
