"""An evaluation's gallery: a thumbnail per scored image (its predicted class's map, kept from
the one pass over the images), the gallery's columns of ``per_image.csv`` (image size, top
classes and probabilities, true boxes, thumbnail and overlay files), and the page, read back
from ``per_image.csv`` and ``report.json`` alone, so ``cam-keras gallery`` can write it again."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cam_keras.data.images import decode_image
from cam_keras.errors import OutputFolderError
from cam_keras.gallery.page import GalleryItem, write_gallery_files
from cam_keras.outdir import OutputFolder
from cam_keras.records import as_written
from cam_keras.render.pictures import Style
from cam_keras.render.sizing import output_size
from cam_keras.render.thumbnails import THUMBNAIL_SIDE, thumbnail, thumbnail_name, thumbnail_stem, write_thumbnail
from cam_keras.safe_text import FS_NAMES, from_csv_cell

TABLE = "per_image.csv"
GALLERY_FIELDS = ["width", "height", "top_classes", "top_probabilities", "thumbnail", "overlay"]
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")


def gallery_columns(row: Mapping, class_names: Sequence[str], thumbnail_file: str, overlay: str) -> dict:
    """A scored row's gallery columns of ``per_image.csv`` (lists as JSON; the true boxes are
    the metrics' ``gt_boxes`` column)."""
    height, width = row["image_size"]
    return {
        "width": width,
        "height": height,
        "top_classes": json.dumps([class_names[c] for c in row["ranked_classes"]], ensure_ascii=False),
        "top_probabilities": json.dumps([round(p, 6) for p in row["ranked_probabilities"]]),
        "thumbnail": thumbnail_file,
        "overlay": overlay,
    }


def write_thumbnail_of(out: OutputFolder, row: Mapping, stem: str | os.PathLike, window) -> str:
    """Decode a scored image no larger than its thumbnail needs and write it with its
    predicted class's map over it (placed by ``window``, as in the overlays); its name."""
    decoded = decode_image(row["path"], at_least=lambda size: output_size(None, size, size, THUMBNAIL_SIDE))
    raw = row["predicted_map"][None]
    placement = window(decoded.original_size).placement(decoded.pixels.shape[:2], raw.shape[1:])
    name = thumbnail_name(stem)
    write_thumbnail(out.claim(name), thumbnail(decoded.pixels, raw, Style(), placement))
    return name


def _numbers(cell: str) -> list[float]:
    return [float(value) for value in _NUMBER.findall(cell or "")]


def _boxes(cell: str) -> list[list[float]]:
    values = _numbers(cell)
    return [values[i : i + 4] for i in range(0, len(values) - 3, 4)]


def evaluation_items(folder: Path, class_names: Sequence[str]) -> Iterator[GalleryItem]:
    """One record per row of ``per_image.csv``, streamed."""
    index = {name: i for i, name in enumerate(class_names)}  # as top_classes' JSON holds them
    cells = {as_written(name): i for i, name in enumerate(class_names)}  # as a CSV cell holds them
    with open(folder / TABLE, encoding="utf-8", errors=FS_NAMES, newline="") as handle:
        for line, raw in enumerate(csv.DictReader(handle), start=2):
            row = {key: from_csv_cell(value or "") for key, value in raw.items()}
            if not row.get("thumbnail"):
                raise OutputFolderError(
                    f"{folder / TABLE} line {line}: no thumbnail listed (an evaluation run with gallery=False, or "
                    "by an older cam-keras): evaluate again with gallery=True"
                )
            classes = json.loads(row["top_classes"])
            predicted_box = _numbers(row.get("predicted_class_map_box", ""))
            yield GalleryItem(
                name=thumbnail_stem(row["thumbnail"]),
                path=row["path"],
                thumbnail=row["thumbnail"],
                overlay=row["overlay"] or row["thumbnail"],
                classes=[index[name] for name in classes],
                probabilities=json.loads(row["top_probabilities"]),
                true_class=cells.get(row["true_class"]),
                iou=float(row["predicted_iou"]) if row.get("predicted_iou") else None,
                predicted_box=predicted_box or None,
                true_boxes=_boxes(row.get("gt_boxes", "")),
                size=(int(row["width"]), int(row["height"])),
            )


def write_evaluation_gallery(out: OutputFolder) -> Path:
    """Write the gallery of the evaluation in the open folder ``out``; the page's path."""
    report = json.loads((out.root / "report.json").read_text(encoding="utf-8", errors=FS_NAMES))
    class_names = report.get("class_names") if isinstance(report, dict) else None
    if not isinstance(class_names, list):
        raise OutputFolderError(f"{out.root / 'report.json'}: no class_names; is it a cam-keras evaluation?")
    title = f"cam-keras evaluation gallery: {out.root.absolute().name}"
    return write_gallery_files(out, title, class_names, evaluation_items(out.root, class_names))


def evaluation_gallery(folder: str | Path) -> Path:
    """Write the gallery of the evaluation in ``folder`` (locked meanwhile); the page's path."""
    with OutputFolder(folder, overwrite=True, option_name="gallery folder") as out:
        return write_evaluation_gallery(out)
