"""Distribution strategies, mixed precision and op determinism, chosen by name or flag."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # the only home of disable_op_determinism

from cam_keras.choices import STRATEGIES


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


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """Run TensorFlow ops deterministically inside the block when ``enabled``, so that the
    same seed on the same machine trains the same weights (the input pipeline's random
    augmentation included). The previous setting is restored on exit. Deterministic kernels
    can be slower on GPUs; on this project's 2-core CPU the demo's training time did not change.

    Example:
        >>> with op_determinism(True):
        ...     result = fine_tune("photos/", "runs/a", config)
    """
    if not enabled or tf_config.is_op_determinism_enabled():
        yield
        return
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        tf_config.disable_op_determinism()
