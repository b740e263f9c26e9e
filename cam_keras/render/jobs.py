"""Render and encode pictures in worker processes, so a job's throughput grows with cores.

A :class:`RenderJob` carries one image's picture (already at output size), its raw maps
(feature resolution, a few KB) and captions; a worker upsamples the maps once to the picture,
blends, captions, encodes and writes atomically. Nothing in a job needs TensorFlow.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cam_keras.records import write_arrays
from cam_keras.render.pictures import Placement, Style, image_row
from cam_keras.render.workers import WorkerPool
from cam_keras.render.writers import write_picture

logger = logging.getLogger(__name__)


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
    """

    picture_path: Path
    picture: np.ndarray
    raw_maps: np.ndarray
    texts: tuple[str, ...]
    style: Style
    arrays_path: Path | None = None
    arrays: Mapping[str, np.ndarray] | None = None
    placement: Placement | None = None


def run_job(job: RenderJob) -> Path:
    """Render, encode and atomically write one job's files; returns the picture path."""
    write_picture(job.picture_path, image_row(job.picture, job.raw_maps, job.texts, job.style, job.placement))
    if job.arrays_path is not None:
        write_arrays(job.arrays_path, job.arrays or {})
    return job.picture_path


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def bounded_workers(workers: int | None, jobs: int) -> int:
    """Render processes for ``jobs`` pictures: ``workers`` (``None``: one per core), but no
    more than the cores, whose share each would only divide, nor than the pictures; at least
    one (``0`` stays ``0``: threads in this process). Says so when it lowers a number asked for."""
    cores = default_workers()
    if workers == 0:
        return 0
    if workers is not None and workers > cores:
        logger.warning("workers: %d asked for, %d used (one per core: more would share the cores)", workers, cores)
    return max(1, min(cores if workers is None else workers, cores, jobs))


def render_pool(workers: int) -> futures.Executor:
    """Up to ``workers`` render processes (:class:`~cam_keras.render.workers.WorkerPool`:
    fresh interpreters, started as pictures arrive, that share no memory with this one and end
    with it), or two threads in this process when ``workers`` is 0."""
    return futures.ThreadPoolExecutor(2) if workers == 0 else WorkerPool(workers)
