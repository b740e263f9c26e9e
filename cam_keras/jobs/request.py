"""What a heatmap job is asked to do: the options (defaults defined here only, checked once,
errors naming the option) and the request that carries them with the inputs, the
output folder, the shard and how to treat earlier outputs. Nothing here imports TensorFlow, so
the command line takes its defaults from here."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.data.sources import ImageSource
from cam_keras.errors import UsageError, option
from cam_keras.jobs.shards import Shard
from cam_keras.outdir import OutputFolder
from cam_keras.records import ARRAY_FORMATS
from cam_keras.render.colormap import colormap_table
from cam_keras.render.masks import MaskRule, legend
from cam_keras.render.pictures import Style
from cam_keras.render.sizing import DEFAULT_MAX_SIDE, SizeRequest, check_max_side, check_size
from cam_keras.render.thumbnails import thumbnail_name
from cam_keras.render.writers import IMAGE_FORMATS

if TYPE_CHECKING:
    from cam_keras.cam.targets import ClassSpec

PACE_OPTIONS = ("batch_size", "workers", "prefetch_megapixels")  # how fast, not what, a job writes


@dataclass
class HeatmapOptions:
    """How :func:`~cam_keras.jobs.write_heatmaps` renders and saves.

    Attributes:
        classes: class request as in :meth:`BaseCAM.__call__` (a single class or ``"all"``).
        top_k: number of predicted classes mapped when ``classes`` is ``None``.
        augmentation: scales and mirrors whose maps are averaged
            (:class:`~cam_keras.cam.augmentation.MapAugmentation`; one more forward pass per
            view); ``None`` keeps the explainer's own.
        colormap, alpha, normalize, colorbar: overlay look (see :class:`cam_keras.render.pictures.Style`).
        size, max_side: overlay size (see :func:`cam_keras.render.sizing.output_size`): by
            default the original aspect with the longest side at most ``max_side``.
        image_format: overlay file format, ``"png"``, ``"jpg"`` or ``"webp"``.
        batch_size: images per forward pass.
        array_format: a name in :data:`cam_keras.records.ARRAY_FORMATS` (``"npz"``, ``"mat"``)
            or ``None`` (no array files).
        report_top: predictions listed per image in ``predictions.csv``.
        workers: render processes (``None``: one per core; ``0``: threads in this process);
            never more than the cores or the images, started as images arrive.
        prefetch_megapixels: how far decoding runs ahead of the batch being filled, in
            megapixels of overlay and model-input pictures (at least one image); with the
            output size it bounds memory whatever the photos' size.
        masks: write each image's label mask (:mod:`cam_keras.render.masks`, a palette PNG at
            the overlay's size) by this rule instead of its overlay; ``None``: overlays.
        folder_classes: map each image's class named by its folder (``DATA_DIR/<class>/...``)
            instead of ``classes`` or the predicted ones.
        gallery: also write each image's gallery thumbnail (drawn with its overlay: about
            2 ms and 4 KB, 2-3% of drawing a 1024 px overlay) and, at the end, ``gallery.html``.
    """

    classes: ClassSpec = None
    top_k: int = 1
    augmentation: MapAugmentation | None = None
    colormap: str = "jet"
    alpha: float = 0.5
    normalize: str = "shared"
    colorbar: bool = False
    size: SizeRequest = None
    max_side: int = DEFAULT_MAX_SIDE
    image_format: str = "png"
    batch_size: int = 16
    array_format: str | None = "npz"
    report_top: int = 5
    workers: int | None = None
    prefetch_megapixels: float = 64.0
    masks: MaskRule | None = None
    folder_classes: bool = False
    gallery: bool = True

    @property
    def style(self) -> Style:
        return Style(self.colormap, self.alpha, self.normalize, self.colorbar)

    @property
    def writes_gallery(self) -> bool:
        """Thumbnails and a gallery page: asked for, and the job draws overlays (not masks)."""
        return self.gallery and self.masks is None

    def output_files(self, stem: Path | str) -> list[str]:
        """Files one image gets, relative to the output folder: the overlay, then the arrays,
        then the gallery thumbnail. The overlay's name is the image's key in the predictions table."""
        names = [f"{stem}.{self.image_format}"]
        if self.array_format:
            names.append(f"{stem}{ARRAY_FORMATS[self.array_format].suffix}")
        if self.writes_gallery:
            names.append(thumbnail_name(stem))
        return names

    def validate(self) -> HeatmapOptions:
        """Check every value before any file is touched; return ``self``.

        Raises:
            UsageError: naming the option and the valid range.
        """
        _check(is_count(self.batch_size, 1), f"{option('batch_size')} must be a positive integer", self.batch_size)
        _check(is_count(self.top_k, 1), f"{option('top_k')} must be a positive integer", self.top_k)
        _check(
            self.augmentation is None or isinstance(self.augmentation, MapAugmentation),
            "augmentation must be a MapAugmentation or None",
            self.augmentation,
        )
        _check(is_count(self.report_top, 0), f"{option('report_top')} must be 0 or more", self.report_top)
        alpha_ok = isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and 0 <= self.alpha <= 1
        _check(alpha_ok, f"{option('alpha')} is the heatmap's opacity, a number from 0 to 1", self.alpha)
        check_size(self.size)
        check_max_side(self.max_side)
        _check(
            self.image_format in IMAGE_FORMATS,
            f"{option('image_format')} must be one of {', '.join(IMAGE_FORMATS)}",
            self.image_format,
        )
        _check(
            self.workers is None or is_count(self.workers, 0),
            f"{option('workers')} must be 0 (render in this process) or more",
            self.workers,
        )
        _check(isinstance(self.gallery, bool), f"{option('gallery')} must be True or False", self.gallery)
        formats_ok = self.array_format in (*ARRAY_FORMATS, None)
        _check(formats_ok, f"{option('array_format')} must be {', '.join(ARRAY_FORMATS)} or none", self.array_format)
        try:
            colormap_table(self.colormap)
        except ValueError as error:
            raise UsageError(f"{option('colormap')}: {error}") from None
        self.style  # noqa: B018  (Style checks normalize)
        if self.masks is not None:
            self.masks.validate()
            _check(
                self.image_format == "png",
                f"masks are palette PNGs: {option('image_format')} must be png",
                self.image_format,
            )
        _check(
            not (self.folder_classes and self.classes is not None),
            "folder_classes maps each image's folder class: leave classes unset",
            self.classes,
        )
        return self

    def check_classes(self, class_names: Sequence[str]) -> None:
        """Check the class request against the model's classes before any file is touched.

        Raises:
            UsageError: an unknown class name or an index out of range, with the classes known.
        """
        from cam_keras.cam.targets import resolve_classes  # TensorFlow: only once a model is there

        if self.masks is not None:
            legend(class_names)  # refuses more classes than a palette PNG holds
        if not isinstance(self.classes, (int, np.integer, str)):
            return
        try:
            resolve_classes(self.classes, 1, class_names)
        except ValueError as error:
            raise UsageError(f"{option('classes')}: {error}") from None


def check_folder_classes(images: Sequence[tuple[Path, Path]], class_names: Sequence[str]) -> None:
    """Refuse, naming the first, images whose folder is not one of ``class_names``.

    Raises:
        UsageError: with the model's classes and what to do instead.
    """
    for path, _ in images:
        if path.parent.name not in class_names:
            raise UsageError(
                f"{path}: its folder {path.parent.name!r} is not a class of the model ({', '.join(class_names)}); "
                "put each image in a folder named by its class, or map the predicted classes (folder_classes off)"
            )


def is_count(value: object, least: int) -> bool:
    """Whether ``value`` is a whole number (not a bool) of at least ``least``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


