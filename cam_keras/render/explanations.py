"""Drawing, saving and showing an :class:`~cam_keras.cam.explanation.Explanation`: plain
functions of the result, which only holds arrays (its ``overlay``, ``panel``, ``grid``,
``show``, ``save`` and notebook display methods call these)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cam_keras.outdir import OutputFolder
from cam_keras.records import write_arrays
from cam_keras.render.display import show_picture
from cam_keras.render.overlay import overlay, side_by_side
from cam_keras.render.pictures import Style, hstack, image_row, vstack
from cam_keras.render.png import encode_png
from cam_keras.render.sizing import (
    DEFAULT_MAX_SIDE,
    SizeRequest,
    bounded_output_size,
    check_max_side,
    check_size,
    output_size,
)
from cam_keras.render.writers import write_picture

if TYPE_CHECKING:
    from cam_keras.cam.explanation import Explanation

Size = tuple[int, int]
GRID_TILE = 384  # longest side of each map in a grid and the notebook display: captions readable


def overlay_picture(
    explanation: Explanation,
    index: int,
    map_index: int = 0,
    colormap: str = "jet",
    alpha: float = 0.5,
    size: Size | None = None,
) -> np.ndarray:
    """Map ``map_index`` of image ``index`` over the image, uint8 ``(h, w, 3)``.

    Example:
        >>> write_png("cat.png", overlay_picture(explanation, 0))
    """
    heat = explanation.maps_at(index, size)[map_index]
    return overlay(explanation.image_at(index, size), heat, colormap, alpha, explanation.region(index, size))


def panel_picture(
    explanation: Explanation,
    index: int,
    map_index: int = 0,
    colormap: str = "jet",
    alpha: float = 0.5,
    size: Size | None = None,
) -> np.ndarray:
    """``original | heatmap | overlay`` of map ``map_index`` of image ``index``, uint8."""
    heat = explanation.maps_at(index, size)[map_index]
    return side_by_side(explanation.image_at(index, size), heat, colormap, alpha, explanation.region(index, size))


def captioned_overlays(
    explanation: Explanation, index: int, style: Style | None = None, size: Size | None = None, note: str = ""
) -> np.ndarray:
    """Every map of image ``index`` as a captioned overlay, side by side, ``note`` (the true
    class, say) ending each caption; uint8."""
    texts = [explanation.label_text(index, m) for m in range(explanation.class_indices.shape[1])]
    texts = [f"{text}  {note}" for text in texts] if note else texts
    picture = explanation.image_at(index, size)
    return image_row(picture, explanation.raw_maps[index], texts, style or Style(), explanation.placement(index, size))


def explanation_grid(
    explanation: Explanation,
    style: Style | None = None,
    *,
    columns: int = 1,
    tile_size: int = GRID_TILE,
    notes: Sequence[str] = (),
) -> np.ndarray:
    """One row per image with its maps (``columns`` images side by side), each map drawn
    with its longest side ``tile_size`` so captions stay readable, ``notes[i]`` (if given)
    ending image ``i``'s captions; uint8."""
    notes = list(notes) or [""] * len(explanation)
    rows = [
        captioned_overlays(
            explanation, i, style, output_size(tile_size, explanation.images[i].shape[:2], (0, 0)), notes[i]
        )
        for i in range(len(explanation))
    ]
    gap = max(4, tile_size // 32)
    return vstack([hstack(rows[i : i + columns], gap) for i in range(0, len(rows), columns)], gap)


def show_explanation(
    explanation: Explanation, style: Style | None = None, *, columns: int = 1, tile_size: int = GRID_TILE
) -> Path | None:
    """Display :func:`explanation_grid` once (see :func:`~cam_keras.render.display.show_picture`)."""
    return show_picture(explanation_grid(explanation, style, columns=columns, tile_size=tile_size))


def grid_png(explanation: Explanation) -> bytes:
    """:func:`explanation_grid` encoded as PNG: how a notebook shows an explanation left as a cell's value."""
    return encode_png(explanation_grid(explanation))


def save_explanation(
    explanation: Explanation,
    directory: str | os.PathLike,
    stem: str = "image",
    style: Style | None = None,
    *,
    image_format: str = "png",
    size: SizeRequest = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[Path]:
    """Write ``{stem}_{i}.{image_format}`` captioned overlays (sized by ``size`` and
    ``max_side`` as in :func:`cam_keras.render.sizing.output_size`) and ``{stem}_{i}.npz``
    (:meth:`~cam_keras.cam.explanation.Explanation.arrays`).

    ``directory`` is an output folder like a heatmap job's ``out``
    (:class:`~cam_keras.outdir.OutputFolder`): locked while saving, and only files an
    earlier save or job wrote there are replaced.

    Raises:
        UsageError: ``size`` or ``max_side`` asks for sides above
            :data:`~cam_keras.render.sizing.MAX_SIDE`.
        ImageError: a picture would exceed :data:`~cam_keras.render.sizing.MAX_PIXELS`
            pixels, named; nothing is written.
        OutputFolderError: a file of one of these names is there and cam-keras did not
            write it (your input image, say), named; nothing is written.
    """
    check_size(size, "size")
    check_max_side(max_side, "max_side")
    names = [(f"{stem}_{i}.{image_format}", f"{stem}_{i}.npz") for i in range(len(explanation))]
    sizes = [
        bounded_output_size(size, explanation.images[i].shape[:2], explanation.maps.shape[2:], max_side, name, "size")
        for i, (name, _) in enumerate(names)
    ]
    written = []
    with OutputFolder(directory, overwrite=True, option_name="directory") as out:
        out.check_free(name for pair in names for name in pair)
        for i, ((picture_name, arrays_name), picture_size) in enumerate(zip(names, sizes)):
            picture = captioned_overlays(explanation, i, style, picture_size)
            written.append(write_picture(out.claim(picture_name), picture))
            written.append(write_arrays(out.claim(arrays_name), explanation.arrays(i)))
    return written
