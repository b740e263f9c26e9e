"""Weakly-supervised localization metrics, accumulated image by image.

- Top-1 / top-5 localization (Russakovsky et al.; the CAM paper): the predicted class is
  right and the box of its map overlaps a true box with IoU >= 0.5.
- GT-known localization: the box of the true class's map has IoU >= 0.5.
- MaxBoxAccV2 (Choe et al., CVPR 2020): for IoU levels 0.3/0.5/0.7, the best box accuracy
  over map thresholds, using the best-matching box among all connected regions; averaged.
- PxAP (Choe et al.): average precision of map pixels against object masks.
- mIoU (PASCAL VOC): the true-class map's pseudo-mask against the object masks, per class
  over the split, background included (:mod:`cam_keras.render.mask_iou`).
- Pointing game (Zhang et al., 2016): the map's maximum lies inside a true box.
- Classification: accuracy, per-class precision and recall, the confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from cam_keras.evaluate.boxes import Box, best_iou, box_from_map, component_boxes_at
from cam_keras.render.mask_iou import MAP_THRESHOLDS, IoUCurve, mean_iou, named
from cam_keras.render.masks import MaskRule

MAXBOXACC_IOUS = (0.3, 0.5, 0.7)
PAPER_THRESHOLD = 0.2  # Zhou et al., 2016: boxes from the region above 20% of the map maximum
THRESHOLDS = MAP_THRESHOLDS  # the box thresholds tried by MaxBoxAccV2 and those of pseudo-masks: one grid


def box_accuracy_curve(heatmap: np.ndarray, truths: Sequence[Box], thresholds: np.ndarray = THRESHOLDS) -> np.ndarray:
    """Best IoU with the truths at each threshold: ``(len(thresholds), 2)`` float array whose
    columns are (largest region only, best of all regions).

    Example:
        >>> box_accuracy_curve(heatmap, [(4, 4, 8, 8)]).shape  # 100 thresholds x 2
        (100, 2)
    """
    curve = np.zeros((len(thresholds), 2))
    for row, regions in enumerate(component_boxes_at(heatmap, thresholds)):
        curve[row, 0] = best_iou(regions[0][1], truths)
        curve[row, 1] = max(best_iou(box, truths) for _, box in regions)
    return curve


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise, as in PxAP).

    Example:
        >>> average_precision(np.array([0.9, 0.1, 0.8]), np.array([True, False, True]))
        1.0
    """
    order = np.argsort(-scores, kind="stable")
    hits = positives[order].astype(np.float64)
    if hits.sum() == 0:
        return 0.0
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    return float(np.sum(precision * hits) / hits.sum())


@dataclass(frozen=True)
class Scored:
    """One image as the metrics see it.

    Attributes:
        true_class: label index.
        ranked_classes: predicted classes, most probable first (top-5 or fewer).
        true_map: ``(h, w)`` map of the true class, at the size the boxes refer to.
        ranked_maps: maps of ``ranked_classes``, same size.
        truths: ground-truth boxes (any one match counts).
        mask: optional ``(h, w)`` bool object mask for PxAP.
    """

    true_class: int
    ranked_classes: Sequence[int]
    true_map: np.ndarray
    ranked_maps: Sequence[np.ndarray] = ()
    truths: Sequence[Box] = ()
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class MetricSettings:
    """What every metric is built with: the paper's box threshold, the IoU that counts, the
    map threshold of pseudo-masks and the class names (for per-class results)."""

    threshold: float = PAPER_THRESHOLD
    iou_threshold: float = 0.5
    mask_threshold: float = MaskRule.foreground
    class_names: tuple[str, ...] = ()


class Metric(Protocol):
    """A metric accumulated image by image.

    ``fields`` are the keys of the row :meth:`update` returns (the columns of
    ``per_image.csv``); :meth:`summary` gives the ``report.json`` metrics; ``labels`` names
    summary keys for the printed table. A new metric is a class and a line in :data:`METRICS`.
    """

    fields: ClassVar[tuple[str, ...]]
    labels: ClassVar[dict[str, str]]

    def __init__(self, settings: MetricSettings) -> None: ...

    def update(self, image: Scored) -> dict: ...

    def summary(self) -> dict: ...


class TopKClassification:
    """Top-1 and top-5 classification accuracy."""

    fields = ("true_class", "predicted_class", "correct_top1", "correct_top5")
    labels = {"top1_cls": "top-1 classification", "top5_cls": "top-5 classification"}

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self._hits: list[tuple[bool, bool]] = []

    def update(self, image: Scored) -> dict:
        ranked = list(image.ranked_classes)
        row = {
            "true_class": int(image.true_class),
            "predicted_class": int(ranked[0]),
            "correct_top1": ranked[0] == image.true_class,
            "correct_top5": image.true_class in ranked[:5],
        }
        self._hits.append((row["correct_top1"], row["correct_top5"]))
        return row

    def summary(self) -> dict:
        top1, top5 = np.mean(self._hits, axis=0)
        return {"top1_cls": float(top1), "top5_cls": float(top5)}


