"""Streaming heatmap job: decode images in threads, explain them in batches, render and write
results in worker processes. Memory stays flat however many images there are; every file is written
atomically, and a killed job resumes where it stopped.

The job runs in named stages: :func:`collect_inputs` (folders, files, a list; duplicates
once; output names) -> :func:`plan_job` (this shard's slice; with ``resume``, the images
whose outputs are complete are left out) -> :func:`_decoded_batches` -> :func:`_explain`
-> :class:`_Writes` (render worker processes; a finished image's row is then appended to the
predictions table) -> :func:`_write_report`.
"""

from __future__ import annotations

import collections
import concurrent.futures as futures
import contextlib
import csv
import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import keras
import numpy as np

from cam_keras.atomic import atomic_path, naming_errors
from cam_keras.cam import BaseCAM, Explanation
from cam_keras.cam.inputs import DecodedFile, decode_for_explaining, note_assumed_resize
from cam_keras.cam.targets import ClassSpec, resolve_classes
from cam_keras.data.images import HIDDEN_REASON, find_images, open_image_file, scan_images
from cam_keras.errors import ImageError, OutputFolderError, UsageError
from cam_keras.identity import INPUTS, input_set, job_differences, model_identity
from cam_keras.outdir import OutputFolder
from cam_keras.records import CsvWriter, write_json
from cam_keras.render import IMAGE_FORMATS
from cam_keras.render.colormap import colormap_table
from cam_keras.render.jobs import RenderJob, bounded_workers, default_workers, render_pool, run_job
from cam_keras.render.pictures import Style
from cam_keras.render.sizing import DEFAULT_MAX_SIDE, SizeRequest, bounded_output_size, check_max_side, check_size
from cam_keras.safe_text import from_csv_cell
from cam_keras.shards import FS_NAMES, JOB, REPORT, TABLE, Shard, job_file

logger = logging.getLogger(__name__)

ARRAY_FORMATS = ("npz", "mat")
_PACE_OPTIONS = ("batch_size", "workers", "prefetch_megapixels")  # how fast, not what, a job writes
_NAME_MAX = 255  # bytes per file name on ext4, XFS, APFS and most others
_SUFFIX_ROOM = 8  # bytes kept free for an output suffix (".png", ".npz", ".jpeg")


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
        workers: render processes (``None``: one per core; ``0``: threads in this process);
            never more than the cores or the images, started as images arrive.
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

    @property
    def style(self) -> Style:
        return Style(self.colormap, self.alpha, self.normalize, self.colorbar)

    def validate(self) -> HeatmapOptions:
        """Check every value before any file is touched; return ``self``.

        Raises:
            UsageError: naming the option (and its command-line flag) and the valid range.
        """
        _check(_is_count(self.batch_size, 1), "batch_size (--batch-size) must be a positive integer", self.batch_size)
        _check(_is_count(self.top_k, 1), "top_k (--top-k) must be a positive integer", self.top_k)
        _check(_is_count(self.report_top, 0), "report_top (--print-top) must be 0 or more", self.report_top)
        alpha_ok = isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and 0 <= self.alpha <= 1
        _check(alpha_ok, "alpha (--alpha) is the heatmap's opacity, a number from 0 to 1", self.alpha)
        check_size(self.size, "size (--size)")
        check_max_side(self.max_side, "max_side (--max-side)")
        _check(
            self.image_format in IMAGE_FORMATS,
            f"image_format (--image-format) must be one of {', '.join(IMAGE_FORMATS)}",
            self.image_format,
        )
        _check(
            self.workers is None or _is_count(self.workers, 0),
            "workers (--workers) must be 0 (render in this process) or more",
            self.workers,
        )
        formats_ok = self.array_format in (*ARRAY_FORMATS, None)
        _check(formats_ok, "array_format (--format) must be npz, mat or none", self.array_format)
        try:
            colormap_table(self.colormap)
        except ValueError as error:
            raise UsageError(f"--colormap: {error}") from None
        self.style  # noqa: B018  (Style checks --normalize)
        return self

    def check_classes(self, class_names: Sequence[str]) -> None:
        """Check the class request against the model's classes before any file is touched.

        Raises:
            UsageError: an unknown class name or an index out of range, with the classes known.
        """
        if not isinstance(self.classes, (int, np.integer, str)):
            return
        try:
            resolve_classes(self.classes, 1, class_names)
        except ValueError as error:
            raise UsageError(f"--class: {error}") from None


