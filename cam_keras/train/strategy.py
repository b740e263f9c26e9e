"""Distribution strategies and mixed precision, chosen by name."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import keras
import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy.

    - ``auto``: ``multiworker`` when ``TF_CONFIG`` is set, ``mirrored`` with two or more
      GPUs, else ``default``.
    - ``default``: one device.
    - ``mirrored``: synchronous data parallelism over all GPUs, or over all logical CPU
      devices when there is no GPU (useful for testing).
    - ``multiworker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``.

    Example:
        >>> make_strategy("mirrored").num_replicas_in_sync  # GPUs, or logical CPUs without GPU
        2
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "multiworker" if os.environ.get("TF_CONFIG") else "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if gpus:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


@contextlib.contextmanager
def precision_policy(mixed: bool) -> Iterator[None]:
    """Build layers under ``mixed_float16`` when ``mixed`` (float16 compute, float32
    variables); the builder keeps the logits layer float32.

    Example:
        >>> with precision_policy(True):
        ...     model = build_model("resnet50", 10, 224)
    """
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
