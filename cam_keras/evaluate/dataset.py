"""Score a model's maps on a class-per-folder dataset with ground-truth boxes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from cam_keras.cam import BaseCAM
from cam_keras.cam.maps import scale_maps
from cam_keras.data.folder import scan_class_folders
from cam_keras.data.images import load_image, resize_image
from cam_keras.errors import DatasetError, ImageError
from cam_keras.evaluate.annotations import load_mask, read_boxes
from cam_keras.evaluate.faithfulness import FaithfulnessScores, faithfulness
from cam_keras.evaluate.metrics import LocalizationMetrics

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Metrics over a dataset, one row per scored image, and the files not scored."""

    summary: dict
    rows: list[dict]
    boxes: dict[str, list] = field(repr=False, default_factory=dict)
    skipped: list[dict] = field(default_factory=list)


def _check_classes(model_classes: tuple[str, ...], data_dir: Path) -> None:
    folders = sorted(d.name for d in data_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    unknown = [name for name in folders if name not in model_classes]
    if unknown:
        raise DatasetError(
            f"{data_dir}: class folder(s) {', '.join(unknown)} are not classes of the model ({', '.join(model_classes)})"
        )


def _class_maps(raw: np.ndarray, classes: list[int], size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Normalized maps ``{class: (h, w)}`` of the chosen classes at ``size``."""
    scaled = scale_maps(raw[classes], size)
    return {c: scaled[i] for i, c in enumerate(classes)}


def evaluate_localization(
    explainer: BaseCAM,
    data_dir: str | os.PathLike,
    boxes_csv: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    *,
    threshold: float = 0.2,
    batch_size: int = 32,
    progress: bool = True,
) -> Evaluation:
    """Classification and localization metrics of ``explainer`` on ``DATA_DIR/<class>/<image>``.

    Boxes come from ``boxes_csv`` (default ``DATA_DIR/boxes.csv``), compared at each
    image's original size; ``masks_dir`` (same relative paths) adds PxAP. Images without
    boxes are skipped with one warning and listed in ``Evaluation.skipped``; so are
    unreadable files. ``threshold`` is the paper's box threshold (fraction of the map max).

    Example:
        >>> evaluation = evaluate_localization(CAM(model), "data/test", threshold=0.5)
        >>> print(format_summary(evaluation.summary))
    """
    data_dir = Path(data_dir)
    boxes = read_boxes(boxes_csv or data_dir / "boxes.csv")
    class_names = explainer.class_names
    _check_classes(class_names, data_dir)
    present = [name for name in class_names if (data_dir / name).is_dir()]
    files = scan_class_folders(data_dir, class_names=present)
    items, skipped = [], []
    for path, label in zip(files.paths, files.labels):
        relative = Path(path).relative_to(data_dir).as_posix()
        if relative in boxes:
            items.append((path, relative, class_names.index(present[label])))
        else:
            skipped.append({"path": path, "reason": "no box in boxes.csv"})
    if skipped:
        logger.warning("%d image(s) have no row in boxes.csv and are not scored, e.g. %s", len(skipped), skipped[0]["path"])
    if not items:
        raise DatasetError(f"{data_dir}: no image has a box in boxes.csv (paths must be relative to {data_dir})")
    metrics = LocalizationMetrics(threshold=threshold)
    rows = []
    bar = keras.utils.Progbar(len(items), unit_name="image") if progress else None
    for start in range(0, len(items), batch_size):
        chunk, originals = [], []
        for path, relative, label in items[start : start + batch_size]:
            try:
                originals.append(load_image(path))
                chunk.append((path, relative, label))
            except ImageError as error:
                skipped.append({"path": path, "reason": error.reason})
        if not chunk:
            continue
        batch = np.stack([resize_image(image, explainer.input_size) for image in originals]).astype(np.float32)
        result = explainer.explain_batch(batch, "all", upsample=False)
        for i, ((path, relative, label), image) in enumerate(zip(chunk, originals)):
            ranked = np.argsort(-result["logits"][i])[:5].tolist()
            maps = _class_maps(result["raw_maps"][i], sorted({label, *ranked}), image.shape[:2])
            mask = load_mask(masks_dir, relative, image.shape[:2]) if masks_dir else None
            row = metrics.update(label, ranked, maps[label], [maps[c] for c in ranked], boxes[relative], mask)
            rows.append({"path": path, "relative_path": relative, **row})
        if bar:
            bar.update(min(start + batch_size, len(items)))
    summary = metrics.summary()
    summary["skipped"] = len(skipped)
    return Evaluation(summary=summary, rows=rows, boxes=boxes, skipped=skipped)


def evaluate_faithfulness(
    explainer: BaseCAM, data_dir: str | os.PathLike, limit: int = 64, seed: int = 0, steps: int = 16
) -> FaithfulnessScores:
    """Deletion/insertion AUC and average drop/increase of the true-class maps on up to
    ``limit`` images of ``DATA_DIR/<class>/<image>`` (chosen with ``seed``).

    Example:
        >>> evaluate_faithfulness(CAM(model), "data/test", limit=64).deletion_auc
    """
    files = scan_class_folders(data_dir, class_names=explainer.class_names, skip_empty=True)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(files))[:limit])
    images = np.stack([resize_image(load_image(files.paths[i]), explainer.input_size) for i in chosen]).astype(np.float32)
    labels = np.array([files.labels[i] for i in chosen])
    maps = explainer.explain_batch(images, labels.tolist())["maps"][:, 0]
    return faithfulness(explainer.model, images, maps, labels, steps=steps)