class BoxLocalization:
    """Top-1 / top-5 and GT-known localization with the paper's box protocol.

    Per image: ``predicted_class_map_box`` and ``true_class_map_box``, the boxes drawn from
    the predicted and the true class's maps, their best IoU with any of ``gt_boxes`` (the
    ground truth, clipped to the image), and whether each localization counts."""

    fields = (
        "predicted_class_map_box",
        "predicted_iou",
        "true_class_map_box",
        "true_class_iou",
        "gt_boxes",
        "top1_loc",
        "top5_loc",
        "gt_known_loc",
    )
    labels = {
        "threshold": "box threshold",
        "threshold_source": "  chosen by",  # set by whoever chose the threshold (the CLI, the demo)
        "top1_loc": "top-1 localization",
        "top5_loc": "top-5 localization",
        "gt_known_loc": "GT-known localization",
        "mean_iou_gt_known": "mean IoU (true class)",
    }

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self.settings = settings
        self._rows: list[dict] = []

    def update(self, image: Scored) -> dict:
        threshold, enough = self.settings.threshold, self.settings.iou_threshold
        boxes = [box_from_map(m, threshold) for m in image.ranked_maps]
        ious = [best_iou(box, image.truths) for box in boxes]
        true_box = box_from_map(image.true_map, threshold)
        true_iou = best_iou(true_box, image.truths)
        ranked = list(image.ranked_classes)
        row = {
            "predicted_class_map_box": boxes[0],
            "predicted_iou": ious[0],
            "true_class_map_box": true_box,
            "true_class_iou": true_iou,
            "gt_boxes": [tuple(truth) for truth in image.truths],
            "top1_loc": ranked[0] == image.true_class and ious[0] >= enough,
            "top5_loc": any(c == image.true_class and i >= enough for c, i in zip(ranked[:5], ious[:5])),
            "gt_known_loc": true_iou >= enough,
        }
        self._rows.append(row)
        return row

    def summary(self) -> dict:
        mean = lambda key: float(np.mean([row[key] for row in self._rows]))  # noqa: E731
        return {
            "threshold": self.settings.threshold,
            "iou_threshold": self.settings.iou_threshold,
            **{key: mean(key) for key in ("top1_loc", "top5_loc", "gt_known_loc")},
            "mean_iou_gt_known": mean("true_class_iou"),
        }


class PointingGame:
    """The true-class map's maximum lies inside a true box."""

    fields = ("pointing_hit",)
    labels = {"pointing_game": "pointing game"}

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self._hits: list[bool] = []

    def update(self, image: Scored) -> dict:
        peak = np.unravel_index(np.argmax(image.true_map), image.true_map.shape)
        hit = any(b[0] <= peak[1] < b[2] and b[1] <= peak[0] < b[3] for b in image.truths)
        self._hits.append(hit)
        return {"pointing_hit": hit}

    def summary(self) -> dict:
        return {"pointing_game": float(np.mean(self._hits))}


