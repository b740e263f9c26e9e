"""Mean IoU of label images (PASCAL VOC's protocol): per class, the intersections summed over
the whole split divided by the unions summed over it, background (index 0) a class of its own;
the mean over the classes that occur in the truths or the predictions. Truth pixels marked
:data:`~cam_keras.render.masks.UNSURE` are left out; a predicted unsure pixel belongs to no
class, so it counts against its true class.

:class:`LabelConfusion` scores finished label images; :class:`IoUCurve` scores at once every
threshold of a map-to-label rule without an unsure band, to choose the threshold (it is the
:class:`~cam_keras.evaluate.metrics.MaskIoU` metric and the calibration of a masks job).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cam_keras.render.masks import BACKGROUND, UNSURE

MAP_THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)  # thresholds tried on maps in [0, 1]: 0.00 to 0.99


def iou_table(intersection: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """``{label: IoU}`` from per-label pixel counts, for the labels with a non-empty union."""
    union = predicted + truth - intersection
    return {label: float(intersection[label] / union[label]) for label in range(len(union)) if union[label] > 0}


def mean_iou(ious: dict[int, float]) -> float:
    """The mean of :func:`iou_table`'s values (0 for none)."""
    return float(np.mean(list(ious.values()))) if ious else 0.0


def named(ious: dict[int, float], class_names: Sequence[str]) -> dict[str, float]:
    """``{name: IoU}`` with ``background`` for label 0 and a class's name for its label (its
    index + 1; its number when the name is unknown)."""

    def name(label: int) -> str:
        if label == BACKGROUND:
            return "background"
        return class_names[label - 1] if label - 1 < len(class_names) else str(label - 1)

    return {name(label): value for label, value in ious.items()}


def _labels_seen(counts: np.ndarray, *labels: np.ndarray) -> int:
    """How many labels the counts must hold: those counted so far and those of ``labels``."""
    return max(len(counts), *(int(each.max(initial=0)) + 1 for each in labels))


def _grown(counts: np.ndarray, size: int) -> np.ndarray:
    """``counts`` padded with zeros along its last axis to ``size`` labels."""
    if counts.shape[-1] >= size:
        return counts
    return np.concatenate([counts, np.zeros((*counts.shape[:-1], size - counts.shape[-1]), counts.dtype)], axis=-1)


class LabelConfusion:
    """Intersections, predicted and true pixels per label, summed over label images.

    Example:
        >>> confusion = LabelConfusion()
        >>> confusion.add(np.array([[0, 1]]), np.array([[0, 1]]))
        >>> confusion.ious()
        {0: 1.0, 1: 1.0}
    """

    def __init__(self) -> None:
        self.intersection = self.predicted = self.truth = np.zeros(1, np.int64)

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Count one image's predicted and true labels (same shape; true unsure pixels left out)."""
        valid = truth != UNSURE
        predicted, truth = predicted[valid].astype(np.int64), truth[valid].astype(np.int64)
        size = _labels_seen(self.truth, predicted[predicted != UNSURE], truth)
        self.intersection, self.predicted = _grown(self.intersection, size), _grown(self.predicted, size)
        self.truth = _grown(self.truth, size)
        self.intersection += np.bincount(truth[predicted == truth], minlength=size)
        self.predicted += np.bincount(predicted[predicted != UNSURE], minlength=size)
        self.truth += np.bincount(truth, minlength=size)

    def ious(self) -> dict[int, float]:
        return iou_table(self.intersection, self.predicted, self.truth)


def _above(labels: np.ndarray, levels: np.ndarray, size: int, steps: int) -> np.ndarray:
    """``(size, steps)``: how many pixels of each label have a level of at least each step."""
    hist = np.bincount(labels * (steps + 1) + levels + 1, minlength=size * (steps + 1)).reshape(size, steps + 1)
    return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]


class IoUCurve:
    """Per-label IoU counts at every threshold ``t`` of ``thresholds`` (ascending) for the rule
    "a pixel is its candidate label where its peak map value is at least ``t``, else background".

    Example:
        >>> curve = IoUCurve(np.array([0.25, 0.5, 0.75]))
        >>> curve.add(np.array([[0.3, 0.8]]), np.array([[1, 1]]), np.array([[0, 1]]))
        >>> curve.ious(0), curve.ious(1)
        ({0: 0.0, 1: 0.5}, {0: 1.0, 1: 1.0})
    """

    def __init__(self, thresholds: np.ndarray) -> None:
        self.thresholds = np.asarray(thresholds, np.float64)
        steps = len(self.thresholds)
        self.intersection = self.predicted = np.zeros((steps, 1), np.int64)
        self.truth = np.zeros(1, np.int64)

    def add(self, peak: np.ndarray, candidate: np.ndarray, truth: np.ndarray) -> None:
        """One image: its peak map values ``(H, W)`` in [0, 1], the label each pixel takes
        above the threshold (class + 1), and its true labels (unsure pixels left out)."""
        valid = truth != UNSURE
        peak, candidate, truth = peak[valid], candidate[valid].astype(np.int64), truth[valid].astype(np.int64)
        steps = len(self.thresholds)
        size = _labels_seen(self.truth, candidate, truth)
        self.intersection, self.predicted = _grown(self.intersection, size), _grown(self.predicted, size)
        self.truth = _grown(self.truth, size)
        levels = np.searchsorted(self.thresholds, peak, side="right") - 1  # -1: below every threshold
        above = _above(candidate, levels, size, steps)
        hits = _above(candidate[candidate == truth], levels[candidate == truth], size, steps)
        background_above = _above(candidate[truth == BACKGROUND], levels[truth == BACKGROUND], size, steps)
        above[BACKGROUND] = hits[BACKGROUND] = 0  # label 0 is never a candidate: nothing is labelled by it above
        self.predicted += above.T
        self.predicted[:, BACKGROUND] += len(peak) - above.sum(axis=0)
        self.intersection += hits.T
        self.intersection[:, BACKGROUND] += np.count_nonzero(truth == BACKGROUND) - background_above[1:].sum(axis=0)
        self.truth += np.bincount(truth, minlength=size)

    def ious(self, step: int) -> dict[int, float]:
        """``{label: IoU}`` at ``thresholds[step]``."""
        return iou_table(self.intersection[step], self.predicted[step], self.truth)

    def step(self, threshold: float) -> int:
        """The index of the threshold nearest ``threshold``."""
        return int(np.argmin(np.abs(self.thresholds - threshold)))

    def best_step(self) -> int:
        """The threshold index with the highest mean IoU (the lowest on ties)."""
        return int(np.argmax([mean_iou(self.ious(step)) for step in range(len(self.thresholds))]))
