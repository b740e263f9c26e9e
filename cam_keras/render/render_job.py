"""One image's render job: what a worker process needs to draw and write its files (the pool
that runs such jobs, so a job's throughput grows with cores, is :mod:`cam_keras.jobs.pool`).

A :class:`RenderJob` carries one image's picture (already at output size), its raw maps
(feature resolution, a few KB) and captions; a worker upsamples the maps once to the picture,
blends, captions, encodes and writes atomically. A :class:`MaskJob` carries the maps and the
mask's size; a worker upsamples them and writes the label mask. Nothing in a job needs TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cam_keras.records import write_arrays
from cam_keras.render.masks import MaskRule, label_mask, write_label_png
from cam_keras.render.pictures import Placement, Style, image_row, scale_maps_to
from cam_keras.render.thumbnails import thumbnail, write_thumbnail
from cam_keras.render.writers import write_picture


@dataclass(frozen=True)
class RenderJob:
    """Everything needed to write one image's overlay (and arrays) without the model.

    Attributes:
        picture_path: where the captioned overlays go (suffix picks PNG/JPEG/WebP).
        picture: the image at output size, uint8 ``(H, W, 3)``.
        raw_maps: the image's maps at feature resolution, float32 ``(n, h, w)``.
        texts: one caption per map.
        style: colormap, opacity, normalization, colour bar.
        arrays_path, arrays: the ``.npz``/``.mat`` file and its contents, or ``None``.
        placement: where the maps lie on the picture (see
            :func:`~cam_keras.render.pictures.scale_maps_to`); ``None`` for all of it.
        thumbnail_path: where the gallery thumbnail goes (see
            :mod:`~cam_keras.render.thumbnails`), or ``None``.
    """

    picture_path: Path
    picture: np.ndarray
    raw_maps: np.ndarray
    texts: tuple[str, ...]
    style: Style
    arrays_path: Path | None = None
    arrays: Mapping[str, np.ndarray] | None = None
    placement: Placement | None = None
    thumbnail_path: Path | None = None


@dataclass(frozen=True)
class MaskJob:
    """Everything needed to write one image's label mask (and arrays) without the model.

    Attributes:
        picture_path: where the palette PNG goes.
        size: the mask's ``(height, width)``.
        raw_maps: the image's maps at feature resolution, float32 ``(n, h, w)``.
        labels: each map's palette index (its class + 1; 0 leaves the map out).
        rule: the thresholds (:class:`~cam_keras.render.masks.MaskRule`).
        normalize: ``"per-map"`` or ``"shared"``, as the overlays scale maps to [0, 1].
        arrays_path, arrays, placement: as in :class:`RenderJob`.
    """

    picture_path: Path
    size: tuple[int, int]
    raw_maps: np.ndarray
    labels: tuple[int, ...]
    rule: MaskRule
    normalize: str = "per-map"
    arrays_path: Path | None = None
    arrays: Mapping[str, np.ndarray] | None = None
    placement: Placement | None = None


def run_job(job: RenderJob | MaskJob) -> Path:
    """Render, encode and atomically write one job's files; returns the picture path."""
    if isinstance(job, MaskJob):
        maps = scale_maps_to(job.raw_maps, job.size, job.normalize, job.placement)
        write_label_png(job.picture_path, label_mask(maps, job.labels, job.rule))
    else:
        write_picture(job.picture_path, image_row(job.picture, job.raw_maps, job.texts, job.style, job.placement))
        if job.thumbnail_path is not None:
            write_thumbnail(job.thumbnail_path, thumbnail(job.picture, job.raw_maps, job.style, job.placement))
    if job.arrays_path is not None:
        write_arrays(job.arrays_path, job.arrays or {})
    return job.picture_path
