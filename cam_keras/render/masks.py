"""Pseudo-masks from class maps: the label rule, its palette and the label PNG it is saved as.

A label image holds one index per pixel: :data:`BACKGROUND` (0), class ``k`` of the model as
``k + 1``, and :data:`UNSURE` (255) between the background and foreground thresholds, the band
weakly-supervised segmentation leaves out of training (the thresholds' defaults are IRN's:
Ahn et al., CVPR 2019). It is saved as a palette PNG: any image library reads the indices back
(Pillow's mode ``"P"``), and a viewer shows readable colours (PASCAL VOC's palette, 255 white).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cam_keras.atomic import write_bytes_atomic
from cam_keras.errors import UsageError

BACKGROUND, UNSURE = 0, 255
MAX_CLASSES = UNSURE - 1  # classes 0..253 become indices 1..254


@dataclass(frozen=True)
class MaskRule:
    """How maps become labels.

    Attributes:
        foreground: a pixel takes the class of its highest map when that map (normalized to
            [0, 1], as the evaluation normalizes it) is at least this.
        background: below this every map is background; between the two a pixel is
            :data:`UNSURE`. ``background <= foreground``; equal, there is no unsure band.
        min_probability: with predicted classes, only those the model gives at least this
            probability are labelled (multi-label sigmoid models); ``None``: every class mapped.
    """

    foreground: float = 0.30
    background: float = 0.05
    min_probability: float | None = None

    def validate(self) -> MaskRule:
        """``self`` if the thresholds are fractions with ``background <= foreground``."""
        for name in ("foreground", "background", "min_probability"):
            value = getattr(self, name)
            if name == "min_probability" and value is None:
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise UsageError(f"masks.{name} must be a fraction from 0 to 1, got {value!r}")
        if self.background > self.foreground:
            raise UsageError(
                f"masks.background ({self.background}) must not be above masks.foreground ({self.foreground})"
            )
        return self


def label_mask(maps: np.ndarray, labels: Sequence[int], rule: MaskRule) -> np.ndarray:
    """The label image of maps ``(n, H, W)`` in [0, 1] whose classes have palette indices
    ``labels`` (class + 1; a 0 leaves that map out): per pixel the highest map's label if it
    reaches ``rule.foreground``, :data:`BACKGROUND` below ``rule.background``, else
    :data:`UNSURE`. uint8 ``(H, W)``.

    Example:
        >>> label_mask(np.array([[[0.9, 0.2, 0.0]]]), [3], MaskRule(0.5, 0.1))
        array([[  3, 255,   0]], dtype=uint8)
    """
    peak, candidate = peak_labels(maps, labels)
    out = np.where(peak >= rule.foreground, candidate, UNSURE).astype(np.uint8)
    out[peak < rule.background] = BACKGROUND
    return out


def peak_labels(maps: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of maps ``(n, H, W)``, the highest value of the maps kept (``labels`` above 0)
    and that map's label (the first on ties): ``(H, W)`` float32 and uint8, zeros when no map
    is kept."""
    maps = np.asarray(maps, np.float32)
    kept = np.asarray(labels, np.int64) > 0
    if not kept.any():
        return np.zeros(maps.shape[1:], np.float32), np.zeros(maps.shape[1:], np.uint8)
    maps, indices = maps[kept], np.asarray(labels, np.uint8)[kept]
    best = maps.argmax(axis=0)
    return np.take_along_axis(maps, best[None], axis=0)[0], indices[best]


def palette() -> list[int]:
    """256 RGB colours, flat: PASCAL VOC's (index bits spread over the colour bits), so that
    neighbouring classes look different, background black; :data:`UNSURE` white."""
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << shift
            value >>= 3
    colours[UNSURE] = 255
    return colours.ravel().tolist()


def encode_label_png(labels: np.ndarray) -> bytes:
    """A uint8 ``(H, W)`` label image as a palette PNG (Pillow mode ``"P"``)."""
    labels = np.ascontiguousarray(labels, np.uint8)
    image = Image.frombytes("P", labels.shape[::-1], labels.tobytes())  # indices as they are, no quantizing
    image.putpalette(palette())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Save a label image atomically as a palette PNG.

    Example:
        >>> write_label_png("cat_001.png", label_mask(maps, [4], MaskRule()))
    """
    write_bytes_atomic(path, encode_label_png(labels))
    return Path(path)


def read_label_image(path: str | os.PathLike, object_label: int | None = None) -> np.ndarray:
    """The labels of a ground-truth mask: a palette PNG's indices as they are, or, for any
    other image, ``object_label`` where it is bright (above 127) and background elsewhere.

    Raises:
        UsageError: not a palette image and no ``object_label`` to give its object, naming the file.
    """
    with Image.open(path) as image:
        if image.mode == "P":
            return np.asarray(image, np.uint8)
        if object_label is None:
            raise UsageError(
                f"{path}: a black-and-white mask does not say its class; save label masks as palette PNGs "
                "(each pixel its class index + 1, 0 background, 255 ignored), or take classes from folders"
            )
        return np.where(np.asarray(image.convert("L")) > 127, object_label, BACKGROUND).astype(np.uint8)


def legend(class_names: Sequence[str]) -> dict[str, str]:
    """``{index: name}`` of a label image's values: background, the classes, unsure.

    Raises:
        UsageError: more classes than a palette PNG has indices for.
    """
    if len(class_names) > MAX_CLASSES:
        raise UsageError(
            f"the model has {len(class_names)} classes; a palette PNG label mask holds at most {MAX_CLASSES}"
        )
    return {"0": "background", **{str(k + 1): name for k, name in enumerate(class_names)}, str(UNSURE): "unsure"}