def _check(ok: bool, message: str, value: object) -> None:
    if not ok:
        raise UsageError(f"{message}, got {value!r}")


@dataclass
class HeatmapRequest:
    """One heatmap job: its images, its output folder and options, checked when made (before
    a model is loaded or any file touched).

    Attributes:
        source: the images (:class:`~cam_keras.data.sources.ImageSource`).
        out: the output folder: a path, or an unopened :class:`~cam_keras.outdir.OutputFolder`.
        options: how maps are drawn and saved.
        shard: the slice of the inputs this job takes (``None``: all of them).
        resume: skip the images whose files and row are complete; append to the table.
        overwrite: replace cam-keras' own earlier outputs.
        progress: show progress: a live bar on a terminal, else a plain line every few seconds
            (:class:`~cam_keras.progress.Progress`).
        on_rows: called with the predictions-table rows of each batch once its files are
            written (the command line prints them as they come when its output is not a terminal).
    """

    source: ImageSource
    out: str | os.PathLike | OutputFolder
    options: HeatmapOptions = field(default_factory=HeatmapOptions)
    shard: Shard | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    on_rows: Callable[[list[dict]], None] | None = None

    def __post_init__(self) -> None:
        self.options.validate()
        if self.resume and self.overwrite:
            raise UsageError(
                f"{option('resume')} keeps finished outputs and {option('overwrite')} redoes them: pass one of them"
            )

    def folder(self) -> OutputFolder:
        """The (unopened) output folder: shards of one job share it, each locking its own
        part; a whole job locks all of it."""
        if isinstance(self.out, OutputFolder):
            return self.out
        part = f"shard-{self.shard.name}" if self.shard else None
        resume = self.resume or self.shard is not None
        return OutputFolder(self.out, overwrite=self.overwrite, resume=resume, inputs=self.source.locations, part=part)
