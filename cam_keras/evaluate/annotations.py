"""Ground truth for localization: ``boxes.csv`` and optional mask folders."""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cam_keras.data.images import load_image
from cam_keras.errors import DatasetError
from cam_keras.evaluate.boxes import Box
from cam_keras.render.masks import BACKGROUND, UNSURE

BOX_FIELDS = ("path", "xmin", "ymin", "xmax", "ymax")


def read_boxes(path: str | os.PathLike) -> dict[str, list[Box]]:
    """Read ``path,xmin,ymin,xmax,ymax`` rows (paths relative to the dataset root, pixel
    coordinates in the original image, several rows for several objects). A UTF-8 byte-order
    mark (as spreadsheet programs write) is accepted.

    Raises:
        DatasetError: naming the file and row of a missing column, a non-number, a number
            that is not finite, coordinates that look like fractions of the size, or an empty box.

    Example:
        >>> read_boxes("data/test/boxes.csv")["circle/circle_00000.png"]
        [(12, 20, 41, 47)]
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: boxes file not found (expected a CSV with header {','.join(BOX_FIELDS)})")
    boxes: dict[str, list[Box]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [field for field in BOX_FIELDS if field not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: header lacks {', '.join(missing)}; expected {','.join(BOX_FIELDS)}")
        for line, row in enumerate(reader, start=2):
            boxes[Path(row["path"]).as_posix()].append(_parse_box(row, f"{path}:{line}"))
    return dict(boxes)


def _parse_box(row: dict, where: str) -> Box:
    try:
        values = [float(row[key]) for key in BOX_FIELDS[1:]]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: coordinates must be numbers, got {row}") from None
    if not all(math.isfinite(value) and abs(value) < 2**31 for value in values):
        raise DatasetError(f"{where}: coordinates must be finite pixel positions, got {values}")
    if all(0 <= value <= 1 for value in values) and not all(value.is_integer() for value in values):
        raise DatasetError(
            f"{where}: coordinates {values} look like fractions of the image size; boxes are in pixels of the "
            "original image (xmin, ymin, xmax, ymax): multiply x by the width and y by the height"
        )
    box = tuple(int(round(value)) for value in values)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise DatasetError(f"{where}: empty box {box} (need xmin < xmax and ymin < ymax)")
    return box


def clip_boxes(boxes: Sequence[Box], size: tuple[int, int], where: str) -> tuple[list[Box], bool]:
    """Boxes cut to an image of ``size = (height, width)``, and whether any had to be cut.

    Raises:
        DatasetError: a box lies entirely outside the image (``where`` names its row).

    Example:
        >>> clip_boxes([(-4, 2, 10, 40)], (32, 32), "boxes.csv, a.png")
        ([(0, 2, 10, 32)], True)
    """
    height, width = size
    clipped = []
    for box in boxes:
        inside = (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))
        if inside[2] <= inside[0] or inside[3] <= inside[1]:
            raise DatasetError(
                f"{where}: box {tuple(box)} lies outside the {width}x{height} image; "
                "coordinates must be pixels of the original image (xmin, ymin, xmax, ymax)"
            )
        clipped.append(inside)
    return clipped, clipped != [tuple(box) for box in boxes]


def mask_file(masks_dir: str | os.PathLike, relative: str) -> Path | None:
    """The mask of ``relative``: the same relative path under ``masks_dir``, any image
    format with the same stem; ``None`` if there is none."""
    candidates = sorted(Path(masks_dir, relative).parent.glob(Path(relative).stem + ".*"))
    return candidates[0] if candidates else None


def _label_object(path: Path) -> np.ndarray | None:
    """A label mask's object (any class, not background or unsure: :mod:`cam_keras.render.masks`),
    ``None`` when ``path`` is not a palette PNG, whose colours would mislead a brightness test."""
    if path.suffix.lower() != ".png":
        return None
    with Image.open(path) as image:
        if image.mode != "P":
            return None
        labels = np.asarray(image)
    return (labels != BACKGROUND) & (labels != UNSURE)


def load_mask(masks_dir: str | os.PathLike, relative: str, size: tuple[int, int]) -> np.ndarray | None:
    """Boolean object mask for ``relative`` (see :func:`mask_file`), or ``None`` if there is
    none. ``size`` is the image's ``(height, width)``; a mask of another size is an error naming it.

    Example:
        >>> load_mask("data/masks/test", "circle/circle_00000.png", (64, 64)).shape
        (64, 64)
    """
    found = mask_file(masks_dir, relative)
    if found is None:
        return None
    mask = _label_object(found)
    if mask is None:
        mask = load_image(found)[..., 0] > 127
    if mask.shape != tuple(size):
        raise DatasetError(f"{found}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {size[1]}x{size[0]}")
    return mask
