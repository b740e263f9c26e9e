"""The heatmap job's decoding: each image decoded once, for the model (under its resize
policy) and for the overlay, by the one decode -> batch iterator
(:func:`cam_keras.data.batches.prefetched_batches`) within the job's megapixel budget; an
unreadable file is skipped, with its reason."""

from __future__ import annotations

import concurrent.futures as futures
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from cam_keras.data.batches import prefetched_batches
from cam_keras.data.images import FittedImage, decode_fitted, open_image_file
from cam_keras.errors import ImageError
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.render.sizing import bounded_output_size

logger = logging.getLogger(__name__)

Decoded = tuple[Path, FittedImage]


def _decode(path: Path, input_size: tuple[int, int], options: HeatmapOptions, policy: str = "squash") -> FittedImage:
    """``path`` decoded for the model (fitted under the resize ``policy``, as in training) and
    for the overlay (refused, as an unreadable image is, if that overlay would be too large to
    draw)."""

    def picture_size(original: tuple[int, int]) -> tuple[int, int]:
        return bounded_output_size(options.size, original, input_size, options.max_side, path)

    return decode_fitted(path, input_size, policy, picture_size)


def _megapixels(path: Path, input_size: tuple[int, int], options: HeatmapOptions) -> float:
    """Megapixels of ``path``'s overlay picture, from its header (0 when unreadable or too
    large: the decode reports why)."""
    from PIL import Image

    try:
        with open_image_file(path) as file, Image.open(file) as image:
            size = bounded_output_size(options.size, (image.height, image.width), input_size, options.max_side, path)
    except Exception:  # noqa: BLE001  (the decode raises the ImageError that names the problem)
        return 0.0
    return (size[0] * size[1] + input_size[0] * input_size[1]) / 1e6


def decoded_batches(
    paths: Sequence[Path],
    input_size: tuple[int, int],
    options: HeatmapOptions,
    pool: futures.Executor,
    skipped: list[dict],
    policy: str = "squash",
) -> Iterator[list[Decoded]]:
    """Yield batches of ``(path, decoded image)`` (fitted to the model under the resize
    ``policy``), decoding ahead in ``pool`` up to three batches or
    ``options.prefetch_megapixels`` of pictures, whichever is less (at least one image); an
    unreadable image is added to ``skipped`` with its reason."""

    def skip(path: Path, error: ImageError) -> None:
        logger.warning("skipped %s", error)
        skipped.append({"path": str(path), "reason": error.reason})

    return prefetched_batches(
        paths,
        lambda path: _decode(path, input_size, options, policy),
        options.batch_size,
        pool=pool,
        megapixels=lambda path: _megapixels(path, input_size, options),
        budget=options.prefetch_megapixels,
        skip=skip,
    )
