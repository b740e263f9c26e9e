"""Streaming heatmap job: decode images in threads, explain them in batches, write results
in threads. Memory stays flat however many images there are; every file is written
atomically and a report records how far the job got."""

from __future__ import annotations

import collections
import concurrent.futures as futures
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import keras
import numpy as np

from cam_keras.cam import BaseCAM, Explanation
from cam_keras.cam.targets import ClassSpec
from cam_keras.data.images import decode_image, find_images, resize_image
from cam_keras.errors import ImageError, UsageError
from cam_keras.render import IMAGE_FORMATS, write_csv, write_json
from cam_keras.render.jobs import RenderJob, default_workers, render_pool, run_job
from cam_keras.render.pictures import Style
from cam_keras.render.sizing import DEFAULT_MAX_SIDE, SizeRequest, check_max_side, output_size

logger = logging.getLogger(__name__)


@dataclass
class HeatmapOptions:
    """How :func:`write_heatmaps` renders and saves.

    Attributes:
        classes: class request as in :meth:`BaseCAM.__call__` (a single class or ``"all"``).
        top_k: number of predicted classes mapped when ``classes`` is ``None``.
        colormap, alpha, normalize, colorbar: overlay look (see :class:`cam_keras.render.pictures.Style`).
        size, max_side: overlay size (see :func:`cam_keras.render.sizing.output_size`): by
            default the original aspect with the longest side at most ``max_side``.
        image_format: overlay file format, ``"png"``, ``"jpg"`` or ``"webp"``.
        batch_size: images per forward pass.
        array_format: ``"npz"``, ``"mat"`` or ``None`` (no array files).
        report_top: predictions listed per image in ``predictions.csv``.
        workers: render processes (``None``: one per core; ``0``: threads in this process).
        prefetch_megapixels: how far decoding runs ahead of the batch being filled, in
            megapixels of overlay and model-input pictures (at least one image); with the
            output size it bounds memory whatever the photos' size.
    """

    classes: ClassSpec = None
    top_k: int = 1
    colormap: str = "jet"
    alpha: float = 0.5
    normalize: str = "per-map"
    colorbar: bool = False
    size: SizeRequest = None
    max_side: int = DEFAULT_MAX_SIDE
    image_format: str = "png"
    batch_size: int = 16
    array_format: str | None = "npz"
    report_top: int = 5
    workers: int | None = None
    prefetch_megapixels: float = 64.0

    def __post_init__(self) -> None:
        check_max_side(self.max_side)
        if self.image_format not in IMAGE_FORMATS:
            raise UsageError(f"--image-format {self.image_format!r}: expected one of {', '.join(IMAGE_FORMATS)}")
        if self.workers is not None and self.workers < 0:
            raise UsageError(f"--workers {self.workers}: expected 0 (render in this process) or more")
        self.style  # noqa: B018  (an unknown colormap or normalization fails here, before any image)

    @property
    def style(self) -> Style:
        return Style(self.colormap, self.alpha, self.normalize, self.colorbar)


