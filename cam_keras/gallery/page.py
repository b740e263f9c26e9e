"""Write a gallery: ``gallery.html`` (the page, its script and style inlined: a few tens of KB
whatever the number of images) and ``gallery-data.js`` (one record per image, assigned to a
global, since a page opened from ``file://`` may not fetch a JSON file). Nothing is fetched from
the network; the page opens from disk, any static web server or a CI artifact.

Names come from users and model files: the data file is JSON inside JavaScript, with every
character that could end a script or a string there (``<``, line and paragraph separators,
any non-ASCII) escaped, and the page builds its DOM from text only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from cam_keras.atomic import atomic_path, write_text_atomic
from cam_keras.outdir import OutputFolder

PAGE = "gallery.html"
DATA = "gallery-data.js"
FILES = (PAGE, DATA)  # what a gallery adds to its folder besides thumbnails: checked free before a job
GLOBAL = "CAM_KERAS_GALLERY"  # the name gallery.js reads the data from
Box = Sequence[float]  # (xmin, ymin, xmax, ymax) in pixels of the original image


@dataclass(frozen=True)
class GalleryItem:
    """One image of a gallery.

    Attributes:
        name: shown under its thumbnail and searched by the name filter (the output stem).
        path: the original image's path as the job was given it (shown, never opened).
        thumbnail, overlay: files relative to the gallery's folder.
        classes, probabilities: the top predictions, best first, as class indices.
        true_class: index of the true class, or ``None`` when unknown.
        iou: IoU of the predicted box with the true boxes (evaluations), or ``None``.
        predicted_box, true_boxes, size: boxes in pixels of the original image of ``size``
            ``(width, height)``, drawn over the pictures; ``None`` / empty without boxes.
    """

    name: str
    path: str
    thumbnail: str
    overlay: str
    classes: Sequence[int]
    probabilities: Sequence[float]
    true_class: int | None = None
    iou: float | None = None
    predicted_box: Box | None = None
    true_boxes: Sequence[Box] = ()
    size: tuple[int, int] | None = None


def url(relative: str) -> str:
    """A relative URL for a file name (``#``, ``?``, ``%`` and undecodable bytes quoted)."""
    return quote(relative.replace(os.sep, "/").encode("utf-8", "surrogateescape"), safe="/")


def script_literal(value: object) -> str:
    """``value`` as a JavaScript literal that stays one inside any script: JSON, ASCII only
    (so U+2028/2029 and line breaks are escapes), ``<`` escaped (no ``</script>``)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _record(item: GalleryItem, root: Path) -> list:
    """An item as the page reads it (gallery.js names the columns)."""
    original = Path(item.path)
    try:
        original_url = url(os.path.relpath(original.absolute(), root.absolute()))
    except ValueError:  # another drive (Windows): no relative link
        original_url = ""
    return [
        item.name,
        item.path,
        url(item.thumbnail),
        url(item.overlay),
        original_url,
        -1 if item.true_class is None else int(item.true_class),
        [int(c) for c in item.classes],
        [round(float(p), 6) for p in item.probabilities],
        None if item.iou is None else round(float(item.iou), 4),
        None if item.predicted_box is None else [round(float(v), 1) for v in item.predicted_box],
        [[round(float(v), 1) for v in box] for box in item.true_boxes],
        None if item.size is None else [int(v) for v in item.size],
    ]


def page_text() -> str:
    """``gallery.html`` with its script and style inlined (package data in ``static/``)."""
    static = resources.files(__package__) / "static"
    page = (static / "gallery.html").read_text(encoding="utf-8")
    page = page.replace("/*STYLE*/", (static / "gallery.css").read_text(encoding="utf-8"))
    return page.replace("/*SCRIPT*/", (static / "gallery.js").read_text(encoding="utf-8"))


def write_gallery_files(
    out: OutputFolder, title: str, class_names: Sequence[str], items: Iterable[GalleryItem]
) -> Path:
    """Write ``gallery-data.js`` (streamed: one line per item, never all in memory) and
    ``gallery.html`` into the open folder ``out``, each atomically; return the page's path."""
    with atomic_path(out.claim(DATA)) as temp, open(temp, "w", encoding="ascii", newline="\n") as data:
        data.write(f'window.{GLOBAL} = {{"version": 1, "title": {script_literal(title)}, ')
        data.write(f'"classes": {script_literal(list(class_names))}, "items": [\n')
        for index, item in enumerate(items):
            data.write(("," if index else "") + script_literal(_record(item, out.root)) + "\n")
        data.write("]};\n")
    page = out.claim(PAGE)
    write_text_atomic(page, page_text())
    return page