def _is_count(value: object, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


def _check(ok: bool, message: str, value: object) -> None:
    if not ok:
        raise UsageError(f"{message}, got {value!r}")


@dataclass
class HeatmapReport:
    """What a heatmap job did: images written now, images already done (``resume``), the
    skipped files (unreadable or missing), and whether the job finished."""

    finished: bool = False
    total: int = 0
    succeeded: int = 0
    already_done: int = 0
    skipped: list[dict] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None
    shard: str | None = None
    job: dict = field(default_factory=dict)
    table: Path | None = None
    report_file: Path | None = None


def output_files(stem: Path | str, options: HeatmapOptions) -> list[str]:
    """Files one image gets, relative to the output folder: the overlay, then the arrays."""
    names = [f"{stem}.{options.image_format}"]
    if options.array_format:
        names.append(f"{stem}.{options.array_format}")
    return names


def _fit_name(name: str) -> str:
    """``name`` if an output suffix still fits in 255 bytes, else its head plus a hash of the
    whole name (so two long names that share a head stay apart)."""
    encoded = name.encode("utf-8", "surrogateescape")
    room = _NAME_MAX - _SUFFIX_ROOM
    if len(encoded) <= room:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:10]
    return encoded[: room - 11].decode("utf-8", "ignore") + "~" + digest


def output_names(paths: Sequence[Path], roots: Sequence[Path]) -> dict[Path, Path]:
    """Relative output stems for input paths, mirroring folders under their input root.

    Stems never contain ``..`` or absolute parts, two inputs never share a stem
    (``a/x.jpg``/``b/x.jpg`` keep their folders; ``x.jpg``/``x.png`` become ``x``/``x_png``),
    and a stem plus its suffix fits in 255 bytes however long the input's name.
    """
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for path, root in zip(paths, roots):
        relative = path.relative_to(root) if path != root and path.is_relative_to(root) else Path(path.name)
        stem = relative.with_suffix("")
        candidate = stem.with_name(_fit_name(stem.name))
        if str(candidate).lower() in taken:
            candidate = stem.with_name(_fit_name(f"{stem.name}_{path.suffix.lstrip('.').lower()}"))
        counter = 2
        while str(candidate).lower() in taken:
            candidate = stem.with_name(_fit_name(f"{stem.name}_{counter}"))
            counter += 1
        taken.add(str(candidate).lower())
        names[path] = candidate
    return names


def read_list(list_file: str | os.PathLike) -> list[tuple[Path, Path]]:
    """``(path, root)`` for each image of ``list_file`` (``-``: standard input), one path a
    line: surrounding whitespace is trimmed, blank lines and lines starting with ``#`` are
    skipped, and a folder stands for the images under it (searched as a positional folder
    is). Relative paths resolve against the list's folder (the working folder for stdin),
    which is also the root their output names mirror; a folder outside it is its own root.
    Files are not checked here: a missing one is skipped later like an unreadable one."""
    if str(list_file) == "-":
        return _list_entries(sys.stdin, Path.cwd())
    list_file = Path(list_file)
    try:
        with open(list_file, encoding="utf-8", errors=FS_NAMES) as lines:
            return _list_entries(lines, list_file.resolve().parent)
    except FileNotFoundError:
        raise UsageError(f"--from-list {list_file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--from-list {list_file} is a folder; give a text file, one image path a line") from None


def _list_entries(lines: IO[str], folder: Path) -> list[tuple[Path, Path]]:
    entries = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(os.path.normpath(folder / text))
        root = folder if path.is_relative_to(folder) else path
        images = find_images([path]) if path.is_dir() else [path]
        entries.extend((image, root) for image in images)
    return entries


