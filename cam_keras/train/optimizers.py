"""Optimizers by name: the one list the config, the flags and the training loop share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def _keras_optimizers() -> Any:
    """``keras.optimizers``, imported when an optimizer is made (the names are read by the
    command line's help, which must not import TensorFlow)."""
    import keras

    return keras.optimizers


OPTIMIZERS: dict[str, Callable[[float], keras.optimizers.Optimizer]] = {
    "adam": lambda learning_rate: _keras_optimizers().Adam(learning_rate),
    "adamw": lambda learning_rate: _keras_optimizers().AdamW(learning_rate),
    "sgd": lambda learning_rate: _keras_optimizers().SGD(learning_rate, momentum=0.9, nesterov=True),
}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh optimizer ``name`` (one of :data:`OPTIMIZERS`) at ``learning_rate``.

    Example:
        >>> make_optimizer("sgd", 0.01).nesterov
        True
    """
    return OPTIMIZERS[name](learning_rate)
