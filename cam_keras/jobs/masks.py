"""Pseudo-masks over many images. A masks job is a heatmap job whose per-image file is a label
mask (:attr:`HeatmapOptions.masks <cam_keras.jobs.request.HeatmapOptions>`), so it shards,
resumes and merges as one; this module adds what a masks job needs besides: its defaults, the
thresholds chosen on a few ground-truth masks, and its report's legend and thresholds.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cam_keras.cam import BaseCAM, Explanation
from cam_keras.data.sources import STDIN, ImageSource
from cam_keras.errors import DatasetError, UsageError
from cam_keras.jobs.decode import decoded_batches
from cam_keras.jobs.pipeline import run_request
from cam_keras.jobs.pool import default_workers
from cam_keras.jobs.report import HeatmapReport
from cam_keras.jobs.request import HeatmapOptions, HeatmapRequest
from cam_keras.jobs.shards import Shard
from cam_keras.jobs.writes import explain, mask_labels
from cam_keras.outdir import OutputFolder
from cam_keras.render.mask_iou import MAP_THRESHOLDS, IoUCurve, mean_iou
from cam_keras.render.masks import MaskRule, legend, peak_labels, read_label_image
from cam_keras.render.pictures import scale_maps_to


def mask_options(rule: MaskRule | None = None, **options) -> HeatmapOptions:
    """The options of a masks job: label masks by ``rule`` at each image's original size (the
    size of its ground truth) and no array files, unless ``options`` say otherwise.

    Example:
        >>> mask_options(MaskRule(foreground=0.4), folder_classes=True).size
        'original'
    """
    return HeatmapOptions(**{"size": "original", "array_format": None, **options, "masks": rule or MaskRule()})


@dataclass(frozen=True)
class MaskCalibration:
    """Thresholds chosen on ground-truth masks: the foreground with the best mIoU there (no
    unsure band), the background kept at most the foreground, that mIoU and how many masks."""

    foreground: float
    background: float
    miou: float
    masks: int
    ground_truth: str


def calibrate_masks(explainer: BaseCAM, request: HeatmapRequest, ground_truth: str | os.PathLike) -> MaskCalibration:
    """Choose ``request``'s mask thresholds on the label masks in ``ground_truth`` named as the
    job names its masks (``<output stem>.png``): palette PNGs of label indices, or, with
    ``folder_classes``, black-and-white object masks. The maps are the job's own (same
    classes, normalization and size); all inputs with a mask count, whatever the shard.

    Raises:
        DatasetError: no input has a mask, none could be read, or a mask's size is not its
            image's, naming the file.
    """
    options = request.options
    if str(request.source.given.get("from_list")) == STDIN:
        raise UsageError(
            "calibration reads the inputs before the job does, and standard input can be read only once: "
            "save the list to a file for from_list"
        )
    pairs = _with_ground_truth(request.source, Path(ground_truth))
    curve, skipped = IoUCurve(MAP_THRESHOLDS), []
    with futures.ThreadPoolExecutor(default_workers()) as pool:
        policy = explainer.contract.inputs.resize
        for batch in decoded_batches(list(pairs), explainer.input_size, options, pool, skipped, policy):
            explanation = explain(explainer, batch, options)
            for index, (path, _) in enumerate(batch):
                _add_image(curve, explanation, index, path, pairs[path], options)
    if len(skipped) == len(pairs):
        raise DatasetError(f"{ground_truth}: none of the {len(pairs)} image(s) with a mask could be read")
    best = curve.best_step()
    foreground = float(MAP_THRESHOLDS[best])
    background = min(options.masks.background, foreground)
    miou = mean_iou(curve.ious(best))
    return MaskCalibration(foreground, background, miou, len(pairs) - len(skipped), str(ground_truth))


def _with_ground_truth(source: ImageSource, ground_truth: Path) -> dict[Path, Path]:
    """``{image: its ground-truth mask}`` for the images of ``source`` that have one."""
    if not ground_truth.is_dir():
        raise DatasetError(f"{ground_truth}: ground-truth mask folder not found")
    items = source.scan().items
    pairs = {path: ground_truth / f"{stem.as_posix()}.png" for path, stem in items}
    found = {path: mask for path, mask in pairs.items() if mask.is_file()}
    if not found:
        example = f" (e.g. {items[0][0]} needs {pairs[items[0][0]]})" if items else ""
        raise DatasetError(f"{ground_truth}: no mask matches any input image{example}")
    return found


def _add_image(
    curve: IoUCurve, explanation: Explanation, index: int, path: Path, truth_file: Path, options: HeatmapOptions
) -> None:
    """Count image ``index``'s maps against its ground truth."""
    size = explanation.images[index].shape[:2]
    names = explanation.class_names
    truth = read_label_image(truth_file, names.index(path.parent.name) + 1 if options.folder_classes else None)
    if truth.shape != size:
        raise DatasetError(
            f"{truth_file}: the mask is {truth.shape[1]}x{truth.shape[0]} but {path}'s masks are written at "
            f"{size[1]}x{size[0]}; ground truth must have its image's size (masks take it with size original)"
        )
    maps = scale_maps_to(explanation.raw_maps[index], size, options.normalize, explanation.placement(index))
    labels = mask_labels(explanation, index, options.masks.min_probability)
    curve.add(*peak_labels(maps, labels), truth)


