"""A heatmap job's gallery: its predictions table (read by :mod:`~cam_keras.jobs.table`) and
report turned into gallery records, written beside them (:mod:`cam_keras.gallery.page`).

The true class of an image is known when its folder is named after one of the model's
classes (``photos/cat/1.jpg``: ``cat``), as class-folder datasets are laid out."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePath

from cam_keras.errors import OutputFolderError, UsageError
from cam_keras.gallery.page import GalleryItem, write_gallery_files
from cam_keras.jobs.report import read_json
from cam_keras.jobs.shards import REPORT, TABLE
from cam_keras.jobs.table import KEY, read_predictions
from cam_keras.outdir import OutputFolder
from cam_keras.records import as_written
from cam_keras.render.thumbnails import thumbnail_name

logger = logging.getLogger(__name__)


def _job_of(folder: Path) -> dict:
    """The ``job`` entry of a finished (or merged) job's ``report.json``.

    Raises:
        UsageError: there is none (naming ``cam-keras merge`` for a sharded job).
    """
    report = folder / f"{REPORT}.json"
    if not report.is_file():
        hint = (
            "join its shards first (merge_shards, or `cam-keras merge`)"
            if any(folder.glob(f"{REPORT}-*-of-*.json"))
            else "give the output folder of a finished heatmap job or of an evaluation"
        )
        raise UsageError(f"{folder} holds no {REPORT}.json: {hint}")
    content = read_json(report)
    job = content.get("job") if isinstance(content, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("class_names"), list):
        raise OutputFolderError(f"{report}: no job.class_names; is it a cam-keras heatmap report?")
    return job


def heatmap_items(folder: Path, class_names: Sequence[str], thumbnails: bool) -> Iterator[GalleryItem]:
    """One record per row of the job's predictions table, streamed; without ``thumbnails``
    (a job run with ``gallery=False``) the overlays stand in for them."""
    index = {as_written(name): i for i, name in enumerate(class_names)}  # the table's spelling
    for row in read_predictions(folder / f"{TABLE}.csv"):
        output = row[KEY]
        ranks = range(1, 1 + sum(1 for key in row if key.endswith("_prob")))
        named = [(row[f"top{r}"], row[f"top{r}_prob"]) for r in ranks if row.get(f"top{r}")]
        unknown = next((name for name, _ in named if name not in index), None)
        if unknown is not None:
            raise OutputFolderError(f"{folder / TABLE}.csv: class {unknown!r} of {output} is not one of the job's")
        stem = PurePath(output).with_suffix("").as_posix()
        yield GalleryItem(
            name=stem,
            path=row["path"],
            thumbnail=thumbnail_name(stem) if thumbnails else output,
            overlay=output,
            classes=[index[name] for name, _ in named],
            probabilities=[float(probability) for _, probability in named],
            true_class=index.get(PurePath(row["path"]).parent.name),
        )


def write_job_gallery(out: OutputFolder, job: Mapping) -> Path:
    """Write the gallery of the heatmap job with identity ``job`` in the open folder ``out``;
    return the page's path."""
    thumbnails = bool(job.get("gallery"))
    if not thumbnails:
        logger.warning(
            "%s: the job wrote no thumbnails (gallery=False): the gallery shows the full overlays, slow to "
            "scroll over thousands of images; run the job with gallery=True for thumbnails",
            out.root,
        )
    title = f"cam-keras gallery: {out.root.absolute().name} ({job.get('method', '?')})"
    items = heatmap_items(out.root, job["class_names"], thumbnails)
    return write_gallery_files(out, title, job["class_names"], items)


def job_gallery(folder: str | Path) -> Path:
    """Write the gallery of a finished heatmap job in ``folder`` (locked meanwhile; a sharded
    job once merged); return the page's path."""
    folder = Path(folder)
    job = _job_of(folder)
    with OutputFolder(folder, overwrite=True, option_name="gallery folder") as out:
        return write_job_gallery(out, job)
