"""The output contract: the one rule for what a classifier's output means.

Read from the graph, walking back from the model output over activation layers:

- ``softmax``: a final softmax (layer or ``Dense(activation="softmax")``); probabilities are
  the softmax of the logits.
- ``logits``: no activation (cam-keras models, ``from_logits=True`` training); probabilities
  are their softmax.
- ``sigmoid``: a final sigmoid on several units, multi-label; each class has its own
  probability ``sigmoid(z_c)``.
- ``binary``: one unit (``Dense(1)``, with or without sigmoid). It is explained as two classes,
  the negative (index 0) and the positive (index 1), with logits ``[-z, z]`` (a Dense kernel
  ``[-w, w]`` and bias ``[-b, b]``, so the CAM identity still holds) and probabilities
  ``[1 - sigmoid(z), sigmoid(z)]``.

The logits are always the pre-activation scores; gradient methods differentiate them.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from cam_keras.errors import ModelError, option
from cam_keras.models.graph import GraphCursor, producer_names
from cam_keras.models.taps import Tap

_ACTIVATIONS = ("softmax", "sigmoid", "linear")


def _activation_of(layer: keras.layers.Layer) -> str | None:
    """``"softmax"``, ``"sigmoid"``, ``"linear"`` for an activation layer, else ``None``.

    Raises:
        ModelError: another activation (relu, tanh...) ends the model: not a classifier output.
    """
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if not isinstance(layer, keras.layers.Activation):
        return None
    name = keras.activations.serialize(layer.activation)
    if name not in _ACTIVATIONS:
        raise ModelError(
            f"the model output goes through {name!r} ({layer.name!r}); cam-keras explains "
            "classifiers ending in softmax, sigmoid or raw logits"
        )
    return name


@dataclass(frozen=True)
class OutputContract:
    """What a model's output means and where its logits come from.

    Attributes:
        kind: ``"softmax"``, ``"logits"``, ``"sigmoid"`` or ``"binary"`` (see the module docstring).
        tap: the tensor recorded during the forward pass (a Dense layer's input, or the scores).
        dense: the final Dense layer when the logits are recomputed from its input as
            ``input @ kernel + bias`` in float32; ``None`` when the recorded tensor is the logits.
        dense_input: the graph position of that Dense layer's input (for head resolution).
        applied: the model's own output is already probabilities (softmax or sigmoid inside).
        source: what was read, for ``inspect`` and messages.
        scores: the graph position of the pre-activation scores (the Dense output, or the
            recorded tensor), where head resolution starts.
    """

    kind: str
    tap: Tap
    dense: keras.layers.Dense | None
    dense_input: GraphCursor | None
    applied: bool
    source: str
    scores: GraphCursor

    def kernel_and_bias(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The final Dense layer's float32 kernel ``(channels, classes)`` and bias ``(classes,)``,
        expanded to ``[-w, w]`` and ``[-b, b]`` for a binary output; without a Dense layer
        (the recorded tensor is the scores), the identity and zero."""
        if self.dense is None:
            kernel = tf.eye(int(self.scores.tensor.shape[-1]))
        else:
            kernel = tf.cast(self.dense.kernel, tf.float32)
        bias = (
            tf.cast(self.dense.bias, tf.float32) if self.dense and self.dense.use_bias else tf.zeros([kernel.shape[1]])
        )
        return self._expand(kernel), self._expand(bias)

    def logits(self, recorded: tf.Tensor) -> tf.Tensor:
        """``(batch, classes)`` float32 logits from the recorded tensor."""
        recorded = tf.cast(recorded, tf.float32)
        if self.dense is None:
            return self._expand(recorded)
        kernel, bias = self.kernel_and_bias()
        return tf.matmul(recorded, kernel) + bias

    def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
        """Class probabilities ``(batch, classes)`` from :meth:`logits`."""
        if self.kind in ("sigmoid", "binary"):
            return tf.sigmoid(logits)
        return tf.nn.softmax(logits, axis=-1)

    def output_probabilities(self, output: tf.Tensor) -> tf.Tensor:
        """Class probabilities ``(batch, classes)`` from the model's own output ``(batch, units)``."""
        output = tf.cast(output, tf.float32)
        if not self.applied:
            return self.probabilities(self._expand(output))
        return tf.concat([1.0 - output, output], axis=-1) if self.kind == "binary" else output

    def _expand(self, tensor: tf.Tensor) -> tf.Tensor:
        """``[-t, t]`` along the last axis for a binary output, else ``tensor``."""
        return tf.concat([-tensor, tensor], axis=-1) if self.kind == "binary" else tensor


def read_output(model: keras.Model) -> OutputContract:
    """Read the output contract of a single-output classifier (see the module docstring).

    Raises:
        ModelError: the model has several outputs or does not end in a class-score vector.

    Example:
        >>> read_output(keras.applications.ResNet50(weights=None)).kind
        'softmax'
    """
    if len(model.outputs) != 1:
        names = ", ".join(producer_names(model.outputs))
        raise ModelError(
            f"model {model.name!r} has {len(model.outputs)} outputs ({names}); pick the class scores "
            f"with {option('output')} NAME; see cam_keras.describe(model) (the inspect command)."
        )
    found = GraphCursor(model.outputs[0]).producer()
    if found is None:
        raise ModelError(f"model {model.name!r} output is its input")
    layer, cursor = found
    if len(model.outputs[0].shape) != 2:
        raise ModelError(
            f"model {model.name!r} ends in {layer.name!r} ({type(layer).__name__}) with output shape "
            f"{tuple(model.outputs[0].shape)}, not class scores (batch, classes)"
        )
    activation, activation_layer = "linear", None
    while (name := _activation_of(layer)) is not None:
        if name != "linear":
            activation, activation_layer = name, layer
        step = cursor.input_cursor().producer()
        if step is None:
            raise ModelError(f"model {model.name!r} output is an activation of its input")
        layer, cursor = step
    if isinstance(layer, keras.layers.Dense):
        dense_activation = keras.activations.serialize(layer.activation)
        if dense_activation not in _ACTIVATIONS:
            raise ModelError(
                f"the output Dense {layer.name!r} uses {dense_activation!r}; cam-keras explains "
                "classifiers ending in softmax, sigmoid or raw logits"
            )
        if dense_activation != "linear":
            activation, activation_layer = dense_activation, layer
        units, tap, dense, dense_input = layer.units, Tap(layer, "input"), layer, cursor.input_cursor()
        where = f"Dense {layer.name!r}"
    else:
        units, tap, dense, dense_input = int(cursor.tensor.shape[-1]), Tap(layer), None, None
        where = f"{type(layer).__name__} {layer.name!r}"
    if activation == "softmax" and units == 1:
        raise ModelError(f"{where} has one unit under softmax, which is always 1; it cannot be explained")
    kind = "binary" if units == 1 else {"linear": "logits"}.get(activation, activation)
    applied = activation != "linear"
    by = f", {activation} in {activation_layer.name!r}" if applied else ", no activation"
    return OutputContract(kind, tap, dense, dense_input, applied, f"{where}{by}", cursor)