@dataclass
class HeatmapReport:
    """What a heatmap job did: one row per written image, the skipped files, completeness."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    total: int = 0
    interrupted: bool = False
    error: str | None = None

    @property
    def succeeded(self) -> int:
        return len(self.rows)


def output_names(paths: Sequence[Path], roots: Sequence[Path]) -> dict[Path, Path]:
    """Relative output stems for input paths, mirroring folders under their input root.

    Stems never contain ``..`` or absolute parts, and two inputs never share a stem
    (``a/x.jpg``/``b/x.jpg`` keep their folders; ``x.jpg``/``x.png`` become ``x``/``x_png``).
    """
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for path, root in zip(paths, roots):
        relative = path.relative_to(root) if path != root and path.is_relative_to(root) else Path(path.name)
        stem = relative.with_suffix("")
        candidate = stem
        if str(candidate).lower() in taken:
            candidate = stem.with_name(f"{stem.name}_{path.suffix.lstrip('.').lower()}")
        counter = 2
        while str(candidate).lower() in taken:
            candidate = stem.with_name(f"{stem.name}_{counter}")
            counter += 1
        taken.add(str(candidate).lower())
        names[path] = candidate
    return names


def collect_inputs(inputs: Sequence[str | os.PathLike]) -> tuple[list[Path], dict[Path, Path]]:
    """Image paths under ``inputs`` and their output stems."""
    paths: list[Path] = []
    roots: list[Path] = []
    for item in map(Path, inputs):
        found = find_images([item])
        paths.extend(found)
        roots.extend([item] * len(found))
    return paths, output_names(paths, roots)


Decoded = tuple[Path, np.ndarray, np.ndarray, tuple[int, int]]  # path, picture, model input, original size


def _decode(path: Path, input_size: tuple[int, int], options: HeatmapOptions) -> Decoded:
    """Decode once at the larger of the model input and the overlay size (JPEG DCT scaling),
    then resize to each: ``(path, picture at output size, model input, original size)``."""

    def picture_size(original: tuple[int, int]) -> tuple[int, int]:
        return output_size(options.size, original, input_size, options.max_side)

    def needed(original: tuple[int, int]) -> tuple[int, int]:
        picture = picture_size(original)
        return max(picture[0], input_size[0]), max(picture[1], input_size[1])

    decoded = decode_image(path, at_least=needed)
    picture = resize_image(decoded.pixels, picture_size(decoded.original_size))
    return path, picture, resize_image(decoded.pixels, input_size), decoded.original_size


def _megapixels(path: Path, input_size: tuple[int, int], options: HeatmapOptions) -> float:
    """Megapixels of ``path``'s overlay picture, from its header (0 when unreadable: the decode
    reports why)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            size = output_size(options.size, (image.height, image.width), input_size, options.max_side)
    except Exception:  # noqa: BLE001  (the decode raises the ImageError that names the problem)
        return 0.0
    return (size[0] * size[1] + input_size[0] * input_size[1]) / 1e6


def _decoded_batches(
    paths: Sequence[Path], input_size: tuple[int, int], options: HeatmapOptions, pool: futures.Executor, report: HeatmapReport
) -> Iterator[list[Decoded]]:
    """Yield batches of decoded images, decoding ahead up to three batches or
    ``options.prefetch_megapixels`` of pictures, whichever is less (at least one image)."""
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
            pending.append((path, pool.submit(_decode, path, input_size, options), megapixels))

    refill()
    while pending:
        path, job, _ = pending.popleft()
        refill()
        try:
            batch.append(job.result())
        except ImageError as error:
            logger.warning("skipped %s", error)
            report.skipped.append({"path": str(path), "reason": error.reason})
            continue
        if len(batch) == options.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _render_job(explanation: Explanation, index: int, stem: Path, out_dir: Path, options: HeatmapOptions) -> RenderJob:
    """What a render worker needs to write image ``index``'s overlay and arrays."""
    texts = tuple(explanation.label_text(index, m) for m in range(explanation.class_indices.shape[1]))
    arrays_path = out_dir / f"{stem}.{options.array_format}" if options.array_format else None
    return RenderJob(
        picture_path=out_dir / f"{stem}.{options.image_format}",
        picture=explanation.images[index],
        raw_maps=explanation.raw_maps[index],
        texts=texts,
        style=options.style,
        arrays_path=arrays_path,
        arrays=explanation.arrays(index) if arrays_path else None,
    )


