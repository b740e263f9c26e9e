"""Score a model on a class-per-folder dataset: classification always, localization when
there are ground-truth boxes.

One explainer pass over the images asks only for the classes the metrics use (the top-5
predictions, plus the true class when it is not among them), so a gradient method does at
most six backward passes per image whatever the number of classes; the few maps a report
draws (spread samples, best and worst rows) are kept from that pass at feature resolution.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cam_keras.cam import BaseCAM
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.inputs import note_assumed_resize
from cam_keras.cam.postprocessing import NO_POSTPROCESSING, MapPostprocessing
from cam_keras.data.batches import decode_all, prefetched_batches
from cam_keras.data.class_folders import LabelledImage as Item
from cam_keras.data.class_folders import class_folder_images
from cam_keras.data.images import FittedImage, decode_fitted
from cam_keras.data.resize import Window, fit_window
from cam_keras.errors import DatasetError, ImageError, UsageError, option
from cam_keras.evaluate.annotations import clip_boxes, load_mask, mask_file, read_boxes
from cam_keras.evaluate.faithfulness import FaithfulnessScores, faithfulness
from cam_keras.evaluate.metrics import ClassificationMetrics, LocalizationMetrics, Scored, TopKClassification
from cam_keras.progress import Progress
from cam_keras.render.masks import MaskRule
from cam_keras.render.pictures import scale_maps_to

logger = logging.getLogger(__name__)

TOP_K = 5  # top-5 classification and localization


@dataclass
class KeptMaps:
    """Raw maps ``(h, w)`` at feature resolution of the rows a report draws, as
    ``(row index, map)``: ``samples`` (predicted class; spread over classes), ``best`` and
    ``worst`` (true class; highest and lowest true-class IoU)."""

    samples: list[tuple[int, np.ndarray]] = field(default_factory=list)
    best: list[tuple[int, np.ndarray]] = field(default_factory=list)
    worst: list[tuple[int, np.ndarray]] = field(default_factory=list)


@dataclass
class Evaluation:
    """Metrics over a dataset, one row per scored image, and the files not scored.

    ``threshold_curve`` (localization only) has one row per map threshold; ``boxes`` are the
    true boxes used (clipped to their images); ``kept`` the maps reports draw; ``input_size``
    and ``resize`` how images were fitted to the model (where its maps lie on an image:
    :func:`cam_keras.data.resize.fit_window`); ``maps`` how the maps were made (augmentation
    and post-processing settings, for the report).
    """

    summary: dict
    rows: list[dict]
    class_names: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # the metrics' keys of each row, the per-image CSV columns after the path
    boxes: dict[str, list] = field(repr=False, default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    confusion: np.ndarray | None = field(repr=False, default=None)
    threshold_curve: list[dict] = field(repr=False, default_factory=list)
    boxes_without_image: list[str] = field(default_factory=list)
    kept: KeptMaps = field(repr=False, default_factory=KeptMaps)
    input_size: tuple[int, int] | None = None
    resize: str = "squash"
    maps: dict = field(default_factory=dict)

    def at_threshold(self, threshold: float) -> dict:
        """The paper's box metrics at another map ``threshold``, read from :attr:`threshold_curve`
        (the same pass, no new maps): ``threshold``, ``top1_loc``, ``top5_loc``,
        ``gt_known_loc`` and ``mean_iou_gt_known``, as an evaluation at that threshold reports them.

        Raises:
            UsageError: a classification-only evaluation, or ``threshold`` not on the curve's
                grid (0.00 to 0.99 in steps of 0.01).

        Example:
            >>> evaluation.at_threshold(0.2)["top1_loc"]
        """
        rows = [row for row in self.threshold_curve if abs(row["threshold"] - threshold) < 1e-9]
        if not rows:
            raise UsageError(
                f"no box metrics at threshold {threshold!r}: an evaluation with boxes holds thresholds "
                "0.00 to 0.99 in steps of 0.01"
            )
        return {key: rows[0][key] for key in ("threshold", "top1_loc", "top5_loc", "gt_known_loc", "mean_iou_gt_known")}

    def window(self, original_size: tuple[int, int]) -> Window:
        """Where the model input lies on an image of ``original_size`` (its maps' place)."""
        return fit_window(original_size, self.input_size, self.resize) if self.input_size else Window()


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """``threshold`` if it is a fraction in [0, 1], else :class:`UsageError` naming it (the
    option ``name``)."""
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"{option(name)} must be a fraction of the map maximum between 0 and 1, got {threshold}")
    return float(threshold)


