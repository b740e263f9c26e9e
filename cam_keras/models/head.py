"""Find a model's GAP -> Dense head by walking its graph, nested models included.

The feature map CAM needs is whatever tensor enters GlobalAveragePooling2D: it is found from
the graph, never guessed from layer names.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from cam_keras.errors import HeadNotFoundError
from cam_keras.models.graph import GraphCursor, single_or_list
from cam_keras.models.outputs import OutputContract, read_output

_IDENTITY_AT_INFERENCE = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)
GRADIENT_HINT = (
    "Plain CAM needs GlobalAveragePooling2D followed by one Dense layer. For this model use a "
    "gradient-based method: cam_keras.GradCAM(model) or `cam-keras heatmap --method gradcam`."
)


@dataclass(frozen=True)
class CamHead:
    """The parts of a GAP + Dense classifier that CAM uses.

    Attributes:
        dense: the Dense layer producing logits; kernel ``(channels, units)``.
        feature_model: maps the model's inputs to the GAP input ``(batch, h, w, channels)``.
        feature_path: where the layer producing the GAP input sits, as ``"outer/inner/layer"``:
            the names of the nested models holding it, then its own name, joined by ``/``
            (``"conv5_block3_out"`` in a flat model, ``"resnet50/conv5_block3_out"`` inside a
            nested backbone); any ``target_layer`` argument accepts it.
        output: the model's output contract (binary heads are explained as two classes).
    """

    dense: keras.layers.Dense
    feature_model: keras.Model
    feature_path: str
    output: OutputContract

    def kernel_and_bias(self) -> tuple[tf.Tensor, tf.Tensor]:
        """float32 kernel ``(channels, classes)`` and bias ``(classes,)`` of the explained classes."""
        return self.output.kernel_and_bias()


def _describe(layer: keras.layers.Layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def _step(cursor: GraphCursor, what: str) -> tuple[keras.layers.Layer, GraphCursor]:
    found = cursor.producer()
    if found is None:
        raise HeadNotFoundError(f"reached the model input while looking for {what}. {GRADIENT_HINT}")
    return found


def find_cam_head(model: keras.Model) -> CamHead:
    """Locate ``features -> GlobalAveragePooling2D -> [Dropout] -> Dense [-> softmax/sigmoid]``.

    The Dense layer is the one :func:`cam_keras.models.outputs.read_output` reads the logits from.

    Raises:
        HeadNotFoundError: naming the layer found where GAP or Dense was expected.
        ModelError: the model's output is not a class-score vector (several outputs...).

    Example:
        >>> head = find_cam_head(model)
        >>> head.feature_path, head.feature_model.output_shape
        ('conv5_block3_out', (None, 7, 7, 2048))
    """
    output = read_output(model)
    if output.dense is None:
        raise HeadNotFoundError(f"model {model.name!r} ends in {output.source}, not a Dense layer. {GRADIENT_HINT}")
    dense = output.dense
    layer, cursor = _step(output.dense_input, "GlobalAveragePooling2D")
    while isinstance(layer, _IDENTITY_AT_INFERENCE):
        layer, cursor = _step(cursor.input_cursor(), "GlobalAveragePooling2D")
    if not isinstance(layer, keras.layers.GlobalAveragePooling2D) or layer.keepdims:
        raise HeadNotFoundError(
            f"Dense {dense.name!r} is fed by {_describe(layer)}, not GlobalAveragePooling2D. " + GRADIENT_HINT
        )
    if layer.data_format != "channels_last":
        raise HeadNotFoundError(f"GAP layer {layer.name!r} is channels_first; cam-keras needs channels_last")

    features = cursor.input_cursor()
    feature_model = keras.Model(single_or_list(model.inputs), features.lift(), name="cam_features")
    return CamHead(dense, feature_model, features.layer_path, output)