def write_heatmaps(
    explainer: BaseCAM,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: HeatmapOptions | None = None,
    *,
    progress: bool = True,
) -> HeatmapReport:
    """Explain every image under ``inputs`` and write, in ``out_dir``:

    - ``<name>.png``: captioned overlay(s) at the requested size;
    - ``<name>.npz`` (or ``.mat``): raw maps, classes, logits, probabilities, image size;
    - ``predictions.csv``: path, output, top predictions; ``report.json``: counts and skips.

    Unreadable files are skipped with a warning and listed in the report. On
    ``KeyboardInterrupt`` or an ``OSError`` while writing (disk full, permissions) the files
    already written stay valid (every write is atomic), the report records how far the job
    got (``interrupted`` / ``error``), and the exception is re-raised.

    Example:
        >>> report = write_heatmaps(CAM(model), ["photos/"], "maps/", HeatmapOptions(top_k=3))
        >>> report.succeeded, report.skipped
    """
    options = options or HeatmapOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, stems = collect_inputs(inputs)
    report = HeatmapReport(total=len(paths))
    bar = keras.utils.Progbar(len(paths), unit_name="image") if progress and paths else None
    in_flight: collections.deque = collections.deque()  # (write jobs, rows) of earlier batches

    def finish(keep: int) -> None:
        """Wait for the writes of all but the ``keep`` newest batches; record their rows."""
        while len(in_flight) > keep:
            jobs, rows = in_flight[0]
            for job in jobs:
                job.result()  # a failure leaves the batch in flight for _settle
            in_flight.popleft()
            report.rows.extend(rows)
            if bar:
                bar.update(report.succeeded + len(report.skipped))

    workers = default_workers() if options.workers is None else options.workers
    with futures.ThreadPoolExecutor(2) as decoders, render_pool(workers) as writers:
        try:
            for batch in _decoded_batches(paths, explainer.input_size, options, decoders, report):
                arrays = explainer.explain_batch(
                    np.stack([item[2] for item in batch]).astype(np.float32),
                    options.classes,
                    top_k=options.top_k,
                    upsample=False,  # the render workers upsample once, to each overlay's size
                )
                explanation = Explanation(
                    images=[item[1] for item in batch],
                    class_names=explainer.class_names,
                    method=explainer.method,
                    image_sizes=[item[3] for item in batch],
                    **arrays,
                )
                jobs = [
                    writers.submit(run_job, _render_job(explanation, i, stems[item[0]], out_dir, options))
                    for i, item in enumerate(batch)
                ]
                in_flight.append((jobs, _prediction_rows(explanation, batch, stems, options)))
                finish(keep=1)  # the next batch's inference overlaps these writes
            finish(keep=0)
            if bar:
                bar.update(len(paths), finalize=True)
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        except OSError as error:
            report.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            _settle(in_flight, report)
            _write_report(out_dir, report, min(options.report_top, len(explainer.class_names)))
    return report


def _settle(in_flight: collections.deque, report: HeatmapReport) -> None:
    """After a failure: wait for the writes still running, then record the images whose
    files were written; the others are left out of the report."""
    for jobs, rows in in_flight:
        futures.wait(jobs)
        report.rows.extend(row for job, row in zip(jobs, rows) if job.exception() is None)
    in_flight.clear()


def _prediction_rows(explanation: Explanation, batch, stems: dict[Path, Path], options: HeatmapOptions) -> list[dict]:
    rows = []
    for i, (path, *_) in enumerate(batch):
        row = {"path": str(path), "output": f"{stems[path]}.{options.image_format}", "explained": ";".join(explanation.labels(i))}
        for rank, (name, probability) in enumerate(explanation.top_predictions(i, options.report_top), start=1):
            row[f"top{rank}"] = name
            row[f"top{rank}_prob"] = round(probability, 6)
        rows.append(row)
    return rows


def _write_report(out_dir: Path, report: HeatmapReport, ranks: int) -> None:
    fields = ["path", "output", "explained"]
    for rank in range(1, ranks + 1):
        fields += [f"top{rank}", f"top{rank}_prob"]
    write_csv(out_dir / "predictions.csv", report.rows, fields)
    write_json(
        out_dir / "report.json",
        {
            "total": report.total,
            "succeeded": report.succeeded,
            "skipped": report.skipped,
            "interrupted": report.interrupted,
            "error": report.error,
        },
    )