def spread_over_classes(labels: Sequence[int], count: int) -> list[int]:
    """Indices of ``count`` items taken round robin over classes (first of each class, then
    second, ...), so every class is shown before any is shown twice.

    Example:
        >>> spread_over_classes([0, 0, 0, 1, 2, 2], 4)
        [0, 3, 4, 1]
    """
    queues: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        queues.setdefault(label, []).append(index)
    ordered = [queues[label] for label in sorted(queues)]
    chosen = [q[depth] for depth in range(max(map(len, ordered), default=0)) for q in ordered if depth < len(q)]
    return chosen[: max(0, count)]


def _scan(explainer: BaseCAM, data_dir: Path) -> list[Item]:
    """Readable images of ``DATA_DIR/<class>/`` for the model's classes, in sorted order."""
    return class_folder_images(data_dir, explainer.class_names)


def _ask(
    explainer: BaseCAM, batch: np.ndarray, labels: Sequence[int] | None, map_k: int
) -> tuple[list[list[int]], list[list[float]], list[dict[int, np.ndarray]]]:
    """Ranked classes (up to :data:`TOP_K`), their probabilities, and raw maps ``{class: (h, w)}``
    of the top ``map_k`` predictions and, when ``labels`` are given, of each image's true class."""
    first = explainer.explain_batch(batch, None, top_k=map_k, upsample=False)
    num_classes = first["logits"].shape[1]
    ranked, chances, raw = [], [], []
    for indices, maps, logits, probabilities in zip(
        first["class_indices"], first["raw_maps"], first["logits"], first["probabilities"]
    ):
        top = indices.tolist()
        rest = [c for c in np.argsort(-logits, kind="stable").tolist() if c not in top]
        ranked.append((top + rest)[: min(TOP_K, num_classes)])
        chances.append([float(probabilities[c]) for c in ranked[-1]])
        raw.append(dict(zip(top, maps)))
    if labels is not None and any(label not in maps for label, maps in zip(labels, raw)):
        # the whole batch (not only the images missing their true class) keeps shapes stable for tracing
        second = explainer.explain_batch(batch, [[label] for label in labels], upsample=False)
        for maps, label, kept in zip(second["raw_maps"], labels, raw):
            kept.setdefault(label, maps[0])
    return ranked, chances, raw


def _explained(
    explainer: BaseCAM, items: list[Item], batch_size: int, map_k: int, need_true: bool, progress: bool, skipped: list
) -> Iterator[tuple[Item, tuple[int, int], list[int], dict[int, np.ndarray], dict]]:
    """``(item, original (height, width), ranked classes, raw maps, what a gallery shows of it:
    :func:`_seen`)`` per readable image;
    unreadable ones are appended to ``skipped``. Files are decoded ahead and fitted to the
    model input as in training, by the one decode -> batch iterator
    (:func:`cam_keras.data.batches.prefetched_batches`)."""
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    shown = Progress(len(items), "image", "explaining") if progress and items else None
    scored, skipped_before = 0, len(skipped)

    def skip(item: Item, error: ImageError) -> None:
        skipped.append({"path": item.path, "reason": error.reason})

    for batch in prefetched_batches(items, partial(_fitted, explainer), batch_size, skip=skip):
        chunk, sizes = [item for item, _ in batch], [fitted.original_size for _, fitted in batch]
        note_assumed_resize(explainer.model, explainer.contract.inputs, sizes)
        labels = _filled([item.label for item in chunk], batch_size) if need_true else None
        inputs = np.stack(_filled([fitted.model_input for _, fitted in batch], batch_size)).astype(np.float32)
        ranked, chances, raw = _ask(explainer, inputs, labels, map_k)  # the fill's answers fall off the zip
        for item, size, classes, probabilities, maps in zip(chunk, sizes, ranked, chances, raw):
            yield item, size, classes, maps, _seen(size, classes, probabilities, maps)
        scored += len(batch)
        if shown:
            shown.update(scored + len(skipped) - skipped_before)  # images scored or skipped so far
    if shown:
        shown.close()


