"""One heatmap job from request to report: decode images in threads, explain them in
batches, render and write results in worker processes. Memory stays flat however many images
there are; every file is written atomically, and a killed job resumes where it stopped.

The stages: the request's images (:class:`~cam_keras.data.sources.ImageSource`) -> the plan
(:mod:`~cam_keras.jobs.plan`: this shard's slice, without the images done with ``resume``) ->
decoding ahead (:mod:`~cam_keras.jobs.decode`) -> explaining a batch and writing its files
(:mod:`~cam_keras.jobs.writes`; a finished image's row then goes to the predictions table,
:mod:`~cam_keras.jobs.table`) -> the report (:mod:`~cam_keras.jobs.report`).
"""

from __future__ import annotations

import concurrent.futures as futures
import os
from collections.abc import Sequence
from pathlib import Path

from cam_keras.cam import BaseCAM
from cam_keras.data.batches import default_workers
from cam_keras.data.images import HIDDEN_REASON
from cam_keras.data.sources import ImageSource, SourceImages
from cam_keras.gallery.page import FILES as GALLERY_FILES
from cam_keras.jobs.decode import decoded_batches
from cam_keras.jobs.gallery import write_job_gallery
from cam_keras.jobs.identity import job_identity
from cam_keras.jobs.plan import job_order, plan_job, refuse_inputs_inside
from cam_keras.jobs.pool import bounded_workers, render_pool
from cam_keras.jobs.report import HeatmapReport
from cam_keras.jobs.request import HeatmapOptions, HeatmapRequest, check_folder_classes
from cam_keras.jobs.resume import check_same_job
from cam_keras.jobs.shards import JOB, REPORT, TABLE, Shard, job_file
from cam_keras.jobs.table import PredictionsTable, put_in_order, table_fields
from cam_keras.jobs.writes import Writes, explain
from cam_keras.outdir import OutputFolder
from cam_keras.progress import Progress
from cam_keras.records import write_json


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
      (``predictions-K-of-N.csv`` / ``report-K-of-N.json`` for ``shard`` K/N);
    - with ``options.gallery`` (the default): a thumbnail per image in ``.thumbnails/`` and
      ``gallery.html`` over all of them (a sharded job's is written by ``merge``).

    ``out`` (a path, or an unopened :class:`~cam_keras.outdir.OutputFolder`) is opened for
    the job: locked, refused inside an input folder, only cam-keras' own files replaced with
    ``overwrite``. With ``resume`` the images whose files and row are complete are skipped
    and the table is appended to. Unreadable or missing files are skipped with a warning and
    listed in the report. On ``KeyboardInterrupt`` or an ``OSError`` while writing (disk
    full, permissions) the files already written stay valid, the report records how far the
    job got (``interrupted`` / ``error``), and the exception is re-raised.

    Images are fitted to the model as it was trained (its saved resize policy, else squash)
    unless ``resize`` (``squash``, ``crop`` or ``pad``) says otherwise; maps are drawn where
    the model input lies on each image.

    Example:
        >>> report = write_heatmaps(CAM(model), ["photos/"], "maps/", HeatmapOptions(top_k=3))
        >>> report.succeeded, report.skipped
    """
    request = HeatmapRequest(
        ImageSource(inputs, from_list), out, options or HeatmapOptions(), shard, resume, overwrite, progress
    )
    return run_request(explainer.resized(resize), request)


def run_request(explainer: BaseCAM, request: HeatmapRequest, notes: dict | None = None) -> HeatmapReport:
    """Carry out ``request`` with ``explainer``; the report of what was done (its
    :meth:`~cam_keras.jobs.report.HeatmapReport.predictions` stream the table's rows), with
    ``notes`` as further entries."""
    request.options.check_classes(explainer.class_names)
    explainer = explainer.augmented(request.options.augmentation)
    out = request.folder()
    images = request.source.scan()  # a missing input stops the job before the folder is made
    if request.options.folder_classes:
        check_folder_classes(images.items, explainer.class_names)
    gallery = request.options.writes_gallery and request.shard is None  # a shard's gallery: `cam-keras merge`
    with out:
        if gallery:
            out.check_free(GALLERY_FILES)  # a file of the user's there stops the job now, not after its work
        report = _run_job(explainer, images, out, request, notes or {})
        if gallery:
            write_job_gallery(out, report.job)
        return report


def _run_job(
    explainer: BaseCAM, images: SourceImages, out: OutputFolder, request: HeatmapRequest, notes: dict
) -> HeatmapReport:
    """Plan the job, open its table and report, then explain and write; the report, finished or not."""
    options, shard, items = request.options, request.shard, images.items
    refuse_inputs_inside(items, out.root)
    job = job_identity(explainer, options, items)
    if request.resume:
        check_same_job(out, shard, job)
    todo, done = plan_job(items, out, options, shard, request.resume)
    write_json(out.claim(job_file(JOB, shard, ".json")), {"job": job})  # before any output: the job's identity
    ranks = min(options.report_top, len(explainer.class_names))
    table = PredictionsTable(out.claim(job_file(TABLE, shard, ".csv")), table_fields(ranks), done)
    report = HeatmapReport(
        total=len(todo) + len(done),
        already_done=len(done),
        skipped=[{"path": str(path), "reason": HIDDEN_REASON} for path in images.hidden],
        shard=shard and shard.name,
        job=job,
        table=table.path,
        report_file=out.claim(job_file(REPORT, shard, ".json")),
        notes=notes,
    )
    report.write()  # unfinished until the end: a killed job leaves it so
    try:
        _explain_and_write(explainer, dict(todo), out, request, table, report)
    finally:
        table.close()
        if done:
            put_in_order(table.path, job_order(items, shard, options))
        report.write()
    return report


def _explain_and_write(
    explainer: BaseCAM,
    stems: dict[Path, Path],
    out: OutputFolder,
    request: HeatmapRequest,
    table: PredictionsTable,
    report: HeatmapReport,
) -> None:
    """Decode, explain and write the images of ``stems``; the report says how far it got."""
    options = request.options
    progress = Progress(len(stems), "image", "explaining") if request.progress and stems else None
    workers = bounded_workers(options.workers, len(stems))
    writes = Writes(out, options, table, report, progress, request.on_rows)
    try:  # from the start of the pools: Ctrl-C or a failure while they start is recorded too
        with futures.ThreadPoolExecutor(default_workers()) as decoders, render_pool(workers) as renderers:
            policy, skipped = explainer.contract.inputs.resize, report.skipped
            for batch in decoded_batches(list(stems), explainer.input_size, options, decoders, skipped, policy):
                writes.submit(renderers, explain(explainer, batch, options), batch, stems)
                writes.finish(keep=1)  # the next batch's inference overlaps these writes
            writes.finish(keep=0)
        report.finished = True
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    except Exception as error:
        report.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        writes.settle()  # the pools have ended: every write has finished or failed
        if progress:
            progress.close()
