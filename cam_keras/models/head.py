"""Find a model's CAM head by walking its graph, nested models included.

A CAM head is global average pooling followed only by layers that are affine at inference
(folded into one kernel by :mod:`cam_keras.models.fold`), and the logits:

- ``features -> GlobalAveragePooling2D -> [Dropout, BatchNormalization, LayerNormalization,
  Rescaling, Dense without activation...] -> Dense [-> softmax/sigmoid]``;
- class channels (a convolution with one output channel per class: Network-in-Network,
  SqueezeNet, mini-Xception) ``-> GlobalAveragePooling2D [-> softmax/sigmoid]``: each class's
  map is its own channel;
- a transformer's tokens ``-> GlobalAveragePooling1D -> ... -> Dense``, mapped on their patch
  grid (:mod:`cam_keras.models.tokens`).

The feature map CAM needs is whatever tensor enters the pooling: it is found from the graph,
never guessed from layer names.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from cam_keras.errors import HeadNotFoundError
from cam_keras.models.fold import IDENTITY_AT_INFERENCE, fold, foldable
from cam_keras.models.graph import GraphCursor, single_or_list
from cam_keras.models.outputs import OutputContract, read_output
from cam_keras.models.tokens import TokenGrid, token_grid

GRADIENT_HINT = (
    "Plain CAM needs global average pooling followed by layers affine at inference (Dropout, "
    "BatchNormalization, LayerNormalization, Dense without activation...) up to the logits. For this model "
    "use a gradient-based method: cam_keras.GradCAM(model), or method gradcam in a heatmap job."
)
_POOLING = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling1D)


@dataclass(frozen=True)
class CamHead:
    """The parts of a CAM head (see the module docstring) that CAM uses.

    Attributes:
        dense: the Dense layer producing the logits, ``None`` for class channels pooled into them.
        feature_model: maps the model's inputs to the pooling input ``(batch, h, w, channels)``
            (``(batch, tokens, channels)`` for a transformer).
        feature_path: where the layer producing the pooling input sits, as ``"outer/inner/layer"``:
            the names of the nested models holding it, then its own name, joined by ``/``
            (``"conv5_block3_out"`` in a flat model, ``"resnet50/conv5_block3_out"`` inside a
            nested backbone); any ``target_layer`` argument accepts it.
        output: the model's output contract (binary heads are explained as two classes).
        pooling: the global average pooling layer.
        layers: the layers between pooling and ``dense`` that fold into the kernel (identities left out).
        grid: the patch grid of a transformer's tokens, ``None`` for a 4-D feature map.
    """

    dense: keras.layers.Dense | None
    feature_model: keras.Model
    feature_path: str
    output: OutputContract
    pooling: keras.layers.Layer
    layers: tuple[keras.layers.Layer, ...] = ()
    grid: TokenGrid | None = None

    def fold(self, pooled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Kernel ``(channels, classes)``, per-image scale ``(batch,)`` and bias ``(batch, classes)``,
        float32, of the explained classes at the pooled features ``(batch, channels)``:
        ``logits = scale * (pooled @ kernel) + bias`` (see :func:`cam_keras.models.fold.fold`)."""
        kernel, bias = self.output.kernel_and_bias()  # a single-unit binary head as two classes
        return fold(self.layers, kernel, bias, pooled)

    def __str__(self) -> str:
        pooled = f"{self.grid} -> " if self.grid else ""
        steps = [type(self.pooling).__name__, *(f"{type(layer).__name__} {layer.name!r}" for layer in self.layers)]
        if self.dense is None:
            return (
                f"class channels {self.feature_path!r} -> {' -> '.join(steps)}: each class's map is its channel (exact)"
            )
        steps.append(f"Dense {self.dense.name!r} ({self.dense.units})")
        normalized = any(isinstance(layer, keras.layers.LayerNormalization) for layer in self.layers)
        folded = (
            ", folded into one kernel" + (" and the per-image LayerNormalization scale" if normalized else "")
            if self.layers
            else ""
        )
        return f"features {self.feature_path!r} -> {pooled}{' -> '.join(steps)}{folded} (exact)"


def _describe(layer: keras.layers.Layer) -> str:
    activation = getattr(layer, "activation", None)
    detail = f", {keras.activations.serialize(activation)}" if activation is not None else ""
    return f"{layer.name!r} ({type(layer).__name__}{detail})"


def _step(cursor: GraphCursor) -> tuple[keras.layers.Layer, GraphCursor]:
    found = cursor.producer()
    if found is None:
        raise HeadNotFoundError(f"reached the model input while looking for global average pooling. {GRADIENT_HINT}")
    return found


def _walk_to_pooling(output: OutputContract) -> tuple[keras.layers.Layer, GraphCursor, tuple]:
    """The pooling layer, its output cursor and the folded layers between it and the logits."""
    start = f"Dense {output.dense.name!r}" if output.dense is not None else f"the output ({output.source})"
    layer, cursor = _step(output.dense_input if output.dense is not None else output.scores)
    layers: list[keras.layers.Layer] = []
    while not isinstance(layer, _POOLING):
        if not foldable(layer):
            raise HeadNotFoundError(
                f"{start} is fed by {_describe(layer)}, neither global average pooling nor affine at inference. "
                + GRADIENT_HINT
            )
        if not isinstance(layer, (*IDENTITY_AT_INFERENCE, keras.layers.Activation)):
            layers.insert(0, layer)
        layer, cursor = _step(cursor.input_cursor())
    if layer.keepdims or layer.data_format != "channels_last":
        raise HeadNotFoundError(
            f"pooling layer {layer.name!r} keeps its dimensions or is channels_first; CAM needs "
            f"channels_last pooling to a vector. {GRADIENT_HINT}"
        )
    return layer, cursor, tuple(layers)


def find_cam_head(model: keras.Model) -> CamHead:
    """Locate the model's CAM head (see the module docstring). The logits are those
    :func:`cam_keras.models.outputs.read_output` reads.

    Raises:
        HeadNotFoundError: naming the layer found where pooling or an affine layer was expected.
        ModelError: the model's output is not a class-score vector (several outputs...).

    Example:
        >>> head = find_cam_head(model)
        >>> head.feature_path, head.feature_model.output_shape
        ('conv5_block3_out', (None, 7, 7, 2048))
    """
    output = read_output(model)
    pooling, cursor, layers = _walk_to_pooling(output)
    features = cursor.input_cursor()
    grid = None
    if isinstance(pooling, keras.layers.GlobalAveragePooling1D):
        grid = token_grid(features.tensor.shape[1], tuple(model.inputs[0].shape[1:3]))
        if grid is None or grid.skip:
            raise HeadNotFoundError(
                f"GlobalAveragePooling1D {pooling.name!r} averages {features.tensor.shape[1] or 'a varying number of'} "
                f"tokens, not exactly a patch grid ({grid or 'none fits'}). {GRADIENT_HINT}"
            )
    feature_model = keras.Model(single_or_list(model.inputs), features.lift(), name="cam_features")
    return CamHead(output.dense, feature_model, features.layer_path, output, pooling, layers, grid)