def _filled(values: list, size: int) -> list:
    """``values`` filled up to ``size`` with copies of its last: a short last batch keeps the
    shape of the others, so the explainer's function is traced once per evaluation, not twice."""
    return values + values[-1:] * (size - len(values))


def _fitted(explainer: BaseCAM, item: Item) -> FittedImage:
    """``item``'s file decoded and fitted to the model's input under its resize policy."""
    return decode_fitted(item.path, explainer.input_size, explainer.contract.inputs.resize)


def _seen(size: tuple[int, int], ranked: list[int], probabilities: list[float], raw: dict[int, np.ndarray]) -> dict:
    """An image's entries for its gallery tile, kept in its row (not in ``per_image.csv``'s metric
    columns): original ``image_size`` (height, width), ranked classes and their probabilities,
    and the predicted class's raw map (a few hundred bytes) for its thumbnail."""
    return {
        "image_size": size,
        "ranked_classes": ranked,
        "ranked_probabilities": probabilities,
        "predicted_map": raw[ranked[0]].copy(),  # not a view holding the whole batch
    }


def _maps_on_image(
    explainer: BaseCAM,
    raw: dict[int, np.ndarray],
    classes: list[int],
    size: tuple[int, int],
    postprocessing: MapPostprocessing,
) -> dict[int, np.ndarray]:
    """``{class: map}`` at the image's ``size`` in [0, 1], placed where the model input lies on
    the image (0 outside: a crop's cut-away margins hold no evidence), then normalized as
    ``postprocessing`` says."""
    window = fit_window(size, explainer.input_size, explainer.contract.inputs.resize)
    maps = np.stack([raw[c] for c in classes])
    scaled = scale_maps_to(maps, size, placement=window.placement(size, maps.shape[1:]))
    return dict(zip(classes, postprocessing.normalize(scaled)))


def map_settings(
    explainer: BaseCAM, augmentation: MapAugmentation | None, postprocessing: MapPostprocessing | None
) -> tuple[BaseCAM, MapPostprocessing, dict]:
    """The explainer with ``augmentation`` and the class-weight clamp of ``postprocessing``
    applied, the post-processing and how maps are made (for the report).

    Raises:
        UsageError: ``clamp_negative_weights`` for a method without class weights (not CAM).
    """
    postprocessing = postprocessing or NO_POSTPROCESSING
    explainer = explainer.augmented(augmentation)
    if postprocessing.clamp_negative_weights:
        if not hasattr(explainer, "clamped"):
            raise UsageError(
                f"clamp_negative_weights clamps CAM's class weights; method {explainer.method} has none (use cam)"
            )
        explainer = explainer.clamped()
    settings = {
        "method": explainer.method,
        "augmentation": explainer.augmentation.as_dict(),
        **postprocessing.as_dict(),
    }
    return explainer, postprocessing, settings