class MaxBoxAccuracy:
    """MaxBoxAccV2, the threshold with the best GT-known accuracy, and the per-threshold curve.

    The curve also holds the paper's box metrics at every threshold, from the same labelling:
    a top-1 (top-5) hit is the true class ranked first (in the top 5) with the true-class
    map's box at IoU >= ``iou_threshold``, which is exactly :class:`BoxLocalization`'s count,
    since the map of a class is the same whichever rank asks for it.
    """

    fields = ()
    labels = {"maxboxacc_v2": "MaxBoxAccV2 (any threshold)", "best_threshold": "best threshold on this set"}

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self.iou_threshold = settings.iou_threshold
        self._curves: list[np.ndarray] = []
        self._ranks: list[tuple[bool, bool]] = []  # per image: true class ranked first, in the top 5

    def update(self, image: Scored) -> dict:
        self._curves.append(box_accuracy_curve(image.true_map, image.truths))
        ranked = list(image.ranked_classes)
        self._ranks.append((ranked[0] == image.true_class, image.true_class in ranked[:5]))
        return {}

    def best_threshold(self) -> float:
        """Map threshold with the highest GT-known accuracy (largest region, IoU >= iou_threshold);
        the lowest such threshold on ties."""
        accuracy = (np.stack(self._curves)[:, :, 0] >= self.iou_threshold).mean(axis=0)
        return float(THRESHOLDS[int(np.argmax(accuracy))])

    def threshold_curve(self) -> list[dict]:
        """Box metrics at every map threshold: one row per threshold with ``top1_loc``,
        ``top5_loc``, ``gt_known_loc`` and ``mean_iou_gt_known`` (the paper's largest region, as
        :class:`BoxLocalization` counts them at that threshold) and ``box_acc_<d>`` (best of all
        regions at IoU >= d, whose maximum over thresholds is MaxBoxAccV2's term)."""
        curves = np.stack(self._curves)
        largest = curves[:, :, 0]
        hits = largest >= self.iou_threshold
        first, in_top5 = (np.array(flags)[:, None] for flags in zip(*self._ranks))
        columns = {
            "top1_loc": (hits & first).mean(axis=0),
            "top5_loc": (hits & in_top5).mean(axis=0),
            "gt_known_loc": hits.mean(axis=0),
            "mean_iou_gt_known": largest.mean(axis=0),
        }
        columns.update({f"box_acc_{d:.1f}": (curves[:, :, 1] >= d).mean(axis=0) for d in MAXBOXACC_IOUS})
        return [
            {"threshold": float(t), **{name: float(values[i]) for name, values in columns.items()}}
            for i, t in enumerate(THRESHOLDS)
        ]

    def summary(self) -> dict:
        curves = np.stack(self._curves)
        largest = {f"{d:.1f}": float((curves[:, :, 0] >= d).mean(axis=0).max()) for d in MAXBOXACC_IOUS}
        any_region = [float((curves[:, :, 1] >= d).mean(axis=0).max()) for d in MAXBOXACC_IOUS]
        return {
            "maxboxacc_v2": float(np.mean(any_region)),
            "maxboxacc_largest_region": largest,
            "best_threshold": self.best_threshold(),
        }


class PixelAveragePrecision:
    """PxAP: average precision of the true-class map's pixels against the object masks (only
    when images come with masks)."""

    fields = ()
    labels = {"pxap": "PxAP"}

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self._pixels: list[tuple[np.ndarray, np.ndarray]] = []

    def update(self, image: Scored) -> dict:
        if image.mask is not None:
            self._pixels.append((image.true_map.ravel(), image.mask.ravel().astype(bool)))
        return {}

    def summary(self) -> dict:
        if not self._pixels:
            return {}
        scores = np.concatenate([s for s, _ in self._pixels])
        positives = np.concatenate([p for _, p in self._pixels])
        return {"pxap": average_precision(scores, positives)}


class MaskIoU:
    """mIoU of pseudo-masks against the object masks (only when images come with masks): a
    pixel is the true class where its map reaches ``mask_threshold``, else background (no unsure
    band); per class over the split, background included, at that threshold and at the best."""

    fields = ()
    labels = {
        "miou": "mIoU (pseudo-masks)",
        "mask_threshold": "  at mask threshold",
        "miou_best": "mIoU at the best threshold",
        "best_mask_threshold": "  best mask threshold",
    }

    def __init__(self, settings: MetricSettings = MetricSettings()) -> None:
        self.settings = settings
        self._curve = IoUCurve(THRESHOLDS)
        self._scored = 0

    def update(self, image: Scored) -> dict:
        if image.mask is not None:
            label = int(image.true_class) + 1
            candidate = np.full(image.true_map.shape, label, np.int64)
            self._curve.add(image.true_map, candidate, np.where(image.mask, label, 0))
            self._scored += 1
        return {}

    def summary(self) -> dict:
        if not self._scored:
            return {}
        step, best = self._curve.step(self.settings.mask_threshold), self._curve.best_step()
        ious = self._curve.ious(step)
        return {
            "miou": mean_iou(ious),
            "mask_threshold": float(THRESHOLDS[step]),
            "mask_iou": named(ious, self.settings.class_names),
            "miou_best": mean_iou(self._curve.ious(best)),
            "best_mask_threshold": float(THRESHOLDS[best]),
        }


#: The localization metrics, in report order: one line per metric.
METRICS: list[type[Metric]] = [
    TopKClassification,
    BoxLocalization,
    PointingGame,
    MaxBoxAccuracy,
    PixelAveragePrecision,
    MaskIoU,
]


def summary_labels() -> dict[str, str]:
    """Printed names of the summary keys: the images counted, then every metric's, in report order."""
    labels = {"images": "images", **ClassificationMetrics.labels}
    for metric in METRICS:
        labels.update(metric.labels)
    return labels


