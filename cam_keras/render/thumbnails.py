"""Gallery thumbnails: one small JPEG per image, the first map over the picture, drawn by the
render worker that writes the image's overlay (so a job over 100,000 images needs no second
pass to make its gallery)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from cam_keras.atomic import write_bytes_atomic
from cam_keras.render.overlay import overlay
from cam_keras.render.pictures import Placement, Style, scale_maps_to
from cam_keras.render.writers import pillow_encode

THUMBNAIL_SIDE = 160  # px, the longest side of a thumbnail (the gallery's tiles are this size)
THUMBNAIL_QUALITY = 80  # JPEG quality: about 4 KB a thumbnail
THUMBNAIL_FOLDER = ".thumbnails"  # under the output folder; hidden, so no input folder can share its name


def thumbnail_name(stem: str | os.PathLike) -> str:
    """Where the thumbnail of the image with output ``stem`` goes, relative to the output folder.

    Example:
        >>> thumbnail_name("cats/tom")
        '.thumbnails/cats/tom.jpg'
    """
    return f"{THUMBNAIL_FOLDER}/{os.fspath(stem)}.jpg"


def thumbnail_stem(name: str) -> str:
    """The output stem a :func:`thumbnail_name` was made from.

    Example:
        >>> thumbnail_stem(".thumbnails/cats/tom.jpg")
        'cats/tom'
    """
    return PurePosixPath(name).relative_to(THUMBNAIL_FOLDER).with_suffix("").as_posix()


def thumbnail(
    picture: np.ndarray, raw_maps: np.ndarray, style: Style, placement: Placement | None = None
) -> np.ndarray:
    """The first of ``raw_maps`` over ``picture``, both shrunk to :data:`THUMBNAIL_SIDE` on the
    longest side (never enlarged), without caption: uint8 ``(h, w, 3)``. The maps are scaled
    together as ``style.normalize`` says, as in the full overlay."""
    height, width = picture.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = np.asarray(Image.fromarray(picture).resize(size[::-1], Image.Resampling.BOX))
    if placement is not None:
        (top, bottom, left, right), box = placement
        along_y, along_x = size[0] / height, size[1] / width
        region = (round(top * along_y), round(bottom * along_y), round(left * along_x), round(right * along_x))
        placement = (region, box)
    heat = scale_maps_to(raw_maps, size, style.normalize, placement)[0]
    return overlay(small, heat, style.table, style.alpha, placement[0] if placement else None)


def write_thumbnail(path: str | os.PathLike, picture: np.ndarray) -> None:
    """Save a thumbnail as JPEG at :data:`THUMBNAIL_QUALITY`, atomically."""
    write_bytes_atomic(path, pillow_encode(picture, name="JPEG", quality=THUMBNAIL_QUALITY))
