"""Images decoded ahead of the model in threads, each once, for the model (under its resize
policy) and for the overlay, and handed out in batches; decoding runs ahead within a memory budget,
and an unreadable file is skipped, with its reason."""

from __future__ import annotations

import collections
import concurrent.futures as futures
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from cam_keras.cam.inputs import DecodedFile, decode_for_explaining
from cam_keras.data.images import open_image_file
from cam_keras.errors import ImageError
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.render.sizing import bounded_output_size

logger = logging.getLogger(__name__)

Decoded = tuple[Path, DecodedFile]


def _decode(path: Path, input_size: tuple[int, int], options: HeatmapOptions, policy: str = "squash") -> Decoded:
    """``path`` decoded for the model (fitted under the resize ``policy``, as in training) and
    for the overlay (refused, as an unreadable image is, if that overlay would be too large to
    draw)."""

    def picture_size(original: tuple[int, int]) -> tuple[int, int]:
        return bounded_output_size(options.size, original, input_size, options.max_side, path)

    return path, decode_for_explaining(path, input_size, picture_size, policy)


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
    """Yield batches of decoded images (fitted to the model under the resize ``policy``),
    decoding ahead up to three batches or ``options.prefetch_megapixels`` of pictures,
    whichever is less (at least one image); an unreadable image is added to ``skipped`` with
    its reason."""
    pending: collections.deque = collections.deque()  # (path, job, megapixels)
    queue = iter(paths)
    batch: list = []

    def refill() -> None:
        while len(pending) < 3 * options.batch_size:
            if pending and sum(item[2] for item in pending) >= options.prefetch_megapixels:
                return
            path = next(queue, None)
            if path is None:
                return
            megapixels = _megapixels(path, input_size, options)
            pending.append((path, pool.submit(_decode, path, input_size, options, policy), megapixels))

    refill()
    while pending:
        path, job, _ = pending.popleft()
        refill()
        try:
            batch.append(job.result())
        except ImageError as error:
            logger.warning("skipped %s", error)
            skipped.append({"path": str(path), "reason": error.reason})
            continue
        if len(batch) == options.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