class LocalizationMetrics:
    """Every metric of :data:`METRICS`, accumulated with :meth:`update`, read with :meth:`summary`.

    Args:
        threshold: map threshold of the paper's box protocol (fraction of the map maximum).
        iou_threshold: IoU at which a box counts as correct.
        mask_threshold: map threshold of the pseudo-masks scored by mIoU.
        class_names: the model's classes, naming the per-class mIoU.

    Example:
        >>> metrics = LocalizationMetrics(threshold=0.2)
        >>> metrics.update(
        ...     true_class=0, ranked_classes=[0, 2], true_map=m0, ranked_maps=[m0, m2], truths=[(4, 4, 30, 30)]
        ... )
        >>> metrics.summary()["top1_loc"]
    """

    def __init__(
        self,
        threshold: float = PAPER_THRESHOLD,
        iou_threshold: float = 0.5,
        mask_threshold: float = MaskRule.foreground,
        class_names: Sequence[str] = (),
    ) -> None:
        self.threshold, self.iou_threshold = threshold, iou_threshold
        settings = MetricSettings(threshold, iou_threshold, mask_threshold, tuple(class_names))
        self.metrics = [metric(settings) for metric in METRICS]
        self._rows: list[dict] = []

    @property
    def fields(self) -> tuple[str, ...]:
        """The keys of every row, in metric order (the per-image CSV columns)."""
        return tuple(name for metric in self.metrics for name in metric.fields)

    def update(
        self,
        true_class: int,
        ranked_classes: Sequence[int],
        true_map: np.ndarray,
        ranked_maps: Sequence[np.ndarray],
        truths: Sequence[Box],
        mask: np.ndarray | None = None,
    ) -> dict:
        """Add one image (see :class:`Scored` for the arguments); returns its row: predicted
        box, IoUs and hit flags."""
        image = Scored(true_class, ranked_classes, true_map, ranked_maps, truths, mask)
        row = {key: value for metric in self.metrics for key, value in metric.update(image).items()}
        self._rows.append(row)
        return row

    @property
    def rows(self) -> list[dict]:
        return list(self._rows)

    def _curves(self) -> MaxBoxAccuracy:
        return next(metric for metric in self.metrics if isinstance(metric, MaxBoxAccuracy))

    def best_threshold(self) -> float:
        """See :meth:`MaxBoxAccuracy.best_threshold`."""
        return self._curves().best_threshold()

    def threshold_curve(self) -> list[dict]:
        """See :meth:`MaxBoxAccuracy.threshold_curve`."""
        return self._curves().threshold_curve()

    def summary(self) -> dict:
        """All metrics over the images seen so far (fractions in [0, 1])."""
        if not self._rows:
            raise ValueError("no images were evaluated")
        return {"images": len(self._rows), **{k: v for metric in self.metrics for k, v in metric.summary().items()}}


@dataclass
class ClassificationMetrics:
    """Confusion matrix and top-k accuracy, accumulated with :meth:`update`.

    Example:
        >>> metrics = ClassificationMetrics(("cat", "dog"))
        >>> metrics.update(0, [1, 0]); metrics.summary()["top1_cls"]
        0.0
    """

    labels: ClassVar[dict[str, str]] = {"mean_class_recall": "mean per-class recall"}
    per_class_fields: ClassVar[tuple[str, ...]] = ("class", "images", "predicted", "precision", "recall")
    class_names: tuple[str, ...]
    confusion: np.ndarray = field(init=False)
    _topk_hits: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((len(self.class_names), len(self.class_names)), dtype=np.int64)

    def update(self, true_class: int, ranked_classes: Sequence[int]) -> None:
        """Add one image: its label and predicted classes, most probable first (up to 5)."""
        self.confusion[true_class, ranked_classes[0]] += 1
        self._topk_hits.append(true_class in list(ranked_classes[:5]))

    def per_class(self) -> list[dict]:
        """:attr:`per_class_fields` per class: ``class, images, predicted, precision, recall``
        (precision is empty when the class was never predicted, recall when it has no images)."""
        rows = []
        for index, name in enumerate(self.class_names):
            images, predicted = self.confusion[index].sum(), self.confusion[:, index].sum()
            hits = self.confusion[index, index]
            precision = float(hits / predicted) if predicted else None
            recall = float(hits / images) if images else None
            rows.append(dict(zip(self.per_class_fields, (name, int(images), int(predicted), precision, recall))))
        return rows

    def summary(self) -> dict:
        """``images``, ``top1_cls``, ``top5_cls`` and ``mean_class_recall`` (balanced accuracy)."""
        total = int(self.confusion.sum())
        if not total:
            raise ValueError("no images were evaluated")
        recalls = [row["recall"] for row in self.per_class() if row["recall"] is not None]
        return {
            "images": total,
            "top1_cls": float(np.trace(self.confusion) / total),
            "top5_cls": float(np.mean(self._topk_hits)),
            "mean_class_recall": float(np.mean(recalls)),
        }