def collect_inputs(
    inputs: Sequence[str | os.PathLike], from_list: str | os.PathLike | None = None
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Stage 1: every image under ``inputs`` (files, folders searched recursively) and in
    ``from_list``, each once, as ``(path, output stem)`` sorted by the path relative to its
    input root: the same order on every machine, whatever the folders are mounted as; and
    the hidden image files the folders held (``.x.jpg``), left out."""
    entries: list[tuple[Path, Path]] = []
    hidden: list[Path] = []
    for item in map(Path, inputs):
        found = scan_images([item])
        entries.extend((path, item) for path in found.images)
        hidden.extend(found.hidden)
    if from_list is not None:
        entries.extend(read_list(from_list))
    unique: dict[str, tuple[Path, Path]] = {}
    for path, root in entries:
        unique.setdefault(os.path.abspath(path), (path, root))
    if len(unique) < len(entries):
        logger.warning("%d input(s) given more than once are explained once", len(entries) - len(unique))
    ordered = sorted(unique.values(), key=lambda entry: (_relative_key(*entry), str(entry[0])))
    stems = output_names([path for path, _ in ordered], [root for _, root in ordered])
    return [(path, stems[path]) for path, _ in ordered], hidden


def _relative_key(path: Path, root: Path) -> str:
    return (path.relative_to(root) if path != root and path.is_relative_to(root) else Path(path.name)).as_posix()


def plan_job(
    items: Sequence[tuple[Path, Path]], out: OutputFolder, options: HeatmapOptions, shard: Shard | None, resume: bool
) -> tuple[list[tuple[Path, Path]], set[str]]:
    """Stage 2: this shard's images and, with ``resume``, the outputs already done (a row in
    the predictions table and every file present; atomic writes make a present file a
    complete one). Returns ``(to do, outputs done)``.

    Raises:
        OutputFolderError: a row of an image done holds a probability that is not one,
            naming the table and its line.
    """
    mine = _shard_items(items, shard)
    table = job_file(TABLE, shard, ".csv")
    out.check_free(name for _, stem in mine for name in output_files(stem, options))
    if not resume:
        if shard and out.owns(table) and (out.root / table).exists() and not out.overwrite:
            raise OutputFolderError(
                f"shard {shard.index}/{shard.count} already ran in {out.root}; pass --resume to continue it "
                "or --overwrite to redo it"
            )
        return mine, set()
    files = {output_files(stem, options)[0]: output_files(stem, options) for _, stem in mine}
    done = set()
    for line, row in _complete_rows(out.root / table):
        output = _row_output(row)
        if output in files and all((out.root / name).is_file() for name in files[output]):
            _check_row(row, out.root / table, line)
            done.add(output)
    return [item for item in mine if output_files(item[1], options)[0] not in done], done


def _job_order(items: Sequence[tuple[Path, Path]], shard: Shard | None, options: HeatmapOptions) -> dict[str, int]:
    """The position of each output (its table key) in the job's order."""
    return {output_files(stem, options)[0]: index for index, (_, stem) in enumerate(_shard_items(items, shard))}


def _shard_items(items: Sequence[tuple[Path, Path]], shard: Shard | None) -> list[tuple[Path, Path]]:
    return shard.take(items) if shard else list(items)


def _check_row(row: dict, table: Path, line: int) -> None:
    """Refuse a kept row whose probabilities are not numbers from 0 to 1 (edited, or not
    cam-keras'): the job would fail on it at the end, after all its work."""
    if None in row:
        raise OutputFolderError(
            f"{table} line {line}: more cells than the table has columns; delete that line to redo its image, "
            "or pass --overwrite to start again"
        )
    for key, value in row.items():
        if not key.endswith("_prob"):
            continue
        try:
            ok = 0 <= float(value) <= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise OutputFolderError(
                f"{table} line {line}: {key} = {value!r} is not a probability from 0 to 1; delete that line to "
                "redo its image, or pass --overwrite to start again"
            )


