"""Each explained image's files drawn and written by a pool of render processes while the
next batch is being explained; when all files of a batch are complete, its rows go to the
predictions table, so the table never lists an image whose files are not whole."""

from __future__ import annotations

import collections
import concurrent.futures as futures
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cam_keras.cam import BaseCAM, Explanation
from cam_keras.cam.inputs import note_assumed_resize
from cam_keras.jobs.decode import Decoded
from cam_keras.jobs.report import HeatmapReport
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.jobs.table import PredictionsTable, prediction_rows
from cam_keras.outdir import OutputFolder
from cam_keras.progress import Progress
from cam_keras.render.render_job import MaskJob, RenderJob, run_job


def explain(explainer: BaseCAM, batch: list[Decoded], options: HeatmapOptions) -> Explanation:
    """Maps (at feature resolution: the render workers upsample once, to each overlay's
    size), classes and probabilities of one decoded batch."""
    note_assumed_resize(explainer.model, explainer.contract.inputs, [decoded.original_size for _, decoded in batch])
    classes = [[path.parent.name] for path, _ in batch] if options.folder_classes else options.classes
    arrays = explainer.explain_batch(
        np.stack([decoded.model_input for _, decoded in batch]).astype(np.float32),
        classes,
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


def _render_job(
    explanation: Explanation, index: int, targets: list[Path], options: HeatmapOptions
) -> RenderJob | MaskJob:
    """What a render worker needs to write image ``index``'s overlay (or label mask) at
    ``targets[0]``, its arrays at ``targets[1]`` if any and its thumbnail last if any (the
    paths :meth:`HeatmapOptions.output_files` names, claimed in the output folder)."""
    arrays_path = targets[1] if options.array_format else None
    if options.masks is not None:
        return MaskJob(
            picture_path=targets[0],
            size=explanation.images[index].shape[:2],
            raw_maps=explanation.raw_maps[index],
            labels=mask_labels(explanation, index, options.masks.min_probability),
            rule=options.masks,
            normalize=options.normalize,
            arrays_path=arrays_path,
            arrays=explanation.arrays(index) if arrays_path else None,
            placement=explanation.placement(index),
        )
    texts = tuple(explanation.label_text(index, m) for m in range(explanation.class_indices.shape[1]))
    return RenderJob(
        picture_path=targets[0],
        picture=explanation.images[index],
        raw_maps=explanation.raw_maps[index],
        texts=texts,
        style=options.style,
        arrays_path=arrays_path,
        arrays=explanation.arrays(index) if arrays_path else None,
        placement=explanation.placement(index),
        thumbnail_path=targets[-1] if options.writes_gallery else None,
    )


def mask_labels(explanation: Explanation, index: int, min_probability: float | None) -> tuple[int, ...]:
    """The palette index of each map of image ``index``: its class + 1, or 0 (left out) for a
    target function's map or a class below ``min_probability``."""
    labels = []
    for c in explanation.class_indices[index].tolist():
        below = c >= 0 and min_probability is not None and explanation.probabilities[index, c] < min_probability
        labels.append(0 if below else c + 1)
    return tuple(labels)


class Writes:
    """The writes of a job's batches in flight, and their rows waiting for them."""

    def __init__(
        self,
        out: OutputFolder,
        options: HeatmapOptions,
        table: PredictionsTable,
        report: HeatmapReport,
        progress: Progress | None = None,
        on_rows: Callable[[list[dict]], None] | None = None,
    ) -> None:
        self.out, self.options, self.table, self.report = out, options, table, report
        self.progress, self.on_rows = progress, on_rows
        self.skipped_before = len(report.skipped)  # hidden files, never among the job's images
        self.in_flight: collections.deque = collections.deque()  # (write jobs, rows) of batches

    def submit(self, pool: futures.Executor, explanation: Explanation, batch: list, stems: dict[Path, Path]) -> None:
        """Have ``pool`` write each image's files, once every file of the batch is claimed (a
        refused claim then leaves no image of the batch written but missing from the table)."""
        paths = [path for path, *_ in batch]
        names = [self.options.output_files(stems[path]) for path in paths]
        targets = [[self.out.claim(name) for name in files] for files in names]
        jobs = [pool.submit(run_job, _render_job(explanation, i, each, self.options)) for i, each in enumerate(targets)]
        rows = prediction_rows(explanation, paths, [files[0] for files in names], self.options.report_top)
        self.in_flight.append((jobs, rows))

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
        if self.on_rows and rows:
            self.on_rows(rows)
        if self.progress:
            self.progress.update(self.report.succeeded + len(self.report.skipped) - self.skipped_before)
