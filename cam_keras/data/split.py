"""Dividing and weighting labeled files by class: a stratified train/validation split and
inverse-frequency class weights."""

from __future__ import annotations

import numpy as np

from cam_keras.data.class_folders import LabeledFiles


def stratified_split(files: LabeledFiles, fraction: float, seed: int = 0) -> tuple[LabeledFiles, LabeledFiles]:
    """Split into (train, validation) with ``fraction`` of every class in validation
    (at least one image per class with two or more); the same seed gives the same split.

    Example:
        >>> train, validation = stratified_split(files, 0.2, seed=0)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.array(files.labels)
    train, validation = [], []
    for label in range(len(files.class_names)):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = int(round(fraction * len(members)))
        count = min(max(count, 1 if len(members) > 1 else 0), len(members) - 1) if len(members) else 0
        validation += members[:count].tolist()
        train += members[count:].tolist()
    return files.subset(sorted(train)), files.subset(sorted(validation))


def class_weights(files: LabeledFiles) -> dict[int, float]:
    """``total / (classes * count)`` per class, for :func:`make_dataset`'s ``weights_by_class``.

    Example:
        >>> class_weights(files)
        {0: 0.75, 1: 1.5}
    """
    counts = files.class_counts()
    return {label: float(len(files) / (len(counts) * count)) for label, count in enumerate(counts) if count}