def _complete_rows(table: Path) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` for the rows of a predictions table a killed job was appending to,
    streamed, without a last row the kill cut short (the file then does not end on a
    newline outside quotes)."""
    try:
        handle = open(table, encoding="utf-8", errors=FS_NAMES, newline="")
    except FileNotFoundError:
        return
    with handle:
        quotes, last = 0, ""
        for chunk in iter(lambda: handle.read(1 << 20), ""):
            quotes, last = quotes + chunk.count('"'), chunk[-1]
        whole = last == "\n" and quotes % 2 == 0
        handle.seek(0)
        previous, reader = None, csv.DictReader(handle)
        for row in reader:
            if previous is not None:
                yield previous
            previous = (reader.line_num, row)
        if previous is not None and whole:
            yield previous


def _put_in_order(table: Path, order: Mapping[str, int]) -> None:
    """Rewrite ``table`` with its rows in job ``order`` (position by output), if they are
    not: a resumed job appends the images it redoes after the rows it kept. The rows form
    runs in order (one per run of the job), merged as streams: memory holds a row per run."""
    starts = _run_starts(table, order)
    if len(starts) < 2:
        return
    with contextlib.ExitStack() as files, atomic_path(table) as temp:
        runs = []
        for start, stop in zip(starts, [*starts[1:], None]):
            reader = csv.reader(files.enter_context(open(table, encoding="utf-8", errors=FS_NAMES, newline="")))
            header = next(reader)
            runs.append(itertools.islice(reader, start, stop))
        column = header.index("output")
        sorted_table = files.enter_context(open(temp, "w", encoding="utf-8", errors=FS_NAMES, newline=""))
        writer = CsvWriter(sorted_table)
        writer.write_raw(header)
        for row in heapq.merge(*runs, key=lambda row: order.get(from_csv_cell(row[column]), len(order))):
            writer.write_raw(row)


def _run_starts(table: Path, order: Mapping[str, int]) -> list[int]:
    """The indexes of the rows of ``table`` that start a run in job ``order``."""
    starts, last = [], None
    with open(table, encoding="utf-8", errors=FS_NAMES, newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            position = order.get(_row_output(row), len(order))
            if last is None or position < last:
                starts.append(index)
            last = position
    return starts


def _row_output(row: Mapping[str, str]) -> str | None:
    """The output name a predictions-table row (read back) is for, formula guard undone."""
    output = row.get("output")
    return None if output is None else from_csv_cell(output)


def _table_fields(ranks: int) -> list[str]:
    fields = ["path", "output", "explained"]
    for rank in range(1, ranks + 1):
        fields += [f"top{rank}", f"top{rank}_prob"]
    return fields


class _PredictionsTable:
    """The predictions CSV, appended to as images finish, so it survives a kill: a row is
    appended only after its image's files are complete. A resumed job starts from the rows
    of the ``done`` outputs (copied, streamed, from the earlier table)."""

    def __init__(self, path: Path, fields: list[str], done: set[str]) -> None:
        if done:
            with open(path, encoding="utf-8", errors=FS_NAMES, newline="") as earlier:
                if next(csv.reader(earlier), None) != fields:
                    raise UsageError(
                        f"{path} has other columns than this job would write: resume with the --print-top "
                        "the job started with, or pass --overwrite to start again"
                    )
        with atomic_path(path) as temp, open(temp, "w", encoding="utf-8", errors=FS_NAMES, newline="") as new:
            writer = CsvWriter(new)
            writer.write_raw(fields)
            kept: set[str] = set()  # a row given twice is kept once
            for _, row in _complete_rows(path) if done else ():
                if _row_output(row) in done and _row_output(row) not in kept:
                    writer.write_raw([row.get(field, "") for field in fields])
                    kept.add(_row_output(row))
        self.path = path
        self._stream = open(path, "a", encoding="utf-8", errors=FS_NAMES, newline="")  # noqa: SIM115 - job-long
        self._writer, self._fields = CsvWriter(self._stream), fields

    def append(self, rows: Iterable[dict]) -> None:
        with naming_errors(self.path):
            for row in rows:
                self._writer.write_record(row, self._fields)
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()


Decoded = tuple[Path, DecodedFile]


def _decode(path: Path, input_size: tuple[int, int], options: HeatmapOptions, policy: str = "squash") -> Decoded:
    """Stage 3: ``path`` decoded for the model (fitted under the resize ``policy``, as in
    training) and for the overlay (refused, as an unreadable image is, if that overlay would
    be too large to draw)."""

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


def _decoded_batches(
    paths: Sequence[Path],
    input_size: tuple[int, int],
    options: HeatmapOptions,
    pool: futures.Executor,
    report: HeatmapReport,
    policy: str = "squash",
) -> Iterator[list[Decoded]]:
    """Yield batches of decoded images (fitted to the model under the resize ``policy``),
    decoding ahead up to three batches or ``options.prefetch_megapixels`` of pictures,
    whichever is less (at least one image)."""
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
            report.skipped.append({"path": str(path), "reason": error.reason})
            continue
        if len(batch) == options.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _explain(explainer: BaseCAM, batch: list[Decoded], options: HeatmapOptions) -> Explanation:
    """Stage 4: maps (at feature resolution: the render workers upsample once, to each
    overlay's size), classes and probabilities of one decoded batch."""
    note_assumed_resize(explainer.model, explainer.contract.inputs, [decoded.original_size for _, decoded in batch])
    arrays = explainer.explain_batch(
        np.stack([decoded.model_input for _, decoded in batch]).astype(np.float32),
        options.classes,
        top_k=options.top_k,
        upsample=False,
    )
    return Explanation(
        images=[decoded.picture for _, decoded in batch],
        class_names=explainer.class_names,
        method=explainer.method,
        image_sizes=[decoded.original_size for _, decoded in batch],
        windows=[decoded.window for _, decoded in batch],
        **arrays,
    )


def _render_job(explanation: Explanation, index: int, targets: list[Path], options: HeatmapOptions) -> RenderJob:
    """What a render worker needs to write image ``index``'s overlay at ``targets[0]`` and its
    arrays at ``targets[1]`` if any (the paths :func:`output_files` names, claimed in the
    output folder)."""
    texts = tuple(explanation.label_text(index, m) for m in range(explanation.class_indices.shape[1]))
    arrays_path = targets[1] if len(targets) > 1 else None
    return RenderJob(
        picture_path=targets[0],
        picture=explanation.images[index],
        raw_maps=explanation.raw_maps[index],
        texts=texts,
        style=options.style,
        arrays_path=arrays_path,
        arrays=explanation.arrays(index) if arrays_path else None,
        placement=explanation.placement(index),
    )


class _Writes:
    """Stage 5: each image's files rendered and written by a pool of worker processes
    (:mod:`cam_keras.render.jobs`) while the next batch is being explained; when all files of
    a batch are complete, its rows go to the predictions table."""

    def __init__(
        self, out: OutputFolder, options: HeatmapOptions, table: _PredictionsTable, report: HeatmapReport, bar
    ) -> None:
        self.out, self.options, self.table, self.report, self.bar = out, options, table, report, bar
        self.in_flight: collections.deque = collections.deque()  # (write jobs, rows) of batches

    def submit(self, pool: futures.Executor, explanation: Explanation, batch: list, stems: dict[Path, Path]) -> None:
        """Have ``pool`` write each image's files."""
        jobs = []
        for i, (path, *_) in enumerate(batch):
            targets = [self.out.claim(name) for name in output_files(stems[path], self.options)]
            jobs.append(pool.submit(run_job, _render_job(explanation, i, targets, self.options)))
        self.in_flight.append((jobs, _prediction_rows(explanation, batch, stems, self.options)))

    def finish(self, keep: int) -> None:
        """Wait for the writes of all but the ``keep`` newest batches; record their rows."""
        while len(self.in_flight) > keep:
            jobs, rows = self.in_flight[0]
            for job in jobs:
                job.result()  # a failure leaves the batch in flight for settle()
            self.in_flight.popleft()
            self._record(rows)

    def settle(self) -> None:
        """After a failure: wait for the writes still running, then record the images whose
        files were written; the others are left out of the table."""
        for jobs, rows in self.in_flight:
            futures.wait(jobs)
            self._record([row for job, row in zip(jobs, rows) if job.exception() is None])
        self.in_flight.clear()

    def _record(self, rows: list[dict]) -> None:
        self.table.append(rows)
        self.report.succeeded += len(rows)
        if self.bar:
            self.bar.update(self.report.succeeded + len(self.report.skipped))


def write_heatmaps(
    explainer: BaseCAM,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike | OutputFolder,
    options: HeatmapOptions | None = None,
    *,
    from_list: str | os.PathLike | None = None,
    shard: Shard | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    resize: str | None = None,
) -> HeatmapReport:
    """Explain every image under ``inputs`` (and listed in ``from_list``) and write, in ``out``:

    - ``<name>.png``: captioned overlay(s) at the requested size;
    - ``<name>.npz`` (or ``.mat``): raw maps, classes, logits, probabilities, image size;
    - ``predictions.csv``: path, output, top predictions; ``report.json``: counts and skips
      (``predictions-K-of-N.csv`` / ``report-K-of-N.json`` for ``shard`` K/N).

    ``out`` (a path, or an unopened folder from :func:`job_folder`) is opened as an
    :class:`~cam_keras.outdir.OutputFolder` for the job: locked, refused inside an input
    folder, only cam-keras' own files replaced with ``overwrite``.
    With ``resume`` the images whose files and row are complete are skipped and the table is
    appended to. Unreadable or missing files are skipped with a warning and listed in the
    report. On ``KeyboardInterrupt`` or an ``OSError`` while writing (disk full, permissions)
    the files already written stay valid, the report records how far the job got
    (``interrupted`` / ``error``), and the exception is re-raised.

    Images are fitted to the model as it was trained (its saved resize policy, else squash)
    unless ``resize`` (``squash``, ``crop`` or ``pad``) says otherwise; maps are drawn where
    the model input lies on each image.

    Example:
        >>> report = write_heatmaps(CAM(model), ["photos/"], "maps/", HeatmapOptions(top_k=3))
        >>> report.succeeded, report.skipped
    """
    options = (options or HeatmapOptions()).validate()
    options.check_classes(explainer.class_names)
    explainer = explainer.resized(resize)
    if not isinstance(out, OutputFolder):
        out = job_folder(out, inputs, from_list, shard, resume=resume, overwrite=overwrite)
    items, hidden = collect_inputs(inputs, from_list)  # a missing input stops the job before the folder is made
    with out:
        return _run_job(explainer, items, out, options, shard, resume, progress, hidden)


def job_folder(
    out: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    from_list: str | os.PathLike | None = None,
    shard: Shard | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
) -> OutputFolder:
    """The (unopened) output folder of a heatmap job: shards of one job share it, each
    locking its own part; a whole job locks all of it."""
    if resume and overwrite:
        raise UsageError("--resume keeps finished outputs and --overwrite redoes them: pass one of them")
    sources = [*inputs, *([from_list] if from_list not in (None, "-") else [])]
    part = f"shard-{shard.name}" if shard else None
    return OutputFolder(out, overwrite=overwrite, resume=resume or shard is not None, inputs=sources, part=part)


def _run_job(
    explainer: BaseCAM,
    items: list[tuple[Path, Path]],
    out: OutputFolder,
    options: HeatmapOptions,
    shard: Shard | None,
    resume: bool,
    progress: bool,
    hidden: Sequence[Path] = (),
) -> HeatmapReport:
    _refuse_inputs_inside(items, out.root)
    job = _job_identity(explainer, options, items)
    if resume:
        _check_same_job(out, shard, job)
    todo, done = plan_job(items, out, options, shard, resume)
    write_json(out.claim(job_file(JOB, shard, ".json")), {"job": job})  # before any output: the job's identity
    ranks = min(options.report_top, len(explainer.class_names))
    table = _PredictionsTable(out.claim(job_file(TABLE, shard, ".csv")), _table_fields(ranks), done)
    report = HeatmapReport(
        total=len(todo) + len(done),
        already_done=len(done),
        skipped=[{"path": str(path), "reason": HIDDEN_REASON} for path in hidden],
        shard=shard and shard.name,
        job=job,
        table=table.path,
        report_file=out.claim(job_file(REPORT, shard, ".json")),
    )
    bar = keras.utils.Progbar(len(todo), unit_name="image") if progress and todo else None
    stems = dict(todo)
    workers = bounded_workers(options.workers, len(todo))
    _write_report(report)  # unfinished until the end: a killed job leaves it so
    writes = _Writes(out, options, table, report, bar)
    try:  # from the start of the pools: Ctrl-C or a failure while they start is recorded too
        with futures.ThreadPoolExecutor(default_workers()) as decoders, render_pool(workers) as renderers:
            policy = explainer.contract.inputs.resize
            for batch in _decoded_batches(list(stems), explainer.input_size, options, decoders, report, policy):
                writes.submit(renderers, _explain(explainer, batch, options), batch, stems)
                writes.finish(keep=1)  # the next batch's inference overlaps these writes
            writes.finish(keep=0)
        if bar:
            bar.update(len(todo), finalize=True)
        report.finished = True
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    except Exception as error:
        report.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        writes.settle()  # the pools have ended: every write has finished or failed
        table.close()
        if done:
            _put_in_order(table.path, _job_order(items, shard, options))
        _write_report(report)
    return report


def _job_identity(explainer: BaseCAM, options: HeatmapOptions, items: Sequence[tuple[Path, Path]]) -> dict:
    """What decides a job's outputs (the model, method, classes, options but those that only
    set the pace, and the whole input set, sharded or not), as JSON gives it back, so that a
    resumed job or a shard can be compared with the others (see :mod:`cam_keras.identity`)."""
    settings = {key: value for key, value in asdict(options).items() if key not in _PACE_OPTIONS}
    job = {"method": explainer.method, "class_names": list(explainer.class_names), **settings}
    inputs = input_set(stem.as_posix() for _, stem in items)
    return json.loads(json.dumps({**job, "model": model_identity(explainer), INPUTS: inputs}))


def _check_same_job(out: OutputFolder, shard: Shard | None, job: dict) -> None:
    """Refuse to resume a job that was started with another model, other settings or over
    other inputs (its outputs would mix), or whose identity is lost while it has outputs.
    The identity is kept twice, in the report and in the job file, so losing one is harmless."""
    recorded = {
        name: _recorded_identity(out.root / name)
        for name in (job_file(REPORT, shard, ".json"), job_file(JOB, shard, ".json"))
    }
    identities = [found for found, _ in recorded.values() if found is not None]
    if not identities and (out.root / job_file(TABLE, shard, ".csv")).exists():
        problems = "; ".join(f"{name} {problem}" for name, (_, problem) in recorded.items())
        raise OutputFolderError(
            f"cannot tell which model, settings and inputs the job in {out.root} started with ({problems}), so "
            "its outputs could mix with this run's; pass --overwrite to start again"
        )
    for earlier in identities:
        _refuse_other_job(out.root, earlier, job)


def _refuse_other_job(folder: Path, earlier: dict, job: dict) -> None:
    inputs, changes = job_differences(earlier, job)
    if inputs:
        raise UsageError(
            f"the inputs of the job in {folder} changed since it started ({inputs}); resume over the same "
            "inputs, or pass --overwrite to start again"
        )
    if changes:
        raise UsageError(
            f"the job in {folder} was started with other settings "
            f"({'; '.join(changes)}); resume with the same model file and flags, or pass --overwrite to start again"
        )


def _recorded_identity(path: Path) -> tuple[dict | None, str | None]:
    """The job identity recorded in ``path`` (a report or job file), or why there is none."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8", errors=FS_NAMES))
    except FileNotFoundError:
        return None, "is missing"
    except (OSError, ValueError) as error:
        return None, f"is unreadable ({type(error).__name__}: {error})"
    job = recorded.get("job") if isinstance(recorded, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get(INPUTS), dict):
        return None, "holds no job identity"
    return job, None


def _refuse_inputs_inside(items: list[tuple[Path, Path]], out_dir: Path) -> None:
    """Listed inputs inside the output folder, or linked to a file there, could be replaced by
    outputs: refuse them."""
    root = os.path.realpath(out_dir) + os.sep
    inside = next((path for path, _ in items if os.path.realpath(path).startswith(root)), None)
    if inside is not None:
        real = os.path.realpath(inside)
        where = "" if real == os.path.abspath(inside) else f" (a link to {real})"
        raise OutputFolderError(
            f"input {inside}{where} is inside --out {out_dir}; choose an output folder outside the inputs"
        )


def _prediction_rows(explanation: Explanation, batch, stems: dict[Path, Path], options: HeatmapOptions) -> list[dict]:
    rows = []
    for i, (path, *_) in enumerate(batch):
        output = output_files(stems[path], options)[0]
        row = {"path": str(path), "output": output, "explained": ";".join(explanation.labels(i))}
        for rank, (name, probability) in enumerate(explanation.top_predictions(i, options.report_top), start=1):
            row[f"top{rank}"] = name
            row[f"top{rank}_prob"] = round(probability, 6)
        rows.append(row)
    return rows


def _write_report(report: HeatmapReport) -> None:
    """Stage 6: counts, skipped files and completeness in ``report.json`` (or the shard's)."""
    write_json(
        report.report_file,
        {
            "finished": report.finished,
            "total": report.total,
            "succeeded": report.succeeded,
            "already_done": report.already_done,
            "skipped": report.skipped,
            "interrupted": report.interrupted,
            "error": report.error,
            "shard": report.shard,
            "job": report.job,
        },
    )
