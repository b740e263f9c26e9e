"""Optimizers by name: the one list the config, the flags and the training loop share."""

from __future__ import annotations

from typing import Callable

import keras

OPTIMIZERS: dict[str, Callable[[float], keras.optimizers.Optimizer]] = {
    "adam": lambda learning_rate: keras.optimizers.Adam(learning_rate),
    "adamw": lambda learning_rate: keras.optimizers.AdamW(learning_rate),
    "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh optimizer ``name`` (one of :data:`OPTIMIZERS`) at ``learning_rate``.

    Example:
        >>> make_optimizer("sgd", 0.01).nesterov
        True
    """
    return OPTIMIZERS[name](learning_rate)