class _Keeper:
    """Keeps the raw maps of the sampled rows and of the ``extremes`` best and worst rows."""

    def __init__(self, sampled: Sequence[int], extremes: int) -> None:
        self.sampled = {position: rank for rank, position in enumerate(sampled)}
        self.extremes = max(0, extremes)
        self.samples: list[tuple[int, int, np.ndarray]] = []
        self.best: list[tuple[float, int, np.ndarray]] = []
        self.worst: list[tuple[float, int, np.ndarray]] = []

    def offer(self, position: int, row: int, predicted_map: np.ndarray, true_map: np.ndarray, score: float) -> None:
        """Row ``row`` (item ``position`` of the scan) with its maps and true-class IoU ``score``."""
        predicted_map, true_map = predicted_map.copy(), true_map.copy()  # not views holding the whole batch
        if position in self.sampled:
            self.samples.append((self.sampled[position], row, predicted_map))
        if self.extremes:
            self.best = sorted([*self.best, (-score, row, true_map)], key=lambda e: e[:2])[: self.extremes]
            self.worst = sorted([*self.worst, (score, row, true_map)], key=lambda e: e[:2])[: self.extremes]

    def kept(self) -> KeptMaps:
        """The kept maps, samples in the order they were chosen (round robin over classes)."""
        return KeptMaps(
            [sample[1:] for sample in sorted(self.samples)], [e[1:] for e in self.best], [e[1:] for e in self.worst]
        )


def _check_masks(masks_dir: Path, items: list[Item]) -> None:
    if not masks_dir.is_dir():
        raise DatasetError(
            f"{option('masks_dir')} {masks_dir}: folder not found (expected MASKS/<class>/<image stem>.png)"
        )
    matched = sum(mask_file(masks_dir, item.relative) is not None for item in items)
    if not matched:
        raise DatasetError(
            f"{option('masks_dir')} {masks_dir}: no mask matches any image (e.g. {items[0].relative} needs "
            f"{Path(masks_dir, items[0].relative).with_suffix('.png')}); PxAP and mIoU cannot be computed"
        )
    if matched < len(items):
        logger.warning(
            "%d of %d image(s) have no mask in %s; PxAP and mIoU use the %d that do",
            len(items) - matched,
            len(items),
            masks_dir,
            matched,
        )


