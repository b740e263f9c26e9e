"""Which maps to compute: the one class-selection path shared by every map method.

A request is resolved once, outside the traced function (:func:`resolve_request`), and
turned into :class:`Targets` once, inside it (:meth:`Targets.select`, called only by
:class:`~cam_keras.cam.base.BaseCAM`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from cam_keras.errors import UsageError

ALL_CLASSES = "all"
#: ``class_indices`` entry of a map whose target is a function of the logits.
CUSTOM_TARGET = -1

#: A function of the logits ``(batch, classes)`` returning one score per image ``(batch,)``,
#: e.g. ``lambda logits: logits[:, 3] - logits[:, 5]``.
TargetFunction = Callable[[tf.Tensor], tf.Tensor]
ClassRef = int | str
ClassSpec = None | ClassRef | TargetFunction | Sequence[TargetFunction] | Sequence[ClassRef | Sequence[ClassRef]]


def _is_ref(value: object) -> bool:
    return isinstance(value, (int, np.integer, str))


def resolve_classes(classes: ClassSpec, batch_size: int, class_names: Sequence[str]) -> np.ndarray | None:
    """Turn a user's class request into indices.

    Args:
        classes: ``None`` (the model's top-k predictions), ``"all"``, one class index or name
            for every image, or a sequence with one entry per image, each an index, a name, or
            a list of them (equal lengths). For a single image a flat list names that
            image's classes.
        batch_size: number of images.
        class_names: the model's labels, for name lookup and range checks.

    Returns:
        ``None`` or an ``int32`` array ``(batch_size, n)``.

    Raises:
        UsageError: an empty request (``[]``, or an empty list for an image), an unknown
            class, or a request for another number of images.

    Example:
        >>> resolve_classes(["dog", 0], 2, ("cat", "dog")).tolist()
        [[1], [0]]
        >>> resolve_classes(["cat", "dog"], 1, ("cat", "dog")).tolist()
        [[0, 1]]
        >>> resolve_classes("all", 2, ("cat", "dog")).tolist()
        [[0, 1], [0, 1]]
    """
    if classes is None:
        return None
    if isinstance(classes, str) and classes == ALL_CLASSES:
        classes = list(range(len(class_names)))
        per_image: list = [classes] * batch_size
    elif _is_ref(classes):
        per_image = [[classes]] * batch_size
    elif not len(classes) or not all(_is_ref(c) or len(c) for c in classes):
        raise UsageError(
            f"classes={classes!r} leaves an image without a class to map; pass class names or indices, "
            '"all", or None for the top predictions'
        )
    elif batch_size == 1 and all(_is_ref(c) for c in classes):
        per_image = [list(classes)]
    else:
        per_image = [[c] if _is_ref(c) else list(c) for c in classes]
        if len(per_image) != batch_size:
            raise UsageError(
                f"got classes for {len(per_image)} images but the batch has {batch_size}; "
                "pass one class (or list of classes) per image, or a single class for all"
            )
    if len({len(row) for row in per_image}) != 1:
        raise UsageError("each image must request the same number of classes")
    indices = [[_class_index(c, class_names) for c in row] for row in per_image]
    return np.array(indices, dtype=np.int32).reshape(batch_size, -1)


def _class_index(ref: ClassRef, class_names: Sequence[str]) -> int:
    if isinstance(ref, str):
        if ref not in class_names:
            raise UsageError(f"unknown class {ref!r}; the model knows: {', '.join(class_names)}")
        return list(class_names).index(ref)
    if not 0 <= int(ref) < len(class_names):
        raise UsageError(f"class index {ref} out of range for {len(class_names)} classes")
    return int(ref)


@dataclass(frozen=True)
class Selection:
    """How many maps of which kind each image gets: ``fixed`` given classes, then the
    ``top_k`` predicted classes, or one per function. Hashable, static for tracing."""

    fixed: int
    top_k: int
    functions: tuple[TargetFunction, ...] = ()

    @property
    def count(self) -> int:
        """Maps per image."""
        return len(self.functions) or self.fixed + self.top_k


def resolve_request(
    classes: ClassSpec, batch_size: int, class_names: Sequence[str], top_k: int = 1, plus_top_k: int = 0
) -> tuple[np.ndarray | None, Selection]:
    """Given classes ``(batch, fixed)`` (or ``None``) and the selection for a batch: see
    :meth:`~cam_keras.cam.base.BaseCAM.explain_batch`. ``top_k`` (when ``classes`` is
    ``None``) and ``plus_top_k`` (after the given classes) are clamped to the number of classes.

    Example:
        >>> resolve_request(None, 4, ("cat", "dog"), top_k=5)[1].top_k
        2
        >>> resolve_request([1, 0], 2, ("cat", "dog"), plus_top_k=1)[1].count
        2
    """
    if callable(classes) or (isinstance(classes, Sequence) and classes and all(map(callable, classes))):
        return None, Selection(0, 0, tuple(classes) if isinstance(classes, Sequence) else (classes,))
    indices = resolve_classes(classes, batch_size, class_names)
    if indices is None and top_k < 1:
        raise UsageError(f"top_k must be at least 1, got {top_k}")
    if plus_top_k and indices is None:
        raise UsageError("plus_top_k adds the top predictions after given classes; use top_k without classes")
    fixed = 0 if indices is None else indices.shape[1]
    return indices, Selection(fixed, min(top_k if indices is None else plus_top_k, len(class_names)))


@dataclass(frozen=True)
class Targets:
    """What each map of a forward pass explains.

    Attributes:
        classes: ``(rows, n)`` int32 class of each map, :data:`CUSTOM_TARGET` for functions.
        functions: the target functions, if the request was functions of the logits.
        scores: ``n`` tensors ``(rows,)``: the score each map explains, recorded on ``tape``.
        tape: the tape that recorded the forward pass.
    """

    classes: tf.Tensor
    functions: tuple[TargetFunction, ...]
    scores: tuple[tf.Tensor, ...]
    tape: tf.GradientTape

    @classmethod
    def select(
        cls, logits: tf.Tensor, indices: tf.Tensor | None, selection: Selection, copies: int, tape: tf.GradientTape
    ) -> Targets:
        """Targets of ``logits`` ``(copies * batch, classes)``: the given ``indices``
        ``(batch, fixed)`` and the top predictions of the first ``batch`` rows (the images;
        later copies are transformed images, explained for the same classes). Call inside ``tape``."""
        batch = tf.shape(logits)[0] // copies
        if selection.functions:
            classes = tf.fill([batch, selection.count], CUSTOM_TARGET)
        else:
            parts = [] if indices is None else [tf.cast(indices, tf.int32)]
            if selection.top_k:
                parts.append(tf.math.top_k(logits[:batch], k=selection.top_k).indices)
            classes = tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]
        classes = tf.ensure_shape(tf.tile(classes, [copies, 1]), [None, selection.count])
        scores = target_scores(logits[:, None, :], classes, selection.functions)[:, 0, :]
        return cls(classes, selection.functions, tuple(tf.unstack(scores, num=selection.count, axis=1)), tape)

    def scores_of(self, logits: tf.Tensor) -> tf.Tensor:
        """Target scores ``(rows, m, n)`` of logits ``(rows, m, classes)`` (``m`` variants of
        each row, e.g. masked images)."""
        return target_scores(logits, self.classes, self.functions)

    def gradients(self, tensor: tf.Tensor) -> list[tf.Tensor]:
        """``d score_j / d tensor`` for each target ``j``, float32 like ``tensor``."""
        return [tf.cast(self.tape.gradient(score, tensor), tf.float32) for score in self.scores]


def target_scores(logits: tf.Tensor, classes: tf.Tensor, functions: tuple[TargetFunction, ...]) -> tf.Tensor:
    """Scores ``(rows, m, n)`` of logits ``(rows, m, classes)``: the logits of ``classes``
    ``(rows, n)``, or each function applied to every ``(classes,)`` row."""
    if functions:
        flat = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
        scores = tf.stack([tf.cast(function(flat), tf.float32) for function in functions], axis=-1)
        return tf.reshape(scores, [tf.shape(logits)[0], tf.shape(logits)[1], len(functions)])
    return tf.gather(logits, tf.tile(classes[:, None, :], [1, tf.shape(logits)[1], 1]), batch_dims=2)
