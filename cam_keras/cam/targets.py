"""Which classes to explain: the one class-selection path shared by every map method."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import tensorflow as tf

ALL_CLASSES = "all"
ClassRef = Union[int, str]
ClassSpec = Union[None, ClassRef, Sequence[Union[ClassRef, Sequence[ClassRef]]]]


def resolve_classes(
    classes: ClassSpec, batch_size: int, class_names: Sequence[str]
) -> np.ndarray | str | None:
    """Turn a user's class request into indices.

    Args:
        classes: ``None`` (the model's top-k predictions), ``"all"``, one class index or name
            for every image, or a sequence with one entry per image, each an index, a name, or
            a list of them (equal lengths).
        batch_size: number of images.
        class_names: the model's labels, for name lookup and range checks.

    Returns:
        ``None``, ``"all"``, or an ``int32`` array ``(batch_size, n)``.

    Example:
        >>> resolve_classes(["dog", 0], 2, ("cat", "dog")).tolist()
        [[1], [0]]
    """
    if classes is None or (isinstance(classes, str) and classes == ALL_CLASSES):
        return classes
    if isinstance(classes, (int, np.integer, str)):
        per_image: list = [[classes]] * batch_size
    else:
        per_image = [[c] if isinstance(c, (int, np.integer, str)) else list(c) for c in classes]
        if len(per_image) != batch_size:
            raise ValueError(
                f"got classes for {len(per_image)} images but the batch has {batch_size}; "
                "pass one class (or list of classes) per image, or a single class for all"
            )
    if len({len(row) for row in per_image}) != 1:
        raise ValueError("each image must request the same number of classes")
    return np.array(
        [[_class_index(c, class_names) for c in row] for row in per_image], dtype=np.int32
    ).reshape(batch_size, -1)


def _class_index(ref: ClassRef, class_names: Sequence[str]) -> int:
    if isinstance(ref, str):
        if ref not in class_names:
            raise ValueError(f"unknown class {ref!r}; the model knows: {', '.join(class_names)}")
        return list(class_names).index(ref)
    if not 0 <= int(ref) < len(class_names):
        raise ValueError(f"class index {ref} out of range for {len(class_names)} classes")
    return int(ref)


def select_classes(
    logits: tf.Tensor, indices: tf.Tensor | None, num_targets: int, all_classes: bool
) -> tf.Tensor:
    """Class indices ``(batch, num_targets)`` int32: every class, the given ones, or the
    ``num_targets`` highest logits."""
    if all_classes:
        batch = tf.shape(logits)[0]
        selected = tf.tile(tf.range(tf.shape(logits)[1], dtype=tf.int32)[None], [batch, 1])
    elif indices is None:
        selected = tf.math.top_k(logits, k=num_targets).indices
    else:
        selected = tf.cast(indices, tf.int32)
    return tf.ensure_shape(selected, [None, num_targets])