def evaluate_localization(
    explainer: BaseCAM,
    data_dir: str | os.PathLike,
    boxes_csv: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    *,
    threshold: float = 0.2,
    batch_size: int = 32,
    progress: bool = True,
    samples: int = 16,
    extremes: int = 4,
    resize: str | None = None,
    mask_threshold: float = MaskRule.foreground,
    augmentation: MapAugmentation | None = None,
    postprocessing: MapPostprocessing | None = None,
) -> Evaluation:
    """Classification and localization metrics of ``explainer`` on ``DATA_DIR/<class>/<image>``.

    Boxes come from ``boxes_csv`` (default ``DATA_DIR/boxes.csv``), compared at each
    image's original size (boxes reaching outside the image are clipped, with a warning);
    ``masks_dir`` (same relative paths) adds PxAP and the mIoU of pseudo-masks cut at
    ``mask_threshold`` (and at the best threshold). Images without boxes are skipped with one
    warning and listed in ``Evaluation.skipped``; so are unreadable files; box rows naming no
    image are listed in ``Evaluation.boxes_without_image``. ``threshold`` is the paper's box
    threshold (fraction of the map max). The maps of ``samples`` images spread over classes
    and of the ``extremes`` best and worst are kept for reports. Images are fitted to the
    model as it was trained (its saved resize policy, else squash) unless ``resize`` says
    otherwise, and its maps are placed where the model input lies on each image.
    ``augmentation`` (:class:`~cam_keras.cam.augmentation.MapAugmentation`) replaces the
    explainer's own; ``postprocessing``
    (:class:`~cam_keras.cam.postprocessing.MapPostprocessing`) clamps CAM's class weights and
    normalizes maps by a percentile. Both are recorded in ``Evaluation.maps``.

    Example:
        >>> evaluation = evaluate_localization(CAM(model), "data/test", threshold=0.5)
        >>> print(format_summary(evaluation.summary))
    """
    check_threshold(threshold)
    check_threshold(mask_threshold, "mask_threshold")
    explainer, postprocessing, settings = map_settings(explainer.resized(resize), augmentation, postprocessing)
    data_dir = Path(data_dir)
    boxes_path = Path(boxes_csv) if boxes_csv else data_dir / "boxes.csv"
    boxed = _boxed_items(_scan(explainer, data_dir), read_boxes(boxes_path), boxes_path, data_dir)
    if masks_dir:
        _check_masks(Path(masks_dir), boxed.items)
    metrics = LocalizationMetrics(threshold, mask_threshold=mask_threshold, class_names=explainer.class_names)
    classification = ClassificationMetrics(explainer.class_names)
    keeper = _Keeper(spread_over_classes([item.label for item in boxed.items], samples), extremes)
    positions = {item: index for index, item in enumerate(boxed.items)}
    rows, used, clipped = [], {}, []
    num_maps = min(TOP_K, len(explainer.class_names))
    scored = _explained(explainer, boxed.items, batch_size, num_maps, True, progress, boxed.skipped)
    for item, size, ranked, raw, seen in scored:
        truths, cut = clip_boxes(boxed.boxes[item.relative], size, f"{boxes_path}, row for {item.relative}")
        clipped += [item.relative] if cut else []
        maps = _maps_on_image(explainer, raw, sorted({item.label, *ranked}), size, postprocessing)
        mask = load_mask(masks_dir, item.relative, size) if masks_dir else None
        row = metrics.update(item.label, ranked, maps[item.label], [maps[c] for c in ranked], truths, mask)
        classification.update(item.label, ranked)
        rows.append({"path": item.path, "relative_path": item.relative, **row, **seen})
        used[item.relative] = truths
        keeper.offer(positions[item], len(rows) - 1, raw[ranked[0]], raw[item.label], row["true_class_iou"])
    if clipped:
        logger.warning(
            "%d image(s) have boxes reaching outside the image in %s; clipped: %s",
            len(clipped),
            boxes_path,
            ", ".join(clipped[:5]),
        )
    summary = {**metrics.summary(), **_recall(classification), "skipped": len(boxed.skipped)}
    return Evaluation(
        summary=summary,
        rows=rows,
        class_names=explainer.class_names,
        fields=metrics.fields,
        boxes=used,
        skipped=boxed.skipped,
        per_class=classification.per_class(),
        confusion=classification.confusion,
        threshold_curve=metrics.threshold_curve(),
        boxes_without_image=boxed.orphans,
        kept=keeper.kept(),
        input_size=explainer.input_size,
        resize=explainer.contract.inputs.resize,
        maps=settings,
    )


def _recall(classification: ClassificationMetrics) -> dict:
    return {"mean_class_recall": classification.summary()["mean_class_recall"]}


class _Boxed(NamedTuple):
    items: list[Item]  # images with boxes, to score
    boxes: dict[str, list]  # relative path -> boxes
    skipped: list[dict]  # images without boxes (unreadable ones are added while scoring)
    orphans: list[str]  # box rows naming no image


def _boxed_items(files: list[Item], boxes: dict[str, list], boxes_path: Path, data_dir: Path) -> _Boxed:
    """Split the scanned images into those with boxes and those without (one warning), and
    name the box rows of no image (one warning).

    Raises:
        DatasetError: no image has a box.
    """
    items = [item for item in files if item.relative in boxes]
    skipped = [
        {"path": item.path, "reason": f"no box in {boxes_path.name}"} for item in files if item.relative not in boxes
    ]
    if skipped:
        logger.warning(
            "%d image(s) have no row in %s and are not scored, e.g. %s", len(skipped), boxes_path, skipped[0]["path"]
        )
    orphans = sorted(set(boxes) - {item.relative for item in files})
    if orphans:
        logger.warning(
            "%d path(s) in %s name no readable image under %s and are ignored: %s",
            len(orphans),
            boxes_path,
            data_dir,
            ", ".join(orphans[:5]) + (", ..." if len(orphans) > 5 else ""),
        )
    if not items:
        raise DatasetError(f"{data_dir}: no image has a box in {boxes_path} (paths must be relative to {data_dir})")
    return _Boxed(items, boxes, skipped, orphans)


