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
from cam_keras.data.images import find_images, load_image, resize_image
from cam_keras.errors import ImageError
from cam_keras.render import write_arrays, write_csv, write_json, write_png

logger = logging.getLogger(__name__)


@dataclass
class HeatmapOptions:
    """How :func:`write_heatmaps` renders and saves.

    Attributes:
        classes: class request as in :meth:`BaseCAM.__call__` (a single class or ``"all"``).
        top_k: number of predicted classes mapped when ``classes`` is ``None``.
        colormap, alpha: overlay look.
        size: ``"original"``, ``"input"`` or ``(height, width)`` for PNG overlays and ``maps``.
        batch_size: images per forward pass.
        array_format: ``"npz"``, ``"mat"`` or ``None`` (no array files).
        report_top: predictions listed per image in ``predictions.csv``.
    """

    classes: ClassSpec = None
    top_k: int = 1
    colormap: str = "jet"
    alpha: float = 0.5
    size: str | tuple[int, int] = "original"
    batch_size: int = 16
    array_format: str | None = "npz"
    report_top: int = 5


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


def _decode(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    original = load_image(path)
    return original, resize_image(original, size)


def _decoded_batches(
    paths: Sequence[Path], size: tuple[int, int], batch_size: int, pool: futures.Executor, report: HeatmapReport
) -> Iterator[list[tuple[Path, np.ndarray, np.ndarray]]]:
    """Yield batches of ``(path, original, resized)``, decoding up to three batches ahead."""
    pending: collections.deque = collections.deque()
    queue = iter(paths)
    batch: list = []

    def refill() -> None:
        while len(pending) < 3 * batch_size:
            path = next(queue, None)
            if path is None:
                return
            pending.append((path, pool.submit(_decode, path, size)))

    refill()
    while pending:
        path, job = pending.popleft()
        refill()
        try:
            original, resized = job.result()
        except ImageError as error:
            logger.warning("skipped %s", error)
            report.skipped.append({"path": str(path), "reason": error.reason})
            continue
        batch.append((path, original, resized))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _output_size(options: HeatmapOptions, input_size: tuple[int, int]) -> tuple[int, int] | None:
    if options.size == "original":
        return None
    return input_size if options.size == "input" else tuple(options.size)


def _shared_size(size: tuple[int, int] | None, originals: list[np.ndarray]) -> tuple[int, int] | None:
    """The one size every map of the batch is written at, if there is one: then the maps are
    upsampled for the whole batch inside the traced function instead of image by image."""
    if size is not None:
        return size
    shapes = {image.shape[:2] for image in originals}
    return shapes.pop() if len(shapes) == 1 else None


def _write_one(explanation: Explanation, index: int, stem: Path, out_dir: Path, options: HeatmapOptions, size) -> None:
    picture = explanation.captioned_overlays(index, options.colormap, options.alpha, size)
    write_png(out_dir / f"{stem}.png", picture)
    if options.array_format:
        write_arrays(out_dir / f"{stem}.{options.array_format}", explanation.arrays(index))


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

    with futures.ThreadPoolExecutor(2) as decoders, futures.ThreadPoolExecutor(2) as writers:
        try:
            size = _output_size(options, explainer.input_size)
            for batch in _decoded_batches(paths, explainer.input_size, options.batch_size, decoders, report):
                shared = _shared_size(size, [item[1] for item in batch])
                arrays = explainer.explain_batch(
                    np.stack([item[2] for item in batch]).astype(np.float32),
                    options.classes,
                    top_k=options.top_k,
                    upsample=shared or True,
                )
                explanation = Explanation(
                    images=[item[1] for item in batch],
                    class_names=explainer.class_names,
                    method=explainer.method,
                    **arrays,
                )
                jobs = [
                    writers.submit(_write_one, explanation, i, stems[path], out_dir, options, size)
                    for i, (path, _, _) in enumerate(batch)
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
    for i, (path, _, _) in enumerate(batch):
        row = {"path": str(path), "output": f"{stems[path]}.png", "explained": ";".join(explanation.labels(i))}
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