def run_masks(
    explainer: BaseCAM, request: HeatmapRequest, ground_truth: str | os.PathLike | None = None
) -> HeatmapReport:
    """Carry out a masks ``request`` (its options' ``masks`` set), its thresholds first chosen
    on ``ground_truth`` when given (:func:`calibrate_masks`); ``report.json`` records the
    legend (label -> class) and the thresholds used, and where they came from."""
    rule = request.options.masks or MaskRule()
    thresholds: dict = {"chosen": "given"}
    if ground_truth is not None:
        calibration = calibrate_masks(explainer, _with_rule(request, rule), ground_truth)
        rule = dataclasses.replace(rule, foreground=calibration.foreground, background=calibration.background)
        found = {"miou": calibration.miou, "masks": calibration.masks, "ground_truth": calibration.ground_truth}
        thresholds = {"chosen": "calibrated: the foreground of the best mIoU there, without an unsure band", **found}
    request = _with_rule(request, rule)
    note = {"legend": legend(explainer.class_names), **dataclasses.asdict(rule), "thresholds": thresholds}
    return run_request(explainer, request, {"masks": note})


def _with_rule(request: HeatmapRequest, rule: MaskRule) -> HeatmapRequest:
    return dataclasses.replace(request, options=dataclasses.replace(request.options, masks=rule))


def write_masks(
    explainer: BaseCAM,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike | OutputFolder,
    options: HeatmapOptions | None = None,
    *,
    ground_truth: str | os.PathLike | None = None,
    shard: Shard | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> HeatmapReport:
    """A label mask per image under ``inputs`` in ``out`` (``<name>.png``, a palette PNG: 0
    background, class ``k`` as ``k + 1``, 255 unsure), with ``predictions.csv`` and
    ``report.json`` as :func:`~cam_keras.jobs.write_heatmaps` writes them; ``options``
    default to :func:`mask_options`; thresholds chosen on ``ground_truth`` when given.

    Example:
        >>> write_masks(CAM(model), ["data/train"], "masks/", mask_options(folder_classes=True))
    """
    request = HeatmapRequest(ImageSource(inputs), out, options or mask_options(), shard, resume, overwrite, progress)
    return run_masks(explainer, request, ground_truth)


def labelled(images: Sequence[tuple[Path, Path]], class_names: Sequence[str]) -> bool:
    """Whether every image lies in a folder named by one of ``class_names`` (a class-folder set)."""
    return bool(images) and all(path.parent.name in class_names for path, _ in images)
