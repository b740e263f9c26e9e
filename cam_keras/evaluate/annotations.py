"""Ground truth for localization: ``boxes.csv`` and optional mask folders."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from cam_keras.data.images import load_image
from cam_keras.errors import DatasetError
from cam_keras.evaluate.boxes import Box

BOX_FIELDS = ("path", "xmin", "ymin", "xmax", "ymax")


def read_boxes(path: str | os.PathLike) -> dict[str, list[Box]]:
    """Read ``path,xmin,ymin,xmax,ymax`` rows (paths relative to the dataset root, pixel
    coordinates in the original image, several rows for several objects).

    Raises:
        DatasetError: naming the file and row of a missing column, a non-number, or an
            empty box.

    Example:
        >>> read_boxes("data/test/boxes.csv")["circle/circle_00000.png"]
        [(12, 20, 41, 47)]
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: boxes file not found (expected a CSV with header {','.join(BOX_FIELDS)})")
    boxes: dict[str, list[Box]] = defaultdict(list)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [field for field in BOX_FIELDS if field not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: header lacks {', '.join(missing)}; expected {','.join(BOX_FIELDS)}")
        for line, row in enumerate(reader, start=2):
            try:
                box = tuple(int(round(float(row[key]))) for key in BOX_FIELDS[1:])
            except (TypeError, ValueError):
                raise DatasetError(f"{path}:{line}: coordinates must be numbers, got {row}") from None
            if box[2] <= box[0] or box[3] <= box[1]:
                raise DatasetError(f"{path}:{line}: empty box {box} (need xmin < xmax and ymin < ymax)")
            boxes[Path(row["path"]).as_posix()].append(box)
    return dict(boxes)


def load_mask(masks_dir: str | os.PathLike, relative: str, size: tuple[int, int]) -> np.ndarray | None:
    """Boolean object mask for ``relative`` (same relative path under ``masks_dir``, any
    image format with the same stem), or ``None`` if there is none. ``size`` is the image's
    ``(height, width)``; a mask of another size is an error naming it.

    Example:
        >>> load_mask("data/masks/test", "circle/circle_00000.png", (64, 64)).shape
        (64, 64)
    """
    candidates = sorted(Path(masks_dir, relative).parent.glob(Path(relative).stem + ".*"))
    if not candidates:
        return None
    mask = load_image(candidates[0])[..., 0] > 127
    if mask.shape != tuple(size):
        raise DatasetError(f"{candidates[0]}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {size[1]}x{size[0]}")
    return mask
