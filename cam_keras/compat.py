"""Every private Keras and TensorFlow internal cam-keras touches, each behind one small function.

Keras 3 and TensorFlow have no public API for what these do; each docstring names the gap.
``tests/test_compat.py`` checks every one of them on the installed versions and fails with a
message naming the Keras or TensorFlow change; ``pyproject.toml`` admits only the versions CI
tests. A touch that breaks at run time raises :class:`KerasInternalsChanged`, not an
``AttributeError`` from deep inside a walk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

from cam_keras.errors import CamKerasError

#: Iterators Keras 3's ``fit`` creates of the training dataset per epoch (one for the epoch,
#: one more the trainer opens to look at the first batch). Measured; ``tests/test_compat.py``
#: measures it again on the installed Keras.
ITERATORS_PER_EPOCH = 2

#: Counters of the patience callbacks a resumed run restores. Keras documents none of them
#: (they are set by ``on_train_begin``); a resume needs them to stop or reduce at the same epoch.
PATIENCE_COUNTERS: dict[type, tuple[str, ...]] = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


class KerasInternalsChanged(CamKerasError, RuntimeError):
    """A private Keras or TensorFlow internal that cam-keras relies on is gone or changed."""


@contextlib.contextmanager
def _internal(name: str) -> Iterator[None]:
    """Turn the failure of the internal ``name`` into one line naming it and the versions."""
    try:
        yield
    except (AttributeError, ImportError, IndexError, TypeError, ValueError) as error:
        raise KerasInternalsChanged(
            f"Keras {keras.__version__} / TensorFlow {tf.__version__} changed {name} ({error}); cam-keras is "
            "tested with the versions pyproject.toml admits: install those"
        ) from None


def keras_history(tensor: keras.KerasTensor) -> tuple[keras.Operation, int, int]:
    """``(operation, node_index, tensor_index)`` that produced a symbolic tensor.

    Keras 3 has no public way from a ``KerasTensor`` back to the layer call that made it;
    ``KerasTensor._keras_history`` is what ``keras.Model`` itself walks."""
    with _internal("KerasTensor._keras_history"):
        operation, node_index, tensor_index = tensor._keras_history
        return operation, node_index, tensor_index


def producer(tensor: keras.KerasTensor) -> keras.Operation:
    """The layer (or ``InputLayer``) that produced a symbolic tensor (see :func:`keras_history`)."""
    return keras_history(tensor)[0]


def inbound_node(layer: keras.layers.Layer, index: int) -> object:
    """The ``index``-th call of ``layer`` in a functional graph (it has ``input_tensors``).

    Keras 3 exposes no public list of a layer's calls; ``Operation._inbound_nodes`` holds them."""
    with _internal("Operation._inbound_nodes"):
        return layer._inbound_nodes[index]


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer nested inside ``layer`` (itself excluded), depth first.

    Keras 3 has no public list of a custom layer's sublayers; ``Layer._flatten_layers`` is how
    Keras itself walks them (for weights and ``summary``)."""
    with _internal("Layer._flatten_layers"):
        return list(layer._flatten_layers(include_self=False))


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Workers a ``MultiWorkerMirroredStrategy`` trains on.

    ``tf.distribute`` has no public worker count; ``strategy.extended._num_workers`` holds it."""
    with _internal("MultiWorkerMirroredStrategy.extended._num_workers"):
        return int(strategy.extended._num_workers)


@contextlib.contextmanager
def strategy_forgotten(model: keras.Model) -> Iterator[None]:
    """``model`` without the distribution strategy it was built under, restored on exit.

    Keras 3 builds a model built under a strategy from one averaged batch
    (``Trainer._maybe_symbolic_build``), which fails across workers (keras-team/keras#20585);
    no public switch turns it off, ``Model._distribute_strategy`` decides it."""
    with _internal("Model._distribute_strategy"):
        captured = model._distribute_strategy
    model._distribute_strategy = None
    try:
        yield
    finally:
        model._distribute_strategy = captured


@contextlib.contextmanager
def first_replica_metrics() -> Iterator[None]:
    """Keras' ``fit`` reporting the first replica's metric values instead of ``reduce(axis=0)``
    over replicas, which fails for scalars across workers (keras-team/keras#20585).

    The reduction is the module function ``reduce_per_replica`` of Keras' TensorFlow trainer
    (``keras.src.backend.tensorflow.trainer``), with no public hook; it is swapped for the block."""
    with _internal("keras.src.backend.tensorflow.trainer.reduce_per_replica"):
        from keras.src.backend.tensorflow import trainer

        reduce = trainer.reduce_per_replica

    def first_replica(values, strategy, reduction="auto"):
        return reduce(values, strategy, reduction="first" if reduction == "auto" else reduction)

    trainer.reduce_per_replica = first_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = reduce


def op_determinism_enabled() -> bool:
    """Whether TensorFlow runs ops deterministically.

    ``tf.config.experimental`` can enable determinism but neither query nor disable it; both live
    in ``tensorflow.python.framework.config``."""
    with _internal("tensorflow.python.framework.config.is_op_determinism_enabled"):
        from tensorflow.python.framework import config

        return bool(config.is_op_determinism_enabled())


def disable_op_determinism() -> None:
    """Undo ``tf.config.experimental.enable_op_determinism()`` (see :func:`op_determinism_enabled`)."""
    with _internal("tensorflow.python.framework.config.disable_op_determinism"):
        from tensorflow.python.framework import config

        config.disable_op_determinism()