def evaluate_classification(
    explainer: BaseCAM,
    data_dir: str | os.PathLike,
    *,
    batch_size: int = 32,
    progress: bool = True,
    samples: int = 16,
    resize: str | None = None,
) -> Evaluation:
    """Accuracy, per-class precision/recall and the confusion matrix on a plain
    ``DATA_DIR/<class>/<image>`` set (no boxes); keeps the predicted-class maps of ``samples``
    images spread over classes. Asks the explainer for one map per image; ``resize`` as in
    :func:`evaluate_localization`.

    Example:
        >>> evaluation = evaluate_classification(CAM(model), "photos/test")
        >>> evaluation.summary["top1_cls"], evaluation.per_class[0]["recall"]
    """
    explainer = explainer.resized(resize)
    data_dir = Path(data_dir)
    items = _scan(explainer, data_dir)
    classification = ClassificationMetrics(explainer.class_names)
    keeper = _Keeper(spread_over_classes([item.label for item in items], samples), 0)
    positions = {item: index for index, item in enumerate(items)}
    topk = TopKClassification()
    rows, skipped = [], []
    for item, _, ranked, raw, seen in _explained(explainer, items, batch_size, 1, False, progress, skipped):
        classification.update(item.label, ranked)
        row = topk.update(Scored(item.label, ranked, raw[ranked[0]]))
        rows.append({"path": item.path, "relative_path": item.relative, **row, **seen})
        keeper.offer(positions[item], len(rows) - 1, raw[ranked[0]], raw[ranked[0]], 0.0)
    summary = {**classification.summary(), "skipped": len(skipped)}
    return Evaluation(
        summary=summary,
        rows=rows,
        class_names=explainer.class_names,
        fields=topk.fields,
        skipped=skipped,
        per_class=classification.per_class(),
        confusion=classification.confusion,
        kept=keeper.kept(),
        input_size=explainer.input_size,
        resize=explainer.contract.inputs.resize,
    )


def calibrate_threshold(
    explainer: BaseCAM, data_dir: str | os.PathLike, boxes_csv: str | os.PathLike | None = None, **options
) -> float:
    """The box threshold with the best GT-known localization on a calibration split with its
    own boxes, held out from the images scored (Choe et al., "Evaluating Weakly Supervised
    Object Localization Methods Right", CVPR 2020: choose hyper-parameters on held-out
    full supervision, never on the test set). ``options`` go to :func:`evaluate_localization`.

    Example:
        >>> threshold = calibrate_threshold(CAM(model), "data/calibration")
        >>> evaluate_localization(CAM(model), "data/test", threshold=threshold)
    """
    options = {"progress": False, **options, "samples": 0, "extremes": 0}
    return evaluate_localization(explainer, data_dir, boxes_csv, **options).summary["best_threshold"]


def evaluate_faithfulness(
    explainer: BaseCAM,
    data_dir: str | os.PathLike,
    limit: int = 64,
    seed: int = 0,
    steps: int = 16,
    resize: str | None = None,
) -> FaithfulnessScores:
    """Deletion/insertion AUC and average drop/increase of the true-class maps on up to
    ``limit`` images of ``DATA_DIR/<class>/<image>`` (chosen with ``seed``).

    Example:
        >>> evaluate_faithfulness(CAM(model), "data/test", limit=64).deletion_auc
    """
    if limit < 1:
        raise UsageError(f"faithfulness needs at least 1 image, got {limit}")
    explainer = explainer.resized(resize)
    items = _scan(explainer, Path(data_dir))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    fitted = decode_all([items[i] for i in chosen], partial(_fitted, explainer))
    images = np.stack([decoded.model_input for decoded in fitted]).astype(np.float32)
    labels = np.array([items[i].label for i in chosen])
    maps = explainer.explain_batch(images, labels.tolist())["maps"][:, 0]
    return faithfulness(explainer.model, images, maps, labels, steps=steps)
